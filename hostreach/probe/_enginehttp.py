"""Engine probe over plain HTTP with the stdlib: unix sockets and tcp:// without TLS.

This is the fast path: importing the docker SDK costs 150-300 ms (it pulls in requests and
urllib3), while these three GETs cost one round trip each. Paths are unversioned
(``GET /version``), so no API version is pinned: Engine 29 rejects versions below 1.44.
"""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hostreach.errors import EngineError

if TYPE_CHECKING:
    import http.client


def _unix_connection(path: str, timeout: float) -> http.client.HTTPConnection:
    import http.client  # noqa: PLC0415 - 40 ms (it loads the email package): only when asking

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            self.sock = sock

    return UnixConnection("localhost", timeout=timeout)


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


def get_json(conn: http.client.HTTPConnection, path: str) -> Any:
    """GET one path and return its JSON body (None for 404); raise EngineError on an HTTP error."""
    conn.request("GET", path, headers={"Host": "docker"})
    response = conn.getresponse()
    body = response.read()
    if response.status == 404:
        return None
    if response.status != 200:
        raise EngineError(f"GET {path} answered HTTP {response.status}: {body[:200]!r}")
    return json.loads(body)


def fetch(url: str, paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` for each path, all within one time budget of ``timeout`` seconds.

    Raises OSError (socket trouble, TimeoutError), EngineError or ValueError (bad JSON).
    """
    import http.client  # noqa: PLC0415

    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    conn: http.client.HTTPConnection
    if parts.scheme == "unix":
        conn = _unix_connection(parts.path, timeout)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 2375, timeout=timeout)
    found: dict[str, Any] = {}
    try:
        for path in paths:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout:g} s")
            if conn.sock is not None:
                conn.sock.settimeout(left)
            else:
                conn.timeout = left
            try:
                found[path] = get_json(conn, path)
            except http.client.HTTPException as exc:
                raise EngineError(f"GET {path}: bad HTTP answer: {exc}") from exc
    finally:
        conn.close()
    return found
