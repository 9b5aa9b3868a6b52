"""relay: make a service that must stay on 127.0.0.1 reachable from containers, and only them.

It listens where containers' connections arrive (the bridge gateway on a rootful engine, the
main address on a rootless one) and forwards each connection to the loopback service. Sources
outside the allowed networks (the engine's networks, as it reports them now, and this machine's
own addresses) are refused and logged, so binding the main address does not open the service
to the LAN. Connections are capped, idle ones closed, and the log rate-limited, so that a
flood costs a line every few seconds, not a traceback per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, TextIO, cast

from hostreach.arrival import arrival
from hostreach.checks import host_port
from hostreach.errors import RelayError, UsageError
from hostreach.facts import Facts
from hostreach.pump import Activity, Idle, Limits, RateLimitedLog, raise_open_files_limit, within
from hostreach.routes import Route

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Plan(NamedTuple):
    """What the relay does: listen here, forward there, accept only from these networks."""

    listen: tuple[str, int]
    target: tuple[str, int]
    allowed: tuple[Network, ...]

    def allows(self, address: str) -> bool:
        """Whether a connection from this source address is accepted."""
        try:
            source = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
        except ValueError:
            return False
        if isinstance(source, ipaddress.IPv6Address) and source.ipv4_mapped is not None:
            source = source.ipv4_mapped
        return any(source in net for net in self.allowed)


def plan(
    facts: Facts,
    route: Route,
    *,
    port: int,
    target: tuple[str, int] | None,
    allowed: tuple[Network, ...],
) -> Plan:
    """Return where the relay listens and forwards, for containers of this route. Pure.

    Raise RelayError where no relay is needed or none can help, UsageError for a target that is
    the listening address itself.
    """
    if route.remote and route.target == "engine-host":
        raise RelayError(
            f"the route reaches the engine's machine ({facts.client.endpoint}), as --target"
            " engine-host asks: a relay here would not be on it"
        )
    where = arrival(facts, route)
    if where.address is None:
        if where.loopback:
            raise RelayError(
                f"no relay needed: {route.reason[:-1]}, and its containers already reach this"
                " machine's 127.0.0.1"
            )
        raise RelayError("the address at which containers reach this machine is unknown here")
    target = target or ("127.0.0.1", port)
    if target == (where.address, port):
        raise UsageError(f"the target {host_port(*target)} is where the relay would listen")
    return Plan(listen=(where.address, port), target=target, allowed=allowed)


def allowed_networks(networks: Iterable[str]) -> tuple[Network, ...]:
    """Return the parsed networks (``10.88.0.0/16``, ``192.0.2.2/32`` ...), skipping bad ones."""
    found = []
    for text in networks:
        with contextlib.suppress(ValueError):
            found.append(ipaddress.ip_network(text, strict=False))
    return tuple(dict.fromkeys(found))


class _Link:
    """One relayed connection: the client's end and the service's, and what they share."""

    def __init__(self, made: Callable[[_Link, asyncio.Transport], None]) -> None:
        self.made = made
        """Called with the client's transport once the client is connected."""
        self.activity = Activity()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done once either end is gone, or both have half-closed: the connection is over."""
        self.client = _End(self)
        self.service = _End(self)

    def close(self) -> None:
        """Close both ends; what is still to be written to either goes out first."""
        for end in (self.client, self.service):
            if end.transport is not None:
                end.transport.close()


class _End(asyncio.Protocol):
    """One end of a relayed connection (the client's, the service's): what arrives is written to
    the other end as it comes, a slow reader pauses the other end's reading, a half-close is
    passed on. Protocols rather than streams: no buffer between the two sockets and no task
    switch per chunk (benchmarks/relay.py: the relay's CPU per GB carried from a container 8.7
    -> 4.5-5.1 s, from this machine 1.10 -> 0.73-0.92 s)."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.eof = False

    @property
    def other(self) -> _End:
        """The other end of the connection."""
        return self.link.service if self is self.link.client else self.link.client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Connected: keep the transport; a client's end is handed to the relay."""
        self.transport = cast(asyncio.Transport, transport)
        if self is self.link.client:
            self.link.made(self.link, self.transport)

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on to the other end."""
        self.link.activity.touch()
        if self.other.transport is not None:
            self.other.transport.write(data)

    def eof_received(self) -> bool:
        """Pass the half-close on; keep this end open for what the other end still sends."""
        self.eof = True
        other = self.other.transport
        if other is not None and other.can_write_eof():
            other.write_eof()
        if self.other.eof:
            self._end()
        return True

    def pause_writing(self) -> None:
        """This end's buffer is full: stop reading the other end."""
        if self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        """This end's buffer has drained: read the other end again."""
        if self.other.transport is not None:
            self.other.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """This end is gone: the connection is over."""
        self._end()

    def _end(self) -> None:
        if not self.link.ended.done():
            self.link.ended.set_result(None)


