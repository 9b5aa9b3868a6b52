"""Which of this caller's tunnels run: their state files, confirmed by the engine.

A running ``hostreach tunnel`` writes one small JSON file (a :class:`~hostreach.facts.Tunnel`
record) under ``$XDG_CACHE_HOME/hostreach/tunnels`` and removes it when it ends. A file counts
only while its process lives and the engine still runs its container: after ``kill -9`` the
file stays, but neither holds. The folder's identity is part of every cached answer's key
(:func:`hostreach.cache.key`), so a tunnel that starts or ends makes older answers stale.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from hostreach import cache
from hostreach.errors import EngineError, FactsError, InputError
from hostreach.facts import Tunnel, read_tunnel, tunnel_json
from hostreach.files import read_text

MAX_FILES = 64
"""The most state files read: one per running tunnel, so far more than anyone runs."""
_MAX_STATE = 64 << 10


def state_dir() -> str:
    """The folder of the running tunnels' state files."""
    return cache.tunnels_dir()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this user's or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return True


def write_state(tunnel: Tunnel) -> str:
    """Write the running tunnel's state file, whole or not at all; return its path."""
    folder = state_dir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, f"{tunnel.container[:12]}.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(tunnel_json(tunnel), f)
    os.replace(tmp, path)
    return path


def remove_state(path: str) -> None:
    """Remove a state file (already gone is fine)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def prune() -> None:
    """Remove the state files whose process is gone (a tunnel ended with ``kill -9``)."""
    for path, record in _records():
        if record is None or not alive(record.pid):
            remove_state(path)


def _records() -> list[tuple[str, Tunnel | None]]:
    try:
        names = sorted(n for n in os.listdir(state_dir()) if n.endswith(".json"))[:MAX_FILES]
    except OSError:
        return []
    found: list[tuple[str, Tunnel | None]] = []
    for name in names:
        path = os.path.join(state_dir(), name)
        try:
            text = read_text(path, what="tunnel state file", limit=_MAX_STATE)
            found.append((path, read_tunnel(json.loads(text), name)))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, RecursionError, InputError, FactsError):
            found.append((path, None))  # damaged: not a tunnel anyone can use
    return found


def recorded(endpoint: str | None) -> list[tuple[str, Tunnel]]:
    """The state files of tunnels on ``endpoint`` whose process lives, with their paths."""
    return [
        (path, record)
        for path, record in _records()
        if record is not None and record.endpoint == endpoint and alive(record.pid)
    ]


def running(
    endpoint: str | None, get: Callable[[str], Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tunnels on ``endpoint`` that live and whose container the engine runs, as JSON.

    ``get`` asks the engine for one path. Returns the records and the problems met (an engine
    that cannot be asked confirms nothing).
    """
    records, problems = [], []
    for _, record in recorded(endpoint):
        try:
            state = get(f"/containers/{record.container}/json")
        except EngineError as exc:
            problems.append(f"the tunnel's container could not be looked up: {exc}")
            continue
        details = state.get("State") if isinstance(state, dict) else None
        if isinstance(details, dict) and details.get("Running") is True:
            records.append(tunnel_json(record))
    return records, problems
