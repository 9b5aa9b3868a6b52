"""Benchmark hostreach's CLI and API against a bare interpreter start, side by side.

Prints medians and ratios; asserts nothing (timing is for people, not for tests):

    python benchmarks/startup.py [--runs N]

- warm: `python -m hostreach flags` with the engine's answer cached (the common case)
- cold: the same with an empty cache directory, as after an engine restart (which makes every
  cached answer invalid): a full round trip to the engine
- --no-cache: the same round trip, asked for on the command line (so argparse is loaded)
- import: `python -c "import hostreach"`
- route(): one in-process call with cached facts
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

COLD = "flags (cold: nothing cached)"


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    py = sys.executable
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "import hostreach": [py, "-c", "import hostreach"],
        "flags (warm)": [py, "-m", "hostreach", "flags"],
        COLD: [py, "-m", "hostreach", "flags"],
        "flags --no-cache": [py, "-m", "hostreach", "flags", "--no-cache"],
    }
    subprocess.run(cases["flags (warm)"], capture_output=True, check=False)  # fill the cache
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(args.runs):  # interleaved, so load on the machine hits every case alike
            for name, argv in cases.items():
                # Cold: a cache directory of its own, empty, for each run.
                cold = {**os.environ, "XDG_CACHE_HOME": os.path.join(scratch, str(run))}
                times[name].append(wall(argv, cold if name == COLD else None))
    base = statistics.median(times["python -c pass"])
    print(
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()},"
        f" {args.runs} runs each, medians:"
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28} {median * 1000:7.1f} ms  {median / base:5.2f}x")

    import hostreach  # noqa: PLC0415

    hostreach.route()  # probe once; later calls reuse the facts
    per_call = min(timeit.repeat(hostreach.route, number=1000, repeat=5)) / 1000
    print(f"  {'route() with cached facts':28} {per_call * 1e6:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
