"""Benchmark hostreach's CLI and API against a bare interpreter start, side by side.

Prints medians and ratios; asserts nothing (timing is for people, not for tests):

    python benchmarks/startup.py [--runs N]

Each command line is measured through both entry points, `python -m hostreach` and the
installed `hostreach` console script (found next to the interpreter):

- warm: `flags` with its answer kept from an earlier call (the common case)
- cold: the same with an empty cache directory, as after an engine restart (which makes every
  kept answer invalid): the full path and a round trip to the engine
- --no-cache: the same round trip, asked for on the command line
- import: `python -c "import hostreach"`
- route(), new process: `hostreach.route()` in a fresh interpreter, its answer kept
- route(): one in-process call once it has answered

Each beside its own floor (issue 21's targets): `python -m` of an empty module for
`python -m hostreach flags` (warm within 1.15x), pip's console-script wrapper calling a
function that does nothing for the `hostreach` script (warm within 1.15x), and `docker version`
on the same engine for a cold answer (within 2.5x).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from typing import NamedTuple


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    # From a neutral directory: `python -m` puts the working directory first on sys.path, and in
    # a checkout that would measure the source tree instead of the installed package.
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    py = sys.executable
    script = shutil.which("hostreach", path=os.path.dirname(py))
    if script is None:
        parser.error(f"no hostreach console script next to {py}: pip install . first")
    route_code = "import hostreach; hostreach.route()"
    floors = _floors(py)
    docker = shutil.which("docker")
    cases: dict[str, tuple[list[str], bool]] = {  # name: (argv, cold)
        "python -c pass": ([py, "-c", "pass"], False),
        "python -m EMPTY": ([py, "-m", floors.module], False),
        "pip's wrapper, doing nothing": ([py, floors.script], False),
        # The floors of the two entry points: what `python -m` loads (runpy), and what pip's
        # console-script wrapper loads before calling hostreach (it runs `import re`).
        "python -c 'import runpy'": ([py, "-c", "import runpy"], False),
        "python -c 'import re'": ([py, "-c", "import re"], False),
        "import hostreach": ([py, "-c", "import hostreach"], False),
        "python -m hostreach flags, warm": ([py, "-m", "hostreach", "flags"], False),
        "hostreach flags, warm": ([script, "flags"], False),
        "route(), new process, warm": ([py, "-c", route_code], False),
        "python -m hostreach flags, cold": ([py, "-m", "hostreach", "flags"], True),
        "hostreach flags, cold": ([script, "flags"], True),
        "flags --no-cache": ([py, "-m", "hostreach", "flags", "--no-cache"], False),
    }
    if docker is not None:
        cases["docker version"] = ([docker, "version"], False)
    for argv, _ in cases.values():  # fill the caches
        wall(argv)
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(args.runs):  # interleaved, so load on the machine hits every case alike
            for name, (argv, cold) in cases.items():
                # Cold: a cache directory of its own, empty, for each run.
                env = {**os.environ, "XDG_CACHE_HOME": os.path.join(scratch, f"{run}-{name}")}
                times[name].append(wall(argv, env if cold else None))
                time.sleep(0.05)  # let the engine finish its own work: 2 cores are shared
    base = statistics.median(times["python -c pass"])
    print(
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()},"
        f" {args.runs} runs each, medians, side by side with `python -c pass`:"
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:34} {median * 1000:7.1f} ms  {median / base:5.2f}x")

    _ratios(times)
    import hostreach  # noqa: PLC0415

    hostreach.route()  # answers once; later calls reuse it
    per_call = min(timeit.repeat(hostreach.route, number=1000, repeat=5)) / 1000
    print(f"  {'route(), in process, again':34} {per_call * 1e6:7.2f} us")
    return 0


class Floors(NamedTuple):
    """What the entry points are measured against: an empty module, and pip's wrapper."""

    module: str
    script: str


def _floors(py: str) -> Floors:
    # In the neutral directory `wall` runs from: `python -m NAME` finds NAME.py there.
    folder = tempfile.gettempdir()
    name = "hostreach_bench_empty"
    with open(os.path.join(folder, f"{name}.py"), "w", encoding="ascii") as f:
        f.write("def main() -> int:\n    return 0\n")
    script = os.path.join(folder, "hostreach_bench_wrapper")
    with open(script, "w", encoding="ascii") as f:  # the text pip writes for a console script
        f.write(
            f"#!{py}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {name} import main\n"
            "if __name__ == '__main__':\n"
            "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
            "    sys.exit(main())\n"
        )
    return Floors(name, script)


def _ratios(times: dict[str, list[float]]) -> None:
    """Each entry point beside its floor, as the targets are stated."""
    pairs = [
        ("python -m hostreach flags, warm", "python -m EMPTY", 1.15),
        ("hostreach flags, warm", "pip's wrapper, doing nothing", 1.15),
        ("python -m hostreach flags, cold", "docker version", 2.5),
        ("hostreach flags, cold", "docker version", 2.5),
    ]
    print("beside their floors:")
    for case, floor, target in pairs:
        if case in times and floor in times:
            ratio = statistics.median(times[case]) / statistics.median(times[floor])
            verdict = "met" if ratio <= target else "NOT met"
            print(f"  {case:34} {ratio:5.2f}x {floor} (target {target}x: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
