"""client: GETs to the engine through the adapter its endpoint needs, chosen here only.

The stdlib's HTTP (:mod:`hostreach.engine.sync`) for unix://, ssh:// and tcp:// without TLS;
the docker SDK (:mod:`hostreach.engine.sdk`) for TLS and npipe://. Both are given the one
:class:`~hostreach.engine.endpoint.Endpoint` found by the probe; neither looks for an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hostreach.checks import check_address
from hostreach.engine import sync
from hostreach.engine.address import Address
from hostreach.engine.endpoint import Endpoint
from hostreach.errors import EngineError, EngineUnanswered

T = TypeVar("T")

ENGINE_PATHS = ("/version", "/info", "/networks/bridge")
"""What the probe asks every engine."""
DEFAULT_TIMEOUT = 2.0
"""Seconds an engine call may take unless ``--timeout`` says otherwise."""


def _guarded(found: Endpoint, timeout: float, call: Callable[[], T]) -> T:
    """Return ``call()``; its socket, HTTP or JSON failure becomes EngineUnanswered."""
    try:
        return call()
    except OSError as exc:
        detail = sync.describe(exc, found.address, timeout)
        raise EngineUnanswered(detail, sync.reason(exc)) from exc
    except EngineUnanswered:
        raise
    except (EngineError, ValueError) as exc:
        raise EngineUnanswered(f"{found.url}: {exc}", "bad-answer") from exc


def start(
    found: Endpoint, paths: tuple[str, ...], *, timeout: float
) -> tuple[Callable[[], dict[str, Any]], Callable[[], str | None]]:
    """Send GETs for the paths now (stdlib HTTP where it can); the first returned call reads
    the answers ``{path: JSON}`` (None for 404), the second then says this machine's address
    as the engine's machine sees it (tcp:// and ssh:// engines; None for others).

    Both raise EngineUnanswered. The docker SDK cannot split the two: it asks when called.
    """
    if sync.supports(found.address, tls=found.tls):
        exchange = _guarded(
            found, timeout, lambda: sync.Exchange(found.address, paths, timeout=timeout)
        )
        return (lambda: _guarded(found, timeout, exchange.answers)), lambda: exchange.local_address

    def through_sdk() -> dict[str, Any]:
        from hostreach.engine import sdk  # noqa: PLC0415 - imports docker

        return sdk.fetch(found, paths, timeout=timeout)

    return (lambda: _guarded(found, timeout, through_sdk)), lambda: _source_address(found.address)


def run_script(
    found: Endpoint,
    *,
    image: str,
    script: str,
    environment: Mapping[str, str],
    run_kwargs: Mapping[str, Any],
    timeout: float,
    pull: bool = True,
) -> str | None:
    """Run ``sh -c SCRIPT`` in a throwaway container and remove it; return what it printed
    (None: it did not finish in time). hostreach's own client where it speaks the endpoint
    (ssh:// included, without paramiko), the docker SDK for TLS and npipe://."""
    if sync.supports(found.address, tls=found.tls):
        from hostreach.engine import containers as runner  # noqa: PLC0415 - asyncio
    else:
        from hostreach.engine import sdk as runner  # type: ignore[no-redef]  # noqa: PLC0415
    return runner.run_script(
        found,
        image=image,
        script=script,
        environment=environment,
        run_kwargs=run_kwargs,
        timeout=timeout,
        pull=pull,
    )


def ensure_network(found: Endpoint, *, name: str, timeout: float) -> bool:
    """Create a user-defined bridge network unless it exists; return whether it was created
    (hostreach's own client where it speaks the endpoint, the docker SDK for TLS, npipe://)."""
    if sync.supports(found.address, tls=found.tls):
        from hostreach.engine import containers as maker  # noqa: PLC0415 - asyncio
    else:
        from hostreach.engine import sdk as maker  # type: ignore[no-redef]  # noqa: PLC0415
    return maker.ensure_network(found, name=name, timeout=timeout)


def get(found: Endpoint, path: str, *, timeout: float) -> Any:
    """GET one Engine API path; None for 404. Raise EngineError (EngineUnanswered)."""
    return start(found, (path,), timeout=timeout)[0]().get(path)


def _source_address(address: Address) -> str | None:
    """This machine's address toward a tcp:// engine the docker SDK speaks to (TLS)."""
    if address.scheme not in ("tcp", "https") or not address.host:
        return None
    return source_toward(address.host, address.port or 2376)  # TLS: the docker CLI's port


def source_toward(host: str, port: int) -> str | None:
    """This machine's address toward ``host``: the source address the kernel picks for it, as
    `ip route get` says (a UDP connect sends nothing); None where there is no route."""
    import socket  # noqa: PLC0415

    try:
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
        family, _, _, _, target = found[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(target)
            return check_address(str(probe.getsockname()[0]))
    except (OSError, UnicodeError, ValueError, IndexError):
        return None
