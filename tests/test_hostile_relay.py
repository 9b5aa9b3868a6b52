"""Hostile class 6: the relay under abuse (strangers, floods, idle hogs, a dying backend)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from hostreach.pump import Limits, RateLimitedLog
from hostreach.relay import Network, Plan, Relay, allowed_networks

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _run(
    body: Callable[[Relay, list[str]], Awaitable[None]],
    *,
    limits: Limits | None = None,
    allowed: tuple[Network, ...] = LOOPBACK,
    refresh: Callable[[], tuple[Network, ...]] | None = None,
) -> None:
    target = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    log: list[str] = []
    relay = Relay(Plan(("127.0.0.1", 0), ("127.0.0.1", port), allowed), log.append, refresh, limits)
    ready = asyncio.Event()
    task = asyncio.create_task(relay.serve(ready.set))
    await asyncio.wait_for(ready.wait(), 5)
    await asyncio.sleep(0.1)
    try:
        await body(relay, log)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)
        target.close()


async def _echoes(address: tuple[str, int], payload: bytes = b"ping") -> bool:
    try:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(payload)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
        writer.close()
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        return False
    return answer == payload


def test_the_connection_cap_refuses_the_surplus_and_says_so_once() -> None:
    async def body(relay: Relay, log: list[str]) -> None:
        assert relay.address is not None
        held = [await asyncio.open_connection(*relay.address) for _ in range(8)]
        await asyncio.sleep(0.2)
        assert len(relay.connections) == 5
        surplus = 0
        for reader, _ in held:
            try:
                surplus += await asyncio.wait_for(reader.read(), 0.5) == b""
            except ConnectionResetError:
                surplus += 1  # the cap resets: a client sees a failure, not an empty answer
            except TimeoutError:
                continue  # held open: one of the five
        assert surplus == 3
        assert [line for line in log if "the cap" in line] == [
            "refused a connection: 5 are open already (the cap)"
        ]
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        assert await _echoes(relay.address)  # the relay itself is fine

    asyncio.run(_run(body, limits=Limits(connections=5)))


def test_a_service_that_does_not_read_holds_the_client_back_and_then_gets_every_byte() -> None:
    # The relay reads a client only as fast as the service takes what it wrote: what it holds
    # stays bounded (the kernels' buffers, 32 MiB a socket here at most, and its own 64 KiB),
    # where a relay that kept reading would take all 256 MiB into its memory.
    total = 256 << 20
    payload = bytes(range(256)) * (total // 256)

    async def body(relay: Relay, log: list[str]) -> None:
        assert relay.address is not None
        reading = asyncio.Event()
        received = bytearray()
        done = asyncio.Event()

        async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reading.wait()
            while chunk := await reader.read(1 << 20):
                received.extend(chunk)
            done.set()
            writer.close()

        server = await asyncio.start_server(service, "127.0.0.1", 0)
        relay.plan = relay.plan._replace(target=server.sockets[0].getsockname()[:2])
        client = socket.create_connection(relay.address)

        def send_until_held() -> int:
            client.setblocking(False)
            sent, progress = 0, time.monotonic()
            while sent < total and time.monotonic() - progress < 1.0:
                try:
                    sent += client.send(payload[sent : sent + (1 << 20)])
                    progress = time.monotonic()
                except BlockingIOError:
                    time.sleep(0.01)
            return sent

        held_at = await asyncio.to_thread(send_until_held)
        assert held_at < total // 2
        reading.set()

        def send_the_rest() -> None:
            client.setblocking(True)
            client.sendall(payload[held_at:])
            client.shutdown(socket.SHUT_WR)

        await asyncio.to_thread(send_the_rest)
        await asyncio.wait_for(done.wait(), 60)
        client.close()
        server.close()
        assert len(received) == total
        assert received == payload

    asyncio.run(_run(body))


def test_an_idle_connection_is_closed() -> None:
    async def body(relay: Relay, log: list[str]) -> None:
        assert relay.address is not None
        reader, writer = await asyncio.open_connection(*relay.address)
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.4 < time.monotonic() - start < 3
        assert any("without data" in line for line in log)
        writer.close()
        assert await _echoes(relay.address)  # busy connections are not idle

    asyncio.run(_run(body, limits=Limits(idle_seconds=0.5)))


def test_a_flood_of_strangers_costs_a_few_log_lines() -> None:
    async def body(relay: Relay, log: list[str]) -> None:
        assert relay.address is not None
        for _ in range(300):
            with contextlib.suppress(ConnectionError):
                _, writer = await asyncio.open_connection(*relay.address)
                writer.close()
        await asyncio.sleep(0.2)
        refused = [line for line in log if line.startswith("refused 127.0.0.1")]
        assert len(refused) == 1

    asyncio.run(_run(body, allowed=allowed_networks(["10.0.0.0/8"])))


def test_the_rate_limited_log_counts_what_it_held_back() -> None:
    lines: list[str] = []
    log = RateLimitedLog(lines.append, every=0.2)
    for _ in range(50):
        log("refused", "refused x")
    time.sleep(0.25)
    log("refused", "refused y")
    log("other", "other")
    assert lines == ["refused x", "refused y (and 49 more like it)", "other"]


def test_a_removed_network_stops_being_allowed() -> None:
    answers = [LOOPBACK, allowed_networks(["10.0.0.0/8"])]

    async def body(relay: Relay, log: list[str]) -> None:
        assert relay.address is not None
        assert await _echoes(relay.address)
        answers.pop(0)  # the engine no longer reports the network
        await asyncio.sleep(1.2)
        assert not await _echoes(relay.address)
        assert any(line.startswith("refused") for line in log)

    asyncio.run(_run(body, limits=Limits(refresh_seconds=0.5), refresh=lambda: answers[0]))


def test_a_dead_backend_stops_the_listening_and_a_live_one_restarts_it() -> None:
    async def body() -> None:
        target = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = target.sockets[0].getsockname()[1]
        target.close()
        await target.wait_closed()
        log: list[str] = []
        relay = Relay(Plan(("127.0.0.1", 0), ("127.0.0.1", port), LOOPBACK), log.append)
        task = asyncio.create_task(relay.serve())
        await asyncio.sleep(0.3)
        assert relay.address is not None
        assert not await _echoes(relay.address)  # refused: not listening
        assert any("not listening until it does" in line for line in log)
        target = await asyncio.start_server(_echo, "127.0.0.1", port)
        await asyncio.sleep(1.5)
        assert await _echoes(relay.address)
        relay.stop()
        await asyncio.wait_for(task, 5)
        target.close()

    asyncio.run(body())


ECHO = """
import asyncio, sys
async def echo(r, w):
    while d := await r.read(65536):
        w.write(d); await w.drain()
    w.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""
