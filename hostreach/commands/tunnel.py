"""The ``tunnel`` command: carry containers' connections to this machine's loopback."""

from __future__ import annotations

import argparse
from typing import TextIO

from hostreach.commands import PROG, load_facts, request_from, warnings_text
from hostreach.errors import UsageError
from hostreach.facts import Tunnel


def tunnel(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a tunnel until stopped, printing its route once it carries (or only clean up)."""
    from hostreach.pump import Limits  # noqa: PLC0415
    from hostreach.render import render  # noqa: PLC0415
    from hostreach.resolve import resolve  # noqa: PLC0415
    from hostreach.tunnels import runner  # noqa: PLC0415
    from hostreach.tunnels.plan import plan_for  # noqa: PLC0415

    def log(line: str) -> None:
        err.write(f"{PROG}: tunnel: {line}\n")
        err.flush()

    ports = list(dict.fromkeys(args.port))
    if not args.cleanup and not ports:
        raise UsageError("tunnel needs at least one --port (or --cleanup)")
    if len(ports) != len(args.port):
        raise UsageError("each --port may be given once")
    if len(args.backends) > len(ports):
        raise UsageError("more --backend than --port: each --backend belongs to one --port")
    request = request_from(args)
    args.cache = False  # the engine's answers, fresh: a tunnel that runs changes them
    facts = load_facts(args)
    backends = dict(zip(ports, args.backends, strict=False))
    plan = plan_for(
        facts,
        {port: backends.get(port, ("127.0.0.1", port)) for port in ports},
        image=args.image,
        network=args.network,
        timeout=args.timeout,
        limits=Limits(
            connections=args.max_connections,
            idle_seconds=args.idle_timeout,
            per_peer=args.max_per_peer,
            first_byte_seconds=min(15.0, args.idle_timeout),
        ),
        verbose=args.verbose,
    )
    if args.cleanup:
        removed = runner.cleanup(plan, log=log)
        err.write(f"{PROG}: tunnel: {len(removed)} container(s) removed\n")
        return 0

    def ready(record: Tunnel) -> None:
        route = resolve(facts._replace(tunnels=(record,)), request)
        err.write(warnings_text(route))
        out.write(render(route, args.format))
        out.flush()
        shown = ", ".join(f"{p} -> {h}:{q}" for p, (h, q) in plan.ports.items())
        log(f"carrying {shown} from {record.address} (network {record.network}); Ctrl-C ends it")

    runner.run(plan, ready=ready, log=log)
    return 0
