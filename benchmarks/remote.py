"""Benchmark `hostreach flags` against a remote engine, side by side with its baselines.

Prints medians and ratios; asserts nothing. Needs the remote engine `.ci/engines.sh` starts
(tcp://10.250.0.2:2375, and ssh://hr-remote-ssh through root's ssh config):

    python benchmarks/remote.py [--runs N]

- tcp://: `flags` against the remote engine beside the same call against the local one (the
  difference is the engine round trips), both asked every time; and warm, its answer kept
- ssh://: `flags` beside `docker version` over the same ssh (both open ssh sessions)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from startup import wall  # the same measurement, from a neutral directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    flags = [py, "-m", "hostreach", "flags"]
    local = {**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"}
    tcp = {**os.environ, "DOCKER_HOST": "tcp://10.250.0.2:2375"}
    ssh = {**os.environ, "DOCKER_HOST": "ssh://hr-remote-ssh"}
    cases = {
        "python -c pass": ([py, "-c", "pass"], local),
        "flags --no-cache, local socket": ([*flags, "--no-cache"], local),
        "flags, tcp:// engine": ([*flags, "--no-cache"], tcp),
        "flags, tcp:// engine, warm": (flags, tcp),
        "docker version, ssh://": (["docker", "version"], ssh),
        "flags, ssh:// engine": ([*flags, "--no-cache"], ssh),
    }
    wall(flags, tcp)  # keep the warm answer
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (argv, env) in cases.items():
            times[name].append(wall(argv, env))
            time.sleep(0.05)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["python -c pass"]
    print(f"{args.runs} runs each, medians:")
    for name, median in medians.items():
        print(f"  {name:34} {median * 1000:7.1f} ms  {median / base:5.2f}x python -c pass")
    tcp_more = medians["flags, tcp:// engine"] - medians["flags --no-cache, local socket"]
    print(f"  tcp:// cold minus local cold: {tcp_more * 1000:+.1f} ms")
    ratio = medians["flags, ssh:// engine"] / medians["docker version, ssh://"]
    print(f"  ssh:// flags / docker version over ssh: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