class Relay:
    """A running relay; ``serve()`` until ``stop()`` (or SIGINT / SIGTERM under ``run``)."""

    def __init__(
        self,
        plan: Plan,
        log: Callable[[str], None],
        refresh: Callable[[], tuple[Network, ...]] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.plan = plan
        self.log = RateLimitedLog(log)
        self.refresh = refresh
        """Re-reads the allowed networks: the engine's networks now, not those at the start."""
        self.limits = limits or Limits(connections=256)
        self._refreshed = time.monotonic() - 1.0  # the plan's list is fresh; a stranger may ask
        self.connections: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._backend_down = asyncio.Event()
        self._ready: Callable[[], None] | None = None
        self.address: tuple[str, int] | None = None
        """Where it listens, once serving (the real port when asked for port 0)."""

    def _allows(self, source: str) -> bool:
        # Asked again for a stranger (a network created since), and after refresh_seconds in
        # any case (a network removed since); at most once a second, however many strangers.
        now = time.monotonic()
        stale = now - self._refreshed > self.limits.refresh_seconds
        wanted = stale or not self.plan.allows(source)
        if self.refresh is not None and wanted and now - self._refreshed > 1.0:
            self._refreshed = now
            self.plan = self.plan._replace(allowed=self.refresh())
        return self.plan.allows(source)

    def _track(self, link: _Link, client: asyncio.Transport) -> None:
        """A client connected: refused at the cap, else carried by its own task."""
        if len(self.connections) >= self.limits.connections:
            self.log(
                "cap",
                f"refused a connection: {self.limits.connections} are open already (the cap)",
            )
            _reset(client)
            return
        client.pause_reading()  # nothing arrives until the service is there to take it
        task = asyncio.ensure_future(self._carry(link, client))
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    async def _carry(self, link: _Link, client: asyncio.Transport) -> None:
        peer = client.get_extra_info("peername") or ("?", 0)
        who = host_port(str(peer[0]), int(peer[1]))
        try:
            if not self._allows(str(peer[0])):
                self.log("refused", f"refused {who}: not a container network or this machine")
                return
            try:
                loop = asyncio.get_running_loop()
                await loop.create_connection(lambda: link.service, *self.plan.target)
            except OSError as exc:
                _reset(client)  # a reset, not an orderly close: the client sees a failure
                if exc.errno in (errno.EMFILE, errno.ENFILE):  # ours, not the backend's
                    self.log("descriptors", f"{who}: refused: out of file descriptors")
                    return
                self.log("backend", f"{who}: cannot reach {host_port(*self.plan.target)}: {exc}")
                self._backend_down.set()
                return
            client.resume_reading()
            idle = self.limits.idle_seconds
            try:
                await within(link.ended, link.activity, idle)
            except Idle:
                self.log("idle", f"{who}: closed after {idle:g} s without data")
        finally:
            link.close()

    async def serve(self, ready: Callable[[], None] = lambda: None) -> None:
        """Listen until stopped; then close the listener and every open connection.

        It listens only while the service behind it answers: a relay that accepted and then
        dropped every connection would look like a working service to a client (``check``
        would say "connected"), where no relay listening says "refused", which is the truth.
        """
        probe = self._listen()  # the address is checked at once
        self.address = probe.getsockname()[:2]
        probe.close()
        self._ready = ready
        try:
            while await self._backend_answers():
                self._backend_down.clear()
                loop = asyncio.get_running_loop()
                server = await loop.create_server(
                    lambda: _Link(self._track).client, sock=self._listen()
                )
                self._say_ready()
                stop = asyncio.ensure_future(self._stopped.wait())
                down = asyncio.ensure_future(self._backend_down.wait())
                await asyncio.wait((stop, down), return_when=asyncio.FIRST_COMPLETED)
                for waiter in (stop, down):
                    waiter.cancel()
                server.close()
                if not self._stopped.is_set():
                    self.log("paused", "stopped listening until the service answers again")
        finally:
            # End every connection, and only then wait for the server: from Python 3.12
            # wait_closed() waits for open connections too (CPython #79033), so waiting first
            # would never end while a client stays connected.
            for task in list(self.connections):
                task.cancel()
            await asyncio.gather(*self.connections, return_exceptions=True)

    def _say_ready(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            ready()

    def _listen(self) -> socket.socket:
        where = self.address or self.plan.listen
        try:
            return _listening_socket(where)
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EADDRNOTAVAIL:
                hint = (
                    " (no interface has that address yet: some runtimes create their bridge only"
                    " with their first container; start one, or use --strategy lan-ip)"
                )
            raise RelayError(f"cannot listen on {host_port(*where)}: {exc.strerror}{hint}") from exc

    async def _backend_answers(self) -> bool:
        """Wait until the service behind the relay accepts a connection; False once stopped."""
        while not self._stopped.is_set():
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(*self.plan.target), 2)
            except (OSError, TimeoutError) as exc:
                self._say_ready()  # ready, though not listening: it says so next
                self.log(
                    "backend",
                    f"{host_port(*self.plan.target)} does not answer ({exc or 'timed out'}):"
                    " not listening until it does",
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), 1)
                continue
            writer.close()
            return True
        return False

    def stop(self) -> None:
        """Stop serving (safe to call from a signal handler in the loop)."""
        self._stopped.set()


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), so the client sees a failure, not an empty answer."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.close()


