"""sync: GETs to the engine over plain HTTP with the stdlib: unix, ssh, and tcp:// without TLS.

This is the fast path: importing the docker SDK costs 150-300 ms (it pulls in requests and
urllib3), while these three GETs cost one round trip each. Paths are unversioned
(``GET /version``), so no API version is pinned: Engine 29 rejects versions below 1.44.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from typing import TYPE_CHECKING, Any

from hostreach.checks import check_address
from hostreach.engine import http
from hostreach.engine.address import Address
from hostreach.errors import EngineError

if TYPE_CHECKING:
    import subprocess

_BATCH = "*"  # the key of an ssh session's one stream, carrying every path's answer


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
        found = socket.getaddrinfo(address.host or "", address.tcp_port, 0, socket.SOCK_STREAM)
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


def _parse(path: str, raw: bytes) -> tuple[int, bytes, bytes]:
    """The status and body of the answer ``raw`` starts with, and the bytes after it."""
    what = f"GET {path}"
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise EngineError(f"{what}: not an HTTP answer: {head[:80]!r}")
    status, headers = http.parse_head(what, head)
    rest = b""
    if http.is_chunked(headers):
        body, rest = http.dechunk(body, what)
    else:
        size = http.content_length(headers, what)
        if size is not None:
            if len(body) < size:
                raise EngineError(f"{what}: the engine's answer broke off")
            body, rest = body[:size], body[size:]
        elif len(body) > http.MAX_ANSWER:
            raise http.too_large(what)
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
                from hostreach.engine import ssh  # noqa: PLC0415 - subprocess: ssh:// only

                sock, self.sessions[_BATCH] = ssh.connect(address, timeout, announce=True)
                self.deadline += ssh.SETUP_ALLOWANCE  # ssh's own setup is not the engine's
                self.announced = _BATCH
                self.batch = paths
                kept = [http.request("GET", p) for p in paths[:-1]]
                self._send(
                    sock, _BATCH, b"".join([*kept, http.request("GET", paths[-1], http10=True)])
                )
            else:
                for path in paths:
                    sock = _connect(address, timeout)
                    if sock.family in (socket.AF_INET, socket.AF_INET6):
                        # This machine's address as the engine's machine sees it: the caller's
                        # address for a remote engine's containers (what `ip route get` says).
                        self.local_address = str(sock.getsockname()[0])
                    self._send(sock, path, http.request("GET", path, http10=True))
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
        from hostreach.engine.ssh import ANNOUNCE  # noqa: PLC0415 - an ssh session said it

        if line.startswith(ANNOUNCE):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                self.local_address = check_address(line[len(ANNOUNCE) :].decode().strip())
            return rest
        return raw

    def _check_size(self, key: str) -> None:
        # A real engine's /info is about 10 KB; a socket that sends more is not one to trust.
        # Raw bytes, a little over the cap per answer on the stream (heads, chunk lines): the
        # codec holds each decoded body to the cap itself.
        answers = len(self.batch) if key == _BATCH else 1
        if sum(map(len, self.replies[key])) > answers * (http.MAX_ANSWER + (64 << 10)):
            raise http.too_large(f"GET {key if key != _BATCH else self.batch[0]}")

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
                            raise EngineError(f"ssh: {_why(self.sessions[path])}") from exc
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
                raise EngineError(f"ssh: {_why(self.sessions[key])}")
            for path in self.batch if key == _BATCH else (key,):
                status, body, raw = _parse(path, raw)
                found[path] = (status, body)
        return found

    def answers(self) -> dict[str, Any]:
        """Return ``{path: JSON}`` for each path (None for 404).

        Raises OSError (socket trouble, TimeoutError) or EngineError (a bad answer).
        """
        found: dict[str, Any] = {}
        for path, (status, body) in self.replies_by_path().items():
            try:
                found[path] = http.decode_json(status, body, f"GET {path}")
            except http.NotFound:
                found[path] = None
        return found


def _why(session: subprocess.Popen[bytes]) -> str:
    from hostreach.engine.ssh import why  # noqa: PLC0415

    return why(session)


def fetch(address: Address, paths: tuple[str, ...], *, timeout: float) -> dict[str, Any]:
    """Return ``{path: JSON}`` for each path (None for 404), all within ``timeout`` seconds."""
    return Exchange(address, paths, timeout=timeout).answers()
