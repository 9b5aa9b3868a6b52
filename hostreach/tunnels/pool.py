"""pool: exec streams into the sidecar, started before a connection needs them (issue 26, item 3).

Each connection the tunnel carries takes two: one that reads its up fifo (the client's bytes),
one that writes its down fifo (the service's). Starting an exec costs two engine calls, which a
connection used to wait for; a pooled one already runs and waits at ``read`` for the
connection's number, so a new connection costs one line written to each. The pool refills in
the background, off the connection's path. Measured with benchmarks/tunnel.py (docs/tunnel.rst):
one short request from connect to answer 0.17 s without it, 0.03 s with it; 200 in a row 7.0
a second without it, 10-15 with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hostreach.engine.aio import Stream
from hostreach.errors import EngineError

# busybox sh's read takes one byte at a time from a pipe, so cat gets every byte after the line.
_NUMBER = 'read -r i && case "$i" in ""|*[!0-9]*) exit 1 ;; esac && '
UP = ["sh", "-c", _NUMBER + 'exec cat "/hr/c$i.up"']
"""Waits for a connection's number, then copies its up fifo to the exec's stdout."""
DOWN = ["sh", "-c", _NUMBER + 'exec cat >"/hr/c$i.down"']
"""Waits for a connection's number, then copies the exec's stdin to its down fifo."""

SIZE = 4
"""Idle execs kept of each kind: enough for a client's few connections at once; a burst beyond
it starts the rest as connections did before, the pool refilling beside them."""


class ExecPool:
    """Idle exec streams of one kind, each handed out once."""

    def __init__(self, start: Callable[[], Awaitable[Stream]], *, size: int = SIZE) -> None:
        self._start = start
        self._size = size
        self._idle: list[Stream] = []
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def take(self, number: str) -> Stream:
        """A stream for connection ``number`` (digits): an idle one if ready, else one started
        now; told its number either way. The pool refills behind it."""
        stream = None
        while self._idle and stream is None:
            stream = self._idle.pop()
            if stream.writer.is_closing() or stream.reader.at_eof():
                stream.close()  # its exec ended while it waited (the engine closed it)
                stream = None
        self.fill()
        if stream is None:
            stream = await self._start()
        stream.writer.write(f"{number}\n".encode("ascii"))
        return stream

    def fill(self) -> None:
        """Start execs in the background until ``size`` are idle or on their way."""
        while not self._closed and len(self._idle) + self._starting < self._size:
            self._starting += 1
            task = asyncio.create_task(self._one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self) -> None:
        try:
            stream = await self._start()
        except (EngineError, OSError):
            return  # the next connection starts its own, and asks again
        finally:
            self._starting -= 1
        if self._closed:
            stream.close()
        else:
            self._idle.append(stream)

    def close(self) -> None:
        """Stop refilling and end every idle exec (its stdin's end ends its read)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for stream in self._idle:
            stream.close()
        self._idle.clear()
