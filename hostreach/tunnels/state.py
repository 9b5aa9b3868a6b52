"""state: which of this caller's tunnels run: their state files, confirmed by the engine.

A running ``hostreach tunnel`` writes one small JSON file (a :class:`~hostreach.facts.Tunnel`
record) under ``$XDG_CACHE_HOME/hostreach/tunnels`` and removes it when it ends. A file counts
only when it is this user's own in a folder of this user's own (:mod:`hostreach.owned`), while
its process lives and is this user's, and while the engine runs its container with hostreach's
tunnel labels and this caller's owner id (issue 22: a planted file naming pid 1 and any running
container pointed host.docker.internal wherever its planter chose). After ``kill -9`` the file
stays, but its process is gone. The folder's identity is part of every cached answer's key
(:func:`hostreach.cache.key`), so a tunnel that starts or ends makes older answers stale.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hostreach import cache, owned
from hostreach.errors import EngineError, FactsError
from hostreach.facts import Tunnel, read_tunnel, tunnel_json
from hostreach.processes import alive

MAX_FILES = 64
"""The most state files read: one per running tunnel, so far more than anyone runs."""
_MAX_STATE = 64 << 10


def state_dir() -> str:
    """The folder of the running tunnels' state files."""
    return cache.tunnels_dir()


def ours(pid: int) -> bool:
    """Whether process ``pid`` lives and is this user's (read from /proc where there is one; a
    signal this user may not send says another's elsewhere)."""
    try:
        return os.stat(f"/proc/{pid}").st_uid == owned.uid()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return False  # /proc is there, and the process is not
    except OSError:
        return False
    try:
        os.kill(pid, 0)
    except (OSError, OverflowError):
        return False
    return owned.uid() != 0  # root may signal anyone's process: no telling whose it is


def _name(tunnel: Tunnel) -> str:
    return f"{tunnel.container[:12]}.json"


def write_state(tunnel: Tunnel) -> str:
    """Write the running tunnel's state file, whole or not at all; return its path.

    OSError where the folder is not this user's own (said once) or cannot be written.
    """
    folder = owned.folder(state_dir(), create=True)
    if folder is None:
        raise OSError(f"{state_dir()} is not this user's own folder")
    with folder:
        if not folder.write(_name(tunnel), json.dumps(tunnel_json(tunnel)).encode()):
            raise OSError(f"{state_dir()} could not be written")
    return os.path.join(state_dir(), _name(tunnel))


def remove_state(path: str) -> None:
    """Remove a state file this tunnel wrote (already gone is fine; another's stays)."""
    folder = owned.folder(os.path.dirname(path), create=False)
    if folder is not None:
        with folder:
            folder.remove(os.path.basename(path))


def prune() -> None:
    """Remove the state files whose process is gone (a tunnel ended with ``kill -9``)."""
    folder = owned.folder(state_dir(), create=False)
    if folder is None:
        return
    with folder:
        for name, record in _records(folder):
            if record is None or not alive(record.pid):
                folder.remove(name)


def _records(folder: owned.Folder) -> list[tuple[str, Tunnel | None]]:
    found: list[tuple[str, Tunnel | None]] = []
    for name in folder.names(".json")[:MAX_FILES]:
        data = folder.read(name, _MAX_STATE)
        if data is None:
            continue  # gone, too large, or not this user's own (said)
        try:
            found.append((name, read_tunnel(json.loads(data), name)))
        except (ValueError, RecursionError, FactsError):
            found.append((name, None))  # damaged: not a tunnel anyone can use
    return found


def recorded(endpoint: str | None) -> list[tuple[str, Tunnel]]:
    """The state files of tunnels on ``endpoint`` whose process lives and is this user's."""
    folder = owned.folder(state_dir(), create=False)
    if folder is None:
        return []
    with folder:
        return [
            (os.path.join(folder.path, name), record)
            for name, record in _records(folder)
            if record is not None and record.endpoint == endpoint and ours(record.pid)
        ]


def confirmed(state: object, record: Tunnel, owner: str) -> bool:
    """Whether the engine's ``GET /containers/ID/json`` shows the tunnel's own container: running,
    with hostreach's tunnel labels, this caller's owner id and the record's pid."""
    from hostreach.tunnels.sidecar import LABEL  # noqa: PLC0415

    if not isinstance(state, dict):
        return False
    details, config = state.get("State"), state.get("Config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    return (
        isinstance(details, dict)
        and details.get("Running") is True
        and isinstance(labels, dict)
        and labels.get(LABEL) == "1"
        and labels.get(f"{LABEL}.owner") == owner
        and labels.get(f"{LABEL}.pid") == str(record.pid)
    )


def running(
    endpoint: str | None, get: Callable[[str], Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tunnels on ``endpoint`` that live and whose container the engine runs, as JSON.

    ``get`` asks the engine for one path. Returns the records and the problems met (an engine
    that cannot be asked confirms nothing).
    """
    records, problems = [], []
    found = recorded(endpoint)
    if not found:
        return [], []
    from hostreach.tunnels.sidecar import owner  # noqa: PLC0415 - hashlib, only with a record

    me = owner()
    for _, record in found:
        try:
            state = get(f"/containers/{record.container}/json")
        except EngineError as exc:
            problems.append(f"the tunnel's container could not be looked up: {exc}")
            continue
        if confirmed(state, record, me):
            records.append(tunnel_json(record))
    return records, problems


def remove_control_leftovers(prefix: str) -> None:
    """Remove the ssh control folders of tunnels that were killed (``kill -9`` skips their
    close()): only folders of this user's own, not links, whose process is gone."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    base = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(base) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid = name.removeprefix(prefix).partition("-")[0]
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)  # a link is a link: never followed
        except OSError:
            continue
        if pid.isdecimal() and owned.problem(st, folder=True) is None and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
