"""operations: what the commands do on the engine beyond reading it, on the endpoint the facts
name (found once by the probe, never looked up again): GET one path, run a probe container,
create a network, and list the networks a relay accepts."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from hostreach.checks import check_address
from hostreach.engine import client, views
from hostreach.engine.client import DEFAULT_TIMEOUT
from hostreach.engine.endpoint import Endpoint
from hostreach.errors import EngineError
from hostreach.facts import Candidate, Facts, ProbeResult


def endpoint_of(facts: Facts) -> Endpoint:
    """The endpoint these facts were read from, with its TLS material; EngineError if none."""
    c = facts.client
    if c.address is None:
        raise EngineError("the engine's address is unknown: is DOCKER_HOST or the context right?")
    return Endpoint(
        c.address, c.context, c.docker_host, tls=c.tls, tls_dir=c.tls_dir, tls_verify=c.tls_verify
    )


def engine_get(facts: Facts, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """GET one Engine API path at the facts' endpoint; None for 404. Raise EngineError."""
    return client.get(endpoint_of(facts), path, timeout=timeout)


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
    pull: bool = True,
) -> ProbeResult:
    """Connect to ALIAS:PORT from a throwaway container started with ``run_kwargs``.

    ``prove``: first prove that ALIAS leads here (the route's target is this machine): a
    listener here answers a random token, which the container must read through ALIAS (else
    the outcome is "elsewhere"). ``pull``: the image may be pulled where it is not here.
    Raises EngineError where no container could be run.
    """
    from hostreach import probe_script  # noqa: PLC0415
    from hostreach.probe import _token  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        token = stack.enter_context(_token.listener("0.0.0.0")) if prove else None
        logs = client.run_script(
            endpoint_of(facts),
            image=image,
            script=probe_script.PROBE_SCRIPT,
            environment=probe_script.environment(alias, port, timeout, token),
            run_kwargs=run_kwargs,
            timeout=timeout,
            pull=pull,
        )
    return _result(alias, port, image, logs)


def _result(alias: str, port: int, image: str, logs: str | None, node: str = "") -> ProbeResult:
    """What the probe script's output says (None: it did not finish in time)."""
    from hostreach import probe_script  # noqa: PLC0415

    answer = (
        {"outcome": "timed-out", "detail": "the probe did not finish"}
        if logs is None
        else probe_script.parse(logs, image)
    )
    outcome = answer.get("outcome", "failed")
    return ProbeResult(
        alias=alias,
        port=port,
        resolved=answer.get("resolved") or None,
        outcome=outcome if outcome in _OUTCOMES else "failed",  # type: ignore[arg-type]
        detail=answer.get("detail", ""),
        proven=answer.get("caller") == "proven",
        node=node,
    )


def probe_service(
    facts: Facts, *, hosts: Mapping[str, str], alias: str, port: int, image: str, timeout: float
) -> tuple[ProbeResult, ...]:
    """Connect to ALIAS:PORT from one task on every node of the swarm that runs tasks (a
    throwaway global service with ``hosts``), each first proving that ALIAS leads here; one
    result per node. Raises EngineError where no service could be made."""
    from hostreach import probe_script, swarm  # noqa: PLC0415
    from hostreach.engine import services, sync  # noqa: PLC0415 - asyncio
    from hostreach.probe import _token  # noqa: PLC0415

    found = endpoint_of(facts)
    if not sync.supports(found.address, tls=found.tls):
        raise EngineError(
            f"check --for service speaks unix://, ssh:// and tcp:// without TLS, not"
            f" {found.url} (TLS, npipe://): run it on the manager, or over ssh://"
        )
    nodes = {n.id: n for n in facts.swarm if n.availability == "active" and n.state == "ready"}
    if not nodes:
        raise EngineError("no node of the swarm is ready to run a task")
    with _token.listener("0.0.0.0") as token:
        ran = services.run_global(
            found,
            image=image,
            script=probe_script.PROBE_SCRIPT,
            environment=probe_script.environment(alias, port, timeout, token),
            hosts=hosts,
            nodes=tuple(nodes),
            timeout=timeout,
        )
    results = []
    for ident, node in nodes.items():
        state, logs = ran.get(ident, ("not-ended", None))
        try:
            result = _result(alias, port, image, logs, node=swarm.name(node))
        except EngineError as exc:  # this node's task printed no result: the others stand
            result = ProbeResult(alias, port, None, "failed", str(exc), node=swarm.name(node))
        if state != "complete" and logs is not None:
            result = result._replace(detail=f"its task ended {state}; {result.detail}")
        results.append(result)
    return tuple(results)


