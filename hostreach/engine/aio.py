"""aio: the Engine API over asyncio, for the tunnel: JSON calls and hijacked streams (``docker exec``).

Every connection is opened from this side: unix://, tcp:// without TLS, and ssh:// through the
user's own ssh binary (one master connection that every stream shares, so a stream costs a
channel, not a handshake). Hijacked streams are what ``docker exec -i`` and ``docker attach``
use: after the HTTP answer, the connection carries the process's stdin one way and its output,
in the engine's multiplexed frames, the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from hostreach.engine import http
from hostreach.engine import ssh as _ssh
from hostreach.engine.address import Address
from hostreach.errors import EngineError

STDOUT, STDERR = 1, 2
MAX_FRAME = 1 << 20
"""The largest output frame accepted (the engine sends at most 32 KiB at a time)."""


class Stream:
    """One connection to the engine; once hijacked, the process's stdin one way and its output
    frames the other."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def frame(self) -> tuple[int, bytes] | None:
        """The next output frame as ``(STDOUT or STDERR, data)``, or None at its clean end.

        EngineError where the stream breaks off mid-frame, is reset, or announces a frame larger
        than :data:`MAX_FRAME`: a broken stream must not pass for a finished one (the tunnel
        would half-close a connection whose data was lost).
        """
        try:
            head = await self.reader.readexactly(8)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise EngineError("the engine's stream broke off mid-frame") from exc
        except ConnectionError as exc:
            raise EngineError(f"the engine's stream broke: {exc}") from exc
        size = int.from_bytes(head[4:8], "big")
        if size > MAX_FRAME:
            raise EngineError(f"the engine's stream announced a frame of {size} bytes")
        try:
            return head[0], await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EngineError("the engine's stream broke off mid-frame") from exc

    def end_input(self) -> None:
        """Close the process's stdin (the engine turns a half-close into stdin's EOF)."""
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


# The engine the Docker CLI on the engine's machine would use (DOCKER_HOST, then its context),
# said once on the master's session, which then waits for its stdin to end.
_MASTER_COMMAND = (
    'printf "hostreach-engine %s\\n" "$(docker context inspect --format'
    " '{{.Endpoints.docker.Host}}' 2>/dev/null)\"; exec cat >/dev/null"
)


