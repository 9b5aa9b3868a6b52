"""services: a throwaway global Swarm service that runs one sh script on every node and is
removed, through hostreach's own client (:mod:`hostreach.engine.aio`): ``check --for service``
proves a route with one task per node (issue 25).

Facts measured on Engine 20.10 that shaped it: a service created through the API names its
image as given (what ``--no-resolve-image`` asks of the CLI), so a node without a registry
uses its local image; a finished task of a global service with restart condition ``none``
stays complete, so the wait is for every node's task to end, not for convergence; each task's
output is read from its own logs (``GET /tasks/ID/logs``), never interleaved with another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from hostreach.checks import check_swarm_id, one_line
from hostreach.engine.aio import EngineStreams
from hostreach.engine.containers import (
    PROBE_LABEL,
    START_ALLOWANCE,
    demux,
    left_behind,
    probe_labels,
)
from hostreach.engine.endpoint import Endpoint
from hostreach.errors import EngineError

ENDED = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})
"""Task states after which a task runs no more."""
POLL = 0.2
"""Seconds between two looks at the tasks: each look is one GET."""


def service_spec(
    *,
    image: str,
    script: str,
    environment: Mapping[str, str],
    hosts: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The Engine API's ServiceSpec of a global probe service (``hosts``: name -> address or
    host-gateway, written as the API's ``ADDRESS NAME`` lines, as the CLI's ``--host`` is)."""
    return {
        "Labels": dict(labels),
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Command": ["sh", "-c", script],
                "Env": [f"{k}={v}" for k, v in environment.items()],
                "Hosts": [f"{address} {name}" for name, address in hosts.items()],
                "Labels": dict(labels),
            },
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"Global": {}},
    }


def run_global(
    found: Endpoint,
    *,
    image: str,
    script: str,
    environment: Mapping[str, str],
    hosts: Mapping[str, str],
    nodes: tuple[str, ...],
    timeout: float,
) -> dict[str, tuple[str, str | None]]:
    """Run ``sh -c SCRIPT`` as one task on every node and remove the service; return, by node
    ID, each task's state and what it printed (None: it did not end within
    ``2 * timeout + START_ALLOWANCE``). Raise EngineError where no service could be made."""
    spec = service_spec(
        image=image,
        script=script,
        environment=environment,
        hosts=hosts,
        labels=probe_labels(timeout, time.time()),
    )
    return asyncio.run(_run(found, spec, nodes, timeout))


async def _run(
    found: Endpoint, spec: dict[str, Any], nodes: tuple[str, ...], timeout: float
) -> dict[str, tuple[str, str | None]]:
    engine = EngineStreams(found.address, timeout=timeout + START_ALLOWANCE)
    service: str | None = None
    deadline = asyncio.get_running_loop().time() + 2 * timeout + START_ALLOWANCE
    try:
        await engine.start()
        await _remove_leftovers(engine)
        created = await engine.call("POST", "/services/create", spec)
        service = _swarm_id(created.get("ID") if isinstance(created, dict) else None)
        tasks = await _ended_tasks(engine, service, set(nodes), deadline)
        found_logs: dict[str, tuple[str, str | None]] = {}
        for node in nodes:
            task = tasks.get(node)
            if task is None:
                found_logs[node] = ("not-ended", None)
                continue
            raw = await engine.call("GET", f"/tasks/{task[0]}/logs?stdout=1&stderr=1", raw=True)
            found_logs[node] = (task[1], demux(raw))
        return found_logs
    finally:
        if service is not None:  # removal gets its own time, even late
            with contextlib.suppress(EngineError):
                await engine.call("DELETE", f"/services/{service}", timeout=max(2.0, timeout))
        await engine.close()


def _swarm_id(value: object) -> str:
    try:
        return check_swarm_id(str(value))
    except ValueError:
        raise EngineError(
            f"the engine answered a service ID that is not one: {str(value)[:40]!r}"
        ) from None


async def _ended_tasks(
    engine: EngineStreams, service: str, nodes: set[str], deadline: float
) -> dict[str, tuple[str, str]]:
    """By node ID, the task that ended there and its state, once every node's has ended (or
    the deadline has come: those that have)."""
    query = urllib.parse.urlencode({"filters": json.dumps({"service": [service]})})
    loop = asyncio.get_running_loop()
    ended: dict[str, tuple[str, str]] = {}
    while True:
        for task in await engine.call("GET", f"/tasks?{query}") or ():
            node, ident, state = _task(task)
            if node in nodes and state.partition(":")[0] in ENDED:
                ended.setdefault(node, (ident, state))
        if nodes <= set(ended) or loop.time() >= deadline:
            return ended
        await asyncio.sleep(min(POLL, max(deadline - loop.time(), 0)))


def _task(task: object) -> tuple[str, str, str]:
    """A task's node ID, ID and state, with the engine's error where it gives one (``failed:
    No such image``); "" for what does not parse."""
    if not isinstance(task, Mapping):
        return "", "", ""
    status = task.get("Status")
    status = status if isinstance(status, Mapping) else {}
    state, err = status.get("State"), status.get("Err")
    try:
        node, ident = check_swarm_id(str(task.get("NodeID"))), check_swarm_id(str(task.get("ID")))
    except ValueError:
        return "", "", ""
    if not isinstance(state, str):
        return node, ident, ""
    return node, ident, f"{state}: {one_line(err)[:200]}" if isinstance(err, str) and err else state


async def _remove_leftovers(engine: EngineStreams) -> None:
    """Remove the probe services of earlier checks that were killed (kill -9)."""
    query = urllib.parse.urlencode({"filters": json.dumps({"label": [f"{PROBE_LABEL}=1"]})})
    now = time.time()
    with contextlib.suppress(EngineError):
        for item in await engine.call("GET", f"/services?{query}") or ():
            spec = item.get("Spec") if isinstance(item, dict) else None
            labels = spec.get("Labels") if isinstance(spec, dict) else None
            if not left_behind(labels if isinstance(labels, dict) else {}, None, now):
                continue  # another run's, still being read
            with contextlib.suppress(EngineError):
                await engine.call("DELETE", f"/services/{_swarm_id(item.get('ID'))}")
