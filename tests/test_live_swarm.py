"""A two-node swarm (issue 25): this machine's rootful engine is the manager, the remote engine
in its own network namespace (its own machine) the worker, and a decoy answers the caller's
port on the worker's machine. Every task of a service made with hostreach's route reads the
caller's token, on both nodes; with host-gateway the worker's task reads the decoy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    CALLER_ADDRESS,
    IMAGE,
    Engine,
    HostServer,
    cli,
    decoy_on_the_engines_machine,
    skip_or_fail,
)

pytestmark = pytest.mark.engine

WORKER_ADDRESS = "10.250.0.2"
WAIT = 90.0
"""Seconds a swarm may take to converge on a loaded machine (measured: about 1 s idle)."""


def _until(what: str, done: object) -> None:
    """Wait for ``done()`` to be true, or fail the test naming ``what``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _state(engine: Engine) -> str:
    return engine.docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def _networks(engine: Engine) -> set[str]:
    return set(engine.docker("network", "ls", "--format", "{{.Name}}").split())


@pytest.fixture(scope="module")
def swarm(rootful: Engine, remote: Engine) -> Iterator[Engine]:
    """The rootful engine as the manager of a swarm the remote engine joined as a worker; both
    left as they were found (no swarm, no docker_gwbridge they did not have)."""
    if _state(rootful) != "inactive" or _state(remote) != "inactive":
        skip_or_fail("the rootful or the remote engine is already in a swarm")
    before = {rootful.name: _networks(rootful), remote.name: _networks(remote)}
    try:
        rootful.docker(
            "swarm", "init", "--advertise-addr", CALLER_ADDRESS, "--listen-addr",
            f"{CALLER_ADDRESS}:2377",
        )  # fmt: skip
        token = rootful.docker("swarm", "join-token", "-q", "worker").strip()
        remote.docker(
            "swarm", "join", "--token", token, "--advertise-addr", WORKER_ADDRESS,
            f"{CALLER_ADDRESS}:2377",
        )  # fmt: skip

        def both_ready() -> bool:
            states = rootful.docker("node", "ls", "--format", "{{.Status}}").split()
            return states == ["Ready", "Ready"]

        _until("both nodes to be ready", both_ready)
        yield rootful
    finally:
        for engine in (remote, rootful):
            engine.docker("swarm", "leave", "--force", check=False)
            for left in _networks(engine) - before[engine.name]:
                engine.docker("network", "rm", left, check=False)


def test_the_engines_kept_answers_from_before_the_swarm_do_not_hide_it(
    rootful: Engine, request: pytest.FixtureRequest
) -> None:
    # Runs first: the engine's answers are kept while its socket is the same, and a swarm
    # init keeps the socket (the full suite failed so, every earlier test having kept them).
    cli("flags", env=rootful.env(), check=True)
    cli("facts", env=rootful.env(), check=True)
    swarm: Engine = request.getfixturevalue("swarm")
    done = cli("flags", "--for", "service", env=swarm.env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"--host=host.docker.internal:{CALLER_ADDRESS}"]


def _tasks_read(engine: Engine, service: str) -> list[str]:
    """Each task's output, once every task of the global service has ended."""

    def ended() -> bool:
        states = engine.docker("service", "ps", "--format", "{{.CurrentState}}", service).split(
            "\n"
        )
        states = [s for s in states if s]
        return len(states) == 2 and all(s.startswith(("Complete", "Failed")) for s in states)

    _until(f"both tasks of {service}", ended)
    tasks = engine.docker("service", "ps", "-q", service).split()
    return [engine.docker("service", "logs", "--raw", task) for task in tasks]


@pytest.fixture
def decoy(server: HostServer, swarm: Engine) -> Iterator[str]:
    """A service on the worker's machine on the caller's port."""
    with decoy_on_the_engines_machine(server.port) as text:
        yield text


def _service(swarm: Engine, name: str, flags: list[str], port: int) -> list[str]:
    swarm.docker(
        "service", "create", "--detach", "--name", name, "--mode", "global",
        "--restart-condition", "none", "--no-resolve-image", *flags, IMAGE,
        "sh", "-c", f"nc -w 5 host.docker.internal {port} </dev/null; echo nc-exit=$?",
    )  # fmt: skip
    try:
        return _tasks_read(swarm, name)
    finally:
        swarm.docker("service", "rm", name, check=False)


