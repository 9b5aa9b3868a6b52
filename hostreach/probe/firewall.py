"""Firewall probe (Linux): ``iptables-save -t filter`` and ``nft list ruleset``, where permitted.

Reading needs CAP_NET_ADMIN (root); otherwise the problem is recorded and the doctor relies on
its real connection probe alone. On Debian 12 ``iptables`` is the nf_tables backend, so
iptables-save shows what ufw and Docker write through it; nft shows native nftables rules too
(firewalld), which iptables-save never does.
"""

from __future__ import annotations

import shutil
import subprocess

_SBIN = ("", "/usr/sbin/", "/sbin/")  # a non-root PATH often lacks sbin


def _run(name: str, args: list[str], timeout: float) -> tuple[str | None, str | None]:
    """Return (output, None), or (None, why not)."""
    command = next((c for c in (shutil.which(d + name) for d in _SBIN) if c), None)
    if command is None:
        return None, f"{name} is not installed"
    try:
        done = subprocess.run(
            [command, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{name} failed: {exc}"
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"{name}: {message}"
    return done.stdout, None


def read_firewall(*, timeout: float) -> tuple[dict[str, str | None] | None, list[str]]:
    """Return the ``firewall`` fields of the facts, and any problem met."""
    iptables, why_iptables = _run("iptables-save", ["-t", "filter"], timeout)
    nftables, why_nft = _run("nft", ["list", "ruleset"], timeout)
    if iptables is None and nftables is None:
        return None, [f"the firewall rules could not be read ({why_iptables}; {why_nft})"]
    # One reader is enough to judge; the other missing is normal (no nft on older systems).
    return {"iptables": iptables, "nftables": nftables}, []
