"""Benchmark `hostreach relay` side by side with a direct connection to the same service.

Prints throughputs, ratios and the relay's own CPU time; asserts nothing. Needs the local rootful
engine `.ci/engines.sh` starts (its bridge gateway is where the relay listens):

    python benchmarks/relay.py [--runs N] [--size BYTES] [--image IMAGE]

A service on this machine reads each connection to its end and answers with the count; it
listens on 127.0.0.1 (reached through the relay) and on 0.0.0.0 (reached directly):

- from a container: busybox `nc` sends SIZE bytes to host.docker.internal (host-gateway), to
  the relay's port and to the direct one, timed inside the container;
- from this machine: the same with busybox `nc` to the relay's address (the bridge gateway) and
  directly to 127.0.0.1;
- the relay's CPU time (user + system, from /proc) per GB it carried: the cost that competes
  with the client and the service for the CPUs, steadier than a throughput on a busy machine.

Issue 26's goal: the relay at 0.9x or more of the direct connection, containers and host.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

from serving import serve_in_threads

REAL = r"real\s+(?:(\d+)m\s*)?([\d.]+)s"
"""busybox `time`'s elapsed line."""


def count_server(address: str) -> int:
    """A service that reads each connection to its end, then says how many bytes it read."""
    sock = socket.create_server((address, 0), backlog=64)

    def serve(conn: socket.socket) -> None:
        buffer = bytearray(1 << 20)
        count = 0
        with conn:
            while read := conn.recv_into(buffer):
                count += read
            conn.sendall(b"done %d\n" % count)

    return serve_in_threads(sock, serve)


def from_container(env: dict[str, str], image: str, port: int, size: int) -> float:
    """MB/s of SIZE bytes sent from a container to host.docker.internal:PORT."""
    script = f"time sh -c 'head -c {size} /dev/zero | nc host.docker.internal {port}'"
    route = "--add-host=host.docker.internal:host-gateway"
    done = subprocess.run(
        ["docker", "run", "--rm", route, image, "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found = re.search(REAL, done.stderr)
    if found is None or f"done {size}" not in done.stdout:
        raise SystemExit(f"the transfer did not complete: {done.stdout} {done.stderr}")
    return size / (int(found.group(1) or 0) * 60 + float(found.group(2))) / 1e6


def from_here(host: str, port: int, size: int) -> float:
    """MB/s of SIZE bytes sent from this machine to HOST:PORT with busybox nc."""
    started = time.perf_counter()
    done = subprocess.run(
        ["sh", "-c", f"head -c {size} /dev/zero | busybox nc {host} {port}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if f"done {size}" not in done.stdout:
        raise SystemExit(f"the transfer did not complete: {done.stdout} {done.stderr}")
    return size / (time.perf_counter() - started) / 1e6


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds the process has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=400_000_000)
    parser.add_argument("--image", default="localhost/hostreach-test:busybox")
    args = parser.parse_args()
    env = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}
    behind = count_server("127.0.0.1")
    direct = count_server("0.0.0.0")
    relay = subprocess.Popen(
        [sys.executable, "-m", "hostreach", "relay", "--port", str(behind), "--no-cache"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert relay.stdout is not None
        said = relay.stdout.readline()
        found = re.search(r"relay: (\S+):\d+ ->", said)
        if found is None:
            raise SystemExit(f"the relay did not start: {said!r}")
        gateway = found.group(1)
        ratios: dict[str, list[float]] = {"container": [], "host": []}
        speeds: dict[str, list[float]] = {}
        per_gb: dict[str, list[float]] = {"container": [], "host": []}
        for _ in range(args.runs):
            pairs: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {
                "container": (
                    partial(from_container, env, args.image, direct, args.size),
                    partial(from_container, env, args.image, behind, args.size),
                ),
                "host": (
                    partial(from_here, "127.0.0.1", behind, args.size),
                    partial(from_here, gateway, behind, args.size),
                ),
            }
            for where, (plain, relayed) in pairs.items():
                alone = plain()
                before = cpu_seconds(relay.pid)
                through = relayed()
                per_gb[where].append((cpu_seconds(relay.pid) - before) / (args.size / 1e9))
                ratios[where].append(through / alone)
                speeds.setdefault(f"{where} direct", []).append(alone)
                speeds.setdefault(f"{where} relay", []).append(through)
        print(f"{args.runs} runs of {args.size / 1e6:.0f} MB each, medians:")
        for name, values in speeds.items():
            print(f"  {name:18} {statistics.median(values):7.0f} MB/s")
        for where, values in ratios.items():
            each = " ".join(f"{v:.2f}" for v in values)
            print(f"  {where}: relay / direct {statistics.median(values):.2f}x ({each}; goal 0.9x)")
            print(f"    the relay's CPU: {statistics.median(per_gb[where]):.2f} s per GB carried")
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
