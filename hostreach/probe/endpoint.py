"""Endpoint probe: which engine the Docker CLI would talk to. Stdlib only.

The CLI's order: ``DOCKER_HOST``, then ``DOCKER_CONTEXT``, then ``currentContext`` in
``config.json``, then the default socket (docker/cli; docker-py 7.2 follows the same order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hostreach.errors import EndpointError

DEFAULT_UNIX = "unix:///var/run/docker.sock"
DEFAULT_NPIPE = "npipe:////./pipe/docker_engine"
SCHEMES = ("unix", "tcp", "ssh", "npipe", "http", "https", "fd")


@dataclass(frozen=True)
class Endpoint:
    """The engine endpoint in use, and where that choice came from."""

    url: str
    context: str | None
    docker_host: str | None
    tls: bool


def check_docker_host(value: str) -> str:
    """Return DOCKER_HOST if it is a URL the engine clients accept, else raise EndpointError."""
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
    del port
    return value


def config_dir(environ: Mapping[str, str], home: Path) -> Path:
    """Return the Docker CLI's configuration directory (DOCKER_CONFIG or ~/.docker)."""
    return Path(environ["DOCKER_CONFIG"]) if environ.get("DOCKER_CONFIG") else home / ".docker"


def current_context(environ: Mapping[str, str], home: Path) -> str | None:
    """Return the context name the CLI would use, or None for the default one."""
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            data = json.loads((config_dir(environ, home) / "config.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        name = data.get("currentContext") if isinstance(data, dict) else None
    if not isinstance(name, str) or name in ("", "default"):
        return None
    return name


def find_endpoint(environ: Mapping[str, str], home: Path, *, windows: bool = False) -> Endpoint:
    """Return the endpoint in use; raise EndpointError when the settings point nowhere."""
    tls = bool(environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"))
    docker_host = environ.get("DOCKER_HOST")
    if docker_host:
        return Endpoint(check_docker_host(docker_host), None, docker_host, tls=tls)
    context = current_context(environ, home)
    if context is None:
        return Endpoint(DEFAULT_NPIPE if windows else DEFAULT_UNIX, None, None, tls=False)
    digest = hashlib.sha256(context.encode()).hexdigest()
    contexts = config_dir(environ, home) / "contexts"
    try:
        meta = json.loads((contexts / "meta" / digest / "meta.json").read_text("utf-8"))
        host = meta["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EndpointError(
            f"docker context {context!r} not found or unreadable; run `docker context ls`"
        ) from exc
    if not isinstance(host, str):
        raise EndpointError(f"docker context {context!r} has no docker endpoint")
    has_tls = (contexts / "tls" / digest / "docker").is_dir()
    return Endpoint(check_docker_host(host), context, None, tls=has_tls)
