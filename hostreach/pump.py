"""pump: what the relay and the tunnel share to move bytes: the chunk size, idle deadlines,
connection limits, the rate-limited log, and the open-files limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, NamedTuple

CHUNK = 64 << 10
"""The most one read takes off a connection."""


class Limits(NamedTuple):
    """What one relay or tunnel allows itself: open connections, how long one may sit idle, and
    (the relay) how stale its list of allowed networks may get: a removed network must stop
    being allowed."""

    connections: int = 128
    idle_seconds: float = 600.0
    refresh_seconds: float = 10.0
    per_peer: int = 64
    """Connections one peer address may hold at once (the tunnel): one container's flood must
    not take every slot (issue 26). A burst of 50 from one client still fits."""
    first_byte_seconds: float = 15.0
    """How long a connection may carry nothing at all, either way, before it is closed (the
    tunnel): an idle peer that never speaks must not hold a slot for ``idle_seconds``."""


class Activity:
    """When a connection last carried a byte, in either direction, and whether it ever did."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.moved = False

    def touch(self) -> None:
        """A byte moved, either way."""
        self.last = time.monotonic()
        self.moved = True

    def idle_for(self) -> float:
        return time.monotonic() - self.last


class Idle(Exception):
    """A connection carried nothing, either way, for its idle limit."""


async def within(step: Any, activity: Activity, idle: float, first: float | None = None) -> Any:
    """Await ``step``; raise Idle once the connection carried nothing either way for ``idle`` s
    (``first`` s, where given, while it has carried nothing at all), ``step`` then cancelled and
    its end awaited."""
    task = asyncio.ensure_future(step)
    try:
        while True:
            limit = idle if first is None or activity.moved else min(first, idle)
            left = limit - activity.idle_for()
            if left <= 0:
                raise Idle
            done, _ = await asyncio.wait({task}, timeout=left)
            if done:
                return task.result()
    finally:
        if not task.done():
            # Its end awaited: a connection's two directions (one task now, not a watch around
            # each step) have both stopped once this returns, as a task group's would have.
            task.cancel()
            await asyncio.wait({task})


class RateLimitedLog:
    """One line per kind of event at once, then at most one per ``every`` seconds with a count.

    A relay under abuse sees thousands of strangers a second; its log must stay readable.
    """

    def __init__(self, write: Callable[[str], None], every: float = 10.0) -> None:
        self.write = write
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, kind: str, line: str) -> None:
        """Log ``line`` unless a line of this ``kind`` was written within the last period."""
        now = time.monotonic()
        if now - self._last.get(kind, -self.every) < self.every:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        self.write(line + (f" (and {held} more like it)" if held else ""))


def raise_open_files_limit() -> int:
    """Raise the soft limit of open files to the hard one where allowed; return the soft limit.

    A relayed connection holds two descriptors; the default soft limit (1024) would cap it
    near 500 connections and make accept() fail for everyone.
    """
    try:
        import resource  # noqa: PLC0415 - Unix only

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    except (ImportError, ValueError, OSError):
        return 1024
    return int(soft)
