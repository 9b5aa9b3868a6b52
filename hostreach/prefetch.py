"""prefetch: on a cold ``flags``, the engine's GETs go out before the command line is loaded.

The engine takes 10-25 ms to prepare its answers (``/info`` is the slow one), and hostreach
takes about 30 ms to load its command line: asked first, the engine answers while hostreach
loads, instead of after. Measured with ``benchmarks/startup.py`` on the CI machine: a cold
``python -m hostreach flags`` from 105 ms to 88 ms, 3.4x to 2.8x of ``docker version`` (issue
21's cold target). It is the probe's own request (:func:`hostreach.engine.client.start`, on the
endpoint :func:`~hostreach.engine.endpoint.find_endpoint` finds); the probe takes it when it
asks that endpoint with the default timeout, and sends its own otherwise.

Only where nothing else could differ: ``flags`` without ``--facts``, ``--timeout`` (its deadline
is the default one) or ``--context`` (another engine), on a local unix socket, when no answer of
that engine is stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

Pending = tuple[Callable[[], dict[str, Any]], Callable[[], str | None]]
_pending: dict[str, Pending] = {}
_SKIP = ("--facts", "--timeout", "--context", "-h", "--help")


def start(argv: Sequence[str]) -> None:
    """Send the engine's GETs now, for a cold ``flags`` that will ask them."""
    if list(argv[:1]) != ["flags"] or any(a.split("=", 1)[0] in _SKIP for a in argv[1:]):
        return
    from hostreach import cache  # noqa: PLC0415
    from hostreach.engine import client, endpoint  # noqa: PLC0415
    from hostreach.errors import EndpointError, EngineUnanswered  # noqa: PLC0415

    home = os.path.expanduser("~")
    try:
        found = endpoint.find_endpoint(os.environ, home, windows=os.name == "nt")
    except EndpointError:
        return  # the probe says so, once
    if found.address.socket is None:
        return  # ssh:// starts a process, tcp:// may be another machine's: asked as usual
    stored = cache.key("engine", found.url, environ=os.environ, home=home)
    if "--no-cache" not in argv and cache.read(stored) is not None:
        return  # the probe answers from what is stored
    try:
        _pending[found.url] = client.start(
            found, client.ENGINE_PATHS, timeout=client.DEFAULT_TIMEOUT
        )
    except EngineUnanswered:
        return  # no socket, no permission: the probe asks again, and says why


def take(url: str) -> Pending | None:
    """The GETs sent to ``url`` by :func:`start`, once; None where none were."""
    return _pending.pop(url, None)
