"""answers: which answers the warm path (:mod:`hostreach._fastpath`) may keep, and on what each depends.

An answer is kept only when the engine itself answered (never a guess made without it) and
only while its dependencies hold: the engine socket's identity and, for a route to this
machine's own address (its main one, or a job container's), that address on the default route's
interface.
"""

from __future__ import annotations

import json

from hostreach import _fastpath, vantage
from hostreach.facts import Facts
from hostreach.routes import Route


def dependencies(facts: Facts, route: Route) -> list[str] | None:
    """Return what the answer depends on, or None when it must not be kept."""
    if facts.daemon is None or any(i.source.startswith("engine") for i in facts.issues):
        return None  # a guess
    if route.strategy == "tunnel" or any(i.source == "tunnel" for i in facts.issues):
        return None  # holds only while that process lives: asked again each time
    if route.remote and route.strategy == "caller-ip":
        return _remote_dependencies(facts, route)
    engine = _fastpath.socket_dependency(facts.client.endpoint)
    if engine is None:
        return None  # no identity to check (ssh://, or a TCP engine on this machine)
    found = [engine]
    # Routes to an address of this machine (its main one, or this container's own) hold only
    # while that address does.
    if route.strategy in ("lan-ip", "caller-ip"):
        gateway, address = facts.network.default_gateway, route.address
        if gateway is None or address is None:
            return None
        main = _fastpath.address_dependency(gateway.interface, address)
        if main is None:
            return None
        found.append(main)
    return found


def _remote_dependencies(facts: Facts, route: Route) -> list[str] | None:
    here = vantage.of(facts)
    if here.scheme not in ("tcp", "http", "https") or not here.engine_host or not here.engine_port:
        return None  # ssh://: only ssh knows where its host is
    found = _fastpath.remote_dependency(here.engine_host, here.engine_port, route.address or "")
    return None if found is None else [found]


def remember(cache_key: str, facts: Facts, route: Route, payload: str) -> None:
    """Keep the answer ``payload`` to ``cache_key`` while its dependencies hold, if it may be kept."""
    found = dependencies(facts, route)
    if found is not None:
        _fastpath.write(cache_key, found, payload)


def route_key(
    aliases: tuple[str, ...], strategy: str, runtime: str | None, target: str, purpose: str
) -> str:
    """Return the cache key of a :func:`hostreach.route` answer."""
    return _fastpath.key("route", repr((aliases, strategy, runtime, target, purpose)))


def remember_route(cache_key: str, facts: Facts, route: Route) -> None:
    """Keep a :func:`hostreach.route` answer for the next process."""
    remember(cache_key, facts, route, json.dumps(route.to_json()))


def replay_route(cache_key: str) -> Route | None:
    """Return the kept :func:`hostreach.route` answer, or None."""
    stored = _fastpath.read(cache_key)
    if stored is None:
        return None
    try:
        return Route.from_json(json.loads(stored))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # damaged or from another version: ask again
