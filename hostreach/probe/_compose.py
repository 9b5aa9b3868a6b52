"""Compose file reader: the only module that imports PyYAML, lazily.

Only the service names and their ``network_mode`` are read: an override file must name every
service, and a service that shares another's network (``service:``, ``container:``) cannot take
``extra_hosts`` (the engine refuses "conflicting options").
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hostreach.errors import UsageError

CANDIDATES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
"""The file names docker compose looks for, in its order."""


def find(directory: str | os.PathLike[str] = ".") -> str:
    """Return the compose file docker compose would use in ``directory``; raise UsageError."""
    for name in CANDIDATES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise UsageError(f"no compose file here ({', '.join(CANDIDATES)}); name one with -f FILE")


def read_services(path: str | os.PathLike[str]) -> dict[str, str | None]:
    """Return ``{service: network_mode or None}`` from a compose file; raise UsageError."""
    import yaml  # noqa: PLC0415

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError as exc:
        raise UsageError(f"compose file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read compose file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"compose file {path} is not valid YAML: {exc}") from exc
    services = data.get("services") if isinstance(data, Mapping) else None
    if not isinstance(services, Mapping) or not services:
        raise UsageError(f"compose file {path} has no services")
    found: dict[str, str | None] = {}
    for name, service in services.items():
        mode = service.get("network_mode") if isinstance(service, Mapping) else None
        found[str(name)] = str(mode) if mode is not None else None
    return found
