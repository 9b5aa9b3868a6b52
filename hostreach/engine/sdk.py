"""sdk: the engine through the docker SDK: the only module that imports ``docker``, lazily.

Used for endpoints the stdlib client does not speak (TLS, npipe://) and for the commands that
run containers. It is always given the :class:`~hostreach.engine.endpoint.Endpoint` the probe
found (TLS material included), and never chooses an engine itself (``docker.from_env`` reads
neither contexts nor the environment hostreach was given).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hostreach.engine.containers import PROBE_LABEL, START_ALLOWANCE, left_behind, probe_labels
from hostreach.errors import EngineError

if TYPE_CHECKING:
    import docker

    from hostreach.engine.endpoint import Endpoint


def client(found: Endpoint, *, timeout: float) -> docker.DockerClient:
    """Return a client for the endpoint; raise EngineError on failure."""
    import docker  # noqa: PLC0415 - 150-300 ms: only on the paths that need it
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415 - docker's dependency; its errors escape docker's own

    try:
        tls: Any = False
        if found.tls:
            import docker.tls  # noqa: PLC0415

            # docker-py's own rule (utils.kwargs_from_env), from the folder the endpoint names;
            # where it holds no client certificate, TLS all the same (verified or not, as said).
            folder = found.tls_dir or ""
            cert, key, ca = (os.path.join(folder, n) for n in ("cert.pem", "key.pem", "ca.pem"))
            pair = (cert, key) if folder and os.path.isfile(cert) and os.path.isfile(key) else None
            tls = docker.tls.TLSConfig(
                client_cert=pair,
                ca_cert=ca if folder and os.path.isfile(ca) else None,
                verify=found.tls_verify,
            )
        # version is left to auto-negotiation: Engine 29 rejects API versions below 1.44.
        # ssh://: the user's ssh binary, as the docker CLI and hostreach's own client use it
        # (`ssh HOST docker system dial-stdio`), not paramiko, which `flags` never needed
        # either (issue 24: check over ssh:// said "Install paramiko package").
        return docker.DockerClient(
            base_url=found.url,
            timeout=math.ceil(timeout),
            tls=tls,
            use_ssh_client=found.address.scheme == "ssh",
        )
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"the container engine could not be reached: {exc}") from exc


def fetch(found: Endpoint, paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` like the stdlib client (404: left out); raise EngineError."""
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    from hostreach.engine.http import MAX_ANSWER  # noqa: PLC0415

    answers: dict[str, Any] = {}
    api = client(found, timeout=timeout).api
    try:
        for path in paths:
            response = api.get(api.base_url + path, stream=True)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            body = response.raw.read(MAX_ANSWER + 1, decode_content=True)
            if len(body) > MAX_ANSWER:
                raise EngineError(f"GET {path} answered more than {MAX_ANSWER >> 20} MiB")
            answers[path] = json.loads(body)
    except (docker.errors.DockerException, requests.RequestException, ValueError) as exc:
        raise EngineError(f"the container engine answered badly: {exc}") from exc
    except RecursionError as exc:
        raise EngineError(f"the container engine answered JSON nested too deeply ({path})") from exc
    finally:
        api.close()
    return answers


