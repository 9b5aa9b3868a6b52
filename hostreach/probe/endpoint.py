"""Endpoint probe: which engine the Docker CLI would talk to. Stdlib only.

The CLI's order: ``DOCKER_HOST``, then ``DOCKER_CONTEXT``, then ``currentContext`` in
``config.json``, then the default socket (docker/cli; docker-py 7.2 follows the same order).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from hostreach._fastpath import docker_config_dir
from hostreach.errors import EndpointError, InputError
from hostreach.facts import socket_path
from hostreach.files import MIB, read_text

DEFAULT_UNIX = "unix:///var/run/docker.sock"
DEFAULT_NPIPE = "npipe:////./pipe/docker_engine"
SCHEMES = ("unix", "tcp", "ssh", "npipe", "http", "https", "fd")


class Address(NamedTuple):
    """An engine address, split once: ``unix:///var/run/docker.sock``, ``tcp://host:2375``."""

    url: str
    scheme: str
    host: str | None
    port: int | None
    path: str
    user: str | None = None


class Endpoint(NamedTuple):
    """The engine endpoint in use, and where that choice came from."""

    address: Address
    context: str | None
    docker_host: str | None
    tls: bool

    @property
    def url(self) -> str:
        """The endpoint as the Docker CLI writes it."""
        return self.address.url


def split_address(value: str) -> Address:
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
    return Address(value, parts.scheme, parts.hostname, port, parts.path, parts.username)


StrPath = str | os.PathLike[str]


def _read_json(*parts: str) -> object:
    """The JSON of a Docker CLI file; OSError, InputError or ValueError when it has none."""
    text = read_text(os.path.join(*parts), what="Docker CLI file", limit=MIB)
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def current_context(environ: Mapping[str, str], home: StrPath) -> str | None:
    """Return the context name the CLI would use, or None for the default one."""
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            data = _read_json(docker_config_dir(environ, os.fspath(home)), "config.json")
        except (OSError, ValueError, InputError):
            return None  # as the CLI does with a config it cannot read: the default context
        name = data.get("currentContext") if isinstance(data, dict) else None
    if not isinstance(name, str) or name in ("", "default"):
        return None
    return name


def find_endpoint(environ: Mapping[str, str], home: StrPath, *, windows: bool = False) -> Endpoint:
    """Return the endpoint in use; raise EndpointError when the settings point nowhere."""
    tls = bool(environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"))
    docker_host = environ.get("DOCKER_HOST")
    if docker_host:
        return Endpoint(split_address(docker_host), None, docker_host, tls=tls)
    context = current_context(environ, home)
    if context is None:
        default = split_address(DEFAULT_NPIPE if windows else DEFAULT_UNIX)
        return Endpoint(default, None, None, tls=False)
    import hashlib  # noqa: PLC0415 - 8 ms, only when a context is in use

    # The CLI stores each context under the SHA-256 of its name.
    digest = hashlib.sha256(context.encode()).hexdigest()
    contexts = os.path.join(docker_config_dir(environ, os.fspath(home)), "contexts")
    try:
        meta: Any = _read_json(contexts, "meta", digest, "meta.json")
        host = meta["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
        raise EndpointError(
            f"docker context {context!r} not found or unreadable; run `docker context ls`"
        ) from exc
    if not isinstance(host, str):
        raise EndpointError(f"docker context {context!r} has no docker endpoint")
    has_tls = os.path.isdir(os.path.join(contexts, "tls", digest, "docker"))
    return Endpoint(split_address(host), context, None, tls=has_tls)


def socket_target(url: str) -> str | None:
    """Where a unix:// endpoint's path leads when it is a symbolic link (None: it is not one)."""
    if not url.startswith("unix://"):
        return None
    path = url.removeprefix("unix://")
    if not os.path.islink(path):
        return None
    try:  # it reaches a note: the facts keep only a path that can be shown
        return socket_path(os.path.realpath(path))
    except ValueError:
        return None
