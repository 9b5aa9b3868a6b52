"""Which wildcard IPv6 listeners refuse IPv4 (IPV6_V6ONLY), read from ``ss`` (Linux, iproute2).

psutil shows ``::`` either way; ``ss`` shows a dual-stack socket as ``*:PORT`` and an IPv6-only
one as ``[::]:PORT`` (nginx's ``listen [::]:80`` sets IPV6_V6ONLY). Containers arrive over IPv4.
"""

from __future__ import annotations

import shutil
import subprocess

_MAX_OUTPUT = 1 << 20


def v6only_ports(ports: tuple[int, ...], *, timeout: float) -> tuple[set[int] | None, str | None]:
    """Return the ports with an IPv6-only wildcard listener (None: not known), and why not."""
    command = next(
        (c for c in (shutil.which(p) for p in ("ss", "/usr/sbin/ss", "/sbin/ss")) if c), None
    )
    if command is None:
        return None, "ss (iproute2) is not installed: whether [::] listeners take IPv4 is unknown"
    try:
        done = subprocess.run(
            [command, "-H", "-l", "-t", "-n"], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"ss failed: {exc}"
    if done.returncode != 0:
        return None, f"ss failed: {done.stderr.decode('utf-8', 'replace').strip()[:200]}"
    found: set[int] = set()
    for line in done.stdout[:_MAX_OUTPUT].decode("ascii", "replace").splitlines():
        fields = line.split()
        local = fields[3] if len(fields) > 3 else ""
        host, _, port = local.rpartition(":")
        if host == "[::]" and port.isascii() and port.isdecimal() and int(port) in ports:
            found.add(int(port))
    return found, None
