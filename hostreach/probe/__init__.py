"""probe: read this machine and its container engine into Facts. Never raises for a failed read.

Each failure becomes an :class:`~hostreach.facts.Issue` inside the facts; resolve decides what
it means. Third-party libraries are imported by one private module each, only when called.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hostreach import _fastpath, vantage
from hostreach.checks import check_address, check_interface, check_name, check_network
from hostreach.engine import rootless
from hostreach.errors import EndpointError, EngineError, FactsError, UsageError
from hostreach.facts import Facts, Issue, ProbeResult, from_json
from hostreach.probe import _enginehttp, client, endpoint
from hostreach.probe.endpoint import StrPath

T = TypeVar("T")
EngineFields = tuple[dict[str, Any], dict[str, Any] | None, list[Issue]]

ENGINE_PATHS = ("/version", "/info", "/networks/bridge")
DEFAULT_TIMEOUT = 2.0


def bridge_fields(network: object) -> dict[str, str | None]:
    """Return the default bridge's gateway, interface name and subnet from GET /networks/bridge."""
    gateway = interface = subnet = None
    if isinstance(network, Mapping):
        ipam = network.get("IPAM")
        configs = ipam.get("Config") if isinstance(ipam, Mapping) else None
        for config in configs if isinstance(configs, list) else ():
            if not isinstance(config, Mapping):
                continue
            value, net = _ipv4(config.get("Gateway")), _ipv4_network(config.get("Subnet"))
            subnet = subnet or net
            if value:
                gateway = value
                break
        options = network.get("Options")
        if isinstance(options, Mapping):
            with contextlib.suppress(ValueError):
                interface = check_interface(options.get("com.docker.network.bridge.name"))
    return {"bridge_gateway": gateway, "bridge_interface": interface, "bridge_subnet": subnet}


