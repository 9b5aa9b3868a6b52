"""RootlessKit's own flags, read from its command line: does it let containers reach the host's
loopback? A local rootless engine only (this machine's /proc); stdlib only.

Docker's ``dockerd-rootless.sh`` starts ``rootlesskit --net=DRIVER ... --disable-host-loopback``
unless ``DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false`` (Engine 26+; Debian's 20.10
script hard-codes the flag). Without it, slirp4netns forwards 10.0.2.2 to the host's
127.0.0.1. The engine's API does not say so (Engine 20.10 has no ``rootlesskit`` component in
``GET /version``; later ones name the driver, not this flag).
"""

from __future__ import annotations

import os

from hostreach.checks import check_name
from hostreach.engine.endpoint import StrPath
from hostreach.errors import UsageError

_MAX_PROCESSES = 65536
_MAX_READ = 64 << 10


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(_MAX_READ)


def read(socket_path: str, root: StrPath = "/") -> dict[str, object] | None:
    """The flags of the RootlessKit that serves the engine socket ``socket_path``, or None.

    Its process is the one whose XDG_RUNTIME_DIR holds the socket (dockerd-rootless.sh puts
    the socket there) and that sees this very socket there: a RootlessKit in a container has
    the same path in its own root (found by the whole suite with the lab up: a lab container's
    user 1001 ran one with /run/user/1001, and this machine's engine was called unknown);
    where its environment cannot be read (another user's, without root), the only RootlessKit
    run by the socket's owner.
    """
    proc = os.path.join(os.fspath(root), "proc")
    folder = os.path.dirname(socket_path)
    try:
        mine = os.stat(socket_path)
        pids = [p for p in os.listdir(proc) if p.isdecimal()][:_MAX_PROCESSES]
    except OSError:
        return None
    by_folder, by_owner = [], []
    for pid in pids:
        seen = _process(os.path.join(proc, pid))
        if seen is None:
            continue
        found, runtime_dir, uid = seen
        if runtime_dir is not None and runtime_dir.rstrip("/") == folder:
            if _sees(os.path.join(proc, pid, "root"), socket_path, mine):
                by_folder.append(found)
        elif runtime_dir is None and uid == mine.st_uid:  # its environment could not be read
            by_owner.append(found)
    if len(by_folder) == 1:
        return by_folder[0]
    return by_owner[0] if not by_folder and len(by_owner) == 1 else None


def _process(folder: str) -> tuple[dict[str, object], str | None, int] | None:
    """A RootlessKit process's flags, its XDG_RUNTIME_DIR (None: not readable) and its owner;
    None for any other process, or a command line RootlessKit would not have started with."""
    try:
        argv = _read(os.path.join(folder, "cmdline")).split(b"\0")
        if os.path.basename(argv[0]) != b"rootlesskit":
            return None
        uid = os.stat(folder).st_uid
    except OSError:
        return None
    flags = [a.decode("utf-8", "replace") for a in argv[1:] if a.startswith(b"--")]
    net = next((f.split("=", 1)[1] for f in flags if f.startswith("--net=")), "host")
    try:
        check_name(net, "RootlessKit network driver")
    except UsageError:
        return None
    try:
        environ = _read(os.path.join(folder, "environ")).split(b"\0")
    except OSError:
        environ = []
    prefix = b"XDG_RUNTIME_DIR="
    runtime_dir = next((e[len(prefix) :] for e in environ if e.startswith(prefix)), None)
    found: dict[str, object] = {"net": net, "host_loopback": "--disable-host-loopback" not in flags}
    return found, None if runtime_dir is None else os.fsdecode(runtime_dir), uid


def _sees(process_root: str, socket_path: str, mine: os.stat_result) -> bool:
    """Whether the process whose root is ``process_root`` sees this socket at its path."""
    try:
        theirs = os.stat(os.path.join(process_root, socket_path.lstrip("/")))
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino)