RELAY = """
import ipaddress, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # a default soft and hard limit
from hostreach.relay import Plan, run
plan = Plan(("127.0.0.1", int(sys.argv[1])), ("127.0.0.1", int(sys.argv[2])),
            (ipaddress.ip_network("127.0.0.0/8"),))
run(plan, status=sys.stdout, log=lambda line: print(line, file=sys.stderr, flush=True))
"""


def test_at_the_default_descriptor_limit_a_flood_of_idle_connections_leaves_it_serving(
    unused_port: int,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    assert echo.stdout is not None
    target = echo.stdout.readline().strip()
    relay = subprocess.Popen(
        [sys.executable, "-c", RELAY, str(unused_port), target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        status = relay.stdout.readline()
        assert "at most 480 connections" in status  # (1024 - 64) / 2: the hard limit is 1024

        async def flood() -> bool:
            await asyncio.sleep(0.5)  # until it listens (the backend is checked first)
            held = []
            for _ in range(700):
                with contextlib.suppress(OSError):
                    held.append(await asyncio.open_connection("127.0.0.1", unused_port))
            await asyncio.sleep(0.5)
            for _, writer in held:
                writer.close()
            await asyncio.sleep(0.5)
            return await _echoes(("127.0.0.1", unused_port))

        assert asyncio.run(flood())
    finally:
        relay.terminate()
        _, err = relay.communicate(timeout=30)
        echo.kill()
        echo.wait(10)
    assert relay.returncode == 0, err
    assert "Traceback" not in err
    assert len(err.splitlines()) < 10, err
