"""cli: ``python -m hostreach COMMAND``. stdout carries only the answer; diagnostics go to stderr.

Exit codes: 0 answered, 1 no usable route or a failure, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeAlias, cast

from hostreach.checks import check_image, check_name, one_line, port_number
from hostreach.commands import DEFAULT_IMAGE, PROG
from hostreach.errors import HostreachError, UsageError
from hostreach.render import POD_FORMATS, RENDERERS
from hostreach.routes import DEFAULT_ALIAS, STRATEGIES, TARGETS
from hostreach.runtimes import RUNTIME_IDS
from hostreach.version import __version__

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]
Parser = argparse.ArgumentParser


class _Help(argparse.HelpFormatter):
    """argparse's own formatter, given the terminal's width: unasked, argparse finds it with
    shutil, whose import (bz2, lzma) is 2.5 ms of every cold answer (argparse makes a formatter
    for each option it adds, help or not)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
        try:
            # shutil.get_terminal_size's own order: COLUMNS, then stdout's terminal (help is
            # printed there)
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(1).columns
        except (ValueError, OSError):
            columns = 80  # shutil.get_terminal_size's fallback
        super().__init__(prog, indent_increment, max_help_position, max(columns - 2, 11))

    # Python 3.14's argparse sets every formatter's colours as it is made, and argparse makes
    # one for each option it adds: that imports _colorize (with dataclasses, inspect, dis and
    # tokenize), 7-12 ms of a cold answer that prints no help (measured on 3.14.8 with -X
    # importtime). The colours are set when a formatter first reads them, as help or an error
    # is written; before 3.14 argparse has no colours and neither method is reached.
    def _set_color(self, color: bool) -> None:  # noqa: FBT001 - argparse's own signature
        self.__dict__["_color_asked"] = color

    def __getattr__(self, name: str) -> Any:
        color = self.__dict__.pop("_color_asked", None)
        if color is None:
            raise AttributeError(name)
        super()._set_color(color)  # type: ignore[misc]
        return getattr(self, name)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help fits the terminal (see :class:`_Help`); subcommands too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

FLAG_FORMATS = tuple(RENDERERS)

MAX_TIMEOUT = 300.0


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT:  # also false for nan and inf
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return value


def _port(text: str) -> int:
    # checks.port_number's rule: ASCII digits only (int() takes "٥٤٣٢", "8_0" and " +80 ").
    try:
        return port_number(text)
    except ValueError:
        shown = text[:20]
        if shown.isascii() and shown.isdecimal():
            raise argparse.ArgumentTypeError(f"port {int(shown)} is outside 1-65535") from None
        raise argparse.ArgumentTypeError(f"not a port number: {shown!r}") from None


def _image(text: str) -> str:
    try:
        return check_image(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _backend(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:5432, not {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise argparse.ArgumentTypeError(f"not an IP address: {host!r}") from None
    return host, _port(port)


def _ports(parser: Parser, help_text: str) -> None:
    parser.add_argument(
        "--port", type=_port, action="append", default=[], metavar="N", help=help_text
    )


def _replay(parser: Parser) -> None:
    """--facts: only for the commands that can answer from a snapshot alone."""
    parser.add_argument(
        "--facts",
        metavar="FILE",
        help="replay a snapshot written by `hostreach facts` instead of probing anything",
    )


def _common(
    parser: Parser,
    *,
    timeout_help: str = "the most any engine call may take",
) -> None:
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=2.0,
        metavar="SECONDS",
        help=f"{timeout_help} (default: 2); over ssh://, ssh's own connection gets 10 s more",
    )
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="ask the engine again even if an answer of its is stored (stored answers hold"
        " only while the engine socket and the addresses they depend on do)",
    )
    parser.add_argument(
        "--context",
        type=_context,
        metavar="NAME",
        help="the docker context to answer for, as `docker --context NAME` takes it: it wins"
        " over DOCKER_HOST and DOCKER_CONTEXT (default: the docker CLI's own choice)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _context(text: str) -> str:
    # The docker CLI's context names: a letter or digit, then letters, digits, '_', '.', '-'.
    try:
        return check_name(text, "context")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _route_options(parser: Parser, *, target: bool = True, image: bool = True) -> None:
    """--alias, --strategy, --runtime, unless ``image`` is False --image (for --strategy
    discover), and unless ``target`` is False, --target."""
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
        help="how to route (default: auto, the one that works on this runtime); discover: find"
        " it by trying every candidate from one throwaway container, against a listener here"
        " that answers a random token (proven, and kept while the engine's socket is the same)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIME_IDS,
        help="skip detection and answer for this runtime",
    )
    if image:
        _discover_image(parser)
    if not target:  # relay: its --target is the service it forwards to; it serves the caller
        parser.set_defaults(target="caller")
        return
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="caller",
        help="whom containers must reach: this process's machine, where hostreach runs"
        " (caller, the default), the engine's machine (engine-host; they differ when the"
        " engine runs elsewhere or hostreach in a container), or, inside WSL 2, Windows",
    )


