"""A short-lived listener on the caller that answers one random token: ``check``'s proof that a
route leads to this machine (and not to the engine's, where a service may answer the same port).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def listener(address: str) -> Iterator[tuple[int, str]]:
    """Listen on ``address`` (a free port) while the block runs; yield ``(port, token)``."""
    token = f"hostreach-proof-{secrets.token_hex(8)}"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((address, 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(token.encode() + b"\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], token
    finally:
        stop.set()
        thread.join(2)
        server.close()
