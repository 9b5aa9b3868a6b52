"""probe: read this machine and its container engine into Facts. Never raises for a failed read.

The engine is chosen once here (:func:`hostreach.engine.endpoint.find_endpoint`, from the
environment and home given to :func:`collect`) and that endpoint is handed to every read.

Each failure becomes an :class:`~hostreach.facts.Issue` inside the facts; resolve decides what
it means. Third-party libraries are imported by one private module each, only when called.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from hostreach import cache as store
from hostreach import prefetch, vantage
from hostreach.checks import check_name
from hostreach.engine import client as engine_client
from hostreach.engine import endpoint, views
from hostreach.engine.client import DEFAULT_TIMEOUT, ENGINE_PATHS
from hostreach.engine.endpoint import Endpoint, StrPath
from hostreach.engine.views import rootless
from hostreach.errors import EndpointError, EngineError, EngineUnanswered, FactsError, UsageError
from hostreach.facts import Facts, Issue, from_json
from hostreach.probe import client

EngineFields = tuple[dict[str, Any], dict[str, Any] | None, list[Issue]]


def _invalid_daemon(daemon: Mapping[str, Any]) -> str | None:
    """Why the engine's answers would not pass the facts reader, or None when they would."""
    for path, key in (("/info", "info"), ("/version", "version")):
        if not isinstance(daemon.get(key), Mapping):
            return f"GET {path} answered {type(daemon.get(key)).__name__} JSON, not an object"
    try:
        from_json({"daemon": daemon})
    except FactsError as exc:
        return f"its answer was refused: {exc}"
    return None


def _endpoint_fields(found: Endpoint) -> dict[str, Any]:
    """The client facts that say which engine this is, and how it is spoken to."""
    return {
        "docker_host": found.docker_host,
        "context": found.context,
        "endpoint": found.url,
        "socket_target": endpoint.socket_target(found.address),
        "tls": found.tls,
        "tls_dir": found.tls_dir,
        "tls_verify": found.tls_verify,
    }


def start_engine(
    found: Endpoint,
    *,
    environ: Mapping[str, str],
    home: StrPath,
    timeout: float,
    cache: bool = True,
) -> Callable[[], EngineFields]:
    """Start reading the engine (its requests go out now); call the result for the endpoint
    fields of the client, the daemon fields (or None) and the issues."""
    where = _endpoint_fields(found)
    cache_key = store.key("engine", found.url, environ=environ, home=home) if cache else None
    cached = _cached_daemon(cache_key)
    if cached is not None:
        return lambda: (where, cached, [])
    sent = prefetch.take(found.url) if timeout == DEFAULT_TIMEOUT else None
    try:
        answers, caller_address = sent or engine_client.start(found, ENGINE_PATHS, timeout=timeout)
    except EngineUnanswered as exc:
        issue = Issue("engine", str(exc), exc.reason)
        return lambda: (where, None, [issue])

    def finish() -> EngineFields:
        try:
            answered = answers()
        except EngineUnanswered as exc:
            return where, None, [Issue("engine", str(exc), exc.reason)]
        daemon, problem = daemon_fields(answered)
        if daemon is None:  # said as the engine's fault, not as a snapshot's
            return where, None, [Issue("engine", f"{found.url}: {problem}", "bad-answer")]
        dependency = store.socket_dependency(found.address.socket)
        if cache_key is not None and dependency is not None:
            store.write(cache_key, [dependency], json.dumps(daemon))
        return {**where, "caller_address": caller_address()}, daemon, []

    return finish


def _own_networks(
    found: Endpoint, client_fields: Mapping[str, Any], *, timeout: float
) -> dict[str, str]:
    """The networks of the container hostreach runs in, and its IPv4 address on each, as the
    engine reports them (``GET /containers/ID/json``); empty where it is not the engine's."""
    ident = client_fields.get("container_id") or client_fields.get("hostname")
    try:
        check_name(str(ident), "container")
        return views.container_networks(
            engine_client.get(found, f"/containers/{ident}/json", timeout=timeout)
        )
    except (UsageError, EngineError):
        return {}


def _engine_networks(found: Endpoint, *, timeout: float) -> list[dict[str, str]]:
    """The engine's networks with an IPv4 subnet and gateway (GET /networks), validated."""
    try:
        return views.gateway_networks(engine_client.get(found, "/networks", timeout=timeout))
    except EngineError:
        return []


