"""The two other directions: endpoint (host -> container), network (container -> container)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from hostreach.checks import check_name
from hostreach.commands import PROG, load_facts
from hostreach.errors import NoRouteError


def endpoint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print where this process reaches a container's published port."""
    from hostreach.operations import engine_get  # noqa: PLC0415
    from hostreach.publish import parse_port, published_endpoint  # noqa: PLC0415
    from hostreach.runtimes import host_names  # noqa: PLC0415

    check_name(args.container, "container")
    parse_port(args.port)
    facts = load_facts(args, names=host_names())
    container = engine_get(facts, f"/containers/{args.container}/json", timeout=args.timeout)
    if not isinstance(container, dict):
        raise NoRouteError(f"no such container: {args.container}")
    found = published_endpoint(facts, container, args.port)
    if args.format == "json":
        out.write(json.dumps(found.to_json()) + "\n")
    else:
        err.write(f"{PROG}: note: {found.via}\n")
        out.write(found.address + "\n")
    return 0


def network(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Ensure a user-defined bridge network; print --network=NAME."""
    from hostreach.operations import ensure_network  # noqa: PLC0415

    check_name(args.name, "network")
    created = ensure_network(load_facts(args), args.name, timeout=args.timeout)
    if args.format == "json":
        out.write(json.dumps({"network": args.name, "created": created}) + "\n")
    else:
        err.write(f"{PROG}: note: network {args.name} {'created' if created else 'exists'}\n")
        out.write(f"--network={args.name}\n")
    return 0
