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
        return docker.DockerClient(base_url=found.url, timeout=math.ceil(timeout), tls=tls)
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


# The probe script: a POSIX sh and nc (busybox has both). /etc/hosts first (where --add-host
# writes), then DNS (where Docker Desktop and podman machine answer their names). Alias and port
# reach it as environment variables, never spliced into the script.
PROBE_SCRIPT = r"""
command -v nc >/dev/null 2>&1 || { echo "hostreach-probe no-nc"; exit 3; }
a=
while read -r ip names; do
  case "$ip" in ''|\#*) continue ;; esac
  for n in $names; do [ "$n" = "$HR_NAME" ] && { a=$ip; break 2; }; done
done < /etc/hosts
if [ -z "$a" ] && command -v nslookup >/dev/null 2>&1; then
  a=$(nslookup "$HR_NAME" 2>/dev/null | while read -r k v; do
    case "$k" in
      Name:) f=1 ;;
      Address*) if [ -n "$f" ]; then v=${v#[0-9]: }; echo "${v%% *}"; break; fi ;;
    esac
  done)
fi
echo "hostreach-probe resolved=$a"
[ -n "$a" ] || { echo "hostreach-probe outcome=unresolved"; exit 4; }
# nc's -w bounds the connect, not a connection that stays open and silent: bound it all, so a
# probe whose check was killed (kill -9) still ends, and the next check removes it.
t=; command -v timeout >/dev/null 2>&1 && t="timeout $((HR_WAIT + 1))"
# First the proof that the name leads to the caller: its listener there answers a random token.
if [ -n "$HR_TOKEN_PORT" ]; then
  got=$($t nc -w "$HR_WAIT" "$a" "$HR_TOKEN_PORT" </dev/null 2>&1)
  case "$got" in
    *"$HR_TOKEN"*) echo "hostreach-probe caller=proven" ;;
    *) echo "hostreach-probe detail=$got"; echo "hostreach-probe outcome=elsewhere"; exit 5 ;;
  esac
fi
out=$($t nc -w "$HR_WAIT" "$a" "$HR_PORT" </dev/null 2>&1); rc=$?
echo "hostreach-probe detail=$out"
if [ $rc = 0 ]; then echo "hostreach-probe outcome=connected"; exit 0; fi
# Ended by the outer timeout, silent: nc's own -w bounds the connect and would have said so,
# so it was connected to a service that waits for its client to speak first (a database).
if [ -n "$t" ] && [ -z "$out" ] && { [ $rc = 124 ] || [ $rc = 143 ]; }; then
  echo "hostreach-probe outcome=connected"; exit 0
fi
case "$out" in
  *refused*) echo "hostreach-probe outcome=refused" ;;
  *"timed out"*) echo "hostreach-probe outcome=timed-out" ;;
  *) echo "hostreach-probe outcome=failed" ;;
esac
exit 1
"""

START_ALLOWANCE = 10.0
"""Seconds a probe container may take to be created and started, beyond ``--timeout``: a
check ends within twice its timeout plus this (an image pull, where one is needed, aside)."""
PROBE_LABEL = "hostreach.probe"


def run_probe(
    found: Endpoint,
    *,
    image: str,
    run_kwargs: Mapping[str, Any],
    alias: str,
    port: int,
    timeout: float,
    token: tuple[int, str] | None = None,
) -> dict[str, str]:
    """Run a throwaway container that connects to ALIAS:PORT; return the ``key=value`` it printed.

    ``token``: first read ALIAS:TOKEN-PORT, which must answer TOKEN (the caller's proof).

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
            _pull(engine, image)
        container = within(timeout + START_ALLOWANCE).containers.create(
            image,
            ["sh", "-c", PROBE_SCRIPT],
            environment=_probe_environment(alias, port, timeout, token),
            labels={PROBE_LABEL: "1"},
            **run_kwargs,
        )
        within(timeout + START_ALLOWANCE)
        container.start()
        try:
            within(timeout + START_ALLOWANCE)
            container.wait(timeout=engine.api.timeout)
        except requests.RequestException:
            return {"outcome": "timed-out", "detail": "the probe container did not finish"}
        within(timeout)
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except docker.errors.DockerException as exc:
        raise EngineError(f"the probe container could not run in image {image!r}: {exc}") from exc
    except requests.RequestException as exc:
        raise EngineError(f"the engine stopped answering: {exc}") from exc
    finally:
        if container is not None:
            engine.api.timeout = max(2, math.ceil(timeout))  # removal gets its own time, even late
            _remove(container)
        engine.close()
    return _parse_probe(logs, image)


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


def _probe_environment(
    alias: str, port: int, timeout: float, token: tuple[int, str] | None
) -> dict[str, str]:
    """What the probe script reads: never spliced into it, so no value can be a command."""
    found = {"HR_NAME": alias, "HR_PORT": str(port), "HR_WAIT": str(math.ceil(timeout))}
    if token:
        found |= {"HR_TOKEN_PORT": str(token[0]), "HR_TOKEN": token[1]}
    return found


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
    """Remove the finished probe containers of earlier checks that were killed (kill -9)."""
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
        for status in ("exited", "created", "dead"):
            filters = {"label": f"{PROBE_LABEL}=1", "status": status}
            for container in engine.containers.list(all=True, filters=filters):
                _remove(container)


def _remove(container: Any) -> None:
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    # It may be gone already (the engine removed it); nothing else to do then.
    with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
        container.remove(force=True)


def _parse_probe(logs: str, image: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in logs.splitlines():
        if line.startswith("hostreach-probe no-nc"):
            raise EngineError(f"image {image!r} has no `nc`: pass --image with busybox or similar")
        if line.startswith("hostreach-probe "):
            key, _, value = line[len("hostreach-probe ") :].partition("=")
            found[key] = value.strip()
    if "outcome" not in found:
        raise EngineError(f"the probe in image {image!r} printed no result: {logs.strip()[:200]!r}")
    return found


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
