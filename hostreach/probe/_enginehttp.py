"""Engine probe over plain HTTP with the stdlib: unix sockets and tcp:// without TLS.

This is the fast path: importing the docker SDK costs 150-300 ms (it pulls in requests and
urllib3), while these three GETs cost one round trip each. Paths are unversioned
(``GET /version``), so no API version is pinned: Engine 29 rejects versions below 1.44.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import time
from typing import Any

from hostreach.checks import check_address
from hostreach.errors import EngineError
from hostreach.probe import _ssh
from hostreach.probe.endpoint import Address

_BATCH = "*"  # the key of an ssh session's one stream, carrying every path's answer
MAX_ANSWER = 4 << 20
"""The most one engine answer may hold, in bytes."""


def supports(address: Address, *, tls: bool) -> bool:
    """Whether this module can talk to the endpoint (else the docker SDK probe does)."""
    return address.scheme in ("unix", "ssh") or (address.scheme in ("tcp", "http") and not tls)


def reason(exc: BaseException) -> str:
    """Return a stable code for why the engine could not be reached (the doctor shows it)."""
    codes: tuple[tuple[type[BaseException], str], ...] = (
        (FileNotFoundError, "no-socket"),
        (PermissionError, "permission-denied"),
        (TimeoutError, "timed-out"),
        (ConnectionRefusedError, "refused"),
    )
    return next((code for kind, code in codes if isinstance(exc, kind)), "unreachable")


def describe(exc: BaseException, address: Address, timeout: float) -> str:
    """Return a sentence saying why the engine could not be reached, and what to do."""
    where = address.path if address.scheme == "unix" else address.url
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


def _connect(address: Address, timeout: float) -> socket.socket:
    if address.scheme == "unix":
        targets: list[tuple[int, Any]] = [(socket.AF_UNIX, address.path)]
    else:  # what socket.create_connection does: each address of the name in turn
        found = socket.getaddrinfo(address.host or "", address.port or 2375, 0, socket.SOCK_STREAM)
        targets = [(family, target) for family, _, _, _, target in found]
    error: OSError = OSError(f"no address for {address.url}")
    for family, target in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


def _dechunk(body: bytes) -> tuple[bytes, bytes]:
    """The chunked body's data, and what follows it (the next answer on a kept-alive stream)."""
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            _, _, rest = rest.partition(b"\r\n")  # the empty line after the (absent) trailers
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out), rest


def _request(path: str, *, keep_alive: bool = False) -> bytes:
    # HTTP/1.0, one answer per connection; or HTTP/1.1 kept alive, several on one ssh session.
    if keep_alive:
        return f"GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: hostreach\r\n\r\n".encode()
    return f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: hostreach\r\n\r\n".encode()


