"""checks: the one place where names, addresses and ports from outside are parsed. Imports
nothing heavy at the top (ipaddress and re load where they are needed): the warm path checks
every flag it replays here.

hostreach's output is executed (``docker run $(hostreach flags)``) and its fixes are pasted into
shells, so every alias, name, address, interface and port that comes from the user, the engine,
a snapshot or a compose file passes one of these before it is printed, used or cached.
"""

from __future__ import annotations

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


INERT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.=:_")
"""What a flag may hold: the words resolve writes (letters, digits, '-', '.', '=', ':'). Anything
else would be a second shell word, a glob or a substitution in `docker run $(...)`."""


def emitted_flag(flag: str) -> bool:
    """Whether ``flag`` is one inert word of a kind hostreach prints: ``--add-host=ALIAS:VALUE``
    (VALUE ``host-gateway`` or an IP address) or ``--network=NAME``. A stored answer is replayed
    only when each of its flags is (issue 22)."""
    if not (flag.isascii() and INERT.issuperset(flag)):
        return False
    if flag.startswith("--add-host="):
        alias, sep, value = flag.removeprefix("--add-host=").partition(":")
        return bool(sep) and _is_alias(alias) and (value == "host-gateway" or _ip_literal(value))
    name = flag.removeprefix("--network=")
    return name != flag and bool(name) and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)


def _is_alias(name: str) -> bool:
    return 0 < len(name) <= 253 and all(map(_label, name.split(".")))


def _ip_literal(text: str) -> bool:
    # The C library's parser (inet_pton: strict, no zone, no leading zeros): the warm path then
    # needs no ipaddress (1.3 ms, 10% of a warm answer); _socket costs 0.4 ms, and only there.
    import _socket  # noqa: PLC0415

    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, text)
        except OSError:
            continue
        return True
    return False


def one_line(text: str) -> str:
    """``text`` as one printable line: each control character (a newline, an escape sequence)
    shown escaped. Outside text (an engine's message, a compose value, a path) reaches a
    terminal only so (issue 22)."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def check_alias(name: str) -> str:
    """Return ``name`` if it is a valid host name (RFC 1123), else raise UsageError."""
    if not _is_alias(name):
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


def check_hostname(name: str) -> str:
    """Return a machine's host name (a swarm node's) if it is one inert word of letters, digits,
    '_', '.' and '-'; ValueError otherwise."""
    if not (0 < len(name) <= 253 and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)):
        raise ValueError(name)
    return name


def check_swarm_id(text: str) -> str:
    """Return a swarm object's ID (a node's, a service's, a task's: swarmkit's lowercase letters and
    digits); ValueError otherwise."""
    if not (0 < len(text) <= 64 and text.isascii() and text.isalnum() and text == text.lower()):
        raise ValueError(text)
    return text


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


# The grammar of an image reference (distribution/reference, reference.go): a name of path
# components (lower-case letters and digits, joined by '.', '_', '__' or dashes), an optional
# domain (a host name or [IPv6] and a port), an optional tag, an optional digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_REFERENCE = (
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def check_image(text: str) -> str:
    """Return ``text`` if it is an image reference (distribution/reference's grammar: name,
    tag, digest; the name at most 255 characters); ValueError saying so otherwise."""
    import re  # noqa: PLC0415 - only check and tunnel take an image

    found = re.fullmatch(_REFERENCE, text) if len(text) <= 512 and text.isascii() else None
    if found is None or len(found["name"]) > 255:
        raise ValueError(
            f"not an image name: {text[:60]!r} (a reference such as docker.io/library/busybox:1.36)"
        )
    return text


def socket_path(text: str) -> str:
    """A socket's path as shown in a note: printable and at most 4096 characters (PATH_MAX)."""
    if not 0 < len(text) <= 4096 or not text.isprintable():
        raise ValueError(text)
    return text


def check_address(value: object) -> str:
    """Return the canonical text of an IP address; ValueError for anything else.

    A scoped IPv6 address is refused too: ipaddress accepts any text after its '%'
    ("fe80::1%$(reboot) --pid=host"), and no hosts entry has a use for a scope.
    """
    import ipaddress  # noqa: PLC0415 - 1.3 ms: the warm path checks flags without it

    if not isinstance(value, str):
        raise ValueError(f"not an IP address: {value!r}"[:80])  # noqa: TRY004 - one error for callers
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValueError(f"a scoped address has no use here: {value[:60]!r}")
    return str(address)


def check_host_address(value: object) -> str:
    """Return an address a container can reach the host at (``HOSTREACH_HOST_ADDRESS``);
    ValueError saying why for one that cannot work from a container (issue 22)."""
    import ipaddress  # noqa: PLC0415

    text = check_address(value)
    address = ipaddress.ip_address(text)
    why = next(
        (
            why
            for test, why in (
                (address.is_loopback, "a loopback address is the container's own"),
                (address.is_unspecified, "an unspecified address names no host"),
                (address.is_multicast, "a multicast address is no host's"),
                (
                    address.is_link_local,
                    "a link-local address needs a zone, which no hosts entry has",
                ),
            )
            if test
        ),
        None,
    )
    if why is not None:
        raise ValueError(f"{text} cannot reach the host from a container: {why}")
    return text


def check_network(value: object) -> str:
    """Return the canonical text of an IP network (``172.17.0.0/16``); ValueError otherwise."""
    import ipaddress  # noqa: PLC0415

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
