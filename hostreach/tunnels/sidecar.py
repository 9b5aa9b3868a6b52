"""sidecar: the tunnel's container on the engine: its scripts, its labels and its spec.

busybox ``tcpsvd`` (or, where the image has none, ``nc -ll -p PORT -e HANDLER``) listens inside
it for each port and starts a handler per connection; the handler announces
each connection on the sidecar's stderr (the tunnel's attachment) and joins the client's socket
to two fifos, one per direction, which the tunnel's ``docker exec`` streams read and write.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from typing import Any

LABEL = "hostreach.tunnel"
"""Every container a tunnel starts carries this label (and ``.owner``, ``.pid``, ``.ports``)."""
DEFAULT_IMAGE = "docker.io/library/busybox:latest"
PULL_SECONDS = 120.0
"""How long an image pull may take (only when the image is not on the engine yet)."""
BACKLOG = 256
"""tcpsvd's listen backlog: a burst of 100 connections finds room (issue 26, item 3)."""
HANDLERS = 512
"""tcpsvd's handlers at once: above the tunnel's cap (TUNNEL_LIMITS), so a connection over the
cap is still accepted, then refused by the tunnel in one log line (and not left in the backlog)."""

# The sidecar's handler, one per connection: stdin and stdout are the client's socket (nc -e),
# stderr the tunnel's control stream. A background job's stdin is /dev/null in sh, so the
# socket is kept on fd 3 for it.
# The down fifo is opened before any child runs: a child's exit (SIGCHLD) would interrupt the
# shell's blocking open (EINTR), which busybox sh does not retry. Fifos a killed handler left
# (its pid now ours) are removed first. SIGPIPE is ignored: busybox runs cat inside the shell
# itself, and a client gone mid-reply must not kill the handler before it cleans up.
# The client's bytes are copied by tee, not cat: busybox cat copies with sendfile(), which
# from a socket (kernel 6.18 here) returned only when more bytes or the end came, so a request
# sat in the sidecar until the client sent more or closed: an interactive protocol hung (issue
# 26). tee (unbuffered, like the dd before it) also gives wc a copy to count: at the client's
# end the handler says "upeof PID BYTES" on the control stream, and the tunnel ends that
# direction once it has carried BYTES, without waiting for the up exec's end, which the engine
# reports late in a burst (measured: 50 connections' data carried within 0.6 s, their execs'
# ends seen 6-8 s later, so each connection took that long). The handler waits for its count
# to be said before it exits, so a later connection's handler cannot have its pid before.
# A tee killed before it opened its fifos (the service answered and closed first) would leave
# wc and the up exec's cat waiting to open theirs for ever, and wc's subshell held the client's
# socket (found by 300 connections in a row: one in 30-170 hung its client). So the handler
# holds both fifos open read-write (which never blocks) while it removes them: whoever opens
# them before the removal gets in and then sees their end (wc then counts 0, right: tee had
# read nothing); whoever comes later finds no fifo. Only tee and the handler hold the socket.
# The peer is found by the socket's inode in /proc/net/tcp{,6} (its third field, as the kernel
# writes it), so the tunnel can cap connections per container (issue 26); "-" if not found.
_HANDLER = r"""#!/bin/sh
trap '' PIPE
exec 3<&0
d=/hr/c$$
port=$1
rm -f "$d.up" "$d.down" "$d.n"
mkfifo "$d.up" "$d.down" "$d.n" || exit 1
i=$(readlink /proc/$$/fd/0); i=${i#socket:[}; i=${i%]}
set -- - - - $(grep -h " $i " /proc/net/tcp /proc/net/tcp6 2>/dev/null)
echo "hostreach-tunnel open $port $$ ${6:--}" >&2
exec 4<"$d.down"
(n=$(wc -c <"$d.n") && echo "hostreach-tunnel upeof $$ $n" >&2) >/dev/null 3>&- &
tee "$d.up" <&3 >"$d.n" 2>/dev/null &
up=$!
cat <&4
kill "$up" 2>/dev/null
exec 5<>"$d.up" 6<>"$d.n"
rm -f "$d.up" "$d.down" "$d.n"
exec 5>&- 6>&-
wait
"""

