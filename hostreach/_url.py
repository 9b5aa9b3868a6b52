"""Split an engine address such as ``unix:///var/run/docker.sock`` or ``ssh://me@host:22``.

urllib.parse does this too, but importing it (with re and ipaddress) costs more than the
engine's answer on a cold call; these addresses need only scheme, host, port and path.
"""

from __future__ import annotations

from hostreach._record import NamedTuple


class Url(NamedTuple):
    """The parts of an engine address that hostreach reads."""

    scheme: str
    hostname: str | None
    port: int | None
    path: str


_C0_OR_SPACE = "".join(map(chr, range(33)))  # stripped from the front, as urlsplit does
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
_HEX = frozenset("0123456789abcdefABCDEF")


def split(url: str) -> Url:
    """Return the parts of ``url`` as urllib.parse.urlsplit reads them; ValueError where it would.

    (urlsplit also refuses some non-ASCII host names after NFKC normalisation; this does not.)
    """
    url = url.lstrip(_C0_OR_SPACE).replace("\t", "").replace("\r", "").replace("\n", "")
    scheme = ""
    colon = url.find(":")
    if (
        colon > 0
        and url[0].isascii()
        and url[0].isalpha()
        and _SCHEME_CHARS.issuperset(url[:colon])
    ):
        scheme, url = url[:colon].lower(), url[colon + 1 :]
    netloc = ""
    if url[:2] == "//":
        end = min((i for i in (url.find(c, 2) for c in "/?#") if i >= 0), default=len(url))
        netloc, url = url[2:end], url[end:]
        if ("[" in netloc) != ("]" in netloc):
            raise ValueError("Invalid IPv6 URL")
        if "[" in netloc:
            _check_bracketed(netloc.partition("[")[2].partition("]")[0])
    path = url.partition("#")[0].partition("?")[0]
    hostname, port = _host_port(netloc.rpartition("@")[2])
    return Url(scheme, hostname, port, path)


def _check_bracketed(host: str) -> None:
    if host.startswith("v"):  # IPvFuture: v<hex>.<anything>
        version, dot, rest = host[1:].partition(".")
        if not (version and _HEX.issuperset(version) and dot and rest and "\n" not in rest):
            raise ValueError("IPvFuture address is invalid")
        return
    import ipaddress  # noqa: PLC0415 - only for a bracketed (IPv6) host

    if isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address):
        raise ValueError("An IPv4 address cannot be in brackets")  # noqa: TRY004 - urlsplit's


def _host_port(hostinfo: str) -> tuple[str | None, int | None]:
    _, bracket, bracketed = hostinfo.partition("[")
    if bracket:
        host, _, after = bracketed.partition("]")
        port_text = after.partition(":")[2]
    else:
        host, _, port_text = hostinfo.partition(":")
    port = None
    if port_text:
        if not (port_text.isdigit() and port_text.isascii()):
            raise ValueError(f"Port could not be cast to integer value as {port_text!r}")
        port = int(port_text)
        if port > 65535:
            raise ValueError("Port out of range 0-65535")
    if not host:
        return None, port
    name, percent, zone = host.partition("%")  # a scoped IPv6 address keeps its zone's case
    return name.lower() + percent + zone, port
