"""cli: ``python -m hostreach COMMAND``. stdout carries only the answer; diagnostics go to stderr.

Exit codes: 0 answered, 1 no usable route or a failure, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from hostreach import __version__
from hostreach.errors import HostreachError
from hostreach.facts import Facts
from hostreach.resolve import DEFAULT_ALIAS, STRATEGIES, Request, resolve
from hostreach.runtimes import RUNTIME_IDS

PROG = "hostreach"
MAX_TIMEOUT = 300.0


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
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
        help="the most any engine call may take (default: 2)",
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
        choices=("shell", "json"),
        default="shell",
        help="shell: one flag per line (default); json: the whole route",
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

    facts = commands.add_parser(
        "facts",
        help="print what hostreach read from this machine, as JSON",
        description="Print the facts snapshot as JSON; replay it with --facts FILE.",
    )
    _common(facts)
    facts.set_defaults(handler=_facts)
    return parser


def _load_facts(args: argparse.Namespace, *, names: tuple[str, ...] = ()) -> Facts:
    if args.facts is not None:
        from hostreach.facts import load  # noqa: PLC0415

        return load(args.facts)
    from hostreach.probe import collect  # noqa: PLC0415

    return collect(timeout=args.timeout, names=names, cache=args.cache)


def _request(args: argparse.Namespace) -> Request:
    aliases = tuple(args.alias) if args.alias else (DEFAULT_ALIAS,)
    return Request(aliases=aliases, strategy=args.strategy, runtime=args.runtime).check()


def _flags(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from hostreach.render import render  # noqa: PLC0415

    request = _request(args)  # validate the input before probing anything
    route = resolve(_load_facts(args), request)
    for warning in route.warnings:
        err.write(f"{PROG}: warning: {warning}\n")
    out.write(render(route, args.format))
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
    try:
        args = parser.parse_args(argv)
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
