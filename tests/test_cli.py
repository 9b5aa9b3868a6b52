"""The CLI contract: stdout holds only the answer, exit codes 0/1/2, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from hostreach.cli import COMMANDS, bare_defaults, build_parser, main

ROOTFUL = str(FIXTURES / "live" / "debian12-docker-20.10-rootful.json")
ROOTLESS = str(FIXTURES / "live" / "debian12-docker-20.10-rootless.json")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostreach", *args], capture_output=True, text=True, check=False
    )


def test_shell_format_is_one_flag_per_line() -> None:
    done = run("flags", "--facts", ROOTFUL, "--alias", "local", "--alias", "host.docker.internal")
    assert done.returncode == 0
    assert done.stdout == (
        "--add-host=local:host-gateway\n--add-host=host.docker.internal:host-gateway\n"
    )
    assert done.stderr == ""


def test_warnings_go_to_stderr_only() -> None:
    done = run("flags", "--facts", ROOTLESS)
    assert done.returncode == 0
    assert done.stdout == "--add-host=host.docker.internal:192.0.2.2\n"
    assert "warning: the host service must listen on 192.0.2.2" in done.stderr


def test_json_format() -> None:
    done = run("flags", "--facts", ROOTFUL, "--format", "json")
    route = json.loads(done.stdout)
    for key in (
        "runtime",
        "rootless",
        "remote",
        "strategy",
        "hosts",
        "flags",
        "reason",
        "warnings",
    ):
        assert key in route
    assert route["hosts"] == {"host.docker.internal": "host-gateway"}
    assert isinstance(route["reason"], str)
    assert route["reason"].endswith(".")


@pytest.mark.parametrize(
    "args",
    [
        ["flags", "--alias", "$(reboot)"],
        ["flags", "--alias", ""],
        ["flags", "--strategy", "teleport"],
        ["flags", "--runtime", "lxc"],
        ["flags", "--timeout", "-1"],
        ["flags", "--timeout", "nan"],
        ["flags", "--timeout", "1e9"],
        ["flags", "--format", "xml"],
        ["flags", "--no-c"],  # no abbreviations: the warm path must see --no-cache as spelled
        ["frobnicate"],
        [],
    ],
)
def test_bad_usage_exits_2_with_nothing_on_stdout(args: list[str]) -> None:
    done = run(*args, "--facts", ROOTFUL) if args and args[0] == "flags" else run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "facts file not found"),
        ("{oops", "not valid JSON"),
        ('{"daemon": {"info": "text"}}', "facts.daemon.info must be an object"),
        ('{"schema": 9}', "schema 9 is not supported"),
    ],
)
def test_bad_facts_files_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "facts.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    for command in ("flags", "facts"):
        done = run(command, "--facts", str(path))
        assert done.returncode == 2
        assert done.stdout == ""
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_no_route_exits_1() -> None:
    done = run(
        "flags",
        "--facts",
        str(FIXTURES / "live" / "debian12-podman-4.3.1-rootful.json"),
        "--strategy",
        "host-gateway",
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "does not support host-gateway" in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = run("flags", "--facts", "/nonexistent.json", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr


def test_malformed_docker_host_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://host:notaport")
    assert main(["flags"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "DOCKER_HOST='tcp://host:notaport' is not a valid engine address" in err


def test_facts_prints_a_replayable_snapshot() -> None:
    done = run("facts", "--facts", ROOTFUL)
    assert done.returncode == 0
    assert json.loads(done.stdout)["daemon"]["info"]["ServerVersion"] == "20.10.24+dfsg1"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bare_command_gets_what_argparse_would_give(command: str) -> None:
    # `python -m hostreach flags` reads its defaults without argparse (cli._Defaults); they
    # must be exactly what parsing gives, or None where the command needs arguments.
    try:
        parsed = vars(build_parser(only=command).parse_args([command]))
    except SystemExit:
        assert bare_defaults(command) is None
        return
    assert bare_defaults(command) == parsed