def daemon_fields(answered: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Return the facts' daemon fields from the engine's answers ``{path: JSON}``, or None and
    why they cannot be: whatever an engine says, the facts reader accepts what this returns."""
    daemon = {
        "info": answered.get("/info") or {},
        "version": answered.get("/version") or {},
        **views.bridge_fields(answered.get("/networks/bridge")),
    }
    problem = _invalid_daemon(daemon)
    return (None, problem) if problem is not None else (daemon, "")


def _cached_daemon(cache_key: str | None) -> dict[str, Any] | None:
    """The engine's answers kept from an earlier call while its socket is the same, else None."""
    stored = store.read(cache_key) if cache_key is not None else None
    if stored is None:
        return None
    try:
        daemon = json.loads(stored)
    except (ValueError, RecursionError):
        return None
    return daemon if isinstance(daemon, dict) and _invalid_daemon(daemon) is None else None


def collect(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    root: StrPath = "/",
    home: StrPath | None = None,
    names: tuple[str, ...] = (),
    cache: bool = True,
    ports: tuple[int, ...] = (),
    engine: object = None,
    swarm: bool = False,
    kube: bool = False,
) -> Facts:
    """Probe this machine and its engine; every engine call is bounded by ``timeout`` seconds.

    ``engine``: the engine to answer for, where the caller names one (an address, an
    :class:`~hostreach.engine.endpoint.Endpoint` or a docker SDK client); else the one the
    Docker CLI would use, from ``environ`` and ``home``.

    ``names`` are host names to resolve from here (only ``address`` asks: a miss costs a DNS query).
    ``cache=False`` asks the engine again instead of using its stored answers.
    ``ports`` are TCP ports whose listeners to read, with the firewall (only the doctor asks).
    ``swarm=True`` reads the nodes of the swarm the engine manages (``--for service``);
    ``kube=True`` the kubeconfig's current cluster through kubectl (``--format k8s``).
    """
    from hostreach.probe import _netifaces  # noqa: PLC0415 - imports netifaces

    environ = os.environ if environ is None else environ
    home = os.path.expanduser("~") if home is None else home
    found, asking = _start(environ, home, timeout=timeout, cache=cache, engine=engine)
    # The rest is read while the engine prepares its answers.
    client_fields = client.read_client(environ, root)
    client_fields["resolved"] = client.resolve_names(names)
    override, problem_text = client.host_override(environ)
    client_fields["host_override"] = override
    network, problems = _netifaces.read_network(root)
    where, daemon, issues = asking()
    issues += [Issue("network", p) for p in problems]
    if problem_text:
        issues.append(Issue("override", problem_text, "bad-override"))
    listening, firewall = _listeners_and_firewall(ports, str(client_fields["os"]), timeout, issues)
    client_data = {**client_fields, **where}
    running = _running_tunnels(found, where, timeout, issues) if daemon is not None else []
    data = {
        "schema": 1,
        "client": client_data,
        "daemon": daemon,
        "network": network,
        "issues": [i._asdict() for i in issues],
        "listening": listening,
        "firewall": firewall,
        "tunnels": running,
    }
    # Through the same reader as a replayed snapshot: live and replay share one code path.
    facts = _refined(from_json(data), data, found, root=root, timeout=timeout)
    return _asked_for(facts, found, environ, timeout=timeout, swarm=swarm, kube=kube)


def _asked_for(
    facts: Facts,
    found: Endpoint | None,
    environ: Mapping[str, str],
    *,
    timeout: float,
    swarm: bool,
    kube: bool,
) -> Facts:
    """The facts with what only some commands read: the swarm's nodes, the kubeconfig's cluster."""
    if swarm and found is not None and views.swarm_state(facts) == "manager":
        issues: list[Issue] = []
        nodes = _swarm_nodes(found, timeout=timeout, issues=issues)
        # Through the snapshot reader too (each field checked as a replayed one is).
        read = from_json({"swarm": nodes, "issues": [i._asdict() for i in issues]})
        facts = facts._replace(swarm=read.swarm, issues=facts.issues + read.issues)
    if kube:
        facts = _with_cluster(facts, environ, timeout=timeout)
    return facts


def _with_cluster(facts: Facts, environ: Mapping[str, str], *, timeout: float) -> Facts:
    """The facts with the kubeconfig's current cluster, read through kubectl, and why not."""
    from hostreach.probe import kube  # noqa: PLC0415 - --format k8s only

    cluster, why = kube.read_cluster(environ, timeout=timeout)
    issues = [Issue("cluster", why, "not-read")._asdict()] if why else []
    read = from_json({"cluster": cluster, "issues": issues})
    return facts._replace(cluster=read.cluster, issues=facts.issues + read.issues)


def _start(
    environ: Mapping[str, str], home: StrPath, *, timeout: float, cache: bool, engine: object
) -> tuple[Endpoint | None, Callable[[], EngineFields]]:
    """Choose the engine (the one place it is chosen: everything after is given this endpoint)
    and start asking it."""
    try:
        if engine is not None:
            found = endpoint.given(engine)
        else:
            found = endpoint.find_endpoint(environ, home, windows=client.os_name() == "windows")
    except EndpointError as exc:
        issue = Issue("endpoint", str(exc), "bad-endpoint")
        return None, lambda: ({}, None, [issue])
    return found, start_engine(found, environ=environ, home=home, timeout=timeout, cache=cache)


def _swarm_nodes(found: Endpoint, *, timeout: float, issues: list[Issue]) -> list[dict[str, Any]]:
    """The swarm's nodes from its manager (``GET /nodes``), each with this machine's address
    toward it; an Issue where the manager does not answer."""
    try:
        nodes = views.swarm_nodes(engine_client.get(found, "/nodes", timeout=timeout))
    except EngineError as exc:
        issues.append(Issue("swarm", str(exc), "not-read"))
        return []
    for node in nodes:
        address = node["address"]
        node["caller_address"] = engine_client.source_toward(address, 2377) if address else None
    return nodes


def _listeners_and_firewall(
    ports: tuple[int, ...], os_name: str, timeout: float, issues: list[Issue]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The listeners on ``ports`` and the firewall's rules, where the doctor asks (else None)."""
    if not ports:
        return None, None
    from hostreach.probe import _psutil  # noqa: PLC0415
    from hostreach.probe import firewall as firewall_probe  # noqa: PLC0415

    listening, problems = _psutil.read_listeners(ports)
    issues += [Issue("listeners", p, "not-permitted") for p in problems]
    if os_name != "linux":
        return listening, None
    if listening is not None:
        _mark_v6only(listening, timeout=timeout, issues=issues)
    firewall, problems = firewall_probe.read_firewall(timeout=timeout)
    issues += [Issue("firewall", p, "not-read") for p in problems]
    return listening, firewall


def _running_tunnels(
    found: Endpoint | None, where: Mapping[str, Any], timeout: float, issues: list[Issue]
) -> list[dict[str, Any]]:
    """This caller's tunnels on the engine, confirmed by it."""
    from hostreach.tunnels import state  # noqa: PLC0415

    if found is None:
        return []

    def get(path: str) -> Any:
        return engine_client.get(found, path, timeout=timeout)

    running, problems = state.running(where.get("endpoint"), get)
    issues += [Issue("tunnel", p, "not-confirmed") for p in problems]
    return running


def _refined(
    facts: Facts, data: dict[str, Any], found: Endpoint | None, *, root: StrPath, timeout: float
) -> Facts:
    """The facts with what only some engines need read: RootlessKit's settings for a rootless
    one on a local socket, and this container's networks where hostreach runs in one."""
    socket = found.address.socket if found is not None else None
    if rootless(facts) and socket is not None:
        from hostreach.probe import rootlesskit  # noqa: PLC0415 - /proc, only where it matters

        kit = rootlesskit.read(socket, root)
        if kit is not None:
            data = {**data, "rootlesskit": kit}
            facts = from_json(data)
    if found is not None and vantage.of(facts).topology == "nested":
        # Which of the engine's containers is this one?
        own = _own_networks(found, data["client"], timeout=timeout)
        data = {**data, "client": {**data["client"], "networks": own}}
        if not own and data["daemon"] is not None:  # not found: resolve may match its gateway
            networks = _engine_networks(found, timeout=timeout)
            data = {**data, "daemon": {**data["daemon"], "networks": networks}}
        facts = from_json(data)
    return facts


def _mark_v6only(listening: dict[str, Any], *, timeout: float, issues: list[Issue]) -> None:
    """Say, for each socket on ``::``, whether it refuses IPv4 (IPV6_V6ONLY)."""
    wildcard = [s for s in listening["sockets"] if s["address"] == "::"]
    if not wildcard:
        return
    from hostreach.probe import _ss  # noqa: PLC0415

    found, problem = _ss.v6only_ports(tuple(s["port"] for s in wildcard), timeout=timeout)
    if problem is not None:
        issues.append(Issue("listeners", problem, "not-read"))
    for socket in wildcard:
        socket["v6only"] = None if found is None else socket["port"] in found
