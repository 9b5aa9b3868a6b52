"""Where hostreach and the Docker CLI keep files, and a file's identity. Imports only os.

Shared by the warm path (``_fastpath``, which must stay this light) and the probes.
"""

import os

TYPE_CHECKING = False  # the warm path pays for every import: not even typing or collections
if TYPE_CHECKING:
    from collections.abc import Mapping


def cache_dir(environ: "Mapping[str, str]" = os.environ) -> str:
    """Return ``$XDG_CACHE_HOME/hostreach`` (default ``~/.cache/hostreach``)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hostreach")


def docker_config_dir(environ: "Mapping[str, str]" = os.environ, home: str | None = None) -> str:
    """Return the Docker CLI's configuration directory (DOCKER_CONFIG or ~/.docker)."""
    home = os.path.expanduser("~") if home is None else home
    return environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")


def file_identity(path: str | os.PathLike[str]) -> str | None:
    """Return ``device:inode:mtime`` of a file (a recreated socket differs), or None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"


def short_hash(text: str) -> str:
    """Return a 64-bit FNV-1a hash of ``text`` in hex: a cache file name (the key is kept inside)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def uid() -> int:
    """Return this process's user id (0 where there is none: Windows has AF_UNIX, no getuid)."""
    return os.getuid() if hasattr(os, "getuid") else 0
