"""owned: the files hostreach reads back (its cache, the tunnels' state), in folders only this
user can write. Imports only os and sys: the warm path reads through it.

A folder or file counts only when it is owned by the current user, is not writable by group or
others, and is not a symbolic link, checked on the opened descriptor (``O_NOFOLLOW``, ``fstat``),
never on the path alone. Otherwise it is not used: one warning line says which path and why,
nothing is read from it and nothing is written there (issue 22: a cache folder another user
could write to made root's ``flags`` print that user's flags). Files are written under a fresh
name (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600) and renamed into place; only names hostreach
chose are removed, each after the same check.

Where these calls differ: macOS has the same ``O_NOFOLLOW``, ``O_DIRECTORY`` and ``*at`` calls
as Linux. Windows has neither user ids in ``stat`` nor ``O_NOFOLLOW``: there the folders sit in
the user's profile, which Windows' ACLs keep to that user, and only the symlink check (on the
path) is made.
"""

import os
import sys

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO at an entry's name must not hang the open
_AT = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd  # renameat: os.replace too
_warned: set[str] = set()


def uid() -> int:
    """This process's user id (0 where there is none: Windows has no getuid)."""
    return os.getuid() if hasattr(os, "getuid") else 0


def problem(st: os.stat_result, *, folder: bool) -> str | None:
    """What makes a folder or file not this user's own, or None when it is."""
    kind = 0o040000 if folder else 0o100000  # S_IFDIR, S_IFREG
    if st.st_mode & 0o170000 != kind:
        return "not a folder" if folder else "not a regular file"
    if hasattr(os, "getuid") and st.st_uid != uid():
        return f"owned by user {st.st_uid}, not by this user ({uid()})"
    if st.st_mode & 0o022:
        return f"writable by group or others (mode {st.st_mode & 0o777:o})"
    return None


def warn(path: str, why: str) -> None:
    """Say once per process, on stderr, that ``path`` is not used and why."""
    if path in _warned:
        return
    _warned.add(path)
    shown = path.encode("unicode_escape", "replace").decode("ascii", "replace")
    sys.stderr.write(
        f"hostreach: warning: not using {shown}: {why}; nothing is kept there (remove it, or"
        " set XDG_CACHE_HOME to a folder of your own)\n"
    )


class Folder:
    """An open folder of this user's own: names in it are read, written and removed relative to
    its descriptor, so no rename or symlink of the path between two calls redirects one."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path = path
        self.fd = fd  # None on Windows: path-based calls there

    def _at(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def names(self, suffix: str = "") -> list[str]:
        """The names in the folder ending with ``suffix``, sorted."""
        try:
            found = os.listdir(self.fd if self.fd is not None else self.path)
        except OSError:
            return []
        return sorted(n for n in found if n.endswith(suffix) and not n.startswith("."))

    def read(self, name: str, limit: int) -> bytes | None:
        """The file's bytes (at most ``limit``), or None: absent, too large, or not this user's
        own (said once)."""
        try:
            flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
            fd = os.open(self._at(name), flags, dir_fd=self.fd)
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError):
                warn(os.path.join(self.path, name), f"it cannot be opened safely ({exc.strerror})")
            return None
        try:
            st = os.fstat(fd)
            why = problem(st, folder=False)
            if why is not None:
                warn(os.path.join(self.path, name), why)
                return None
            if st.st_size > limit:
                return None
            data = os.read(fd, limit + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        return data if len(data) <= limit else None

    def write(self, name: str, data: bytes) -> bool:
        """Write ``data`` whole under ``name`` (a fresh file renamed into place); whether it was."""
        tmp = f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        try:
            fd = os.open(self._at(tmp), flags, 0o600, dir_fd=self.fd)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(self._at(tmp), self._at(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError:
            self._unlink(tmp)
            return False
        return True

    def remove(self, name: str) -> None:
        """Remove ``name`` if it is this user's own regular file (a link or another's stays)."""
        try:
            st = os.stat(self._at(name), dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return
        if problem(st, folder=False) is None:
            self._unlink(name)

    def _unlink(self, name: str) -> None:
        try:
            os.unlink(self._at(name), dir_fd=self.fd)
        except OSError:
            return

    def close(self) -> None:
        """Close the folder's descriptor."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "Folder":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def folder(path: str, *, create: bool) -> Folder | None:
    """Open ``path`` as a folder of this user's own (``create``: made 0700 where missing, its
    parents too); None where it is missing or not this user's own (said once)."""
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            return None
    if not _AT:  # Windows: no descriptor for a folder, no O_NOFOLLOW
        if os.path.islink(path) or not os.path.isdir(path):
            return None
        return Folder(path, None)
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError):
            warn(path, f"it cannot be opened as a folder safely ({exc.strerror})")
        return None
    try:
        why = problem(os.fstat(fd), folder=True)
    except OSError:
        why = "it cannot be read"
    if why is not None:
        os.close(fd)
        warn(path, why)
        return None
    return Folder(path, fd)
