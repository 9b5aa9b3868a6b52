"""runner: a tunnel run in this thread (``hostreach tunnel``) or in one of its own (the
library's ``with hostreach.tunnel(...)``), and the removal of what killed ones left."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping

from hostreach import answers
from hostreach.engine.aio import CONTROL_PREFIX
from hostreach.errors import HostreachError, TunnelError, UsageError
from hostreach.facts import Tunnel
from hostreach.pump import raise_open_files_limit
from hostreach.routes import Route
from hostreach.tunnels import state as states
from hostreach.tunnels.plan import Plan, plan_for
from hostreach.tunnels.session import TunnelSession
from hostreach.tunnels.sidecar import DEFAULT_IMAGE


def cleanup(plan: Plan, *, log: Callable[[str], None]) -> list[str]:
    """Remove the tunnel containers left behind on the plan's engine; return their IDs."""

    async def main() -> list[str]:
        session = TunnelSession(plan, log)
        try:
            states.remove_control_leftovers(CONTROL_PREFIX)
            await session.engine.start()
            return await session.remove_leftovers()
        finally:
            await session.engine.close()

    return asyncio.run(main())


def run(plan: Plan, *, ready: Callable[[Tunnel], None], log: Callable[[str], None]) -> None:
    """Run the tunnel in this thread until SIGINT or SIGTERM; call ``ready`` once it carries.

    Raises TunnelError (or EngineError) when it cannot start, or ends without being asked to.
    """
    import signal  # noqa: PLC0415

    raise_open_files_limit()

    async def main() -> None:
        session = TunnelSession(plan, log)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        loop.set_exception_handler(
            lambda _loop, context: session.log("loop", f"error: {context.get('message')}")
        )
        try:
            ready(await session.open())
            await session.serve(stopped)
        finally:
            await session.close()

    asyncio.run(main())


class Background:
    """A tunnel run by a thread of its own (the library's ``with hostreach.tunnel(...)``)."""

    def __init__(self, plan: Plan, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.log = log
        self.failure: BaseException | None = None
        self._opened = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._record: Tunnel | None = None
        self._thread = threading.Thread(target=self._run, name="hostreach-tunnel", daemon=True)

    def start(self) -> Tunnel:
        """Start the tunnel; return its record once it carries, or raise why it could not."""
        self._thread.start()
        self._opened.wait()
        if self._record is None:
            self._thread.join()
            raise self.failure or TunnelError("the tunnel did not start")
        return self._record

    def stop(self) -> None:
        """Stop the tunnel, remove what it started, and raise if it had failed while running."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join()
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            session = TunnelSession(self.plan, self.log)
            try:
                self._record = await session.open()
                self._opened.set()
                await session.serve(self._stopped)
            finally:
                await session.close()

        try:
            asyncio.run(main())
        except HostreachError as exc:
            self.failure = exc
        finally:
            self._opened.set()


@contextlib.contextmanager
def open_tunnel(
    *ports: int,
    aliases: tuple[str, ...] = (),
    targets: Mapping[int, tuple[str, int]] | None = None,
    image: str = DEFAULT_IMAGE,
    network: str | None = None,
    timeout: float = 2.0,
    log: Callable[[str], None] | None = None,
    engine: object = None,
) -> Iterator[Route]:
    """Run a tunnel for ``ports`` while the block runs; yield its route (see hostreach.tunnel)."""
    from hostreach.checks import port_number  # noqa: PLC0415
    from hostreach.probe import collect  # noqa: PLC0415
    from hostreach.resolve import resolve  # noqa: PLC0415
    from hostreach.routes import DEFAULT_ALIAS, Request  # noqa: PLC0415

    if not ports:
        raise UsageError("tunnel() needs at least one port")
    try:
        wanted = {port_number(p): (targets or {}).get(p, ("127.0.0.1", p)) for p in ports}
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    request = Request(aliases=aliases or (DEFAULT_ALIAS,), ports=tuple(wanted)).check()
    facts = collect(timeout=timeout, cache=False, engine=engine)
    plan = plan_for(facts, wanted, image=image, network=network, timeout=timeout)
    background = Background(plan, log or _stderr_log)
    record = background.start()
    answers.forget()  # this process's answers predate the tunnel
    try:
        yield resolve(facts._replace(tunnels=(record,)), request)
    finally:
        answers.forget()
        background.stop()


def _stderr_log(line: str) -> None:
    import sys  # noqa: PLC0415

    sys.stderr.write(f"hostreach: tunnel: {line}\n")
