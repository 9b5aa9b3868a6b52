"""answers: which answers may be kept, and on what each depends; and the in-process tier.

On disk (:mod:`hostreach.cache`), an answer is kept only when the engine itself answered (never
a guess made without it) and only while its dependencies hold: the engine socket's identity
and, for a route to this machine's own address (its main one, or a job container's), that
address on the default route's interface. In this process, :func:`hostreach.collect`'s facts
and :func:`hostreach.route`'s answers are kept until :func:`forget`.
"""

from __future__ import annotations

import json

from hostreach import cache, vantage
from hostreach.facts import Facts
from hostreach.routes import Request, Route


def dependencies(facts: Facts, route: Route) -> list[str] | None:
    """Return what the answer depends on, or None when it must not be kept."""
    if facts.daemon is None or any(i.source.startswith("engine") for i in facts.issues):
        return None  # a guess
    if route.strategy == "tunnel" or any(i.source == "tunnel" for i in facts.issues):
        return None  # holds only while that process lives: asked again each time
    if route.remote and route.strategy == "caller-ip":
        return _remote_dependencies(facts, route)
    address = facts.client.address
    engine = cache.socket_dependency(address.socket if address else None)
    if engine is None:
        return None  # no identity to check (ssh://, or a TCP engine on this machine)
    if route.strategy not in ("lan-ip", "caller-ip"):
        return [engine]
    # Routes to an address of this machine (its main one, or this container's own) hold only
    # while that address does.
    gateway, literal = facts.network.default_gateway, route.address
    main = cache.address_dependency(gateway.interface, literal) if gateway and literal else None
    return None if main is None else [engine, main]


def _remote_dependencies(facts: Facts, route: Route) -> list[str] | None:
    here = vantage.of(facts)
    if here.scheme not in ("tcp", "http", "https") or not here.engine_host or not here.engine_port:
        return None  # ssh://: only ssh knows where its host is
    found = cache.remote_dependency(here.engine_host, here.engine_port, route.address or "")
    return None if found is None else [found]


def remember(cache_key: str, facts: Facts, route: Route, payload: str) -> None:
    """Keep the answer ``payload`` to ``cache_key`` while its dependencies hold, if it may be kept."""
    found = dependencies(facts, route)
    if found is not None:
        cache.write(cache_key, found, payload)


def route_key(request: Request, engine: str | None = None) -> str:
    """Return the cache key of a :func:`hostreach.route` answer to a checked request, for the
    engine the caller named (None: the one the environment names, which the key holds)."""
    return cache.key("route", repr(tuple(request)), repr(engine))


def remember_route(cache_key: str, facts: Facts, route: Route) -> None:
    """Keep a :func:`hostreach.route` answer for the next process."""
    remember(cache_key, facts, route, json.dumps(route.to_json()))


def replay_route(cache_key: str) -> Route | None:
    """Return the kept :func:`hostreach.route` answer, or None."""
    stored = cache.read(cache_key)
    if stored is None:
        return None
    try:
        return Route.from_json(json.loads(stored))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # damaged or from another version: ask again


# --- the in-process tier: what hostreach.collect() and hostreach.route() keep ---------------

_facts: dict[str | None, Facts] = {}
_routes: dict[tuple[object, ...], Route] = {}


def kept_facts(engine: str | None = None) -> Facts | None:
    """The facts this process probed of ``engine`` (None: the one the environment names)."""
    return _facts.get(engine)


def keep_facts(facts: Facts, engine: str | None = None) -> None:
    """Keep the facts this process probed; the routes made from older ones are dropped."""
    _facts[engine] = facts
    _routes.clear()


def kept_route(key: tuple[object, ...]) -> Route | None:
    """The route this process answered to ``key``, or None."""
    return _routes.get(key)


def keep_route(key: tuple[object, ...], route: Route) -> None:
    """Keep a route this process answered."""
    _routes[key] = route


def forget() -> None:
    """Drop this process's probed facts and routes (a tunnel that starts or ends changes them)."""
    _facts.clear()
    _routes.clear()
