"""relay: make a service that must stay on 127.0.0.1 reachable from containers, and only them.

It listens where containers' connections arrive (the bridge gateway on a rootful engine, the
main address on a rootless one) and forwards each connection to the loopback service. Sources
outside the allowed networks (container bridges and this machine's own addresses) are refused
and logged, so binding the main address does not open the service to the LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, TextIO

from hostreach import vantage
from hostreach.diagnose import arrival
from hostreach.errors import HostreachError, UsageError
from hostreach.facts import Facts
from hostreach.routes import Route, host_port
from hostreach.runtimes import by_id

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CHUNK = 64 * 1024


class RelayError(HostreachError):
    """The relay could not start (the address is taken, or not this machine's)."""


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
    if route.remote:
        raise RelayError(
            f"the engine runs on another machine ({facts.client.endpoint}): its containers never"
            " arrive here; forward the port with `ssh -R` instead"
        )
    here = vantage.of(facts)
    where = arrival(facts, route, by_id(route.runtime), shares_network=here.shares_network)
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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side (a client's shutdown(SHUT_WR) passes on)."""
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class Relay:
    """A running relay; ``serve()`` until ``stop()`` (or SIGINT / SIGTERM under ``run``)."""

    def __init__(
        self,
        plan: Plan,
        log: Callable[[str], None],
        refresh: Callable[[], tuple[Network, ...]] | None = None,
    ) -> None:
        self.plan = plan
        self.log = log
        self.refresh = refresh
        """Re-reads the allowed networks: a network created after the start is a bridge too."""
        self._refreshed = 0.0
        self.connections: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self.address: tuple[str, int] | None = None
        """Where it listens, once serving (the real port when asked for port 0)."""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        if not self.plan.allows(str(peer[0])) and self.refresh is not None:
            now = time.monotonic()
            if now - self._refreshed > 1.0:  # at most once a second, however many strangers
                self._refreshed = now
                self.plan = self.plan._replace(allowed=self.refresh())
        if not self.plan.allows(str(peer[0])):
            self.log(f"refused {peer[0]}:{peer[1]}: not a container network or this machine")
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.plan.target)
        except OSError as exc:
            self.log(f"{peer[0]}:{peer[1]}: cannot reach {host_port(*self.plan.target)}: {exc}")
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._handle(reader, writer))
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    async def serve(self, ready: Callable[[], None] = lambda: None) -> None:
        """Listen until stopped; then close the listener and every open connection."""
        try:
            server = await asyncio.start_server(
                self._track, sock=_listening_socket(self.plan.listen)
            )
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EADDRNOTAVAIL:
                hint = (
                    " (no interface has that address yet: some runtimes create their bridge only"
                    " with their first container; start one, or use --strategy lan-ip)"
                )
            raise RelayError(
                f"cannot listen on {host_port(*self.plan.listen)}: {exc.strerror}{hint}"
            ) from exc
        self.address = server.sockets[0].getsockname()[:2]
        ready()
        async with server:
            await self._stopped.wait()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving (safe to call from a signal handler in the loop)."""
        self._stopped.set()


def _listening_socket(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "IP_FREEBIND"):
            # Linux: bind an address whose interface does not exist yet: a bridge that a
            # runtime creates only with its first container (Podman's 10.88.0.1 on podman0).
            level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
            sock.setsockopt(level, socket.IP_FREEBIND, 1)
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

    async def main() -> None:
        relay = Relay(plan, log, refresh)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, relay.stop)

        def ready() -> None:
            nets = [str(n) for n in plan.allowed if n.prefixlen < n.max_prefixlen]
            status.write(
                f"relay: {host_port(*plan.listen)} -> {host_port(*plan.target)}, accepting only this"
                f" machine and container networks ({', '.join(nets) or 'none yet'})\n"
            )
            status.flush()

        await relay.serve(ready)

    asyncio.run(main())
