"""The warm path of ``python -m hostreach flags``: replay the last answer, importing only os.

A successful ``flags`` answer is stored for a short time, keyed by the exact arguments, the
environment that chooses the engine, the Docker CLI config, the user and hostreach's version.
It is replayed only while the engine's socket is the same file it was (an engine restart
recreates it) and for at most TTL_SECONDS, the lifetime of the engine answer cache. It is never
used with --no-cache, --facts or --debug, and failures are never stored. Anything unexpected
(an unreadable or damaged entry) means "not cached": the full path then runs, and the engine
is asked at once (probe.prefetch), so that it answers while the full path is being imported.
"""

import os
import sys
import time

from hostreach._paths import cache_dir, docker_config_dir, file_identity, short_hash, uid

TTL_SECONDS = 60.0
_MAGIC = "hostreach-answer 1"
_ENV = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
_UNCACHED = ("--no-cache", "--facts", "--debug", "-h", "--help")


def _stat(path: str) -> str:
    return file_identity(path) or "-"


def key(argv: list[str], version: str) -> str | None:
    """Return the cache key for these arguments, or None when the answer must not be cached."""
    if not argv or argv[0] != "flags" or any(a.split("=", 1)[0] in _UNCACHED for a in argv):
        return None
    parts = [version, str(uid()), "\0".join(argv)]
    parts += [f"{name}={os.environ.get(name, '')}" for name in _ENV]
    parts.append(_stat(os.path.join(docker_config_dir(), "config.json")))  # `docker context use`
    return "\n".join(parts)


def _path(cache_key: str) -> str:
    return os.path.join(cache_dir(), f"answer-{short_hash(cache_key)}")


def store(cache_key: str, socket_path: str, out: str, err: str) -> None:
    """Remember a successful answer; a cache that cannot be written is skipped."""
    path = _path(cache_key)
    header = [_MAGIC, repr(time.time()), socket_path, _stat(socket_path) if socket_path else "-"]
    body = "\n".join(header) + "\n" + f"{len(out)} {len(err)}\n" + out + err
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(cache_key.replace("\n", "\x1e") + "\n" + body)
        os.replace(tmp, path)
    except OSError:
        return


def replay(cache_key: str) -> tuple[str, str] | None:
    """Return the stored ``(stdout, stderr)`` if still valid, else None."""
    try:
        with open(_path(cache_key), encoding="utf-8") as f:
            text = f.read()
        stored_key, magic, written, socket_path, identity, sizes, rest = text.split("\n", 6)
        if stored_key != cache_key.replace("\n", "\x1e") or magic != _MAGIC:
            return None
        if not 0 <= time.time() - float(written) < TTL_SECONDS:
            return None
        if socket_path and _stat(socket_path) != identity:
            return None  # the engine restarted (or went away): ask it again
        n_out, n_err = (int(n) for n in sizes.split(" "))
    except (OSError, ValueError):
        return None
    if len(rest) != n_out + n_err:
        return None
    return rest[:n_out], rest[n_out:]


def main(version: str) -> int | None:
    """Print a valid stored answer and return 0, or return None to take the full path."""
    cache_key = key(sys.argv[1:], version)
    if cache_key is None:
        return None
    found = replay(cache_key)
    if found is None:
        # The full path will ask the engine: ask now, while the rest of hostreach is imported
        # (with the default timeout: a --timeout of its own is left to the full path).
        if not any(arg.split("=", 1)[0] == "--timeout" for arg in sys.argv[1:]):
            from hostreach.probe import prefetch  # noqa: PLC0415

            prefetch()
        return None
    sys.stdout.write(found[0])
    sys.stderr.write(found[1])
    return 0
