"""checks: the one place where names, addresses and ports from outside are parsed.

hostreach's output is executed (``docker run $(hostreach flags)``) and its fixes are pasted into
shells, so every alias, name, address, interface and port that comes from the user, the engine,
a snapshot or a compose file passes one of these before it is printed, used or cached.
"""

from __future__ import annotations

import ipaddress

from hostreach.errors import UsageError

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_LABEL_CHARS = _ALNUM | {"-"}
_NAME_CHARS = _ALNUM | {"_", ".", "-"}


def _label(label: str) -> bool:
    # RFC 1123: 1-63 letters, digits and '-', neither first nor last a '-'.
    return (
        0 < len(label) <= 63
        and label[0] in _ALNUM
        and label[-1] in _ALNUM
        and _LABEL_CHARS.issuperset(label)
    )


def check_alias(name: str) -> str:
    """Return ``name`` if it is a valid host name (RFC 1123), else raise UsageError."""
    labels = name.split(".")
    if not name or len(name) > 253 or not all(map(_label, labels)):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise UsageError(
            f"invalid alias {shown!r}: use a host name of letters, digits, '-' and '.'"
            " (RFC 1123, at most 253 characters)"
        )
    return name


def check_name(name: str, what: str) -> str:
    """Return a container, network or compose service name if valid, else raise UsageError.

    One rule for the three (compose-spec, moby's validContainerNamePattern
    ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, here at most 254 characters), which also keeps them safe
    in a URL path and a shell word.
    """
    if not (0 < len(name) <= 254 and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)):
        raise UsageError(f"invalid {what} name {name[:60]!r}: use letters, digits, '_', '.', '-'")
    return name


def port_number(value: object) -> int:
    """Return a TCP/UDP port (1-65535) from an int or ASCII decimal text; ValueError otherwise.

    (``str.isdigit`` and ``int`` accept other scripts' digits and superscripts: not here.)
    """
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    raise ValueError(f"not a port number: {str(value)[:20]!r}")


def host_port(host: str, port: int) -> str:
    """Return ``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_address(value: object) -> str:
    """Return the canonical text of an IP address; ValueError for anything else.

    A scoped IPv6 address is refused too: ipaddress accepts any text after its '%'
    ("fe80::1%$(reboot) --pid=host"), and no hosts entry has a use for a scope.
    """
    if not isinstance(value, str):
        raise ValueError(f"not an IP address: {value!r}"[:80])  # noqa: TRY004 - one error for callers
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValueError(f"a scoped address has no use here: {value[:60]!r}")
    return str(address)


def check_network(value: object) -> str:
    """Return the canonical text of an IP network (``172.17.0.0/16``); ValueError otherwise."""
    if not isinstance(value, str) or "%" in value:
        raise ValueError(f"not an IP network: {str(value)[:60]!r}")
    return str(ipaddress.ip_network(value, strict=False))


_IFNAME_CHARS = _ALNUM | {"_", ".", "-", "@", ":"}


def check_interface(name: object) -> str:
    """Return a network interface name (Linux: at most 15 bytes); ValueError for anything else.

    Interface names appear in the doctor's fixes (``iptables -I INPUT -i NAME``): only letters,
    digits and ``_.-@:`` pass.
    """
    if not isinstance(name, str) or not 0 < len(name) <= 15 or not _IFNAME_CHARS.issuperset(name):
        raise ValueError(f"not an interface name: {str(name)[:40]!r}")
    return name
