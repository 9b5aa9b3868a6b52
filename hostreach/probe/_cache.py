"""A short-lived disk cache of the engine's answers, so repeated CLI calls skip the round trip.

Keyed by the endpoint and, for a unix socket, the socket file's identity (inode and mtime): an
engine restart recreates the socket and so invalidates the entry. Failures are never cached.
"""

from __future__ import annotations

import os
import time

from hostreach import _jsontext, _url
from hostreach._paths import cache_dir, file_identity, short_hash, uid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

TTL_SECONDS = 60.0


def key(url: str) -> str | None:
    """Return the cache key of an endpoint, or None when it must not be cached."""
    parts = _url.split(url)
    if parts.scheme != "unix":
        return None  # a TCP or ssh engine has no local identity to check; always ask it
    identity = file_identity(parts.path)
    return None if identity is None else f"{url}|{identity}|{uid()}"


def _path(environ: Mapping[str, str], cache_key: str) -> str:
    # The file name only spreads entries; the full key inside the file is what is checked.
    return os.path.join(cache_dir(environ), f"engine-{short_hash(cache_key)}.json")


def read(environ: Mapping[str, str], cache_key: str) -> dict[str, Any] | None:
    """Return the cached daemon fields for this key if fresh, else None."""
    try:
        with open(_path(environ, cache_key), encoding="utf-8") as f:
            entry = _jsontext.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != cache_key:
        return None
    written = entry.get("written")
    if not isinstance(written, int | float) or not 0 <= time.time() - written < TTL_SECONDS:
        return None
    daemon = entry.get("daemon")
    return daemon if isinstance(daemon, dict) else None


def write(environ: Mapping[str, str], cache_key: str, daemon: Mapping[str, Any]) -> None:
    """Store the daemon fields; a cache that cannot be written is silently skipped."""
    path = _path(environ, cache_key)
    entry = {"key": cache_key, "written": time.time(), "daemon": dict(daemon)}
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(_jsontext.dumps(entry))
        os.replace(tmp, path)
    except OSError:
        return
