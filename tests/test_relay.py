"""The relay in-process, over real sockets: forwarding, half-close, concurrency, refusal, stop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from collections.abc import Awaitable, Callable

import pytest

from hostreach.errors import RelayError
from hostreach.relay import Plan, Relay, allowed_networks

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


async def _upper_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # until the client's half-close
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def _with_relay(
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    body: Callable[[tuple[str, int], list[str]], Awaitable[None]],
) -> None:
    target = await asyncio.start_server(_upper_echo, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    log: list[str] = []
    relay = Relay(Plan(("127.0.0.1", 0), ("127.0.0.1", port), allowed), log.append)
    ready = asyncio.Event()
    task = asyncio.create_task(relay.serve(ready.set))
    await asyncio.wait_for(ready.wait(), 5)
    assert relay.address is not None
    try:
        await body(relay.address, log)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)
        target.close()


async def _exchange(address: tuple[str, int], payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(payload)
    writer.write_eof()  # half-close: the answer must still come back
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_forwards_with_half_close_and_many_connections() -> None:
    async def body(address: tuple[str, int], log: list[str]) -> None:
        payloads = [f"connection {i} ".encode() * 1000 for i in range(100)]
        answers = await asyncio.gather(*(_exchange(address, p) for p in payloads))
        assert answers == [p.upper() for p in payloads]
        assert log == []

    asyncio.run(_with_relay(LOOPBACK, body))


def test_refuses_and_logs_sources_outside_the_allowed_networks() -> None:
    async def body(address: tuple[str, int], log: list[str]) -> None:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"hello")
        writer.write_eof()
        try:  # closed unread: a FIN or, with our bytes unread, a reset; never an answer
            answer = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            answer = b""
        assert answer == b""
        writer.close()
        assert len(log) == 1
        assert log[0].startswith("refused 127.0.0.1:")

    asyncio.run(_with_relay(allowed_networks(["10.0.0.0/8"]), body))


def test_stop_closes_open_connections() -> None:
    async def body() -> None:
        target = await asyncio.start_server(_upper_echo, "127.0.0.1", 0)
        port = target.sockets[0].getsockname()[1]
        relay = Relay(Plan(("127.0.0.1", 0), ("127.0.0.1", port), LOOPBACK), print)
        ready = asyncio.Event()
        task = asyncio.create_task(relay.serve(ready.set))
        await asyncio.wait_for(ready.wait(), 5)
        assert relay.address is not None
        reader, writer = await asyncio.open_connection(*relay.address)
        writer.write(b"left open")  # no half-close: the echo server keeps waiting
        await writer.drain()
        await asyncio.sleep(0.1)
        relay.stop()
        await asyncio.wait_for(task, 5)  # serve() finishes after stop()
        with contextlib.suppress(ConnectionResetError):  # closed (FIN or reset), not hanging
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        target.close()

    asyncio.run(body())


def test_an_address_in_use_is_a_relay_error() -> None:
    async def body() -> None:
        taken = await asyncio.start_server(_upper_echo, "127.0.0.1", 0)
        port = taken.sockets[0].getsockname()[1]
        relay = Relay(Plan(("127.0.0.1", port), ("127.0.0.1", 1), LOOPBACK), print)
        with pytest.raises(RelayError, match="cannot listen"):
            await relay.serve()
        taken.close()

    asyncio.run(body())


def test_allowed_networks_skips_bad_entries_and_maps_ipv4_in_ipv6() -> None:
    nets = allowed_networks(["172.17.0.0/16", "nonsense", "192.0.2.2/32"])
    plan = Plan(("0.0.0.0", 1), ("127.0.0.1", 1), nets)
    assert plan.allows("172.17.0.5")
    assert plan.allows("::ffff:192.0.2.2")
    assert not plan.allows("192.0.2.3")
    assert not plan.allows("not an address")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_FREEBIND is Linux's")
def test_the_relay_binds_an_address_no_interface_has_yet() -> None:
    # Rootful Podman's 10.88.0.1 appears only with its first container; on Python 3.11-3.13
    # the socket module has no IP_FREEBIND name, so this failed there (issue 23).
    from hostreach.relay import _listening_socket  # noqa: PLC0415

    sock = _listening_socket(("192.0.2.123", 0))  # TEST-NET-1: no interface here has it
    try:
        assert sock.getsockname()[0] == "192.0.2.123"
    finally:
        sock.close()
