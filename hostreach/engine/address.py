"""An engine address (``unix:///var/run/docker.sock``, ``tcp://host:2375``, ``ssh://me@host``),
parsed in one place: every module that needs its parts asks :func:`parse`. Stdlib only."""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import urlsplit

from hostreach.errors import EndpointError

SCHEMES = ("unix", "tcp", "ssh", "npipe", "http", "https", "fd")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:")
"""What a host name or an address may hold (':' for IPv6); anything else is no engine's host."""
_TCP = ("tcp", "http", "https")


class Address(NamedTuple):
    """An engine address, split once: ``unix:///var/run/docker.sock``, ``tcp://host:2375``."""

    url: str
    scheme: str
    host: str | None
    port: int | None
    path: str
    user: str | None = None

    @property
    def tcp_port(self) -> int | None:
        """The TCP port the docker CLI would use: the one given, else 2375 (2376 for https)."""
        if self.scheme not in _TCP:
            return None
        return self.port or (2376 if self.scheme == "https" else 2375)

    @property
    def socket(self) -> str | None:
        """The socket's path of a ``unix://`` address, else None."""
        return self.path if self.scheme == "unix" else None


@functools.lru_cache(maxsize=64)
def parse(value: str) -> Address:
    """Return the parts of an engine address; raise EndpointError when it is not one."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a port that is not a number
    except ValueError as exc:
        raise EndpointError(f"DOCKER_HOST={value!r} is not a valid engine address: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise EndpointError(
            f"DOCKER_HOST={value!r} is not a valid engine address: use unix:///path/docker.sock,"
            " tcp://HOST:PORT or ssh://USER@HOST"
        )
    if parts.scheme == "unix" and not parts.path:
        raise EndpointError(f"DOCKER_HOST={value!r} names no socket path")
    if parts.scheme in ("tcp", "ssh", "http", "https") and not parts.hostname:
        raise EndpointError(f"DOCKER_HOST={value!r} names no host")
    if not value.isprintable() or not _HOST_CHARS.issuperset(parts.hostname or ""):
        raise EndpointError(f"DOCKER_HOST={value[:80]!r} names a host that is not one")
    return Address(value, parts.scheme, parts.hostname, port, parts.path, parts.username)


def parse_or_none(value: str | None) -> Address | None:
    """:func:`parse`, or None for no address or one that is not valid (a snapshot's free text)."""
    if not value:
        return None
    try:
        return parse(value)
    except EndpointError:
        return None
