"""containers: what commands make on the engine, through hostreach's own client
(:mod:`hostreach.engine.aio`): one throwaway container that runs a sh script and is removed,
and a user-defined network. unix://, tcp:// without TLS, and ssh:// with the user's ssh binary,
so ``check``, ``--strategy discover`` and ``network`` need no paramiko there (issue 24). The
docker SDK does the same for TLS and npipe:// (:mod:`hostreach.engine.sdk`);
:mod:`hostreach.engine.client` chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from hostreach.engine.aio import EngineStreams, check_id
from hostreach.engine.endpoint import Endpoint
from hostreach.errors import EngineError
from hostreach.processes import alive

START_ALLOWANCE = 10.0
"""Seconds a probe container may take to be created and started, beyond ``--timeout``: a
check ends within twice its timeout plus this (an image pull, where one is needed, aside)."""
PROBE_LABEL = "hostreach.probe"
PROBE_UNTIL = f"{PROBE_LABEL}.until"
"""The label saying when its run is over for sure (Unix time): before that, a finished probe
container is being read by its run, and another run must not remove it as a leftover (the
two containers of one discovery, or two checks at once, removed each other's: issue 24)."""
PROBE_RUN = f"{PROBE_LABEL}.run"
"""The label naming the run: this machine's host name and the process's id, so that the next
run here removes at once what a killed one (kill -9) left."""
_UNCLAIMED_AGE = 3600.0
"""Seconds after which a finished probe container without those labels counts as left."""


def _this_host() -> str:
    import socket  # noqa: PLC0415 - the host name (os.uname does not exist on Windows)

    return socket.gethostname()


def probe_labels(timeout: float, now: float) -> dict[str, str]:
    """The labels of a probe container started at ``now`` by a run bounded by ``timeout``."""
    until = now + 2 * timeout + START_ALLOWANCE + 60  # a minute for clocks that disagree
    return {
        PROBE_LABEL: "1",
        PROBE_UNTIL: str(int(until)),
        PROBE_RUN: f"{_this_host()}/{os.getpid()}",
    }


def left_behind(labels: Mapping[str, Any], created: object, now: float) -> bool:
    """Whether a finished probe container is a leftover: its run here has ended (killed or
    not), or its run's time is over; one without labels, once it is an hour old."""
    host, _, pid = str(labels.get(PROBE_RUN, "")).rpartition("/")
    if host and host == _this_host() and pid.isdecimal() and int(pid) != os.getpid():
        return not alive(int(pid))
    until = str(labels.get(PROBE_UNTIL, ""))
    if until.isdecimal():
        return now > int(until)
    return isinstance(created, int) and now - created > _UNCLAIMED_AGE


def host_config(run_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The Engine API's HostConfig for the docker SDK's ``extra_hosts`` and ``network_mode``
    (what :meth:`hostreach.routes.Route.docker_run_kwargs` gives); EngineError for others."""
    unknown = set(run_kwargs) - {"extra_hosts", "network_mode"}
    if unknown:
        raise EngineError(f"cannot run a probe with {', '.join(sorted(unknown))}")
    found: dict[str, Any] = {}
    hosts = run_kwargs.get("extra_hosts") or {}
    if hosts:
        found["ExtraHosts"] = [f"{name}:{address}" for name, address in hosts.items()]
    if run_kwargs.get("network_mode"):
        found["NetworkMode"] = run_kwargs["network_mode"]
    return found


def demux(raw: bytes) -> str:
    """The text of a non-TTY container's logs: its multiplexed frames' payloads, in order."""
    parts, at = [], 0
    while at + 8 <= len(raw) and raw[at] in (0, 1, 2) and raw[at + 1 : at + 4] == b"\0\0\0":
        size = int.from_bytes(raw[at + 4 : at + 8], "big")
        parts.append(raw[at + 8 : at + 8 + size])
        at += 8 + size
    if at < len(raw):  # not frames (a TTY's raw output): the rest as it is
        parts.append(raw[at:])
    return b"".join(parts).decode("utf-8", "replace")


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
    finish within ``2 * timeout + START_ALLOWANCE``). As :func:`hostreach.engine.sdk.run_script`."""
    body = {
        "Image": image,
        "Cmd": ["sh", "-c", script],
        "Env": [f"{k}={v}" for k, v in environment.items()],
        "Labels": probe_labels(timeout, time.time()),
        "HostConfig": host_config(run_kwargs),
    }
    return asyncio.run(_run(found, body, timeout, pull=pull))


async def _run(found: Endpoint, body: dict[str, Any], timeout: float, *, pull: bool) -> str | None:
    image = str(body["Image"])
    engine = EngineStreams(found.address, timeout=timeout + START_ALLOWANCE)
    container: str | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2 * timeout + START_ALLOWANCE
    try:
        await engine.start()
        await _remove_leftovers(engine)
        await _ensure_image(engine, image, pull=pull)
        container = await _create(engine, body, timeout)
        await engine.call("POST", f"/containers/{container}/start")
        left = deadline - loop.time()
        try:
            async with asyncio.timeout(max(left, 0.1)):
                await engine.call("POST", f"/containers/{container}/wait", timeout=left + 1)
        except TimeoutError:
            return None
        raw = await engine.call("GET", f"/containers/{container}/logs?stdout=1&stderr=1", raw=True)
        return demux(raw)
    finally:
        if container is not None:  # removal gets its own time, even late
            with contextlib.suppress(EngineError):
                await engine.call(
                    "DELETE", f"/containers/{container}?force=1", timeout=max(2.0, timeout)
                )
        await engine.close()


async def _create(engine: EngineStreams, body: dict[str, Any], timeout: float) -> str:
    """``POST /containers/create``; the container's id.

    Where Ctrl-C or SIGTERM comes while the engine creates it, its answer is still awaited and
    its container removed before the interruption goes on: the container existed, but its id
    was not known here, so nothing removed it (found by the whole suite: an interrupted check
    left one in state Created, which the next test saw as its own).
    """
    what = f"the probe container in image {body['Image']!r}"
    call = asyncio.ensure_future(engine.call("POST", "/containers/create", body))
    try:
        created = await asyncio.shield(call)
    except asyncio.CancelledError:
        with contextlib.suppress(EngineError):
            made = await call
            orphan = check_id(made.get("Id") if isinstance(made, dict) else None, what)
            await engine.call("DELETE", f"/containers/{orphan}?force=1", timeout=max(2.0, timeout))
        raise
    return check_id(created.get("Id") if isinstance(created, dict) else None, what)


async def _ensure_image(engine: EngineStreams, image: str, *, pull: bool) -> None:
    from hostreach.engine.http import NotFound  # noqa: PLC0415

    try:
        await engine.call("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")
    except NotFound:
        if not pull:
            raise EngineError(
                f"image {image!r} is not here, and it is not pulled unless --image names it:"
                " pass --image with a local image that has sh and nc (busybox)"
            ) from None
    else:
        return
    name, tag = _repository_tag(image)
    query = urllib.parse.urlencode({"fromImage": name, "tag": tag})
    try:
        progress = await engine.call("POST", f"/images/create?{query}", lines=True, timeout=300)
    except EngineError as exc:
        raise EngineError(
            f"image {image!r} is not present and could not be pulled ({str(exc)[:200]});"
            " pass --image with a local image that has sh and nc (busybox)"
        ) from exc
    failed = [p.get("error") for p in progress or () if isinstance(p, dict) and p.get("error")]
    if failed:
        raise EngineError(
            f"image {image!r} is not present and could not be pulled ({str(failed[0])[:200]});"
            " pass --image with a local image that has sh and nc (busybox)"
        )


def _repository_tag(image: str) -> tuple[str, str]:
    """``NAME[:TAG|@DIGEST]`` as the pull endpoint takes it (docker-py's parse_repository_tag)."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, digest
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:
        return name, tag
    return image, "latest"


async def _remove_leftovers(engine: EngineStreams) -> None:
    """Remove the finished probe containers of earlier checks that were killed (kill -9)."""
    filters = json.dumps({"label": [f"{PROBE_LABEL}=1"], "status": ["exited", "created", "dead"]})
    query = urllib.parse.urlencode({"all": "1", "filters": filters})
    now = time.time()
    with contextlib.suppress(EngineError):
        for item in await engine.call("GET", f"/containers/json?{query}") or ():
            if not isinstance(item, dict):
                continue
            labels = item.get("Labels")
            if not left_behind(
                labels if isinstance(labels, dict) else {}, item.get("Created"), now
            ):
                continue  # another run's, still being read
            with contextlib.suppress(EngineError):
                ident = check_id(item.get("Id"), "a leftover")
                await engine.call("DELETE", f"/containers/{ident}?force=1")


def ensure_network(found: Endpoint, *, name: str, timeout: float) -> bool:
    """Create a user-defined bridge network ``name`` unless one exists; return whether created.
    As :func:`hostreach.engine.sdk.ensure_network`."""
    return asyncio.run(_ensure_network(found, name, timeout))


async def _ensure_network(found: Endpoint, name: str, timeout: float) -> bool:
    engine = EngineStreams(found.address, timeout=timeout)
    try:
        await engine.start()
        query = urllib.parse.urlencode({"filters": json.dumps({"name": [name]})})
        listed = await engine.call("GET", f"/networks?{query}") or []
        existing = [n for n in listed if isinstance(n, dict) and n.get("Name") == name]
        if existing:
            driver = existing[0].get("Driver")
            if driver not in ("bridge", None):
                raise EngineError(
                    f"network {name!r} exists with driver {str(driver)[:40]!r}, not a bridge;"
                    " pick another name"
                )
            return False
        body = {"Name": name, "Driver": "bridge", "Labels": {"hostreach.network": "1"}}
        try:
            await engine.call("POST", "/networks/create", body)
        except EngineError as exc:
            raise EngineError(f"network {name!r} could not be created: {exc}") from exc
        return True
    finally:
        await engine.close()