def _discover_image(parser: Parser) -> None:
    parser.add_argument(
        "--image",
        type=_image,
        metavar="IMAGE",
        help="with --strategy discover: the image to try from, with sh and nc (default:"
        f" {DEFAULT_IMAGE} where it is here; never pulled unless named)",
    )


def _for_service(parser: Parser, service: str) -> None:
    parser.add_argument(
        "--for",
        dest="purpose",
        choices=("run", "service"),
        default="run",
        help=f"run: a container's route (default); {service}",
    )


def _add_flags(commands: Subparsers) -> None:
    from hostreach.commands import route  # noqa: PLC0415 - loads with its parser only

    flags = commands.add_parser(
        "flags",
        help="print the `docker run` flags that make the host reachable",
        description="Print the `docker run` flags that make the host reachable, one per line:"
        " docker run $(python -m hostreach flags) IMAGE",
    )
    _route_options(flags)
    _ports(
        flags,
        "a port containers will connect to: a running `hostreach tunnel` gives its route only"
        " where it carries every port named; may repeat",
    )
    flags.add_argument(
        "--format",
        choices=FLAG_FORMATS,
        default="shell",
        help="shell: one flag per line, for $(...) (default); args: the same, for mapfile and"
        " xargs; json: the whole route; compose: the service fragment (YAML); env: KEY=VALUE"
        " lines for the app; devcontainer: the runArgs of a devcontainer.json (JSON); k8s: the"
        " hostAliases of a pod spec for the kubeconfig's current cluster (YAML; nothing where"
        " its pods resolve the name themselves); k8s-patch: the same as a strategic-merge patch"
        " for kubectl patch",
    )
    flags.add_argument(
        "--for",
        dest="purpose",
        choices=("run", "build", "service"),
        default="run",
        help="run: for docker run, create, compose and the SDK (default); build: for docker build"
        " and docker buildx build, where host-gateway is written out as its address; service:"
        " --host flags for docker service create, with an address every swarm node reaches"
        " the caller at",
    )
    flags.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="with --format compose: print a whole override file for these services",
    )
    _replay(flags)
    _common(flags)
    flags.set_defaults(handler=route.flags)


def _add_address(commands: Subparsers) -> None:
    from hostreach.commands import route  # noqa: PLC0415 - loads with its parser only

    address = commands.add_parser(
        "address",
        help="inside a container: print the address at which this container reaches the host",
        description="Print the address at which this process reaches the host: a name the"
        " runtime provides (host.docker.internal, host.containers.internal, ...), else the"
        " default gateway. Exit 1 if there is none.",
    )
    address.add_argument("--format", choices=("text", "json"), default="text")
    _replay(address)
    _common(address)
    address.set_defaults(handler=route.address)


def _add_run(commands: Subparsers) -> None:
    from hostreach.commands import route  # noqa: PLC0415 - loads with its parser only

    run = commands.add_parser(
        "run",
        help="run a container with the route: `hostreach run [OPTIONS] IMAGE [COMMAND]`",
        description="Run the engine's own CLI (docker, or podman where that is the runtime) as"
        " `run` with the route's flags before your options, replacing hostreach: signals, the"
        " TTY and the exit code are the container's. hostreach's options come first; the first"
        " other word (or --) starts the engine's.",
    )
    _route_options(run)
    _ports(
        run,
        "a port containers will connect to: a running `hostreach tunnel` gives its route only"
        " where it carries every port named; may repeat",
    )
    _replay(run)
    _common(run)
    run.set_defaults(handler=route.run)


def _add_endpoint(commands: Subparsers) -> None:
    from hostreach.commands import directions  # noqa: PLC0415 - loads with its parser only

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
    endpoint.set_defaults(handler=directions.endpoint)


def _add_network(commands: Subparsers) -> None:
    from hostreach.commands import directions  # noqa: PLC0415 - loads with its parser only

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
    network.set_defaults(handler=directions.network)


def _add_compose_override(commands: Subparsers) -> None:
    from hostreach.commands import route  # noqa: PLC0415 - loads with its parser only

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
        action="append",
        help="a compose file, read in order as docker compose -f reads them; may repeat"
        " (default: COMPOSE_FILE, else the file and override file docker compose finds here)",
    )
    _route_options(override)
    override.add_argument(
        "--for",
        dest="purpose",
        choices=("run", "stack"),
        default="run",
        help="run: for docker compose (default); stack: for docker stack deploy -c FILE -c"
        " OVERRIDE, with an address every swarm node reaches the caller at",
    )
    _ports(
        override,
        "a port containers will connect to: a running `hostreach tunnel` gives its route only"
        " where it carries every port named; may repeat",
    )
    _replay(override)
    _common(override)
    override.set_defaults(handler=route.compose_override)


