"""cli: ``python -m hostreach COMMAND``. stdout carries only the answer; diagnostics go to stderr.

Exit codes: 0 answered, 1 no usable route or a failure, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from hostreach import __version__
from hostreach.errors import EngineError, HostreachError, NoRouteError, UsageError
from hostreach.facts import Facts
from hostreach.resolve import DEFAULT_ALIAS, STRATEGIES, Request, Route, check_service, resolve
from hostreach.runtimes import RUNTIME_IDS

if TYPE_CHECKING:
    from hostreach.diagnose import Report
    from hostreach.facts import ProbeResult

PROG = "hostreach"
DEFAULT_IMAGE = "busybox"
FLAG_FORMATS = ("shell", "args", "json", "compose", "env")
"""The names of hostreach.render.RENDERERS, here so that building the parser imports nothing."""
MAX_TIMEOUT = 300.0


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1-65535")
    return value


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:5432, not {text!r}")
    import ipaddress  # noqa: PLC0415

    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise argparse.ArgumentTypeError(f"not an IP address: {host!r}") from None
    return host, _port(port)


def _common(
    parser: argparse.ArgumentParser,
    *,
    timeout_help: str = "the most any engine call may take",
) -> None:
    parser.add_argument(
        "--facts",
        metavar="FILE",
        help="replay a snapshot written by `hostreach facts` instead of probing anything",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=2.0,
        metavar="SECONDS",
        help=f"{timeout_help} (default: 2)",
    )
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="ask the engine even if its answer from the last minute is cached",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _route_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alias",
        action="append",
        metavar="NAME",
        help=f"host name to make resolvable in the container; may repeat (default: {DEFAULT_ALIAS})",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="how to route (default: auto, the one that works on this runtime)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIME_IDS,
        help="skip detection and answer for this runtime",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (importable without side effects, for the docs)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Find how a process inside a container reaches a service on the host.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    flags = commands.add_parser(
        "flags",
        help="print the `docker run` flags that make the host reachable",
        description="Print the `docker run` flags that make the host reachable, one per line:"
        " docker run $(python -m hostreach flags) IMAGE",
    )
    _route_options(flags)
    flags.add_argument(
        "--format",
        choices=FLAG_FORMATS,
        default="shell",
        help="shell: one flag per line, for $(...) (default); args: the same, for mapfile and"
        " xargs; json: the whole route; compose: the service fragment (YAML); env: KEY=VALUE"
        " lines for the app",
    )
    flags.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="with --format compose: print a whole override file for these services",
    )
    _common(flags)
    flags.set_defaults(handler=_flags)

    address = commands.add_parser(
        "address",
        help="inside a container: print the address at which this container reaches the host",
        description="Print the address at which this process reaches the host: a name the"
        " runtime provides (host.docker.internal, host.containers.internal, ...), else the"
        " default gateway. Exit 1 if there is none.",
    )
    address.add_argument("--format", choices=("text", "json"), default="text")
    _common(address)
    address.set_defaults(handler=_address)

    run = commands.add_parser(
        "run",
        help="run a container with the route: `hostreach run [OPTIONS] IMAGE [COMMAND]`",
        description="Run the engine's own CLI (docker, or podman where that is the runtime) as"
        " `run` with the route's flags before your options, replacing hostreach: signals, the"
        " TTY and the exit code are the container's. hostreach's options come first; the first"
        " other word (or --) starts the engine's.",
    )
    _route_options(run)
    _common(run)
    run.set_defaults(handler=_run)

    endpoint = commands.add_parser(
        "endpoint",
        help="host -> container: print where this process reaches a container's published port",
        description="Print HOST:PORT at which this process reaches PORT of CONTAINER: localhost"
        " and the published port on a local engine, the engine's machine on a remote one, the"
        " container's own address when this process runs in a container on one of its networks.",
    )
    endpoint.add_argument("container", metavar="CONTAINER", help="container name or ID")
    endpoint.add_argument("port", metavar="PORT", help="the container's port: 8000 or 8000/udp")
    endpoint.add_argument("--format", choices=("text", "json"), default="text")
    _common(endpoint)
    endpoint.set_defaults(handler=_endpoint)

    network = commands.add_parser(
        "network",
        help="container -> container: ensure a user-defined network; print --network=NAME",
        description="Create the user-defined bridge network NAME unless it exists and print"
        " --network=NAME. Containers on it reach each other by container name or"
        " --network-alias (the default bridge network has no such names).",
    )
    network.add_argument("name", metavar="NAME")
    network.add_argument("--format", choices=("shell", "json"), default="shell")
    _common(network)
    network.set_defaults(handler=_network)

    override = commands.add_parser(
        "compose-override",
        help="print a compose override file that gives every service the route",
        description="Read a compose file and print an override with the route for each of its"
        " services: python -m hostreach compose-override > docker-compose.override.yml",
    )
    override.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="the compose file (default: the one docker compose finds here)",
    )
    _route_options(override)
    _common(override)
    override.set_defaults(handler=_compose_override)

    doctor = commands.add_parser(
        "doctor",
        help="explain why containers cannot reach a service on this machine, and how to fix it",
        description="Combine the route with the sockets listening on each --port and the host"
        " firewall, and report each problem with its fix. Exit 1 if any finding is an error.",
    )
    doctor.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="N",
        help="a TCP port of the host service; may repeat",
    )
    _route_options(doctor)
    doctor.add_argument("--format", choices=("text", "json"), default="text")
    _common(doctor)
    doctor.set_defaults(handler=_doctor)

    check = commands.add_parser(
        "check",
        help="prove it: connect to the host service from a real, throwaway container",
        description="Start a throwaway container with the route's flags, connect to ALIAS:PORT"
        " from inside it, and remove it. Exit 0 if the connection succeeds, 1 if not (with the"
        " doctor's findings).",
    )
    check.add_argument("--port", type=_port, required=True, metavar="N")
    check.add_argument(
        "--alias",
        default=DEFAULT_ALIAS,
        metavar="NAME",
        help=f"host name to connect to (default: {DEFAULT_ALIAS})",
    )
    check.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        help=f"image with sh and nc to run the probe in (default: {DEFAULT_IMAGE})",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    _common(check, timeout_help="seconds to wait for the connection, and for each engine call")
    check.set_defaults(handler=_check, strategy="auto", runtime=None)

    relay = commands.add_parser(
        "relay",
        help="forward containers' connections to a service that must stay on 127.0.0.1",
        description="Listen where containers' connections arrive (the bridge gateway on a"
        " rootful engine, this machine's main address on a rootless one) and forward each to"
        " the loopback service. Only container networks and this machine may connect."
        " Runs until Ctrl-C or SIGTERM.",
    )
    relay.add_argument("--port", type=_port, required=True, metavar="N", help="port to listen on")
    relay.add_argument(
        "--target",
        type=_target,
        metavar="HOST:PORT",
        help="the loopback service (default: 127.0.0.1:PORT)",
    )
    _route_options(relay)
    _common(relay)
    relay.set_defaults(handler=_relay)

    facts = commands.add_parser(
        "facts",
        help="print what hostreach read from this machine, as JSON",
        description="Print the facts snapshot as JSON; replay it with --facts FILE.",
    )
    _common(facts)
    facts.set_defaults(handler=_facts)
    return parser


def _load_facts(
    args: argparse.Namespace, *, names: tuple[str, ...] = (), ports: tuple[int, ...] = ()
) -> Facts:
    if args.facts is not None:
        from hostreach.facts import load  # noqa: PLC0415

        return load(args.facts)
    from hostreach.probe import collect  # noqa: PLC0415

    return collect(timeout=args.timeout, names=names, cache=args.cache, ports=ports)


def _request(args: argparse.Namespace) -> Request:
    aliases = tuple(args.alias) if args.alias else (DEFAULT_ALIAS,)
    return Request(aliases=aliases, strategy=args.strategy, runtime=args.runtime).check()


def _flags(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from hostreach.render import render  # noqa: PLC0415

    request = _request(args)  # validate the input before probing anything
    if args.service and args.format != "compose":
        raise UsageError("--service applies only to --format compose")
    for name in args.service or ():
        check_service(name)
    route = resolve(_load_facts(args), request)
    for warning in route.warnings:
        err.write(f"{PROG}: warning: {warning}\n")
    if args.service:
        from hostreach.render import compose_file  # noqa: PLC0415

        out.write(compose_file(dict.fromkeys(args.service, route.compose()), comment=route.reason))
    else:
        out.write(render(route, args.format))
    return 0


_RUN_OPTIONS = {
    "--alias": True,
    "--strategy": True,
    "--runtime": True,
    "--timeout": True,
    "--facts": True,
    "--no-cache": False,
    "--debug": False,
    "-h": False,
    "--help": False,
}
"""hostreach's own options for ``run`` (True: takes a value); the engine's start after them."""


def split_run(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``run``'s arguments into hostreach's options and the engine's ``run`` arguments."""
    own: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return own, list(argv[i + 1 :])
        name = word.split("=", 1)[0]
        if name not in _RUN_OPTIONS:
            break
        takes_value = _RUN_OPTIONS[name] and "=" not in word
        own += argv[i : i + 1 + takes_value]
        i += 1 + takes_value
    return own, list(argv[i:])


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import os  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from hostreach.runtimes import by_id  # noqa: PLC0415

    engine_args: list[str] = args.engine_args
    if not engine_args:
        raise UsageError("run needs at least an IMAGE: hostreach run [OPTIONS] IMAGE [COMMAND]")
    route = resolve(_load_facts(args), _request(args))
    for warning in route.warnings:
        err.write(f"{PROG}: warning: {warning}\n")
    wanted = by_id(route.runtime).cli
    # With DOCKER_HOST set the user chose an endpoint: only the docker CLI reads it.
    cli = wanted if shutil.which(wanted) and not os.environ.get("DOCKER_HOST") else "docker"
    path = shutil.which(cli)
    if path is None:
        raise EngineError(f"the {cli} command is not installed")
    argv = [cli, "run", *route.flags, *engine_args]
    err.flush()
    out.flush()
    if os.name == "nt":  # no exec on Windows: wait and pass the exit code on
        import subprocess  # noqa: PLC0415

        return subprocess.call(argv, executable=path)
    os.execv(path, argv)  # noqa: S606 - replaces this process: signals and TTY pass through
    return 0  # pragma: no cover - execv does not return


