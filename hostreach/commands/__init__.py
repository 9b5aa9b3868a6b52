"""commands: what each subcommand does, given its parsed arguments. cli.py parses and dispatches.

Each handler takes ``(args, out, err)`` and returns the exit code; errors are HostreachError
subclasses, which cli.main turns into one line on stderr and the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from hostreach.checks import one_line
from hostreach.facts import Facts
from hostreach.routes import DEFAULT_ALIAS, SWARM_PURPOSES, Request, Route

PROG = "hostreach"
DEFAULT_IMAGE = "docker.io/library/busybox:latest"  # fully qualified: no short-name search


def load_facts(
    args: argparse.Namespace, *, names: tuple[str, ...] = (), ports: tuple[int, ...] = ()
) -> Facts:
    """Return the facts: replayed from --facts FILE where the command offers it, else probed."""
    if getattr(args, "facts", None) is not None:
        from hostreach.facts import load  # noqa: PLC0415

        return load(args.facts, timeout=args.timeout)
    from hostreach.probe import collect  # noqa: PLC0415

    # The swarm's nodes: for a service's route, and in a snapshot (`facts`) for replay. The
    # engine is asked afresh then: joining or leaving a swarm keeps its socket, so its kept
    # answers would still say what its membership was (issue 25).
    swarm = getattr(args, "purpose", "run") in SWARM_PURPOSES
    swarm = swarm or getattr(args, "command", None) == "facts"
    return collect(
        timeout=args.timeout,
        names=names,
        cache=args.cache and not swarm,
        ports=ports,
        environ=environ_of(args),
        swarm=swarm,
        kube=getattr(args, "purpose", "run") == "pod" or bool(getattr(args, "kube", False)),
    )


def facts_for(args: argparse.Namespace, request: Request, *, ports: tuple[int, ...] = ()) -> Facts:
    """The facts for ``request``: with ``--strategy discover``, what one throwaway container
    found by trying every candidate (unless a replayed snapshot holds it: replay runs nothing)."""
    facts = load_facts(args, ports=ports)
    if request.strategy != "discover" or facts.discovered or getattr(args, "facts", None):
        return facts
    return with_discovery(args, facts)


def with_discovery(args: argparse.Namespace, facts: Facts) -> Facts:
    """The facts with what ``--strategy discover`` finds here; EngineError where it cannot try."""
    from hostreach.errors import EngineError  # noqa: PLC0415
    from hostreach.operations import discover  # noqa: PLC0415

    if facts.daemon is None:  # no container on a guess: say why there is no engine
        details = "; ".join(i.detail for i in facts.issues if i.source == "engine")
        raise EngineError(f"discover needs the engine to run a container: {details or 'no answer'}")
    named = getattr(args, "image", None)
    found = discover(facts, image=named or DEFAULT_IMAGE, timeout=args.timeout, pull=bool(named))
    return facts._replace(discovered=found)


def environ_of(args: argparse.Namespace) -> Mapping[str, str]:
    """The environment that chooses the engine, with ``--context`` as the docker CLI takes it:
    the flag wins over DOCKER_HOST and DOCKER_CONTEXT; ``default`` is the default context."""
    import os  # noqa: PLC0415

    context = getattr(args, "context", None)
    if context is None:
        return os.environ
    found = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    if context == "default":  # the CLI's default context: DOCKER_HOST, else the default socket
        return {
            **found,
            **({"DOCKER_HOST": os.environ["DOCKER_HOST"]} if "DOCKER_HOST" in os.environ else {}),
        }
    return {**found, "DOCKER_CONTEXT": context}


def request_from(args: argparse.Namespace) -> Request:
    """Return the validated route request of --alias, --strategy, --runtime, --target and the
    command's --port (the ports containers will connect to)."""
    aliases = tuple(args.alias) if args.alias else (DEFAULT_ALIAS,)
    port = getattr(args, "port", None)  # flags: a list; check, relay: one; doctor: a list
    ports = tuple(port) if isinstance(port, list) else (port,) if port else ()
    return Request(
        aliases=aliases,
        strategy=args.strategy,
        runtime=args.runtime,
        target=args.target,
        purpose=getattr(args, "purpose", "run"),
        ports=ports,
    ).check()


def warnings_text(route: Route) -> str:
    """The route's warnings as stderr lines (empty when there are none)."""
    return "".join(f"{PROG}: warning: {one_line(warning)}\n" for warning in route.warnings)
