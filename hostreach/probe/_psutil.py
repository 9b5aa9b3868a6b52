"""Listening sockets: the only module that imports psutil, lazily (about 50 ms).

On Linux, psutil lists every socket of this network namespace but leaves ``pid`` empty for other
users' processes unless run as root. On macOS it raises AccessDenied unless run as root
(psutil docs, ``net_connections``), which becomes a recorded problem, never a crash.
"""

from __future__ import annotations

from typing import Any


def read_listeners(ports: tuple[int, ...]) -> tuple[dict[str, Any] | None, list[str]]:
    """Return the ``listening`` fields of the facts for these TCP ports, and any problem met."""
    import psutil  # noqa: PLC0415

    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None, [
            "listing sockets needs root on this system (psutil AccessDenied); run with sudo"
            " to see which address the service listens on"
        ]
    except OSError as exc:
        return None, [f"listing sockets failed: {exc}"]
    wanted = set(ports)
    sockets = []
    seen = set()
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port not in wanted:
            continue
        key = (conn.laddr.port, conn.laddr.ip, conn.pid)
        if key in seen:  # SO_REUSEPORT: one line per socket is noise
            continue
        seen.add(key)
        sockets.append(
            {
                "port": conn.laddr.port,
                "address": conn.laddr.ip.split("%")[0],
                "pid": conn.pid,
                "process": _process_name(psutil, conn.pid),
            }
        )
    sockets.sort(key=lambda s: (s["port"], s["address"]))
    return {"ports": list(ports), "sockets": sockets}, []


def _process_name(psutil: Any, pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        return str(psutil.Process(pid).name())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
