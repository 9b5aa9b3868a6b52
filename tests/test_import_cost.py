"""`import hostreach` and the replayed CLI path load none of the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOTFUL, Engine, cli

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
    fixture = ROOTFUL
    code = f"from hostreach.cli import main\nmain(['flags', '--facts', {str(fixture)!r}])"
    assert loaded_after(code) == []


def test_live_flags_on_a_unix_socket_is_light() -> None:
    # The probe speaks HTTP over the unix socket with the stdlib; whether or not an engine
    # answers, the docker SDK stays unloaded.
    code = "from hostreach.cli import main\nmain(['flags', '--timeout', '1'])"
    assert loaded_after(code) == []


@pytest.mark.engine
def test_cold_bare_flags_loads_no_heavy_library(rootful: Engine, tmp_path: Path) -> None:
    # An empty cache directory makes the call ask the engine (the full probe, resolve and render
    # path); it speaks HTTP on the socket itself, so neither the docker SDK nor the others load.
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
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []


def test_flags_loads_no_help_machinery() -> None:
    # argparse on 3.14 sets up help colours for every formatter it makes (_colorize brings
    # dataclasses, inspect, dis and tokenize: 7-12 ms); its terminal width would bring shutil
    # (bz2, lzma). A command line that prints no help needs none of them.
    fixture = ROOTFUL
    code = f"from hostreach.cli import main\nmain(['flags', '--facts', {str(fixture)!r}])"
    unused = ("_colorize", "dataclasses", "inspect", "shutil", "bz2", "lzma")
    assert loaded_after(code, unused) == []


def test_help_keeps_pythons_colours_where_python_has_them() -> None:
    # The colours, set up only once help is written, are argparse's own (FORCE_COLOR: as on a
    # terminal); before 3.14 argparse has none.
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    done = cli("flags", "--help", env=env, check=True)
    assert ("\x1b[" in done.stdout) == (sys.version_info >= (3, 14))
    assert "--strategy" in done.stdout


def test_flags_loads_nothing_only_other_commands_need() -> None:
    # compose-override's rules and --strategy discover's plan stay off the flags path.
    probe = (
        f"from hostreach.cli import main\nmain(['flags', '--facts', {str(ROOTFUL)!r}])\n"
        "import sys, json\nprint(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert (
        modules & {"hostreach.composition", "hostreach.discovery", "hostreach.operations"} == set()
    )