def parse_head(what: str, head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the (lower-cased) headers of an answer's head; EngineError if it is not
    HTTP. ``what`` names the request in the error."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise EngineError(f"{what}: not an HTTP answer: {head[:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(fields[1]), headers


def _parse(path: str, raw: bytes) -> tuple[int, bytes, bytes]:
    """The status and body of the answer ``raw`` starts with, and the bytes after it."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise EngineError(f"GET {path}: not an HTTP answer: {head[:80]!r}")
    status, headers = parse_head(f"GET {path}", head)
    rest = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, rest = _dechunk(body)
    elif headers.get("content-length", "").isdecimal():
        size = int(headers["content-length"])
        body, rest = body[:size], body[size:]
    return status, body, rest


def _readable(fds: list[int], timeout: float) -> list[int]:
    if hasattr(select, "poll"):  # select.select fails on descriptors above 1023 (FD_SETSIZE)
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        return [fd for fd, _ in poller.poll(timeout * 1000)]
    return select.select(fds, [], [], timeout)[0]  # Windows: no poll


class Exchange:
    """One HTTP/1.0 GET per path, all sent at once; the answers are read when asked for.

    Sending first lets the caller do its other work while the engine prepares the answers (its
    /info alone takes about 10 ms). HTTP/1.0 on a fresh connection per request: the engine
    answers and closes, so each reply is everything up to EOF. This replaces http.client, whose
    import (it loads the email package) cost more than the requests themselves.
    """

    def __init__(self, address: Address, paths: tuple[str, ...], *, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout  # for the whole exchange, sending included
        self.replies: dict[str, list[bytes]] = {}
        self.waiting: dict[int, tuple[socket.socket, str]] = {}
        self.local_address: str | None = None
        self.sessions: dict[str, subprocess.Popen[bytes]] = {}
        """The ssh processes carrying each path's connection (ssh:// engines)."""
        self.announced: str | None = None
        """The path whose reply starts with the caller's address (ssh:// engines)."""
        self.batch: tuple[str, ...] = ()
        """The paths asked on one kept-alive stream, in order (ssh:// engines)."""
        try:
            if address.scheme == "ssh":
                # One ssh session for every path (a handshake costs more than the answers):
                # HTTP/1.1 kept alive, then the last one as HTTP/1.0, which the engine closes.
                sock, self.sessions[_BATCH] = _ssh.connect(address, timeout, announce=True)
                self.announced = _BATCH
                self.batch = paths
                kept = [_request(p, keep_alive=True) for p in paths[:-1]]
                self._send(sock, _BATCH, b"".join([*kept, _request(paths[-1])]))
            else:
                for path in paths:
                    sock = _connect(address, timeout)
                    if sock.family in (socket.AF_INET, socket.AF_INET6):
                        # This machine's address as the engine's machine sees it: the caller's
                        # address for a remote engine's containers (what `ip route get` says).
                        self.local_address = str(sock.getsockname()[0])
                    self._send(sock, path, _request(path))
        except BaseException:
            self.close()
            raise

    def _send(self, sock: socket.socket, key: str, request: bytes) -> None:
        self.waiting[sock.fileno()] = (sock, key)
        sock.sendall(request)
        sock.setblocking(False)  # noqa: FBT003 - the stdlib's own signature
        self.replies[key] = []

    def close(self) -> None:
        """Close the connections still open, and end their ssh sessions."""
        for sock, _ in self.waiting.values():
            sock.close()
        self.waiting.clear()
        for process in self.sessions.values():
            if process.poll() is None:
                process.kill()

    def _caller_line(self, path: str, raw: bytes) -> bytes:
        """Take the caller's address off the front of an ssh session's reply."""
        if path != self.announced:
            return raw
        line, _, rest = raw.partition(b"\n")
        if line.startswith(_ssh.ANNOUNCE):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                self.local_address = check_address(line[len(_ssh.ANNOUNCE) :].decode().strip())
            return rest
        return raw

    def _check_size(self, path: str) -> None:
        # A real engine's /info is about 10 KB; a socket that sends more is not one to trust.
        if sum(map(len, self.replies[path])) > MAX_ANSWER:
            raise EngineError(
                f"GET {path} answered more than {MAX_ANSWER >> 20} MiB: is this socket a"
                " container engine's?"
            )

    def replies_by_path(self) -> dict[str, tuple[int, bytes]]:
        """Return ``{path: (status, body)}``, waiting until the deadline at most."""
        try:
            while self.waiting:
                left = self.deadline - time.monotonic()
                ready = _readable(list(self.waiting), left) if left > 0 else []
                if not ready:
                    raise TimeoutError(f"no answer within {self.timeout:g} s")
                for fd in ready:
                    sock, path = self.waiting[fd]
                    try:
                        chunk = sock.recv(65536)
                    except OSError as exc:
                        if path in self.sessions:  # ssh ended: say what it said, not "reset"
                            raise EngineError(f"ssh: {_ssh.why(self.sessions[path])}") from exc
                        raise
                    if chunk:
                        self.replies[path].append(chunk)
                        self._check_size(path)
                    else:
                        del self.waiting[fd]
                        sock.close()
        finally:
            self.close()
        found = {}
        for key, chunks in self.replies.items():
            raw = self._caller_line(key, b"".join(chunks))
            if not raw and key in self.sessions:  # ssh ended without a word from the engine
                raise EngineError(f"ssh: {_ssh.why(self.sessions[key])}")
            for path in self.batch if key == _BATCH else (key,):
                status, body, raw = _parse(path, raw)
                found[path] = (status, body)
        return found

    def answers(self) -> dict[str, Any]:
        """Return ``{path: JSON}`` for each path (None for 404).

        Raises OSError (socket trouble, TimeoutError), EngineError or ValueError (bad JSON).
        """
        found: dict[str, Any] = {}
        for path, (status, body) in self.replies_by_path().items():
            if status == 404:
                found[path] = None
                continue
            if status != 200:
                raise EngineError(f"GET {path} answered HTTP {status}: {body[:200]!r}")
            try:
                found[path] = json.loads(body)
            except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
                raise EngineError(
                    f"GET {path} did not answer JSON ({exc}): is this socket a container engine's?"
                ) from exc
        return found


def fetch(address: Address, paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` for each path (None for 404), all within ``timeout`` seconds."""
    return Exchange(address, paths, timeout=timeout).answers()