class EngineStreams:
    """Calls and streams to one engine; :meth:`close` ends what they opened (ssh's master).

    Over ssh://, one ssh connection carries every stream: its master forwards a local socket to
    the engine's own (``-L``), which the engine's CLI names, so a stream costs an ssh channel,
    with no process on either side (``docker system dial-stdio`` costs 0.1 s of CPU there).
    """

    def __init__(self, address: Address, *, timeout: float) -> None:
        if address.scheme not in ("unix", "tcp", "http", "ssh"):
            raise EngineError(
                f"the tunnel speaks unix://, tcp:// (without TLS) and ssh:// engines, not"
                f" {address.scheme}://"
            )
        self.address = address
        self.timeout = timeout
        self._master: asyncio.subprocess.Process | None = None
        self._control_dir: str | None = None
        self._forwarded: str | None = None

    async def start(self) -> None:
        """Open ssh's master connection and its forward (ssh:// only), within the timeout."""
        if self.address.scheme != "ssh":
            return
        self._control_dir = tempfile.mkdtemp(prefix=f"{CONTROL_PREFIX}{os.getpid()}-")
        control = os.path.join(self._control_dir, "master")
        argv = [*_ssh.argv(self.address, self.timeout, ("-M", "-S", control)), _MASTER_COMMAND]
        # stdin stays open: when this process ends, however it ends, the master's session ends,
        # and the master with it (no ssh left behind).
        self._master = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # no terminal: ssh cannot ask for a password or a host key
        )
        assert self._master.stdout is not None  # noqa: S101 - a pipe was asked for
        try:
            async with asyncio.timeout(self.timeout + _ssh.SETUP_ALLOWANCE):
                said = await self._master.stdout.readline()
        except (TimeoutError, ValueError):  # no line in time, or one over 64 KiB
            said = b""
        if not said.startswith(b"hostreach-engine "):
            raise EngineError(f"ssh to {self.address.url}: {await self._why()}")
        remote = self._remote_socket(said.decode("utf-8", "replace").split(" ", 1)[1].strip())
        self._forwarded = os.path.join(self._control_dir, "engine.sock")
        forward = _ssh.argv(
            self.address,
            self.timeout,
            ("-S", control, "-O", "forward", "-L", f"{self._forwarded}:{remote}"),
        )
        try:
            done = subprocess.run(
                forward, capture_output=True, timeout=self.timeout + 1, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError(
                f"ssh to {self.address.url}: forwarding the engine's socket timed out"
            ) from exc
        if done.returncode != 0 or not os.path.exists(self._forwarded):
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise EngineError(
                f"ssh to {self.address.url} could not forward the engine's socket ({remote}):"
                f" {lines[-1] if lines else 'refused'}; its sshd must allow it"
                " (AllowStreamLocalForwarding yes, the default)"
            )

    def _remote_socket(self, endpoint: str) -> str:
        """Where the engine listens on its machine, as ssh's -L takes it (PATH or HOST:PORT)."""
        from hostreach.engine.address import parse  # noqa: PLC0415

        found = parse(endpoint or "unix:///var/run/docker.sock")
        if found.scheme == "unix" and found.path.isprintable() and ":" not in found.path:
            return found.path
        if found.scheme == "tcp" and found.host and found.host.isprintable():
            return f"{found.host}:{found.tcp_port}"
        raise EngineError(
            f"the engine on {self.address.url}'s machine is at {endpoint[:80]!r}, which the tunnel"
            " cannot forward (a unix socket, or tcp:// without TLS, is needed)"
        )

    async def _why(self) -> str:
        master = self._master
        if master is None or master.stderr is None:
            return "ssh did not start"
        if master.returncode is None:
            master.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                err = await master.stderr.read(4096)
                lines = err.decode("utf-8", "replace").strip().splitlines()
                if lines:
                    return lines[-1]
        return "ssh ended without saying why (is the docker CLI installed on that machine?)"

    async def close(self) -> None:
        """End ssh's master connection (closing its stdin ends its session, and then it) and
        remove its control socket; wait for it, so nothing is left for the loop's end."""
        master = self._master
        if master is not None and master.returncode is None:
            if master.stdin is not None:
                master.stdin.close()
            try:
                async with asyncio.timeout(2):
                    await master.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    master.kill()
                await master.wait()
        if self._control_dir is not None:
            shutil.rmtree(self._control_dir, ignore_errors=True)

    async def _open(self) -> Stream:
        address = self.address
        if address.scheme == "ssh":
            assert self._forwarded is not None  # noqa: S101 - start() ran
            return Stream(*await asyncio.open_unix_connection(self._forwarded))
        if address.scheme == "unix":
            return Stream(*await asyncio.open_unix_connection(address.path))
        return Stream(*await asyncio.open_connection(address.host, address.tcp_port))

    async def _answer(self, reader: asyncio.StreamReader, what: str) -> tuple[int, dict[str, str]]:
        try:  # the reader's limit (64 KiB, asyncio's default) bounds the head
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise EngineError(f"{what}: the engine's answer has headers over 64 KiB") from exc
        return http.parse_head(what, head)

    async def _body(
        self, reader: asyncio.StreamReader, headers: dict[str, str], what: str
    ) -> bytes:
        """Read exactly the answer's body (a kept-alive connection goes on after it)."""
        if http.is_chunked(headers):
            decoder = http.Chunked(what)
            while not decoder.done:
                wanted = decoder.wants()
                if wanted == http.LINE:
                    decoder.feed(await reader.readuntil(b"\r\n"))
                else:
                    decoder.feed(await reader.readexactly(wanted))
            return decoder.body()
        size = http.content_length(headers, what)
        if size is not None:
            return await reader.readexactly(size)
        parts, total = [], 0  # neither length nor chunks: the body ends with the connection
        while piece := await reader.read(65536):
            total += len(piece)
            if total > http.MAX_ANSWER:
                raise http.too_large(what)
            parts.append(piece)
        return b"".join(parts)

    async def _send(
        self, stream: Stream, method: str, path: str, body: Any, *, connection: str
    ) -> tuple[int, dict[str, str]]:
        """Send one request on ``stream`` and read its status and headers."""
        stream.writer.write(http.request(method, path, body=body, connection=connection))
        await stream.writer.drain()
        return await self._answer(stream.reader, _what(method, path))

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str, seconds: float | None = None) -> AsyncIterator[None]:
        """Turn timeouts and socket errors into one EngineError naming the call."""
        seconds = seconds or self.timeout
        try:
            async with asyncio.timeout(seconds):
                yield
        except TimeoutError as exc:
            raise EngineError(f"{what}: the engine did not answer within {seconds:g} s") from exc
        except asyncio.IncompleteReadError as exc:
            raise EngineError(f"{what}: the engine closed the connection mid-answer") from exc
        except (OSError, ValueError) as exc:
            raise EngineError(f"{what}: the engine could not be reached: {exc}") from exc

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float | None = None,
        lines: bool = False,
        raw: bool = False,
    ) -> Any:
        """Make one call; return its JSON (None when empty; a list of objects with ``lines``, as
        a pull streams its progress; the body's bytes with ``raw``, as logs are). Raise
        EngineError unless the engine answers 2xx."""
        what = _what(method, path)
        async with self._bounded(what, timeout):
            stream = await self._open()
            try:
                status, headers = await self._send(stream, method, path, body, connection="close")
                data = await self._body(stream.reader, headers, what)
            finally:
                stream.close()
        if raw and 200 <= status < 300:
            return data
        return _json(status, data, what, lines=lines)

    async def stream(self, method: str, path: str, body: Any = None) -> Stream:
        """Open a hijacked stream (``attach``); raise EngineError on refusal."""
        async with self._bounded(_what(method, path)):
            stream = await self._open()
            try:
                await self._upgrade(stream, method, path, body)
            except BaseException:
                stream.close()
                raise
        return stream

    async def exec(
        self, container: str, argv: list[str], *, stdin: bool, seconds: float | None = None
    ) -> Stream:
        """Run ``argv`` in the container; return its stream (``docker exec -i`` with ``stdin``).

        The exec is created and started on one kept-alive connection, within ``seconds``
        (default: the timeout).
        """
        what = f"POST /containers/{container[:12]}/exec"
        config = {
            "AttachStdin": stdin,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,
            "Cmd": argv,
        }
        async with self._bounded(what, seconds):
            stream = await self._open()
            try:
                path = f"/containers/{container}/exec"
                status, headers = await self._send(
                    stream, "POST", path, config, connection="keep-alive"
                )
                created = _json(status, await self._body(stream.reader, headers, what), what)
                exec_id = check_id(created.get("Id") if isinstance(created, dict) else None, what)
                start = {"Detach": False, "Tty": False}
                await self._upgrade(stream, "POST", f"/exec/{exec_id}/start", start)
            except BaseException:
                stream.close()
                raise
        return stream

    async def _upgrade(self, stream: Stream, method: str, path: str, body: Any) -> None:
        status, headers = await self._send(stream, method, path, body, connection="Upgrade")
        if status not in (101, 200):
            data = b""
            with contextlib.suppress(EngineError, ValueError, asyncio.IncompleteReadError):
                data = await self._body(stream.reader, headers, _what(method, path))
            raise EngineError(
                f"{_what(method, path)}: the engine answered {status}: {http.message(data)}"
            )


CONTROL_PREFIX = "hostreach-ssh-"
"""The name of each ssh master's control folder starts so, then its process id and ``-``: a
tunnel removes those of killed ones (:func:`hostreach.tunnels.state.remove_control_leftovers`)."""


def _what(method: str, path: str) -> str:
    return f"{method} {path.partition('?')[0]}"


def _json(status: int, data: bytes, what: str, *, lines: bool = False) -> Any:
    return http.decode_json(status, data, what, lines=lines, empty_ok=True)


def check_id(value: object, what: str) -> str:
    """Return an engine object ID (hex, at most 64 digits); EngineError for anything else."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= 64
        and all(c in "0123456789abcdef" for c in value)
    ):
        return value
    raise EngineError(f"{what}: the engine answered an ID that is not one: {str(value)[:40]!r}")