# The sidecar itself: check the tools, start one listener per port, say when all listen, then
# read the tunnel's commands on stdin until its end (the caller's attachment closing), which
# ends the container. "close PID" ends connection PID's handler (its down fifo opened and
# closed), so a refusal costs the engine no exec (issue 26); timeout bounds an open whose
# handler has just gone.
SIDECAR = r"""
command -v tcpsvd >/dev/null 2>&1 || command -v nc >/dev/null 2>&1 || { echo "hostreach-tunnel missing nc" >&2; exit 3; }
for c in mkfifo cat tee wc grep sleep mkdir chmod rm readlink timeout; do
  command -v "$c" >/dev/null 2>&1 || { echo "hostreach-tunnel missing $c" >&2; exit 3; }
done
mkdir -p /hr && cat >/hr/h <<'EOF' && chmod +x /hr/h || { echo "hostreach-tunnel error cannot write /hr" >&2; exit 3; }
__HANDLER__EOF
for p in $HR_PORTS; do
  printf '#!/bin/sh\nexec /hr/h %s\n' "$p" >/hr/p$p && chmod +x /hr/p$p
  if command -v tcpsvd >/dev/null 2>&1; then
    tcpsvd -E -b "$HR_BACKLOG" -c "$HR_HANDLERS" 0 "$p" /hr/p$p &
  else
    nc -ll -p "$p" -e /hr/p$p &
  fi
done
for p in $HR_PORTS; do
  h=$(printf '%04X' "$p"); i=0
  until grep -q ":$h [0-9A-F]*:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 200 ] && { echo "hostreach-tunnel error nothing listens on $p (busybox tcpsvd, or nc with -ll -e, is needed)" >&2; exit 4; }
    sleep 0.05
  done
done
echo "hostreach-tunnel ready" >&2
while read -r c p; do
  case "$c:$p" in
    close:*[!0-9]*|close:) ;;
    close:*) [ -p "/hr/c$p.down" ] && { timeout 5 sh -c ': >"$0"' "/hr/c$p.down" & } ;;
  esac
done
""".replace("__HANDLER__", _HANDLER)


def owner() -> str:
    """Who runs this tunnel: this machine and user, as the labels of its containers say it."""
    import hashlib  # noqa: PLC0415

    machine = ""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="ascii") as f:
            machine = f.read(64).strip()
            break
    import socket  # noqa: PLC0415 - its host name (os.uname does not exist on Windows)

    digest = hashlib.sha256(f"{machine}/{socket.gethostname()}".encode()).hexdigest()[:16]
    return f"{digest}-{os.getuid() if hasattr(os, 'getuid') else 0}"


def json_query(value: object) -> str:
    """A value as an Engine API query parameter takes it (``filters=``)."""
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")))


def container_spec(
    *, image: str, ports: tuple[int, ...], network: str, owner: str
) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for the sidecar carrying ``ports``."""
    return {
        "Image": image,
        "Entrypoint": ["sh", "-c", SIDECAR],
        "Cmd": [],
        "Env": [
            f"HR_PORTS={' '.join(map(str, ports))}",
            f"HR_BACKLOG={BACKLOG}",
            f"HR_HANDLERS={HANDLERS}",
        ],
        "Labels": {
            LABEL: "1",
            f"{LABEL}.owner": owner,
            f"{LABEL}.pid": str(os.getpid()),
            f"{LABEL}.ports": ",".join(map(str, ports)),
        },
        "OpenStdin": True,
        "StdinOnce": True,
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        # busybox nc -ll listens with a backlog of 2: a burst of connections overflows it,
        # and a SYN cookie that then expires resets the client (measured: ListenOverflows,
        # SyncookiesFailed). Without cookies the kernel drops the SYN and the client retries
        # (1 s, then 2, 4...). tcpsvd listens with BACKLOG, where the image has it (busybox's
        # defconfig, as Docker Hub's busybox image is built: docker-library/busybox).
        "HostConfig": {
            "AutoRemove": True,
            "NetworkMode": network,
            "Sysctls": {"net.ipv4.tcp_syncookies": "0"},
        },
    }
