"""Commands for when the route still fails: doctor, check, relay."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from hostreach.commands import PROG, load_facts, request_from
from hostreach.errors import HostreachError, UsageError
from hostreach.resolve import Request, Route, resolve

if TYPE_CHECKING:
    from hostreach.commands import Args
    from hostreach.diagnose import Report
    from hostreach.facts import ProbeResult


def _diagnosis(
    args: Args, request: Request, ports: tuple[int, ...], *, probe: bool = False
) -> Report:
    from hostreach.diagnose import diagnose  # noqa: PLC0415

    facts = load_facts(args, ports=ports)
    try:
        route: Route | HostreachError = resolve(facts, request)
    except UsageError:
        raise
    except HostreachError as exc:
        route = exc
    probes: tuple[ProbeResult, ...] = ()
    if probe and isinstance(route, Route):
        from hostreach.probe import probe_container  # noqa: PLC0415

        probes = (
            probe_container(
                facts,
                run_kwargs=route.docker_run_kwargs(),
                alias=request.aliases[0],
                port=ports[0],
                image=args.image,
                timeout=args.timeout,
            ),
        )
    return diagnose(facts, route, ports, probes, runtime=request.runtime)


def _print_report(fmt: str, report: Report, ports: tuple[int, ...], out: TextIO) -> None:
    from hostreach.render import report_json, report_text  # noqa: PLC0415

    out.write(report_json(report) if fmt == "json" else report_text(report, ports))


def doctor(args: Args, out: TextIO, err: TextIO) -> int:
    """Report what stops containers reaching the ports, with fixes."""
    request = request_from(args)
    ports = tuple(dict.fromkeys(args.port))
    report = _diagnosis(args, request, ports)
    _print_report(args.format, report, ports, out)
    return 0 if report.ok else 1


def check(args: Args, out: TextIO, err: TextIO) -> int:
    """Connect from a throwaway container and report the outcome with the findings."""
    import signal  # noqa: PLC0415

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so the container is removed, as on Ctrl-C (CI cancels so)

    request = Request(aliases=(args.alias,)).check()
    if args.facts is not None:
        raise UsageError("check runs a real container: it cannot replay --facts")
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        report = _diagnosis(args, request, (args.port,), probe=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_report(args.format, report, (args.port,), out)
    reached = any(p.outcome == "connected" for p in report.probes)
    if not reached:
        err.write(f"{PROG}: {args.alias}:{args.port} is not reachable from a container\n")
    return 0 if reached else 1


def relay(args: Args, out: TextIO, err: TextIO) -> int:
    """Forward containers' connections to a loopback-only service until stopped."""
    from hostreach.diagnose import arrival  # noqa: PLC0415
    from hostreach.probe import relay_networks  # noqa: PLC0415
    from hostreach.relay import Network, Plan, RelayError, allowed_networks, run  # noqa: PLC0415
    from hostreach.runtimes import BRIDGES, by_id  # noqa: PLC0415

    if args.facts is not None:
        raise UsageError("relay listens on this machine: it cannot replay --facts")
    facts = load_facts(args)
    route = resolve(facts, request_from(args))
    if route.remote:
        raise RelayError(
            f"the engine runs on another machine ({facts.client.endpoint}): its containers never"
            " arrive here; forward the port with `ssh -R` instead"
        )
    where = arrival(facts, route, by_id(route.runtime))
    if where.address is None:
        if where.loopback:
            raise RelayError(
                f"no relay needed: {route.reason[:-1]}, and its containers already reach this"
                " machine's 127.0.0.1"
            )
        raise RelayError("the address at which containers reach this machine is unknown here")
    target = args.target or ("127.0.0.1", args.port)
    if target == (where.address, args.port):
        raise UsageError(f"the target {target[0]}:{target[1]} is where the relay would listen")

    def allowed() -> tuple[Network, ...]:
        return allowed_networks(relay_networks(facts, BRIDGES))

    plan = Plan(listen=(where.address, args.port), target=target, allowed=allowed())

    def log(line: str) -> None:
        err.write(f"{PROG}: relay: {line}\n")
        err.flush()

    run(plan, status=out, log=log, refresh=allowed)
    return 0