def test_a_service_made_with_the_flags_reads_the_caller_on_every_node(
    swarm: Engine, server: HostServer, decoy: str
) -> None:
    done = cli("flags", "--for", "service", env=swarm.env(), check=True)
    flags = done.stdout.split()
    assert flags == [f"--host=host.docker.internal:{CALLER_ADDRESS}"], done.stderr
    read = _service(swarm, "hostreach-test-flags", flags, server.port)
    assert len(read) == 2
    for output in read:
        assert server.token in output, read
        assert decoy not in output
    # The control: host-gateway sends the worker's task to its own machine, the decoy.
    forced = cli("flags", "--for", "service", "--strategy", "host-gateway", env=swarm.env())
    assert forced.stdout.split() == ["--host=host.docker.internal:host-gateway"]
    assert "swarm-node-local" not in forced.stderr  # the note's words, not its id
    assert "its own node's machine" in forced.stderr
    read = _service(swarm, "hostreach-test-forced", forced.stdout.split(), server.port)
    assert sorted(decoy in output for output in read) == [False, True], read
    assert sum(server.token in output for output in read) == 1, read


def test_a_stack_deployed_with_the_override_reads_the_caller_on_every_node(
    swarm: Engine, server: HostServer, decoy: str, tmp_path: Path
) -> None:
    base = tmp_path / "stack.yml"
    base.write_text(
        'version: "3.8"\n'
        "services:\n"
        "  app:\n"
        f"    image: {IMAGE}\n"
        f'    command: ["sh", "-c", "nc -w 5 host.docker.internal {server.port} </dev/null"]\n'
        "    deploy:\n"
        "      mode: global\n"
        "      restart_policy:\n"
        "        condition: none\n",
        encoding="utf-8",
    )
    done = cli("compose-override", "--for", "stack", "-f", base, env=swarm.env(), check=True)
    override = tmp_path / "override.yml"
    override.write_text(done.stdout, encoding="utf-8")
    assert "version: '3.8'" in done.stdout  # stack deploy refuses files of two versions
    stack = "hostreach-test-stack"
    swarm.docker(
        "stack", "deploy", "--resolve-image", "never", "-c", str(base), "-c", str(override), stack
    )
    try:
        read = _tasks_read(swarm, f"{stack}_app")
    finally:
        swarm.docker("stack", "rm", stack, check=False)
        _until("the stack's network to go", lambda: f"{stack}_default" not in _networks(swarm))
    assert len(read) == 2
    for output in read:
        assert server.token in output, read
        assert decoy not in output


def test_check_for_a_service_proves_the_route_on_every_node(
    swarm: Engine, server: HostServer, decoy: str
) -> None:
    args = ("check", "--for", "service", "--port", str(server.port), "--image", IMAGE)
    done = cli(*args, "--format", "json", "--timeout", "10", env=swarm.env())
    assert done.returncode == 0, done.stdout + done.stderr
    probes = json.loads(done.stdout)["probes"]
    assert len(probes) == 2
    assert {p["node"].split(" (")[1].split(",")[0] for p in probes} == {
        CALLER_ADDRESS,
        WORKER_ADDRESS,
    }
    assert all(p["outcome"] == "connected" and p["proven"] for p in probes), probes
    # The control: host-gateway's route fails on the worker as the wrong machine (its decoy
    # answers the port, but not the caller's proof).
    forced = cli(
        *args, "--strategy", "host-gateway", "--format", "json", "--timeout", "10", env=swarm.env()
    )
    assert forced.returncode == 1
    report = json.loads(forced.stdout)
    outcomes = {p["node"].split(" (")[1].split(",")[0]: p["outcome"] for p in report["probes"]}
    assert outcomes == {CALLER_ADDRESS: "connected", WORKER_ADDRESS: "elsewhere"}
    assert "wrong-machine" in {f["id"] for f in report["findings"]}
    # Nothing left behind on the swarm.
    assert swarm.docker("service", "ls", "-q").split() == []


def test_the_worker_cannot_answer_for_a_service(swarm: Engine, remote: Engine) -> None:
    done = cli("flags", "--for", "service", env=remote.env())
    assert done.returncode == 1
    assert "swarm worker" in done.stderr
    assert done.stdout == ""


def test_a_snapshot_keeps_the_nodes_and_replays_them(swarm: Engine, tmp_path: Path) -> None:
    snapshot = tmp_path / "facts.json"
    snapshot.write_text(cli("facts", env=swarm.env(), check=True).stdout, encoding="utf-8")
    nodes = json.loads(snapshot.read_text(encoding="utf-8"))["swarm"]
    assert {(n["role"], n["address"], n["caller_address"]) for n in nodes} == {
        ("manager", CALLER_ADDRESS, CALLER_ADDRESS),
        ("worker", WORKER_ADDRESS, CALLER_ADDRESS),
    }
    replayed = cli("flags", "--for", "service", "--facts", snapshot, check=True)
    assert replayed.stdout.split() == [f"--host=host.docker.internal:{CALLER_ADDRESS}"]


def test_the_library_gives_a_service_its_route(swarm: Engine) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import hostreach; print(hostreach.route(purpose='service').flags)"],
        env=swarm.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == f"['--host=host.docker.internal:{CALLER_ADDRESS}']", done.stderr
