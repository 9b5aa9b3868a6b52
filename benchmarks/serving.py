"""What the benchmarks' stand-in services share: accept for ever, a thread per connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def serve_in_threads(sock: socket.socket, serve: Callable[[socket.socket], None]) -> int:
    """Accept on ``sock`` in a daemon thread, each connection served by ``serve`` in its own;
    return the port it listens on."""

    def accept() -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return int(sock.getsockname()[1])