def _listening_socket(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sys.platform.startswith("linux"):
            # Bind an address whose interface does not exist yet: a bridge that a runtime
            # creates only with its first container (Podman's 10.88.0.1 on podman0). The socket
            # module names IP_FREEBIND only from Python 3.14 (issue 23): Linux's own values.
            option = (
                (socket.IPPROTO_IPV6, 78) if family == socket.AF_INET6 else (socket.IPPROTO_IP, 15)
            )
            sock.setsockopt(*option, 1)  # IPV6_FREEBIND, IP_FREEBIND (linux/in6.h, linux/in.h)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)  # noqa: FBT003 - the stdlib's own signature
    except OSError:
        sock.close()
        raise
    return sock


def run(
    plan: Plan,
    *,
    status: TextIO,
    log: Callable[[str], None],
    refresh: Callable[[], tuple[Network, ...]] | None = None,
) -> None:
    """Run the relay in this thread until SIGINT or SIGTERM; print one status line once ready."""
    files = raise_open_files_limit()
    # Two descriptors a connection, and a margin for the listener, the loop and the log.
    limits = Limits(connections=max(16, min(4096, (files - 64) // 2)))

    async def main() -> None:
        relay = Relay(plan, log, refresh, limits)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, relay.stop)
        # What asyncio would print as tracebacks (accept() failing for lack of descriptors):
        # one rate-limited line instead.
        loop.set_exception_handler(
            lambda _loop, context: relay.log("loop", f"error: {context.get('message')}")
        )

        def ready() -> None:
            nets = [str(n) for n in plan.allowed if n.prefixlen < n.max_prefixlen]
            status.write(
                f"relay: {host_port(*plan.listen)} -> {host_port(*plan.target)}, accepting only this"
                f" machine and the engine's networks ({', '.join(nets) or 'none yet'}); at most"
                f" {limits.connections} connections, each closed after {limits.idle_seconds:g} s"
                " idle\n"
            )
            status.flush()

        await relay.serve(ready)

    asyncio.run(main())
