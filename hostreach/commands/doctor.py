"""Commands for when the route still fails: doctor, check, relay."""

from __future__ import annotations

import argparse
from typing import TextIO

from hostreach.commands import DEFAULT_IMAGE, PROG, facts_for, request_from
from hostreach.diagnose import Report, diagnose
from hostreach.errors import EngineError, HostreachError, UsageError
from hostreach.facts import ProbeResult
from hostreach.resolve import resolve
from hostreach.routes import NATIVE, Request, Route


def _diagnosis(
    args: argparse.Namespace, request: Request, ports: tuple[int, ...], *, probe: bool = False
) -> Report:
    facts = facts_for(args, request, ports=ports)
    try:
        route: Route | HostreachError = resolve(facts, request)
    except UsageError:
        raise
    except HostreachError as exc:
        route = exc
    probes: tuple[ProbeResult, ...] = ()
    if probe and facts.daemon is None:  # no container on a guess: say why there is no engine
        details = "; ".join(i.detail for i in facts.issues if i.source == "engine")
        raise EngineError(f"check needs the engine to run a container: {details or 'no answer'}")
    if probe and isinstance(route, Route) and route.purpose == "service":
        from hostreach.operations import probe_service  # noqa: PLC0415

        probes = probe_service(
            facts,
            hosts={a: v for a, v in route.hosts.items() if v != NATIVE},
            alias=request.aliases[0],
            port=ports[0],
            image=args.image or DEFAULT_IMAGE,
            timeout=args.timeout,
        )
    elif probe and isinstance(route, Route):
        from hostreach.operations import probe_container  # noqa: PLC0415

        probes = (
            probe_container(
                facts,
                run_kwargs=route.docker_run_kwargs(),
                alias=request.aliases[0],
                port=ports[0],
                image=args.image or DEFAULT_IMAGE,
                pull=args.image is not None,  # never a pull the user did not ask for
                timeout=args.timeout,
                # The proof is a listener here: only a route meant for this machine can pass it.
                # A tunnel carries only its ports, and only to this machine (its own process
                # connects): it needs no proof, and would not carry the proof's port.
                prove=route.target == "caller" and route.strategy != "tunnel",
            ),
        )
    return diagnose(facts, route, ports, probes)


def _print_report(fmt: str, report: Report, ports: tuple[int, ...], out: TextIO) -> None:
    from hostreach import report as reports  # noqa: PLC0415

    out.write(reports.as_json(report) if fmt == "json" else reports.text(report, ports))


def doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Report what stops containers reaching the ports, with fixes."""
    request = request_from(args)
    ports = tuple(dict.fromkeys(args.port))
    report = _diagnosis(args, request, ports)
    _print_report(args.format, report, ports, out)
    return 0 if report.ok else 1


def check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Connect from a throwaway container and report the outcome with the findings."""
    import signal  # noqa: PLC0415

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so the container is removed, as on Ctrl-C (CI cancels so)

    request = request_from(args)
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        report = _diagnosis(args, request, (args.port,), probe=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_report(args.format, report, (args.port,), out)
    # A service's tasks run on any node: every node's task must have reached the caller.
    reached = bool(report.probes) and all(p.outcome == "connected" for p in report.probes)
    if not reached:
        where = "a task on every node" if request.purpose == "service" else "a container"
        err.write(f"{PROG}: {request.aliases[0]}:{args.port} is not reachable from {where}\n")
    return 0 if reached else 1


def relay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Forward containers' connections to a loopback-only service until stopped."""
    from hostreach import relay as relays  # noqa: PLC0415
    from hostreach.operations import relay_networks  # noqa: PLC0415

    request = request_from(args)
    facts = facts_for(args, request)
    route = resolve(facts, request)

    def allowed() -> tuple[relays.Network, ...]:
        return relays.allowed_networks(relay_networks(facts, timeout=args.timeout))

    plan = relays.plan(facts, route, port=args.port, target=args.backend, allowed=allowed())

    def log(line: str) -> None:
        err.write(f"{PROG}: relay: {line}\n")
        err.flush()

    relays.run(plan, status=out, log=log, refresh=allowed)
    return 0
