"""Engine access through the docker SDK: the only module that imports ``docker``, lazily.

Used for endpoints the stdlib probe does not speak (ssh://, TLS, npipe://) and for the commands
that run containers. The SDK (>= 7.2) picks the same endpoint as the Docker CLI: DOCKER_HOST,
then DOCKER_CONTEXT, then ``currentContext``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hostreach.errors import EngineError

if TYPE_CHECKING:
    import docker


def client(environ: Mapping[str, str], *, timeout: float) -> docker.DockerClient:
    """Return a client for the CLI's current endpoint; raise EngineError if it cannot connect."""
    import docker  # noqa: PLC0415 - 150-300 ms: only on the paths that need it
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415 - docker's dependency; its errors escape docker's own

    try:
        # version is left to auto-negotiation: Engine 29 rejects API versions below 1.44.
        return docker.from_env(timeout=math.ceil(timeout), environment=dict(environ))
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"the container engine could not be reached: {exc}") from exc


def fetch(environ: Mapping[str, str], paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` like the stdlib probe; raise EngineError on any failure."""
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    found: dict[str, Any] = {}
    api = client(environ, timeout=timeout).api
    try:
        for path in paths:
            response = api.get(api.base_url + path)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            found[path] = response.json()
    except (docker.errors.DockerException, requests.RequestException, ValueError) as exc:
        raise EngineError(f"the container engine answered badly: {exc}") from exc
    finally:
        api.close()
    return found
