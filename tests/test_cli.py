"""The CLI contract: stdout holds only the answer, exit codes 0/1/2, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PODMAN, ROOTFUL, ROOTLESS, cli

from hostreach.cli import COMMANDS, main, split_run


def test_shell_format_is_one_flag_per_line() -> None:
    done = cli("flags", "--facts", ROOTFUL, "--alias", "local", "--alias", "host.docker.internal")
    assert done.returncode == 0
    assert done.stdout == (
        "--add-host=local:host-gateway\n--add-host=host.docker.internal:host-gateway\n"
    )
    assert done.stderr == ""


def test_warnings_go_to_stderr_only() -> None:
    done = cli("flags", "--facts", ROOTLESS)
    assert done.returncode == 0
    assert done.stdout == "--add-host=host.docker.internal:192.0.2.2\n"
    assert "warning: the host service must listen on 192.0.2.2" in done.stderr


def test_json_format() -> None:
    done = cli("flags", "--facts", ROOTFUL, "--format", "json")
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
        ["frobnicate"],
        [],
    ],
)
def test_bad_usage_exits_2_with_nothing_on_stdout(args: list[str]) -> None:
    done = cli(*args, "--facts", ROOTFUL) if args and args[0] == "flags" else cli(*args)
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
        done = cli(command, "--facts", str(path))
        assert done.returncode == 2
        assert done.stdout == ""
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_no_route_exits_1() -> None:
    done = cli("flags", "--facts", PODMAN, "--strategy", "host-gateway")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "does not support host-gateway" in done.stderr


# Ctrl-C comes at a chosen moment: the child signals itself as the module is looked for,
# so the interrupt lands while the command line loads, where no command's handler runs yet.
_INTERRUPTED_IMPORT = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
from hostreach.entry import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("module", ["hostreach.prefetch", "hostreach.cli", "hostreach.commands"])
def test_ctrl_c_while_loading_is_one_line_and_130(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT, module, "flags", "--facts", str(ROOTFUL)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "hostreach: interrupted\n")


# The program leaves without the interpreter's teardown only where that would do nothing else
# (entry.run): a handler registered with atexit still runs, and a thread still running is
# waited for, as Python's own exit does.
_AFTER_MAIN = """
import atexit, sys, threading, time
import hostreach.entry as entry
answered = threading.Event()
def late():
    answered.wait()
    time.sleep(0.3)  # well after run() has its exit code: a skipped wait ends the process first
    sys.stderr.write("thread finished\\n")
answer = entry.main
def main():
    code = answer(sys.argv[2:])
    answered.set()
    return code
entry.main = main
if sys.argv[1] == "thread":
    threading.Thread(target=late).start()
else:
    atexit.register(lambda: sys.stderr.write("handler ran\\n"))
entry.run()
"""


@pytest.mark.parametrize(
    ("waiting", "said"), [("thread", "thread finished\n"), ("handler", "handler ran\n")]
)
def test_the_program_exits_with_what_python_would_still_do_at_exit(waiting: str, said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _AFTER_MAIN, waiting, "flags", "--facts", str(ROOTFUL)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "--add-host=host.docker.internal:host-gateway\n")
    assert done.stderr.endswith(said)


def test_debug_shows_the_traceback() -> None:
    done = cli("flags", "--facts", "/nonexistent.json", "--debug")
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
    done = cli("facts", "--facts", ROOTFUL)
    assert done.returncode == 0
    assert json.loads(done.stdout)["daemon"]["info"]["ServerVersion"] == "20.10.24+dfsg1"


REPLAYABLE = {"flags", "address", "run", "compose-override", "doctor", "facts"}
LIVE_ONLY = {
    "endpoint": ["web", "80"],
    "network": ["net"],
    "check": ["--port", "1"],
    "relay": ["--port", "1"],
    "tunnel": ["--port", "1"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_facts_is_offered_exactly_where_a_snapshot_answers(command: str) -> None:
    # check, relay, endpoint and network act on a live engine or this machine: no --facts.
    if command == "run":  # its --help is the engine's; its own options are split off first
        assert split_run(["--facts", "f.json", "IMAGE"]) == (["--facts", "f.json"], ["IMAGE"])
        return
    shown = cli(command, "--help", check=True).stdout
    assert ("--facts FILE" in shown) is (command in REPLAYABLE)
    if command not in REPLAYABLE:
        done = cli(command, *LIVE_ONLY[command], "--facts", ROOTFUL)
        assert done.returncode == 2
        assert "unrecognized arguments: --facts" in done.stderr


def test_runs_own_port_and_image_options_are_split_off_before_the_engines() -> None:
    # `run --port N` names a port a tunnel must carry; docker run has no --port, so it was
    # handed to docker (the split read the route options but not the port).
    assert split_run(["--port", "5432", "--strategy", "discover", "--image", "img", "IMAGE"]) == (
        ["--port", "5432", "--strategy", "discover", "--image", "img"],
        ["IMAGE"],
    )