def _ipv4(value: object) -> str | None:
    """The IPv4 address ``value`` holds, else None: an engine's answer is validated, not trusted."""
    try:
        return str(ipaddress.IPv4Address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _ipv4_network(value: object) -> str | None:
    try:
        network = check_network(value)
    except ValueError:
        return None
    return network if "." in network else None


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


class _FetchError(EngineError):
    """An engine answer that could not be had, with the doctor's reason code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _guarded(found: endpoint.Endpoint, timeout: float, call: Callable[[], T]) -> T:
    """Return ``call()``; its socket, HTTP or JSON failure becomes a _FetchError with a reason."""
    try:
        return call()
    except OSError as exc:
        detail = _enginehttp.describe(exc, found.address, timeout)
        raise _FetchError(detail, _enginehttp.reason(exc)) from exc
    except (EngineError, ValueError) as exc:
        raise _FetchError(f"{found.url}: {exc}", "bad-answer") from exc


def _start_fetch(
    environ: Mapping[str, str], found: endpoint.Endpoint, paths: tuple[str, ...], *, timeout: float
) -> tuple[Callable[[], dict[str, Any]], Callable[[], str | None]]:
    """Send GETs for the paths now (stdlib HTTP where it can); the first returned call reads
    the answers, the second then says this machine's address as the engine's machine sees it
    (tcp:// and ssh:// engines; None for others).

    Both raise _FetchError. The docker SDK cannot split the two: it asks when called.
    """
    if _enginehttp.supports(found.address, tls=found.tls):
        exchange = _guarded(
            found, timeout, lambda: _enginehttp.Exchange(found.address, paths, timeout=timeout)
        )
        return (lambda: _guarded(found, timeout, exchange.answers)), lambda: exchange.local_address

    def through_sdk() -> dict[str, Any]:
        from hostreach.probe import _docker  # noqa: PLC0415 - imports docker

        return _docker.fetch(environ, paths, timeout=timeout)

    return (lambda: _guarded(found, timeout, through_sdk)), lambda: _source_address(found.address)


def _source_address(address: endpoint.Address) -> str | None:
    """This machine's address toward a tcp:// engine the docker SDK speaks to (TLS): the source
    address the kernel picks for it, as `ip route get` says (a UDP connect sends nothing)."""
    if address.scheme not in ("tcp", "https") or not address.host:
        return None
    import socket  # noqa: PLC0415

    try:
        found = socket.getaddrinfo(address.host, address.port or 2376, 0, socket.SOCK_DGRAM)
        family, _, _, _, target = found[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(target)
            return check_address(str(probe.getsockname()[0]))
    except (OSError, UnicodeError, ValueError, IndexError):
        return None


def start_engine(
    environ: Mapping[str, str], home: StrPath, *, timeout: float, windows: bool, cache: bool = True
) -> Callable[[], EngineFields]:
    """Start reading the engine (its requests go out now); call the result for the endpoint
    fields of the client, the daemon fields (or None) and the issues."""
    try:
        found = endpoint.find_endpoint(environ, home, windows=windows)
    except EndpointError as exc:
        issue = Issue("endpoint", str(exc), "bad-endpoint")
        return lambda: ({}, None, [issue])
    where = {"docker_host": found.docker_host, "context": found.context, "endpoint": found.url}
    where["socket_target"] = endpoint.socket_target(found.url)
    cache_key = _fastpath.key("engine", found.url) if cache else None
    cached = _cached_daemon(cache_key)
    if cached is not None:
        return lambda: (where, cached, [])
    try:
        answers, caller_address = _start_fetch(environ, found, ENGINE_PATHS, timeout=timeout)
    except _FetchError as exc:
        issue = Issue("engine", str(exc), exc.reason)
        return lambda: (where, None, [issue])

    def finish() -> EngineFields:
        try:
            answered = answers()
        except _FetchError as exc:
            return where, None, [Issue("engine", str(exc), exc.reason)]
        daemon, problem = daemon_fields(answered)
        if daemon is None:  # said as the engine's fault, not as a snapshot's
            return where, None, [Issue("engine", f"{found.url}: {problem}", "bad-answer")]
        dependency = _fastpath.socket_dependency(found.url)
        if cache_key is not None and dependency is not None:
            _fastpath.write(cache_key, [dependency], json.dumps(daemon))
        return {**where, "caller_address": caller_address()}, daemon, []

    return finish


def _own_networks(
    client_fields: Mapping[str, Any], environ: Mapping[str, str], home: StrPath, *, timeout: float
) -> dict[str, str]:
    """The networks of the container hostreach runs in, and its IPv4 address on each, as the
    engine reports them (``GET /containers/ID/json``); empty where it is not the engine's."""
    ident = client_fields.get("container_id") or client_fields.get("hostname")
    try:
        check_name(str(ident), "container")
        found = engine_get(f"/containers/{ident}/json", timeout=timeout, environ=environ, home=home)
    except (UsageError, EngineError):
        return {}
    settings = found.get("NetworkSettings") if isinstance(found, Mapping) else None
    networks = settings.get("Networks") if isinstance(settings, Mapping) else None
    own = {}
    for name, network in networks.items() if isinstance(networks, Mapping) else ():
        address = network.get("IPAddress") if isinstance(network, Mapping) else None
        with contextlib.suppress(ValueError, UsageError):
            own[check_name(str(name), "network")] = check_address(address)
    return own


_MAX_NETWORKS = 1024  # more than any engine has; the rest are not read


def _engine_networks(
    environ: Mapping[str, str], home: StrPath, *, timeout: float
) -> list[dict[str, str]]:
    """The engine's networks with an IPv4 subnet and gateway (GET /networks), validated."""
    try:
        answer = engine_get("/networks", timeout=timeout, environ=environ, home=home)
    except EngineError:
        return []
    found = []
    for network in answer[:_MAX_NETWORKS] if isinstance(answer, list) else ():
        name = network.get("Name") if isinstance(network, Mapping) else None
        ipam = network.get("IPAM") if isinstance(network, Mapping) else None
        configs = ipam.get("Config") if isinstance(ipam, Mapping) else None
        for config in configs if isinstance(configs, list) else ():
            if not isinstance(config, Mapping):
                continue
            with contextlib.suppress(ValueError, UsageError):  # the engine's answer: validated
                subnet = ipaddress.ip_network(str(config.get("Subnet")))
                gateway = check_address(config.get("Gateway"))
                if subnet.version == 4:
                    found.append(
                        {
                            "name": check_name(str(name), "network"),
                            "subnet": str(subnet),
                            "gateway": gateway,
                        }
                    )
    return found


def daemon_fields(answered: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Return the facts' daemon fields from the engine's answers ``{path: JSON}``, or None and
    why they cannot be: whatever an engine says, the facts reader accepts what this returns."""
    daemon = {
        "info": answered.get("/info") or {},
        "version": answered.get("/version") or {},
        **bridge_fields(answered.get("/networks/bridge")),
    }
    problem = _invalid_daemon(daemon)
    return (None, problem) if problem is not None else (daemon, "")


def _cached_daemon(cache_key: str | None) -> dict[str, Any] | None:
    """The engine's answers kept from an earlier call while its socket is the same, else None."""
    stored = _fastpath.read(cache_key) if cache_key is not None else None
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
) -> Facts:
    """Probe this machine and its engine; every engine call is bounded by ``timeout`` seconds.

    ``names`` are host names to resolve from here (only ``address`` asks: a miss costs a DNS query).
    ``cache=False`` skips the short-lived disk cache of the engine's answers.
    ``ports`` are TCP ports whose listeners to read, with the firewall (only the doctor asks).
    """
    from hostreach.probe import _netifaces  # noqa: PLC0415 - imports netifaces

    environ = os.environ if environ is None else environ
    home = os.path.expanduser("~") if home is None else home
    windows = client.os_name() == "windows"
    engine = start_engine(environ, home, timeout=timeout, windows=windows, cache=cache)
    # The rest is read while the engine prepares its answers.
    client_fields = client.read_client(environ, root)
    client_fields["resolved"] = client.resolve_names(names)
    override, problem = client.host_override(environ)
    client_fields["host_override"] = override
    network, problems = _netifaces.read_network(root)
    where, daemon, issues = engine()
    issues += [Issue("network", p) for p in problems]
    if problem:
        issues.append(Issue("override", problem, "bad-override"))
    listening = firewall = None
    if ports:
        from hostreach.probe import _psutil  # noqa: PLC0415
        from hostreach.probe import firewall as firewall_probe  # noqa: PLC0415

        listening, problems = _psutil.read_listeners(ports)
        issues += [Issue("listeners", p, "not-permitted") for p in problems]
        if listening is not None and client_fields["os"] == "linux":
            _mark_v6only(listening, timeout=timeout, issues=issues)
        if client_fields["os"] == "linux":
            firewall, problems = firewall_probe.read_firewall(timeout=timeout)
            issues += [Issue("firewall", p, "not-read") for p in problems]
    client_data = {**client_fields, **where}
    running: list[dict[str, Any]] = []
    if daemon is not None:
        from hostreach.probe import tunnel_state  # noqa: PLC0415

        def get(path: str) -> Any:
            return engine_get(path, timeout=timeout, environ=environ, home=home)

        running, problems = tunnel_state.running(where.get("endpoint"), get)
        issues += [Issue("tunnel", p, "not-confirmed") for p in problems]
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
    facts = from_json(data)
    socket_path = (facts.client.endpoint or "").removeprefix("unix://")
    if rootless(facts) and socket_path != facts.client.endpoint:
        from hostreach.probe import rootlesskit  # noqa: PLC0415 - /proc, only where it matters

        found = rootlesskit.read(socket_path, root)
        if found is not None:
            data = {**data, "rootlesskit": found}
            facts = from_json(data)
    if vantage.of(facts).topology == "nested":  # which of the engine's containers is this one?
        own = _own_networks(client_fields, environ, home, timeout=timeout)
        data = {**data, "client": {**client_data, "networks": own}}
        if not own and daemon is not None:  # not found: resolve may match its default gateway
            networks = _engine_networks(environ, home, timeout=timeout)
            data = {**data, "daemon": {**daemon, "networks": networks}}
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


_OUTCOMES = ("connected", "refused", "timed-out", "unresolved", "elsewhere", "failed")


def probe_container(
    facts: Facts,
    *,
    run_kwargs: Mapping[str, Any],
    alias: str,
    port: int,
    image: str,
    timeout: float,
    prove: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Connect to ALIAS:PORT from a throwaway container started with ``run_kwargs``.

    ``prove``: first prove that ALIAS leads here (the route's target is this machine): a
    listener here answers a random token, which the container must read through ALIAS (else
    the outcome is "elsewhere"). Raises EngineError where no container could be run.
    """
    from hostreach.probe import _docker, _token  # noqa: PLC0415 - imports docker

    environ = os.environ if environ is None else environ
    with contextlib.ExitStack() as stack:
        token = stack.enter_context(_token.listener("0.0.0.0")) if prove else None
        found = _docker.run_probe(
            environ,
            base_url=facts.client.endpoint,
            image=image,
            run_kwargs=run_kwargs,
            alias=alias,
            port=port,
            timeout=timeout,
            token=token,
        )
    outcome = found.get("outcome", "failed")
    return ProbeResult(
        alias=alias,
        port=port,
        resolved=found.get("resolved") or None,
        outcome=outcome if outcome in _OUTCOMES else "failed",  # type: ignore[arg-type]
        detail=found.get("detail", ""),
        proven=found.get("caller") == "proven",
    )


def relay_networks(*, timeout: float, engine_host: str | None = None) -> tuple[str, ...]:
    """Return the source networks a relay accepts: this machine's own addresses, the subnets
    of the engine's networks, as the engine reports them now (``GET /networks``), and for a
    remote engine its machine's addresses (its containers arrive NATed as that machine).

    Interface names are not trusted (anyone may name a veth ``br-x``); the engine's answer is,
    as far as it parses. An engine that cannot be asked adds nothing.
    """
    from hostreach.probe import _netifaces  # noqa: PLC0415

    try:
        networks = engine_get("/networks", timeout=timeout)
    except EngineError:
        networks = None
    subnets = []
    for network in networks if isinstance(networks, list) else ():
        ipam = network.get("IPAM") if isinstance(network, Mapping) else None
        configs = ipam.get("Config") if isinstance(ipam, Mapping) else None
        for config in configs if isinstance(configs, list) else ():
            subnet = config.get("Subnet") if isinstance(config, Mapping) else None
            with contextlib.suppress(ValueError):
                subnets.append(check_network(subnet))
    return (*subnets, *_host_addresses(engine_host), *_netifaces.own_addresses())


def _host_addresses(host: str | None) -> list[str]:
    if not host:
        return []
    import socket  # noqa: PLC0415

    try:
        found = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = []
    for family, _, _, _, sockaddr in found:
        with contextlib.suppress(ValueError):
            address = check_address(str(sockaddr[0]))
            addresses.append(f"{address}/{32 if family == socket.AF_INET else 128}")
    return addresses


def engine_get(
    path: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    home: StrPath | None = None,
) -> Any:
    """GET one Engine API path at the current endpoint; None for 404. Raise EngineError."""
    environ = os.environ if environ is None else environ
    home = os.path.expanduser("~") if home is None else home
    found = endpoint.find_endpoint(environ, home, windows=client.os_name() == "windows")
    return _start_fetch(environ, found, (path,), timeout=timeout)[0]().get(path)


def ensure_network(
    name: str, *, timeout: float = DEFAULT_TIMEOUT, environ: Mapping[str, str] | None = None
) -> bool:
    """Create a user-defined bridge network unless it exists; return whether it was created."""
    from hostreach.probe import _docker  # noqa: PLC0415 - imports docker

    environ = os.environ if environ is None else environ
    found = endpoint.find_endpoint(environ, os.path.expanduser("~"), windows=os.name == "nt")
    return _docker.ensure_network(environ, base_url=found.url, name=name, timeout=timeout)