def run_script(
    found: Endpoint,
    *,
    image: str,
    script: str,
    environment: Mapping[str, str],
    run_kwargs: Mapping[str, Any],
    timeout: float,
    pull: bool = True,
) -> str | None:
    """Run ``sh -c SCRIPT`` in a throwaway container; return what it printed (None: it did not
    finish in time). ``pull=False``: an image that is not here is an error, never pulled.

    The container is removed on every exit: success, failure, timeout and KeyboardInterrupt; one
    left behind by a killed check (``kill -9``) is removed by the next. Every engine call is
    bounded by what is left of ``2 * timeout + START_ALLOWANCE``. Raises EngineError where no
    container could be run (no such image, no shell in it).
    """
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    engine = client(found, timeout=timeout)
    within = _budget(engine, 2 * timeout + START_ALLOWANCE)
    container = None
    try:
        _remove_leftovers(within(timeout))
        try:
            within(timeout).images.get(image)
        except docker.errors.ImageNotFound:
            if not pull:
                raise EngineError(
                    f"image {image!r} is not here, and it is not pulled unless --image names it:"
                    " pass --image with a local image that has sh and nc (busybox)"
                ) from None
            _pull(engine, image)
        container = within(timeout + START_ALLOWANCE).containers.create(
            image,
            ["sh", "-c", script],
            environment=dict(environment),
            labels=probe_labels(timeout, time.time()),
            **run_kwargs,
        )
        within(timeout + START_ALLOWANCE)
        container.start()
        try:
            within(timeout + START_ALLOWANCE)
            container.wait(timeout=engine.api.timeout)
        except requests.RequestException:
            return None
        within(timeout)
        return str(container.logs(stdout=True, stderr=True).decode("utf-8", "replace"))
    except docker.errors.DockerException as exc:
        raise EngineError(f"the probe container could not run in image {image!r}: {exc}") from exc
    except requests.RequestException as exc:
        raise EngineError(f"the engine stopped answering: {exc}") from exc
    finally:
        if container is not None:
            engine.api.timeout = max(2, math.ceil(timeout))  # removal gets its own time, even late
            _remove(container)
        engine.close()


def _budget(engine: Any, seconds: float) -> Callable[[float], Any]:
    """``within(most)``: the engine's client, its next call bounded by ``most`` seconds and by
    what is left of ``seconds`` from now (requests.Timeout once none is)."""
    import requests  # noqa: PLC0415

    deadline = time.monotonic() + seconds

    def within(most: float) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise requests.Timeout(f"the check took longer than {seconds:g} s")
        engine.api.timeout = max(1, math.ceil(min(most, left)))
        return engine

    return within


def _pull(engine: Any, image: str) -> None:
    import docker.errors  # noqa: PLC0415

    try:
        engine.images.pull(image)
    except docker.errors.APIError as exc:
        raise EngineError(
            f"image {image!r} is not present and could not be pulled ({exc});"
            " pass --image with a local image that has sh and nc (busybox)"
        ) from exc


def _remove_leftovers(engine: Any) -> None:
    """Remove the finished probe containers of earlier runs that were killed (kill -9), never
    one another run is still reading (:func:`hostreach.engine.containers.left_behind`)."""
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    now = time.time()
    with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
        for status in ("exited", "created", "dead"):
            filters = {"label": f"{PROBE_LABEL}=1", "status": status}
            for container in engine.containers.list(all=True, filters=filters):
                created = container.attrs.get("Created")
                if left_behind(
                    container.labels, created if isinstance(created, int) else None, now
                ):
                    _remove(container)


def _remove(container: Any) -> None:
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    # It may be gone already (the engine removed it); nothing else to do then.
    with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
        container.remove(force=True)


def ensure_network(found: Endpoint, *, name: str, timeout: float) -> bool:
    """Create a user-defined bridge network ``name`` unless one exists; return whether created."""
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    engine = client(found, timeout=timeout)
    try:
        existing = [n for n in engine.networks.list(names=[name]) if n.name == name]
        if existing:
            driver = existing[0].attrs.get("Driver")
            if driver not in ("bridge", None):
                raise EngineError(
                    f"network {name!r} exists with driver {driver!r}, not a bridge; pick another"
                    " name"
                )
            return False
        engine.networks.create(name, driver="bridge", labels={"hostreach.network": "1"})
    except docker.errors.APIError as exc:
        raise EngineError(f"network {name!r} could not be created: {exc}") from exc
    except requests.RequestException as exc:
        raise EngineError(f"the engine stopped answering: {exc}") from exc
    finally:
        engine.close()
    return True
