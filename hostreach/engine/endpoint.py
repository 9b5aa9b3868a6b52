"""endpoint: which engine the Docker CLI would talk to, found once. Stdlib only.

The CLI's order: ``DOCKER_HOST``, then ``DOCKER_CONTEXT``, then ``currentContext`` in
``config.json``, then the default socket (docker/cli; docker-py 7.2 follows the same order).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from hostreach.cache import docker_config_dir
from hostreach.checks import socket_path
from hostreach.engine.address import Address, parse
from hostreach.errors import EndpointError, InputError
from hostreach.files import MIB, read_text

DEFAULT_UNIX = "unix:///var/run/docker.sock"
DEFAULT_NPIPE = "npipe:////./pipe/docker_engine"


class Endpoint(NamedTuple):
    """The engine endpoint in use, where that choice came from, and its TLS material: found
    once by :func:`find_endpoint` and passed to every client (the docker SDK included)."""

    address: Address
    context: str | None
    docker_host: str | None
    tls: bool
    tls_dir: str | None = None
    """The folder of ``ca.pem``, ``cert.pem`` and ``key.pem`` (DOCKER_CERT_PATH, ~/.docker, or
    the context's own), where ``tls``."""
    tls_verify: bool = False
    """Whether the engine's certificate is verified (DOCKER_TLS_VERIFY; a context unless it
    says SkipTLSVerify)."""

    @property
    def url(self) -> str:
        """The endpoint as the Docker CLI writes it."""
        return self.address.url


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
    docker_host = environ.get("DOCKER_HOST")
    if docker_host:
        # The docker CLI's and docker-py's rule: TLS with DOCKER_TLS_VERIFY or DOCKER_CERT_PATH,
        # its files in DOCKER_CERT_PATH, else ~/.docker.
        verify = bool(environ.get("DOCKER_TLS_VERIFY"))
        certs = environ.get("DOCKER_CERT_PATH")
        tls = verify or bool(certs)
        folder = certs or os.path.join(os.fspath(home), ".docker")
        return Endpoint(
            parse(docker_host),
            None,
            docker_host,
            tls=tls,
            tls_dir=folder if tls else None,
            tls_verify=verify,
        )
    context = current_context(environ, home)
    if context is None:
        default = parse(DEFAULT_NPIPE if windows else DEFAULT_UNIX)
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
    folder = os.path.join(contexts, "tls", digest, "docker")
    has_tls = os.path.isdir(folder)
    skip = meta["Endpoints"]["docker"].get("SkipTLSVerify") is True
    return Endpoint(
        parse(host),
        context,
        None,
        tls=has_tls,
        tls_dir=folder if has_tls else None,
        tls_verify=has_tls and not skip,
    )


def given(engine: object) -> Endpoint:
    """The endpoint of an engine the caller names: an address (``unix:///run/...``,
    ``tcp://host:2375``, ``ssh://me@host``), an :class:`Endpoint`, or a docker SDK client
    (``DockerClient`` or ``APIClient``: its base URL and TLS settings, read as docker-py 7
    keeps them). EndpointError for anything else."""
    if isinstance(engine, Endpoint):
        return engine
    if isinstance(engine, str):
        return Endpoint(parse(engine), None, None, tls=False)
    api = getattr(engine, "api", engine)  # a DockerClient holds its APIClient
    base = getattr(api, "base_url", None)
    adapter = getattr(api, "_custom_adapter", None)
    url = _client_url(base, adapter)
    if url is None:
        raise EndpointError(f"not an engine hostreach can ask: {type(engine).__name__}")
    if not url.startswith("https://"):
        return Endpoint(parse(url), None, None, tls=False)
    cert = getattr(api, "cert", None)  # (cert.pem, key.pem), as docker.tls.TLSConfig sets it
    verify = getattr(api, "verify", False)
    folder = os.path.dirname(cert[0]) if isinstance(cert, tuple) and cert else None
    if folder is None and isinstance(verify, str):
        folder = os.path.dirname(verify)
    return Endpoint(
        parse("tcp://" + url.removeprefix("https://")),
        None,
        None,
        tls=True,
        tls_dir=folder,
        tls_verify=bool(verify),
    )


def _client_url(base: object, adapter: object) -> str | None:
    """A docker SDK client's engine as an address (docker-py 7: unix, npipe and ssh clients
    have a base URL of http+docker:// and keep the engine in their adapter)."""
    if not isinstance(base, str):
        return None
    if base == "http+docker://localhost":
        path = getattr(adapter, "socket_path", None)
        return f"unix://{path}" if isinstance(path, str) else None
    if base == "http+docker://localnpipe":
        path = getattr(adapter, "npipe_path", None)
        return f"npipe://{path}" if isinstance(path, str) else None
    if base.startswith("http+docker://ssh"):
        host = getattr(adapter, "ssh_host", None)
        return f"ssh://{host}" if isinstance(host, str) else None
    if base.startswith("http://"):
        return "tcp://" + base.removeprefix("http://")
    return base if base.startswith("https://") else None


def socket_target(address: Address) -> str | None:
    """Where a unix:// endpoint's path leads when it is a symbolic link (None: it is not one)."""
    path = address.socket
    if path is None or not os.path.islink(path):
        return None
    try:  # it reaches a note: the facts keep only a path that can be shown
        return socket_path(os.path.realpath(path))
    except ValueError:
        return None
