"""Commands that print the route: flags, run, compose-override, address, facts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from hostreach import cache
from hostreach.answers import remember
from hostreach.checks import check_name, one_line
from hostreach.commands import PROG, facts_for, load_facts, request_from, warnings_text
from hostreach.errors import EngineError, UsageError
from hostreach.render import POD_FORMATS, compose_file, render
from hostreach.resolve import resolve
from hostreach.routes import SWARM_PURPOSES

if TYPE_CHECKING:
    from hostreach.composition import Service
    from hostreach.routes import Route

Args = argparse.Namespace


def flags(args: Args, out: TextIO, err: TextIO) -> int:
    """Print the route in the chosen format."""
    if args.format in POD_FORMATS:  # a pod of the kubeconfig's cluster (issue 25)
        if args.purpose != "run":
            raise UsageError(f"--format {args.format} is for a pod: leave out --for")
        args.purpose = "pod"
    request = request_from(args)  # validate the input before probing anything
    if args.service and args.format != "compose":
        raise UsageError("--service applies only to --format compose")
    for name in args.service or ():
        check_name(name, "compose service")
    facts = facts_for(args, request)
    route = resolve(facts, request)
    warnings = warnings_text(route)
    if args.service:
        text = compose_file(dict.fromkeys(args.service, route.compose()), comment=route.reason)
    else:
        text = render(route, args.format)
    if args.format in POD_FORMATS and not text:
        warnings += (
            f"{PROG}: note: nothing to add: the cluster's pods resolve"
            f" {', '.join(route.hosts)} themselves\n"
        )
    if args.format == "devcontainer":
        # A devcontainer.json is usually shared in a repository: the route is this machine's.
        warnings += (
            f"{PROG}: note: these runArgs are this machine's route"
            f" ({'rootless ' if route.rootless else ''}{route.runtime});"
            " a devcontainer.json others open needs theirs\n"
        )
    err.write(warnings)
    out.write(text)
    # Kept for the warm path: the flags `docker run $(...)` executes, which it can check again
    # on replay (entry._replayable); the other formats are made afresh each time.
    # (Not a service's: the swarm's nodes change while the engine's socket stays the same.)
    if (
        args.facts is None
        and args.cache
        and not args.debug
        and args.format in ("shell", "args")
        and args.purpose not in SWARM_PURPOSES
    ):
        cache_key = cache.cli_key(args.argv)
        if cache_key is not None:
            remember(cache_key, facts, route, f"{len(text)}\n{text}{warnings}")
    return 0


def run(args: Args, out: TextIO, err: TextIO) -> int:
    """Exec the engine's own `run` with the route's flags first."""
    import os  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from hostreach.runtimes import by_id  # noqa: PLC0415

    engine_args: list[str] = args.engine_args
    if not engine_args:
        raise UsageError("run needs at least an IMAGE: hostreach run [OPTIONS] IMAGE [COMMAND]")
    request = request_from(args)
    route = resolve(facts_for(args, request), request)
    err.write(warnings_text(route))
    wanted = by_id(route.runtime).cli
    # With DOCKER_HOST or --context the user chose an endpoint: only the docker CLI reads it.
    context_name = getattr(args, "context", None)
    chosen = os.environ.get("DOCKER_HOST") or context_name
    cli = wanted if shutil.which(wanted) and not chosen else "docker"
    path = shutil.which(cli)
    if path is None:
        raise EngineError(f"the {cli} command is not installed")
    context = ["--context", context_name] if context_name else []
    argv = [cli, *context, "run", *route.flags, *engine_args]
    err.flush()
    out.flush()
    if os.name == "nt":  # no exec on Windows: wait and pass the exit code on
        import subprocess  # noqa: PLC0415

        return subprocess.call(argv, executable=path)
    os.execv(path, argv)  # noqa: S606 - replaces this process: signals and TTY pass through
    return 0  # pragma: no cover - execv does not return


def compose_override(args: Args, out: TextIO, err: TextIO) -> int:
    """Print a compose override file giving every service the route."""
    import os  # noqa: PLC0415

    from hostreach.probe import _compose  # noqa: PLC0415 - imports yaml

    # The services join compose's project network, not the engine's default one.
    request = request_from(args)._replace(own_network=True)
    paths, services = _compose.read_services(args.file, os.environ, timeout=args.timeout)
    route = resolve(facts_for(args, request), request)
    err.write(warnings_text(route))
    stack = args.purpose == "stack"
    fragments = {}
    for name, service in services.items():
        left_out = _left_out(service.network_mode)
        if left_out and not stack:
            err.write(
                f"{PROG}: note: {name} uses network_mode {one_line(service.network_mode or '')}:"
                f" {left_out}\n"
            )
            continue
        fragments[name] = _fragment(name, service, route, stack=stack, err=err)
    comment = (
        f"Written by `hostreach compose-override` for {', '.join(one_line(p) for p in paths)}."
        f"\n{route.reason}"
    )
    # docker stack deploy refuses files of different versions ("version mismatched"): the
    # override takes the first file's (measured, docker CLI 20.10).
    version = _compose.version(paths[0], timeout=args.timeout) if stack and paths else None
    out.write(compose_file(fragments, comment=comment, version=version))
    return 0


def _fragment(name: str, service: Service, route: Route, *, stack: bool, err: TextIO) -> Any:
    """One service's part of the override."""
    from hostreach.composition import Override  # noqa: PLC0415 - compose-override only

    fragment = route.compose()
    clashing = [host for host, _ in service.extra_hosts if host in route.hosts]
    if clashing and stack:
        # docker stack deploy appends each file's extra_hosts and !override means nothing to
        # it (measured, docker CLI 20.10): the base's entry would stay first, and win.
        raise UsageError(
            f"{name} sets {one_line(clashing[0])} in its own extra_hosts, and docker stack"
            " deploy keeps that entry before the override's: remove it from the file"
        )
    if clashing:
        # Compose v2 keeps the base's entry beside ours and writes it first in /etc/hosts
        # (measured, 2.40.3), so the base's would win: replace the list, keeping the rest.
        # Where the runtime resolves the name itself (no entry of ours), the base's pinned
        # entry would shadow that answer: it goes too.
        kept = [_entry(*entry) for entry in service.extra_hosts if entry[0] not in route.hosts]
        fragment["extra_hosts"] = Override([*fragment.get("extra_hosts", []), *kept])
        err.write(
            f"{PROG}: note: {name} sets {one_line(clashing[0])} in its own extra_hosts: the"
            " override replaces that list (!override, Compose v2.24 or later; Compose v1"
            " cannot read the tag: remove the entry from the file instead)\n"
        )
    return fragment