def _add_doctor(commands: Subparsers) -> None:
    from hostreach.commands import doctor  # noqa: PLC0415 - loads with its parser only

    parser = commands.add_parser(
        "doctor",
        help="explain why containers cannot reach a service on this machine, and how to fix it",
        description="Combine the route with the sockets listening on each --port and the host"
        " firewall, and report each problem with its fix. Exit 1 if any finding is an error.",
    )
    _ports(parser, "a TCP port of the host service; may repeat")
    _route_options(parser)
    _for_service(parser, "service: the route of a Swarm service's tasks, node by node")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    _replay(parser)
    _common(parser)
    parser.set_defaults(handler=doctor.doctor)


def _add_check(commands: Subparsers) -> None:
    from hostreach.commands import doctor  # noqa: PLC0415 - loads with its parser only

    check = commands.add_parser(
        "check",
        help="prove it: connect to the host service from a real, throwaway container",
        description="Start a throwaway container with the route's flags; from inside it, prove"
        " that the (first) alias leads to this machine (a listener here answers a random"
        " token), then connect to ALIAS:PORT; remove it. Exit 0 if both succeed, 1 if not"
        " (with the doctor's findings).",
    )
    check.add_argument("--port", type=_port, required=True, metavar="N")
    _route_options(check, image=False)
    _for_service(
        check,
        "service: one task on every node of the swarm, each proving the route (a throwaway"
        " global service; the image must be on every node)",
    )
    check.add_argument(
        "--image",
        type=_image,
        help=f"image with sh and nc to run the probe in (default: {DEFAULT_IMAGE} where it is"
        " here; never pulled unless named)",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    _common(check, timeout_help="seconds to wait for the connection, and for each engine call")
    check.set_defaults(handler=doctor.check)


def _add_relay(commands: Subparsers) -> None:
    from hostreach.commands import doctor  # noqa: PLC0415 - loads with its parser only

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
        "--backend",
        dest="backend",
        type=_backend,
        metavar="HOST:PORT",
        help="the loopback service (default: 127.0.0.1:PORT)",
    )
    # Its name before 0.3 (issue 21: --target means whom, in every other command).
    relay.add_argument("--target", dest="backend", type=_backend, help=argparse.SUPPRESS)
    _route_options(relay, target=False)
    _common(relay)
    relay.set_defaults(handler=doctor.relay)


def _add_tunnel(commands: Subparsers) -> None:
    from hostreach.commands import tunnel  # noqa: PLC0415 - loads with its parser only

    parser = commands.add_parser(
        "tunnel",
        help="carry containers' connections to this machine's loopback, opened from here only",
        description="Start a small container on the engine (local, tcp://, ssh://, a context)"
        " that containers connect to; each connection is carried to this machine's"
        " 127.0.0.1:PORT over connections hostreach opens to the engine's API, so it works"
        " where the engine's machine cannot connect back. Prints the route's flags once it"
        " carries, then runs until Ctrl-C or SIGTERM and removes what it started. While it"
        " runs, `hostreach flags` answers its route.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="N",
        help="port containers connect to, carried to 127.0.0.1:N here; may repeat",
    )
    for name, shown in (("--backend", "HOST:PORT"), ("--target", None)):  # --target: before 0.3
        parser.add_argument(
            name,
            dest="backends",
            type=_backend,
            action="append",
            default=[],
            metavar=shown,
            help="where the i-th --port leads instead of 127.0.0.1:PORT; may repeat"
            if shown
            else argparse.SUPPRESS,
        )
    parser.add_argument(
        "--alias",
        action="append",
        metavar="NAME",
        help=f"host name that leads to the tunnel; may repeat (default: {DEFAULT_ALIAS})",
    )
    _tunnel_sidecar_options(parser)
    parser.add_argument(
        "--format",
        choices=tuple(f for f in FLAG_FORMATS if f not in POD_FORMATS),
        default="shell",
        help="how to print the route once the tunnel carries (as flags --format)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log each connection on stderr: where it went, the bytes it carried each way",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="only remove tunnel containers left behind (by a tunnel killed with kill -9)",
    )
    _common(parser, timeout_help="the most any engine call may take")
    parser.set_defaults(handler=tunnel.tunnel, target="caller", strategy="auto", runtime=None)


