"""hostreach: how a process inside a container reaches a service on the host, here.

``import hostreach`` stays cheap: the probes, and the libraries they use, load on first use::

    import hostreach
    route = hostreach.route()            # host.docker.internal, the way that works here
    route.flags                          # ['--add-host=host.docker.internal:host-gateway']
"""

from __future__ import annotations

from hostreach.version import __version__

TYPE_CHECKING = False  # typing would be this module's only cost: it is the root of every import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager

    from hostreach.facts import Facts
    from hostreach.routes import Purpose, Request, Route, StrategyChoice, Target

__all__ = ["__version__", "collect", "forget", "route", "tunnel"]


def collect(*, timeout: float = 2.0, refresh: bool = False, engine: object = None) -> Facts:
    """Return the facts of this machine, probed once per process (``refresh=True`` probes again).

    ``engine``: the engine to read, where it is not the one the environment names (the
    docker CLI's choice): an address such as ``unix:///run/user/1000/docker.sock`` or a docker
    SDK ``DockerClient``, as a test harness that made its own client has it.
    """
    from hostreach import answers  # noqa: PLC0415

    url = _engine_url(engine)
    kept = answers.kept_facts(url)
    if kept is None or refresh:
        from hostreach.probe import collect as probe  # noqa: PLC0415

        kept = probe(timeout=timeout, engine=engine)
        answers.keep_facts(kept, url)
    return kept


def _engine_url(engine: object) -> str | None:
    """The address of an engine the caller names (None: none named); UsageError if not one."""
    if engine is None:
        return None
    from hostreach.engine.endpoint import given  # noqa: PLC0415

    return given(engine).url


def route(
    *aliases: str,
    strategy: StrategyChoice = "auto",
    runtime: str | None = None,
    target: Target = "caller",
    facts: Facts | None = None,
    timeout: float = 2.0,
    purpose: Purpose = "run",
    ports: tuple[int, ...] = (),
    engine: object = None,
    own_network: bool = False,
) -> Route:
    """Return the route by which containers reach this process's machine (default alias
    host.docker.internal; ``target="engine-host"``: the engine's machine, where they differ;
    ``purpose``: ``"build"``, ``"service"``/``"stack"`` (a swarm's tasks), ``"pod"`` (kubeconfig's);
    ``ports``: the ports containers will connect to, which a running ``hostreach tunnel`` must
    all carry for its route to be given; ``engine``: the engine the containers run on, where it
    is not the one the environment names, as :func:`collect` takes it; ``own_network=True``:
    the containers join a network of their own, not the engine's default one).

    The answer is kept, in this process and for later ones, as long as the engine's answer it
    came from holds (see :mod:`hostreach.answers`). Raises
    :class:`hostreach.errors.HostreachError` subclasses: UsageError for bad input, NoRouteError
    where nothing works.
    """
    from hostreach import answers  # noqa: PLC0415

    url = _engine_url(engine)
    asked = (aliases, strategy, runtime, target, purpose, ports, url, own_network)
    kept = answers.kept_route(asked) if facts is None else None
    if kept is not None:  # only a checked request's answer is kept under its words
        return kept
    from hostreach.routes import DEFAULT_ALIAS, Request  # noqa: PLC0415

    # Checked before anything is looked up: a stored answer's key is made of checked values.
    request = Request(
        aliases=aliases or (DEFAULT_ALIAS,),
        strategy=strategy,
        runtime=runtime,
        target=target,
        purpose=purpose,
        ports=ports,
        own_network=own_network,
    ).check()
    if purpose in ("service", "stack", "pod"):
        return _cluster_route(request, facts, timeout=timeout, engine=engine)
    cache_key = answers.route_key(request, url)
    if facts is None:
        stored = answers.replay_route(cache_key)
        if stored is not None:
            answers.keep_route(asked, stored)
            return stored
        facts = collect(timeout=timeout, engine=engine)
    from hostreach.resolve import resolve  # noqa: PLC0415

    answer = resolve(facts, request)
    if facts is answers.kept_facts(url):
        answers.keep_route(asked, answer)
        answers.remember_route(cache_key, facts, answer)
    return answer


def _cluster_route(
    request: Request, facts: Facts | None, *, timeout: float, engine: object
) -> Route:
    """A Swarm service's or a pod's route, its nodes read each time: they join and leave while
    the engine's answers stay the same (issue 25), so it is never kept."""
    from hostreach.probe import collect as probe  # noqa: PLC0415
    from hostreach.resolve import resolve  # noqa: PLC0415

    pod = request.purpose == "pod"
    if facts is None:
        # Asked afresh: a swarm's membership changes while the engine's socket stays the same.
        facts = probe(timeout=timeout, engine=engine, swarm=not pod, kube=pod, cache=False)
    return resolve(facts, request)


def forget() -> None:
    """Drop this process's probed facts and routes (a tunnel that starts or ends changes them)."""
    from hostreach import answers  # noqa: PLC0415

    answers.forget()


def tunnel(
    *ports: int,
    aliases: tuple[str, ...] = (),
    targets: Mapping[int, tuple[str, int]] | None = None,
    image: str = "docker.io/library/busybox:latest",
    network: str | None = None,
    timeout: float = 2.0,
    log: Callable[[str], None] | None = None,
    engine: object = None,
) -> AbstractContextManager[Route]:
    """Carry containers' connections to ``ports`` on this machine's loopback while a block runs.

    ``with hostreach.tunnel(5432) as route: client.containers.run(image,
    **route.docker_run_kwargs())``. Works with a local, tcp:// or ssh:// engine, opening every
    connection from here; ``targets`` maps a port to another ``(host, port)`` here; ``engine``:
    the engine the containers run on, as :func:`collect` takes it. Raises
    HostreachError subclasses (TunnelError, EngineError, UsageError) when it cannot start, and
    on leaving the block when it broke while running. See ``hostreach tunnel --help``.
    """
    from hostreach.tunnels.runner import open_tunnel  # noqa: PLC0415

    return open_tunnel(
        *ports,
        aliases=aliases,
        targets=targets,
        image=image,
        network=network,
        timeout=timeout,
        log=log,
        engine=engine,
    )
