"""hostreach: how a process inside a container reaches a service on the host, here.

``import hostreach`` stays cheap: the probes, and the libraries they use, load on first use::

    import hostreach
    route = hostreach.route()            # host.docker.internal, the way that works here
    route.flags                          # ['--add-host=host.docker.internal:host-gateway']
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing would be this module's only cost: it is the root of every import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager

    from hostreach.facts import Facts
    from hostreach.routes import Purpose, Route, StrategyChoice, Target

__version__ = "0.2.0"
__all__ = ["__version__", "collect", "forget", "route", "tunnel"]

_facts: Facts | None = None
_routes: dict[tuple[object, ...], Route] = {}


def collect(*, timeout: float = 2.0, refresh: bool = False) -> Facts:
    """Return the facts of this machine, probed once per process (``refresh=True`` probes again)."""
    global _facts  # noqa: PLW0603 - the process-wide cache is the point
    if _facts is None or refresh:
        from hostreach.probe import collect as probe  # noqa: PLC0415

        _facts = probe(timeout=timeout)
        _routes.clear()
    return _facts


def route(
    *aliases: str,
    strategy: StrategyChoice = "auto",
    runtime: str | None = None,
    target: Target = "caller",
    facts: Facts | None = None,
    timeout: float = 2.0,
    purpose: Purpose = "run",
) -> Route:
    """Return the route by which containers reach this process's machine (default alias
    host.docker.internal; ``target="engine-host"``: the engine's machine, where they differ;
    ``purpose="build"``: for ``docker build``, host-gateway written out as its address).

    The answer is kept, in this process and for later ones, as long as the engine's answer it
    came from holds (see :mod:`hostreach._fastpath`). Raises
    :class:`hostreach.errors.HostreachError` subclasses: UsageError for bad input, NoRouteError
    where nothing works.
    """
    key = (aliases, strategy, runtime, target, purpose)
    if facts is None and key in _routes:
        return _routes[key]
    from hostreach import answers  # noqa: PLC0415

    cache_key = answers.route_key(*key)
    if facts is None:
        stored = answers.replay_route(cache_key)
        if stored is not None:
            _routes[key] = stored
            return stored
        facts = collect(timeout=timeout)
    from hostreach.resolve import resolve  # noqa: PLC0415
    from hostreach.routes import DEFAULT_ALIAS, Request  # noqa: PLC0415

    request = Request(
        aliases=aliases or (DEFAULT_ALIAS,),
        strategy=strategy,
        runtime=runtime,
        target=target,
        purpose=purpose,
    )
    answer = resolve(facts, request)
    if facts is _facts:
        _routes[key] = answer
        answers.remember_route(cache_key, facts, answer)
    return answer


def forget() -> None:
    """Drop this process's probed facts and routes (a tunnel that starts or ends changes them)."""
    global _facts  # noqa: PLW0603
    _facts = None
    _routes.clear()


def tunnel(
    *ports: int,
    aliases: tuple[str, ...] = (),
    targets: Mapping[int, tuple[str, int]] | None = None,
    image: str = "docker.io/library/busybox:latest",
    network: str | None = None,
    timeout: float = 2.0,
    log: Callable[[str], None] | None = None,
) -> AbstractContextManager[Route]:
    """Carry containers' connections to ``ports`` on this machine's loopback while a block runs.

    ``with hostreach.tunnel(5432) as route: client.containers.run(image,
    **route.docker_run_kwargs())``. Works with a local, tcp:// or ssh:// engine, opening every
    connection from here; ``targets`` maps a port to another ``(host, port)`` here. Raises
    HostreachError subclasses (TunnelError, EngineError, UsageError) when it cannot start, and
    on leaving the block when it broke while running. See ``hostreach tunnel --help``.
    """
    from hostreach.tunnels import open_tunnel  # noqa: PLC0415

    return open_tunnel(
        *ports,
        aliases=aliases,
        targets=targets,
        image=image,
        network=network,
        timeout=timeout,
        log=log,
    )
