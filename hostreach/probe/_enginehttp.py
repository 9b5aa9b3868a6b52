"""Engine probe over plain HTTP with the stdlib: unix sockets and tcp:// without TLS.

This is the fast path: importing the docker SDK costs 150-300 ms (it pulls in requests and
urllib3), while these three GETs cost one round trip each. Paths are unversioned
(``GET /version``), so no API version is pinned: Engine 29 rejects versions below 1.44.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from hostreach.errors import EngineError


def supports(url: str, *, tls: bool) -> bool:
    """Whether this module can talk to the endpoint (else the docker SDK probe does)."""
    scheme = urlsplit(url).scheme
    return scheme == "unix" or (scheme in ("tcp", "http") and not tls)


def reason(exc: BaseException) -> str:
    """Return a stable code for why the engine could not be reached (the doctor shows it)."""
    codes: tuple[tuple[type[BaseException], str], ...] = (
        (FileNotFoundError, "no-socket"),
        (PermissionError, "permission-denied"),
        (TimeoutError, "timed-out"),
        (ConnectionRefusedError, "refused"),
    )
    return next((code for kind, code in codes if isinstance(exc, kind)), "unreachable")


def describe(exc: BaseException, url: str, timeout: float) -> str:
    """Return a sentence saying why the engine could not be reached, and what to do."""
    where = urlsplit(url).path if url.startswith("unix:") else url
    if isinstance(exc, FileNotFoundError):
        return f"no engine socket at {where}: is the engine running? (or set DOCKER_HOST)"
    if isinstance(exc, PermissionError):
        return (
            f"permission denied on {where}: add your user to the docker group"
            " (`sudo usermod -aG docker $USER`, then log in again) or use a rootless engine's socket"
        )
    if isinstance(exc, TimeoutError):
        return f"the engine at {where} did not answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"the engine at {where} refused the connection: is it running?"
    return f"the engine at {where} could not be reached: {exc}"


def _connect(url: str, timeout: float) -> socket.socket:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(parts.path)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((parts.hostname or "", parts.port or 2375), timeout=timeout)


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: hostreach\r\n\r\n".encode()


def _parse(path: str, raw: bytes) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if not sep or len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise EngineError(f"GET {path}: not an HTTP answer: {head[:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return int(fields[1]), body


def get_all(url: str, paths: tuple[str, ...], *, timeout: float) -> dict[str, tuple[int, bytes]]:
    """Return ``{path: (status, body)}``: one HTTP/1.0 GET per path, all at once, within ``timeout``.

    HTTP/1.0 on a fresh connection per request: the engine answers and closes, so each reply is
    everything up to EOF. The requests run side by side (the engine's /info alone takes about
    10 ms), and this replaces http.client, whose import (it loads the email package) cost more
    than the requests themselves.
    """
    import selectors  # noqa: PLC0415 - socket imports it anyway

    deadline = time.monotonic() + timeout
    replies: dict[str, list[bytes]] = {}
    with selectors.DefaultSelector() as selector:
        try:
            for path in paths:
                sock = _connect(url, timeout)
                sock.sendall(_request(path))
                sock.setblocking(False)  # noqa: FBT003 - the stdlib's own signature
                selector.register(sock, selectors.EVENT_READ, path)
                replies[path] = []
            while selector.get_map():
                left = deadline - time.monotonic()
                events = selector.select(left) if left > 0 else []
                if not events:
                    raise TimeoutError(f"no answer within {timeout:g} s")
                for key, _ in events:
                    ready: socket.socket = key.fileobj  # type: ignore[assignment]
                    chunk = ready.recv(65536)
                    if chunk:
                        replies[key.data].append(chunk)
                    else:
                        selector.unregister(ready)
                        ready.close()
        finally:
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
    return {path: _parse(path, b"".join(chunks)) for path, chunks in replies.items()}


def fetch(url: str, paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` for each path (None for 404), all within ``timeout`` seconds.

    Raises OSError (socket trouble, TimeoutError), EngineError or ValueError (bad JSON).
    """
    found: dict[str, Any] = {}
    for path, (status, body) in get_all(url, paths, timeout=timeout).items():
        if status == 404:
            found[path] = None
            continue
        if status != 200:
            raise EngineError(f"GET {path} answered HTTP {status}: {body[:200]!r}")
        found[path] = json.loads(body)
    return found
