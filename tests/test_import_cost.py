"""`import hostreach` and the replayed CLI path load none of the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, Engine

HEAVY = ("docker", "requests", "urllib3", "psutil", "yaml")


def loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    return [m for m in modules if m.split(".")[0] in heavy]


def test_import_hostreach_is_light() -> None:
    # Not even the probes' own libraries: they load on the first collect().
    assert loaded_after("import hostreach", (*HEAVY, "netifaces", "socket")) == []


def test_flags_from_facts_is_light() -> None:
    fixture = FIXTURES / "live" / "debian12-docker-20.10-rootful.json"
    code = f"from hostreach.cli import main\nmain(['flags', '--facts', {str(fixture)!r}])"
    assert loaded_after(code) == []


def test_live_flags_on_a_unix_socket_is_light() -> None:
    # The probe speaks HTTP over the unix socket with the stdlib; whether or not an engine
    # answers, the docker SDK stays unloaded.
    code = "from hostreach.cli import main\nmain(['flags', '--timeout', '1'])"
    assert loaded_after(code) == []


# What a cold `flags` (nothing cached) must not load: each costs several ms of every first call
# after an engine restart (issue 6's cold target; benchmarks/startup.py measures it). typing,
# argparse, json and socket all pull in re and enum.
COLD_STDLIB = ("re", "enum", "typing", "argparse", "json", "socket", "urllib", "http", "email")


def test_cold_bare_flags_loads_no_heavy_stdlib(rootful: Engine, tmp_path: Path) -> None:
    # Modules are listed before the listing's own json import; an empty cache directory makes
    # the call ask the engine (the full probe, resolve and render path).
    code = (
        "import sys\nfrom hostreach.cli import main\ncode = main(['flags'])\n"
        "loaded = sorted(sys.modules)\nimport json\nprint(json.dumps([code, loaded]))"
    )
    env = rootful.env(XDG_CACHE_HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    exit_code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.stdout.startswith("--add-host=host.docker.internal:host-gateway\n")
    assert exit_code == 0
    assert (tmp_path / "hostreach").is_dir()  # it did write its caches: a real cold call
    # Minus what the interpreter loads before any code runs (an editable install's path hook).
    at_start = subprocess.run(
        [sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    unwanted = (*HEAVY, *COLD_STDLIB)
    assert [m for m in set(modules) - set(at_start) if m.split(".")[0] in unwanted] == []