def _tunnel_sidecar_options(parser: Parser) -> None:
    """The tunnel's container and its limits: --image, --network, --max-connections,
    --max-per-peer, --idle-timeout."""
    parser.add_argument(
        "--image",
        type=_image,
        default=DEFAULT_IMAGE,
        help=f"image with busybox's sh, nc and mkfifo for the tunnel's container (default:"
        f" {DEFAULT_IMAGE})",
    )
    parser.add_argument(
        "--network",
        type=_network_name,
        metavar="NAME",
        help="container network to serve (default: the engine's default network)",
    )
    parser.add_argument(
        "--max-connections",
        type=_count,
        default=128,
        metavar="N",
        help="connections carried at once; more are refused and logged (default: 128)",
    )
    parser.add_argument(
        "--max-per-peer",
        type=_count,
        default=64,
        metavar="N",
        help="connections one container (one address) may hold at once, so that one client's"
        " flood leaves room for the others (default: 64)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_timeout,
        default=600.0,
        metavar="SECONDS",
        help="close a connection that carried nothing for this long (default: 600)",
    )


def _count(text: str) -> int:
    if not (text.isascii() and text.isdecimal()) or not 0 < int(text) <= 65536:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 65536, not {text[:20]!r}")
    return int(text)


def _network_name(text: str) -> str:
    from hostreach.checks import check_name  # noqa: PLC0415
    from hostreach.errors import UsageError  # noqa: PLC0415

    try:
        return check_name(text, "network")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_facts(commands: Subparsers) -> None:
    from hostreach.commands import route  # noqa: PLC0415 - loads with its parser only

    facts = commands.add_parser(
        "facts",
        help="print what hostreach read from this machine, as JSON",
        description="Print the facts snapshot as JSON; replay it with --facts FILE. With --port,"
        " also the sockets listening on those ports and the firewall, for the doctor.",
    )
    _ports(facts, "also record what listens on this TCP port, and the firewall; may repeat")
    facts.add_argument(
        "--discover",
        action="store_true",
        help="also record what --strategy discover finds (runs one throwaway container)",
    )
    facts.add_argument(
        "--kube",
        action="store_true",
        help="also record the kubeconfig's current cluster, read through kubectl (for"
        " flags --format k8s)",
    )
    _discover_image(facts)
    _replay(facts)
    _common(facts)
    facts.set_defaults(handler=route.facts)


COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "flags": _add_flags,
    "address": _add_address,
    "run": _add_run,
    "endpoint": _add_endpoint,
    "network": _add_network,
    "compose-override": _add_compose_override,
    "doctor": _add_doctor,
    "check": _add_check,
    "relay": _add_relay,
    "tunnel": _add_tunnel,
    "facts": _add_facts,
}
"""Every subcommand and the function that adds its parser, in the order --help lists them."""


def build_parser(only: str | None = None) -> Parser:
    """Return the argument parser (importable without side effects, for the docs).

    ``only``: add just that command, as parsing one command needs: each command's module (and
    what it imports) loads with its parser, so ``flags`` does not pay for the doctor's.
    """
    parser: Parser = _Parser(
        prog=PROG,
        description="Find how a process inside a container reaches a service on the host.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # prog given: argparse would format the usage line to find it (on 3.14, colours and all)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, prog=PROG)
    for name, add in COMMANDS.items():
        if only in (None, name):
            add(commands)
    return parser


def _run_options() -> dict[str, bool]:
    """hostreach's own options for ``run`` (True: takes a value), read from the same builders
    that give ``run`` its options, so the split cannot drift from the parser."""
    parser = _Parser(add_help=False)
    _route_options(parser)
    _ports(parser, "")
    _replay(parser)
    _common(parser)
    return {opt: action.nargs != 0 for action in parser._actions for opt in action.option_strings}


def split_run(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``run``'s arguments into hostreach's options and the engine's ``run`` arguments."""
    options = _run_options()
    own: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return own, list(argv[i + 1 :])
        name = word.split("=", 1)[0]
        if name not in options:
            break
        takes_value = options[name] and "=" not in word
        own += argv[i : i + 1 + takes_value]
        i += 1 + takes_value
    return own, list(argv[i:])


class _Lines(io.TextIOBase):
    """The handlers' stderr: each line written reaches the terminal printable (one_line), so
    outside text in a note (a compose value, an engine's message) writes no escape sequence."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text``, each of its lines shown printable."""
        self.stream.write("\n".join(map(one_line, text.split("\n"))))
        return len(text)

    def flush(self) -> None:
        """Flush the stream beneath."""
        self.stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    engine_args: list[str] = []
    if argv[:1] == ["run"]:
        own, engine_args = split_run(argv[1:])
        argv = ["run", *own]
    try:
        args = build_parser(only=argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    args.engine_args = engine_args
    args.argv = argv
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout, cast(TextIO, _Lines(sys.stderr)))
    except HostreachError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: error: {one_line(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
