"""The tunnel's exec pool (issue 26, item 3), with socket pairs standing in for exec streams:
the probe boundary. The live tunnel tests carry real connections through it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from hostreach.engine.aio import Stream
from hostreach.errors import EngineError
from hostreach.tunnels.pool import DOWN, UP, ExecPool


class Engine:
    """Starts "execs": each a socket pair, our end the stream, the far end kept to read."""

    def __init__(self, *, failing: int = 0) -> None:
        self.started = 0
        self.far: list[socket.socket] = []
        self.failing = failing

    async def start(self) -> Stream:
        self.started += 1
        if self.failing:
            self.failing -= 1
            raise EngineError("the engine answered 500")
        near, far = socket.socketpair()
        self.far.append(far)
        reader, writer = await asyncio.open_connection(sock=near)
        return Stream(reader, writer)

    def told(self, index: int) -> bytes:
        self.far[index].settimeout(5)
        return self.far[index].recv(64)


async def settle(pool: ExecPool) -> None:
    for _ in range(100):
        await asyncio.sleep(0)


def test_a_taken_stream_was_started_before_it_was_asked_for_and_is_told_its_number() -> None:
    async def main() -> None:
        engine = Engine()
        pool = ExecPool(engine.start, size=2)
        pool.fill()
        await settle(pool)
        assert engine.started == 2
        stream = await pool.take("4711")
        assert engine.told(1) == b"4711\n"  # the last one started, idle until now
        await settle(pool)
        assert engine.started == 2 + 1  # one refill started behind it
        stream.close()
        pool.close()

    asyncio.run(main())


def test_an_empty_pool_starts_one_at_once_and_a_failing_start_is_not_retried_in_a_loop() -> None:
    async def main() -> None:
        engine = Engine(failing=2)
        pool = ExecPool(engine.start, size=2)
        pool.fill()
        await settle(pool)
        assert engine.started == 2  # both failed: nothing idle, nothing restarted by itself
        await settle(pool)
        assert engine.started == 2
        stream = await pool.take("7")  # starts its own; the pool refills beside it
        assert engine.told(0) == b"7\n"
        await settle(pool)
        assert engine.started == 5
        stream.close()
        pool.close()

    asyncio.run(main())


def test_an_idle_stream_that_ended_is_not_handed_out() -> None:
    async def main() -> None:
        engine = Engine()
        pool = ExecPool(engine.start, size=1)
        pool.fill()
        await settle(pool)
        engine.far[0].close()  # the engine ended that exec while it waited
        await settle(pool)
        stream = await pool.take("9")
        assert engine.told(1) == b"9\n"  # the ended one skipped: started for us at once
        await settle(pool)
        assert engine.started == 3  # and one refill
        stream.close()
        pool.close()

    asyncio.run(main())


def test_closing_ends_the_idle_execs_and_stops_refilling() -> None:
    async def main() -> None:
        engine = Engine()
        pool = ExecPool(engine.start, size=3)
        pool.fill()
        await settle(pool)
        pool.close()
        await settle(pool)
        for far in engine.far:
            far.settimeout(5)
            assert far.recv(1) == b""  # its stdin ended: its read fails, the exec exits
        pool.fill()
        assert engine.started == 3

    asyncio.run(main())


@pytest.mark.parametrize("argv", [UP, DOWN])
def test_the_execs_take_only_a_number(argv: list[str]) -> None:
    # The number picks a fifo path: anything but digits ends the exec before a path is built.
    assert argv[:2] == ["sh", "-c"]
    assert 'case "$i" in ""|*[!0-9]*) exit 1 ;; esac' in argv[2]
