"""http: the one HTTP/1.x codec of hostreach's engine clients. Sans-IO: bytes in, values out.

Both clients use it, :mod:`hostreach.engine.sync` on a buffer and :mod:`hostreach.engine.aio`
on a stream: the request head, the answer's head, a chunked body (decoded strictly: a truncated
chunk, a chunk without its CRLF or a bad size line is the engine's error, never a short body),
the size cap, and what a status means (issue 21: the two clients had disagreed on all of these).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hostreach.errors import EngineError

MAX_ANSWER = 4 << 20
"""The most one engine answer's body may hold once decoded, in bytes."""
MAX_LINE = 4096
"""The longest chunk-size or trailer line accepted."""
_MAX_TRAILERS = 64
LINE = -1
"""What :meth:`Chunked.wants` says when it needs the next line (up to and with its CRLF)."""


class NotFound(EngineError):
    """The engine answered 404: no such object (a GET's callers take it as None)."""


def request(
    method: str, path: str, *, body: Any = None, connection: str | None = None, http10: bool = False
) -> bytes:
    """The bytes of one request: its head and its JSON body, if any.

    ``http10``: HTTP/1.0, which the engine answers and closes (one answer per connection);
    ``connection``: the Connection header (``keep-alive``, ``close``, ``Upgrade``).
    """
    data = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/{'1.0' if http10 else '1.1'}", "Host: docker"]
    head.append("User-Agent: hostreach")
    if body is not None or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    if connection is not None:
        head.append(f"Connection: {connection}")
    if connection == "Upgrade":
        head.append("Upgrade: tcp")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def parse_head(what: str, head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the (lower-cased) headers of an answer's head; EngineError if it is not
    HTTP. ``what`` names the request in the error."""
    status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise EngineError(f"{what}: not an HTTP answer: {head[:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(fields[1]), headers


def is_chunked(headers: dict[str, str]) -> bool:
    """Whether the body is sent in chunks."""
    return headers.get("transfer-encoding", "").lower() == "chunked"


def content_length(headers: dict[str, str], what: str) -> int | None:
    """The body's announced length (None: not announced); EngineError above the cap."""
    text = headers.get("content-length", "")
    if not text.isdecimal() or not text.isascii():
        return None
    size = int(text)
    if size > MAX_ANSWER:
        raise too_large(what)
    return size


def too_large(what: str) -> EngineError:
    """The error of an answer over :data:`MAX_ANSWER`."""
    return EngineError(
        f"{what}: the engine answered more than {MAX_ANSWER >> 20} MiB: is this socket a"
        " container engine's?"
    )


class Chunked:
    """One chunked body (RFC 9112 section 7.1), fed piece by piece as :meth:`wants` asks.

    Its reader gives it exactly the next line or the next chunk with its CRLF, and never more:
    on a kept-alive connection, what follows the body is the next answer's.
    """

    def __init__(self, what: str, limit: int = MAX_ANSWER) -> None:
        self.what = what
        self.limit = limit
        self.parts: list[bytes] = []
        self.total = 0
        self.done = False
        self._size: int | None = None  # the chunk being read; None: a size line comes next
        self._trailing = False
        self._trailers = 0

    def wants(self) -> int:
        """:data:`LINE` for the next line, else the number of bytes of the next chunk (CRLF
        included)."""
        return LINE if self._size is None else self._size + 2

    def feed(self, piece: bytes) -> None:
        """Take what :meth:`wants` asked for; EngineError where it is not what HTTP allows."""
        if self._size is not None:
            if len(piece) != self._size + 2 or piece[-2:] != b"\r\n":
                raise EngineError(f"{self.what}: a chunk of the engine's answer broke off")
            self.parts.append(piece[:-2])
            self._size = None
            return
        if not piece.endswith(b"\r\n") or len(piece) > MAX_LINE:
            raise EngineError(f"{self.what}: the engine's chunked answer broke off")
        if self._trailing:  # trailer fields, ended by an empty line
            self._trailers += 1
            if piece == b"\r\n":
                self.done = True
            elif self._trailers > _MAX_TRAILERS:
                raise EngineError(f"{self.what}: the engine's answer has too many trailers")
            return
        size = _chunk_size(piece[:-2], self.what)
        if size == 0:
            self._trailing = True
            return
        self.total += size
        if self.total > self.limit:
            raise too_large(self.what)
        self._size = size

    def body(self) -> bytes:
        """The decoded body; EngineError unless it ended."""
        if not self.done:
            raise EngineError(f"{self.what}: the engine's chunked answer broke off")
        return b"".join(self.parts)


def _chunk_size(line: bytes, what: str) -> int:
    text = line.split(b";", 1)[0].strip()
    if not text or len(text) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in text):
        raise EngineError(f"{what}: the engine's chunked answer has a bad size line: {line[:40]!r}")
    return int(text, 16)


def dechunk(raw: bytes, what: str) -> tuple[bytes, bytes]:
    """Decode the chunked body ``raw`` starts with; return it and the bytes after it."""
    decoder = Chunked(what)
    at = 0
    while not decoder.done:
        wanted = decoder.wants()
        if wanted == LINE:
            end = raw.find(b"\r\n", at, at + MAX_LINE)
            piece = raw[at : end + 2] if end >= 0 else raw[at : at + MAX_LINE + 1]
        else:
            piece = raw[at : at + wanted]
        if not piece or (wanted != LINE and len(piece) < wanted):
            raise EngineError(f"{what}: the engine's chunked answer broke off")
        decoder.feed(piece)
        at += len(piece)
    return decoder.body(), raw[at:]


def decode_json(
    status: int, body: bytes, what: str, *, lines: bool = False, empty_ok: bool = False
) -> Any:
    """The JSON of a 2xx answer (a list of objects with ``lines``, as a pull streams its
    progress; ``empty_ok``: None for an empty body, which a GET's answer never is). NotFound
    for 404, EngineError for any other status or bad JSON."""
    if status == 404:
        raise NotFound(f"{what}: the engine answered 404: {message(body)}")
    if not 200 <= status < 300:
        raise EngineError(f"{what}: the engine answered {status}: {message(body)}")
    try:
        if lines:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        return None if empty_ok and not body.strip() else json.loads(body)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
        raise EngineError(
            f"{what} did not answer JSON ({type(exc).__name__}): is this socket a container"
            " engine's?"
        ) from exc


def message(data: bytes) -> str:
    """The engine's own error message, one printable line."""
    with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError, IndexError):
        text = str(json.loads(data)["message"]).splitlines()[0][:300]
        return text if text.isprintable() else repr(text)
    shown = data[:200].decode("utf-8", "replace").strip() or "(no message)"
    return shown if shown.isprintable() else repr(shown)
