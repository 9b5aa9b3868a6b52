"""Benchmark `hostreach flags --strategy discover` beside `check` and a bare container start.

Prints medians and ratios; asserts nothing. Needs an engine with the test image that
`.ci/engines.sh` imports (localhost/hostreach-test:busybox); DOCKER_HOST chooses it (default:
the rootful socket; the VM lab's is unix:///run/hostreach-vm/docker.sock):

    python benchmarks/discover.py [--runs N] [--check-args "--runtime lima"]

Measured on 2 cores (2026-12-03): rootful Docker 20.10: docker run 0.81 s, check 1.73x, discover
cold 1.87x, warm 0.11x; the VM lab's engine under TCG: docker run 6.9 s, check (--runtime lima)
0.91x, discover cold 1.20x (2 s more than check: its candidates' wait), warm 0.01x. One
container start plus --timeout, as targeted.

- `docker run --rm IMAGE true`: the cost of one container, the floor of any proof
- `check --port N`: one container that proves one route and connects to the port
- `flags --strategy discover`, cold (`--no-cache`): one container that tries every candidate;
  the target (issue 24) is one container start plus `--timeout`
- the same, warm: the stored answer, as any other `flags` answer
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time

from startup import wall  # the same measurement, from a neutral directory

IMAGE = "localhost/hostreach-test:busybox"


def _service() -> int:
    """A service on 127.0.0.1 for `check` to connect to; its port."""
    server = socket.create_server(("0.0.0.0", 0))

    def answer() -> None:
        while True:
            conn, _ = server.accept()
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return int(server.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--check-args",
        default="",
        help="more arguments for check, where auto has no route (the VM lab: --runtime lima)",
    )
    args = parser.parse_args()
    py = sys.executable
    env = {**os.environ}
    env.setdefault("DOCKER_HOST", "unix:///var/run/docker.sock")
    port = str(_service())
    discover = [py, "-m", "hostreach", "flags", "--strategy", "discover", "--image", IMAGE]
    cases = {
        "docker run --rm IMAGE true": (["docker", "run", "--rm", IMAGE, "true"], env),
        "check --port N": (
            [
                py,
                "-m",
                "hostreach",
                "check",
                "--port",
                port,
                "--image",
                IMAGE,
                *args.check_args.split(),
            ],
            env,
        ),
        "flags --strategy discover, cold": ([*discover, "--no-cache"], env),
        "flags --strategy discover, warm": (discover, env),
    }
    wall(discover, env)  # keep the warm answer
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (argv, case_env) in cases.items():
            times[name].append(wall(argv, case_env))
            time.sleep(0.05)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["docker run --rm IMAGE true"]
    print(f"{args.runs} runs each against {env['DOCKER_HOST']}, medians:")
    for name, median in medians.items():
        print(f"  {name:34} {median * 1000:8.1f} ms  {median / base:5.2f}x docker run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
