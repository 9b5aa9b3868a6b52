"""Firewall probe (Linux): the filter table as ``iptables-save`` prints it, where permitted.

Reading needs CAP_NET_ADMIN (root); otherwise the problem is recorded and the doctor relies on
its real connection probe alone. On Debian 12 ``iptables`` is the nf_tables backend, so this
also shows rules that ufw and Docker write through it.
"""

from __future__ import annotations

import shutil
import subprocess

_COMMANDS = ("iptables-save", "/usr/sbin/iptables-save", "/sbin/iptables-save")


def read_firewall(*, timeout: float) -> tuple[dict[str, str | None] | None, list[str]]:
    """Return the ``firewall`` fields of the facts, and any problem met."""
    command = next((c for c in map(shutil.which, _COMMANDS) if c), None)
    if command is None:
        return None, ["iptables-save is not installed: the firewall rules were not read"]
    try:
        done = subprocess.run(
            [command, "-t", "filter"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, [f"iptables-save failed: {exc}"]
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, [f"the firewall rules could not be read (iptables-save: {message})"]
    return {"iptables": done.stdout}, []
