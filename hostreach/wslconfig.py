"""WSL 2: where containers of a dockerd inside a distro reach Windows. Pure.

NAT mode (the default): Windows is the distro's default gateway (MicrosoftDocs/WSL
WSL/networking.md: ``ip route show | grep -i default | awk '{ print $3}'``). Mirrored mode:
Windows shares the distro's addresses, and traffic to them reaches Windows only with
``hostAddressLoopback=true`` (microsoft/WSL#11034, #11102; under ``[experimental]`` in the
versions that introduced it); containers cannot use host-gateway there (microsoft/WSL#12023).
"""

from __future__ import annotations

from hostreach.errors import NoRouteError, UsageError
from hostreach.facts import Facts


def settings(text: str) -> dict[tuple[str, str], str]:
    """Read .wslconfig as WSL does: ``[section]`` then ``key = value`` lines, names in any
    case, spaces around ``=``, CRLF line ends, ``#`` and ``;`` comments."""
    found: dict[tuple[str, str], str] = {}
    section = ""
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        key, equals, value = line.partition("=")
        if equals:
            value = value.split("#", 1)[0].strip().strip('"').lower()
            found[(section, key.strip().lower())] = value
    return found


def mode(facts: Facts) -> str:
    """nat or mirrored: as wslinfo said, else as .wslconfig sets it, else WSL's default (nat)."""
    if facts.client.wsl_networking in ("nat", "mirrored"):
        return facts.client.wsl_networking
    value = settings(facts.client.wslconfig or "").get(("wsl2", "networkingmode"), "nat")
    return "mirrored" if value == "mirrored" else "nat"


def host_address_loopback(facts: Facts) -> bool:
    """Whether .wslconfig turns on hostAddressLoopback (under [experimental] or [wsl2])."""
    found = settings(facts.client.wslconfig or "")
    return "true" in (
        found.get(("experimental", "hostaddressloopback")),
        found.get(("wsl2", "hostaddressloopback")),
    )


def in_wsl_distro(facts: Facts) -> bool:
    """Whether hostreach runs in a WSL 2 distro itself, not in a container on a WSL kernel.

    A container on WSL 2 (a dev container on Windows) sees the kernel's "microsoft" and may see
    WSLInterop, yet it is no distro: Windows is not its gateway (ddev/ddev#8018).
    """
    return facts.client.wsl and not facts.client.in_container


def windows_address(facts: Facts, lan_address: str | None) -> tuple[str, str]:
    """Return Windows' address for containers here and why; NoRouteError where there is none."""
    if facts.client.wsl and facts.client.in_container:
        raise UsageError(
            "--target windows is for hostreach inside a WSL 2 distro; this is a container on a"
            " WSL 2 kernel (a dev container?), whose host is the engine's machine: run"
            " hostreach in the distro, or use the default --target caller"
        )
    if not in_wsl_distro(facts):
        raise UsageError("--target windows is for hostreach inside a WSL 2 distro")
    if mode(facts) == "nat":
        gateway = facts.network.default_gateway
        if gateway is None:
            raise NoRouteError("WSL 2 (NAT mode): the distro has no default route to Windows")
        return (
            gateway.ip,
            f"in WSL 2's NAT mode Windows is the distro's default gateway {gateway.ip}",
        )
    if not host_address_loopback(facts):
        raise NoRouteError(
            "WSL 2 in mirrored mode reaches Windows' own address only with hostAddressLoopback:"
            " add `[experimental]` and `hostAddressLoopback=true` to %USERPROFILE%\\.wslconfig,"
            " then run `wsl --shutdown` (microsoft/WSL#11034)"
        )
    if lan_address is None:
        raise NoRouteError("WSL 2 (mirrored mode): Windows' address is unknown (no default route)")
    return lan_address, (
        f"in WSL 2's mirrored mode Windows shares the address {lan_address}, which"
        " hostAddressLoopback=true makes reachable"
    )
