"""RootlessKit's own flags, read from its command line: does it let containers reach the host's
loopback? A local rootless engine only (this machine's /proc); stdlib only.

Docker's ``dockerd-rootless.sh`` starts ``rootlesskit --net=DRIVER ... --disable-host-loopback``
unless ``DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false`` (Engine 26+; Debian's 20.10
script hard-codes the flag). Without it, slirp4netns forwards 10.0.2.2 to the host's
127.0.0.1. The engine's API does not say so (Engine 20.10 has no ``rootlesskit`` component in
``GET /version``; later ones name the driver, not this flag).
"""

from __future__ import annotations

import os

from hostreach.checks import check_name
from hostreach.engine.endpoint import StrPath
from hostreach.errors import UsageError

_MAX_PROCESSES = 65536
_MAX_READ = 64 << 10


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(_MAX_READ)


def read(socket_path: str, root: StrPath = "/") -> dict[str, object] | None:
    """The flags of the RootlessKit that serves the engine socket ``socket_path``, or None.

    Its process is the one whose XDG_RUNTIME_DIR holds the socket (dockerd-rootless.sh puts
    the socket there); where its environment cannot be read (another user's, without root),
    the only RootlessKit run by the socket's owner.
    """
    proc = os.path.join(os.fspath(root), "proc")
    folder = os.path.dirname(socket_path)
    try:
        owner = os.stat(socket_path).st_uid
        pids = [p for p in os.listdir(proc) if p.isdecimal()][:_MAX_PROCESSES]
    except OSError:
        return None
    by_folder, by_owner = [], []
    for pid in pids:
        try:
            argv = _read(os.path.join(proc, pid, "cmdline")).split(b"\0")
            if os.path.basename(argv[0]) != b"rootlesskit":
                continue
            uid = os.stat(os.path.join(proc, pid)).st_uid
        except OSError:
            continue
        flags = [a.decode("utf-8", "replace") for a in argv[1:] if a.startswith(b"--")]
        net = next((f.split("=", 1)[1] for f in flags if f.startswith("--net=")), "host")
        try:
            check_name(net, "RootlessKit network driver")
        except UsageError:
            continue  # not a command line RootlessKit would have started with
        found = {"net": net, "host_loopback": "--disable-host-loopback" not in flags}
        try:
            environ = _read(os.path.join(proc, pid, "environ")).split(b"\0")
        except OSError:
            environ = []
        prefix = b"XDG_RUNTIME_DIR="
        runtime_dir = next((e[len(prefix) :] for e in environ if e.startswith(prefix)), None)
        if runtime_dir is not None and os.fsdecode(runtime_dir).rstrip("/") == folder:
            by_folder.append(found)
        elif runtime_dir is None and uid == owner:  # its environment could not be read
            by_owner.append(found)
    if len(by_folder) == 1:
        return by_folder[0]
    return by_owner[0] if not by_folder and len(by_owner) == 1 else None
