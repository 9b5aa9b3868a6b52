"""Network probe: interfaces and the default route. The only module that imports netifaces.

netifaces-plus is the maintained drop-in fork (imported as ``netifaces``); where it cannot be
imported (musl without a wheel), Linux falls back to /proc/net/route for the default route.
"""

from __future__ import annotations

import os

from hostreach.checks import check_address


def read_network(root: str | os.PathLike[str]) -> tuple[dict[str, object], list[str]]:
    """Return the network fields of the facts, and the problems met on the way."""
    problems: list[str] = []
    try:
        import netifaces  # noqa: PLC0415 - lazily, like every third-party import
    except ImportError as exc:
        problems.append(f"netifaces is not importable ({exc}); read /proc/net/route instead")
        return {"default_gateway": _proc_route(root), "interfaces": {}}, problems

    table = netifaces.gateways().get("default")
    default = table.get(netifaces.AF_INET) if isinstance(table, dict) else None
    gateway = {"ip": default[0], "interface": default[1]} if default else None
    interfaces: dict[str, list[str]] = {}
    for name in netifaces.interfaces():
        try:
            found = netifaces.ifaddresses(name)
        except ValueError as exc:  # the interface vanished between the two calls
            problems.append(f"interface {name}: {exc}")
            continue
        addresses = []
        for family in (netifaces.AF_INET, netifaces.AF_INET6):
            for entry in found.get(family, []):
                try:  # what the facts reader would refuse is left out here, and said
                    addresses.append(check_address(str(entry.get("addr", "")).split("%")[0]))
                except ValueError:
                    problems.append(f"interface {name}: not an address: {entry.get('addr')!r}")
        interfaces[name] = addresses
    return {"default_gateway": gateway, "interfaces": interfaces}, problems


def _proc_route(root: str | os.PathLike[str]) -> dict[str, str] | None:
    """Return the IPv4 default route from /proc/net/route (Linux), or None."""
    try:
        with open(os.path.join(root, "proc/net/route"), encoding="ascii") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            raw = bytes.fromhex(fields[2])[::-1]
            return {"ip": ".".join(str(b) for b in raw), "interface": fields[0]}
    return None


def own_addresses() -> list[str]:
    """Return every address of this machine's interfaces, as /32 and /128 networks."""
    import netifaces  # noqa: PLC0415

    own: list[str] = []
    for name in netifaces.interfaces():
        try:
            found = netifaces.ifaddresses(name)
        except ValueError:
            continue
        for family, width in ((netifaces.AF_INET, 32), (netifaces.AF_INET6, 128)):
            for entry in found.get(family, []):
                address = str(entry.get("addr", "")).split("%")[0]
                if address:
                    own.append(f"{address}/{width}")
    return own