def discover(facts: Facts, *, image: str, timeout: float, pull: bool) -> tuple[Candidate, ...]:
    """Try every candidate route against a proof listener here (``--strategy discover``):
    one container on the default network tries them all, and beside it one on the engine
    machine's own network tries that machine's default gateway; return what each did.
    ``pull``: the image may be pulled (only where ``--image`` names it). Raises EngineError
    where the first container could not try (the second's failure costs only its candidate)."""
    import threading  # noqa: PLC0415

    from hostreach import discovery, probe_script  # noqa: PLC0415
    from hostreach.engine.containers import START_ALLOWANCE  # noqa: PLC0415 - asyncio
    from hostreach.probe import _token  # noqa: PLC0415

    tried = discovery.plan(facts)
    extra = {"extra_hosts": {discovery.HOST_GATEWAY_NAME: "host-gateway"}}
    found = endpoint_of(facts)
    beside: list[str | None] = []
    with _token.listener("0.0.0.0") as token:
        env = discovery.environment(tried, token, timeout)

        def on_its_machine() -> None:
            with contextlib.suppress(EngineError):  # e.g. no host network (Windows containers)
                beside.append(
                    client.run_script(
                        found,
                        image=image,
                        script=discovery.HOST_SCRIPT,
                        environment=env,
                        run_kwargs={"network_mode": "host"},
                        timeout=timeout,
                        pull=False,  # the other pulls, where one may
                    )
                )

        second = threading.Thread(target=on_its_machine, daemon=True)
        second.start()
        logs = client.run_script(
            found,
            image=image,
            script=probe_script.LOOKUP + discovery.SCRIPT,
            environment=env,
            run_kwargs=extra if tried.host_gateway else {},
            timeout=timeout,
            pull=pull,
        )
        second.join(2 * timeout + START_ALLOWANCE)
        if not beside and pull:  # the image was pulled meanwhile: its own turn now
            on_its_machine()
    if logs is None:
        raise EngineError(
            f"the discovery container did not finish in time (--timeout {timeout:g}: each"
            " candidate gets that long); try a larger --timeout"
        )
    own = discovery.parse(logs, image, tried)
    with contextlib.suppress(EngineError):
        if beside and beside[0] is not None:
            own += discovery.parse(beside[0], image, tried)
    return own


def relay_networks(facts: Facts, *, timeout: float) -> tuple[str, ...]:
    """Return the source networks a relay accepts: this machine's own addresses, the subnets
    of the engine's networks, as the engine reports them now (``GET /networks``), and for a
    remote engine its machine's addresses (its containers arrive NATed as that machine).

    Interface names are not trusted (anyone may name a veth ``br-x``); the engine's answer is,
    as far as it parses. An engine that cannot be asked adds nothing.
    """
    from hostreach import vantage  # noqa: PLC0415
    from hostreach.probe import _netifaces  # noqa: PLC0415

    try:
        subnets = views.network_subnets(engine_get(facts, "/networks", timeout=timeout))
    except EngineError:
        subnets = []
    here = vantage.of(facts)
    engine_host = here.engine_host if here.remote else None
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


def ensure_network(facts: Facts, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Create a user-defined bridge network unless it exists; return whether it was created."""
    return client.ensure_network(endpoint_of(facts), name=name, timeout=timeout)