def _endpoint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json  # noqa: PLC0415

    from hostreach.publish import check_name, parse_port, published_endpoint  # noqa: PLC0415
    from hostreach.runtimes import HOST_NAMES  # noqa: PLC0415

    check_name(args.container, "container")
    parse_port(args.port)
    if args.facts is not None:
        raise UsageError("endpoint asks the engine about a running container: no --facts")
    from hostreach.probe import engine_get  # noqa: PLC0415

    facts = _load_facts(args, names=HOST_NAMES)
    container = engine_get(f"/containers/{args.container}/json", timeout=args.timeout)
    if not isinstance(container, dict):
        raise NoRouteError(f"no such container: {args.container}")
    found = published_endpoint(facts, container, args.port)
    if args.format == "json":
        out.write(json.dumps(found.to_json()) + "\n")
    else:
        err.write(f"{PROG}: note: {found.via}\n")
        out.write(found.address + "\n")
    return 0


def _network(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json  # noqa: PLC0415

    from hostreach.publish import check_name  # noqa: PLC0415

    check_name(args.name, "network")
    if args.facts is not None:
        raise UsageError("network creates a network on the engine: no --facts")
    from hostreach.probe import ensure_network  # noqa: PLC0415

    created = ensure_network(args.name, timeout=args.timeout)
    if args.format == "json":
        out.write(json.dumps({"network": args.name, "created": created}) + "\n")
    else:
        err.write(f"{PROG}: note: network {args.name} {'created' if created else 'exists'}\n")
        out.write(f"--network={args.name}\n")
    return 0


def _compose_override(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from hostreach.probe import _compose  # noqa: PLC0415 - imports yaml
    from hostreach.render import compose_file  # noqa: PLC0415

    request = _request(args)
    path = args.file or _compose.find()
    services = _compose.read_services(path)
    route = resolve(_load_facts(args), request)
    for warning in route.warnings:
        err.write(f"{PROG}: warning: {warning}\n")
    fragments = {}
    for name, mode in services.items():
        if mode is not None and mode.startswith(("service:", "container:")):
            err.write(
                f"{PROG}: note: {name} uses network_mode {mode}: it takes the route of"
                " the one whose network it shares\n"
            )
            continue
        fragments[name] = route.compose()
    comment = f"Written by `hostreach compose-override` for {path}.\n{route.reason}"
    out.write(compose_file(fragments, comment=comment))
    return 0


def _address(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json  # noqa: PLC0415

    from hostreach.resolve import host_address  # noqa: PLC0415
    from hostreach.runtimes import HOST_NAMES  # noqa: PLC0415

    found = host_address(_load_facts(args, names=HOST_NAMES), HOST_NAMES)
    if args.format == "json":
        out.write(json.dumps({"address": found.address, "via": found.via}) + "\n")
    else:
        err.write(f"{PROG}: note: via {found.via}\n")
        out.write(found.address + "\n")
    return 0


def _diagnosis(
    args: argparse.Namespace, request: Request, ports: tuple[int, ...], *, probe: bool = False
) -> Report:
    from hostreach.diagnose import diagnose  # noqa: PLC0415

    facts = _load_facts(args, ports=ports)
    try:
        route: Route | HostreachError = resolve(facts, request)
    except UsageError:
        raise
    except HostreachError as exc:
        route = exc
    probes: tuple[ProbeResult, ...] = ()
    if probe and isinstance(route, Route):
        from hostreach.probe import probe_container  # noqa: PLC0415

        if args.facts is not None:
            raise UsageError("check runs a real container: it cannot replay --facts")
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


def _print_report(args: argparse.Namespace, report: Report, out: TextIO) -> None:
    from hostreach.render import report_json, report_text  # noqa: PLC0415

    if args.format == "json":
        out.write(report_json(report))
    else:
        out.write(
            report_text(report, tuple(args.port) if isinstance(args.port, list) else (args.port,))
        )


def _doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    request = _request(args)
    ports = tuple(dict.fromkeys(args.port))
    report = _diagnosis(args, request, ports)
    _print_report(args, report, out)
    return 0 if report.ok else 1


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    request = Request(aliases=(args.alias,)).check()
    report = _diagnosis(args, request, (args.port,), probe=True)
    _print_report(args, report, out)
    reached = any(p.outcome == "connected" for p in report.probes)
    if not reached:
        err.write(f"{PROG}: {args.alias}:{args.port} is not reachable from a container\n")
    return 0 if reached else 1


def _relay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from hostreach.diagnose import arrival  # noqa: PLC0415
    from hostreach.probe import relay_networks  # noqa: PLC0415
    from hostreach.relay import Plan, RelayError, allowed_networks, run  # noqa: PLC0415
    from hostreach.runtimes import by_id  # noqa: PLC0415

    if args.facts is not None:
        raise UsageError("relay listens on this machine: it cannot replay --facts")
    facts = _load_facts(args)
    route = resolve(facts, _request(args))
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
    plan = Plan(
        listen=(where.address, args.port),
        target=target,
        allowed=allowed_networks(relay_networks(facts)),
    )

    def log(line: str) -> None:
        err.write(f"{PROG}: relay: {line}\n")
        err.flush()

    run(plan, status=out, log=log, refresh=lambda: allowed_networks(relay_networks(facts)))
    return 0


def _facts(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from hostreach.facts import dumps  # noqa: PLC0415

    facts = _load_facts(args)
    for issue in facts.issues:
        err.write(f"{PROG}: note: {issue.source}: {issue.detail}\n")
    out.write(dumps(facts) + "\n")
    return 0


Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    engine_args: list[str] = []
    if argv[:1] == ["run"]:
        own, engine_args = split_run(argv[1:])
        argv = ["run", *own]
    try:
        args = parser.parse_args(argv)
        args.engine_args = engine_args
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout, sys.stderr)
    except HostreachError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