def _left_out(mode: str | None) -> str:
    """Say why a service with this network mode takes no extra_hosts, or return ``""``."""
    if mode is None:
        return ""
    if mode.startswith(("service:", "container:")):
        return "it takes the route of the one whose network it shares"
    if mode == "host":
        return "it shares the network of the engine's machine, which no extra_hosts changes"
    if mode == "none":
        return "it has no network"
    return ""


def _entry(host: str, address: str) -> str:
    """Return a kept extra_hosts entry, checked before it is printed; UsageError otherwise."""
    from hostreach.checks import check_address, check_alias  # noqa: PLC0415

    try:
        check_alias(host)
        if address != "host-gateway":
            address = check_address(address)
    except (UsageError, ValueError) as exc:
        raise UsageError(f"extra_hosts entry {host[:60]!r}: {exc}") from exc
    return f"{host}={address}" if ":" in address else f"{host}:{address}"


def address(args: Args, out: TextIO, err: TextIO) -> int:
    """Print where this process, in a container, reaches the host."""
    import json  # noqa: PLC0415

    from hostreach.runtimes import host_names  # noqa: PLC0415
    from hostreach.vantage import host_address  # noqa: PLC0415

    names = host_names()
    found = host_address(load_facts(args, names=names), names)
    if args.format == "json":
        out.write(json.dumps({"address": found.address, "via": found.via}) + "\n")
    else:
        err.write(f"{PROG}: note: via {found.via}\n")
        out.write(found.address + "\n")
    return 0


def facts(args: Args, out: TextIO, err: TextIO) -> int:
    """Print the facts snapshot as JSON."""
    from hostreach.commands import with_discovery  # noqa: PLC0415
    from hostreach.facts import dumps  # noqa: PLC0415

    facts = load_facts(args, ports=tuple(dict.fromkeys(args.port)))
    if args.discover and args.facts is None:
        facts = with_discovery(args, facts)
    for issue in facts.issues:
        err.write(f"{PROG}: note: {issue.source}: {issue.detail}\n")
    out.write(dumps(facts) + "\n")
    return 0
