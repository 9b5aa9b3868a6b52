"""files: every file hostreach reads, read with a bound on its size and on the time it takes.

A snapshot, a compose file or the Docker CLI's configuration may be anything: ``/dev/zero``, a
FIFO nobody writes to, a gigabyte. Only a regular file is read, or a pipe the user named on
purpose (``--facts <(ssh host hostreach facts)``), and never more than ``limit`` bytes.
"""

from __future__ import annotations

import os
import select
import stat
import time

from hostreach.errors import InputError

MIB = 1 << 20


def read_text(
    path: str | os.PathLike[str],
    *,
    what: str,
    limit: int = 4 * MIB,
    pipe_timeout: float | None = None,
) -> str:
    """Return the UTF-8 text of the file at ``path``; InputError for anything else.

    ``pipe_timeout``: also read a pipe (the user named it), for at most that many seconds.
    FileNotFoundError passes through, for callers to whom a missing file means "none".
    """
    shown = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read {what} {shown}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            data = _read_all(fd, limit + 1)
        elif stat.S_ISFIFO(mode) and pipe_timeout is not None:
            data = read_pipe(fd, limit + 1, pipe_timeout, what=what, shown=shown)
        else:
            raise InputError(f"{what} {shown} is not a regular file")
    except OSError as exc:
        raise InputError(f"cannot read {what} {shown}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{what} {shown} is larger than {limit // MIB} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {shown} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc


def _read_all(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < most:
        chunk = os.read(fd, min(MIB, most - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_pipe(fd: int, most: int, timeout: float, *, what: str, shown: str) -> bytes:
    """At most ``most`` bytes of a pipe until its end; InputError where the end does not come
    within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while size < most:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise InputError(f"{what} {shown} gave no end of data within {timeout:g} s")
        try:
            chunk = os.read(fd, min(MIB, most - size))
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
