"""The two other directions: endpoint (host -> container), network (container -> container)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from hostreach.commands import PROG, load_facts
from hostreach.errors import NoRouteError, UsageError

if TYPE_CHECKING:
    from hostreach.commands import Args


def endpoint(args: Args, out: TextIO, err: TextIO) -> int:
    """Print where this process reaches a container's published port."""
    import json  # noqa: PLC0415

    from hostreach.publish import parse_port, published_endpoint  # noqa: PLC0415
    from hostreach.resolve import check_name  # noqa: PLC0415
    from hostreach.runtimes import HOST_NAMES  # noqa: PLC0415

    check_name(args.container, "container")
    parse_port(args.port)
    if args.facts is not None:
        raise UsageError("endpoint asks the engine about a running container: no --facts")
    from hostreach.probe import engine_get  # noqa: PLC0415

    facts = load_facts(args, names=HOST_NAMES)
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


def network(args: Args, out: TextIO, err: TextIO) -> int:
    """Ensure a user-defined bridge network; print --network=NAME."""
    import json  # noqa: PLC0415

    from hostreach.resolve import check_name  # noqa: PLC0415

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
