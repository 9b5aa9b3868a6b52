"""Compose file reader: the only module that imports PyYAML, lazily.

Only the service names and their ``network_mode`` are read: an override file must name every
service, and a service that shares another's network (``service:``, ``container:``) cannot take
``extra_hosts`` (the engine refuses "conflicting options").
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hostreach.checks import check_name
from hostreach.errors import UsageError
from hostreach.files import MIB, read_text

CANDIDATES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
"""The file names docker compose looks for, in its order."""


def find(directory: str | os.PathLike[str] = ".") -> str:
    """Return the compose file docker compose would use in ``directory``; raise UsageError."""
    for name in CANDIDATES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise UsageError(f"no compose file here ({', '.join(CANDIDATES)}); name one with -f FILE")


def read_services(path: str | os.PathLike[str], *, timeout: float) -> dict[str, str | None]:
    """Return ``{service: network_mode or None}`` from a compose file; raise UsageError.

    ``timeout`` bounds the wait when ``path`` is a pipe the user named.
    """
    import yaml  # noqa: PLC0415

    try:
        text = read_text(path, what="compose file", limit=4 * MIB, pipe_timeout=timeout)
    except FileNotFoundError as exc:
        raise UsageError(f"compose file not found: {path}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"compose file {path} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise UsageError(f"compose file {path} is nested too deeply") from exc
    services = data.get("services") if isinstance(data, Mapping) else None
    if not isinstance(services, Mapping) or not services:
        raise UsageError(f"compose file {path} has no services")
    found: dict[str, str | None] = {}
    for name, service in services.items():
        if not isinstance(name, str):
            raise UsageError(f"compose file {path}: service name {str(name)[:60]!r} is not text")
        mode = service.get("network_mode") if isinstance(service, Mapping) else None
        # Only a string is a network mode; anything else (a list built from YAML aliases, a
        # billion of them) is refused before it is ever turned into text.
        if mode is not None and not isinstance(mode, str):
            raise UsageError(f"compose file {path}: services.{name[:60]}.network_mode is not text")
        found[check_name(name, "compose service")] = mode
    return found
