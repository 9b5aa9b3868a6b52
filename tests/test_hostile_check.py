"""Hostile classes 4 and 5: errors say whose fault they are, and check and doctor never claim
more than they saw (a hung engine, a relay with its backend down, kill -9, IPv6-only sockets,
firewall rules that cannot be judged)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IMAGE, ROOTFUL, Engine, FakeEngine, HostServer, cli, relay_running

from hostreach.diagnose import diagnose
from hostreach.facts import Firewall, Listener, Listening, load
from hostreach.resolve import resolve


def probe_containers(engine: Engine) -> list[str]:
    return engine.docker("ps", "-aq", "--filter", "label=hostreach.probe").split()


def running_probes(engine: Engine) -> list[str]:
    return engine.docker("ps", "-q", "--filter", "label=hostreach.probe").split()


# --- class 4: misattributed errors ---------------------------------------------------------


def test_an_engine_answering_a_list_is_the_engines_fault(fake_engine: FakeEngine) -> None:
    fake_engine.answers["/info"] = ["not", "an", "object"]
    done = cli("flags", env={"DOCKER_HOST": fake_engine.docker_host, "PATH": ""})
    assert done.returncode == 0  # a warned guess, as when the engine cannot be asked
    assert "GET /info answered list JSON, not an object" in done.stderr
    assert "facts.daemon" not in done.stderr
    assert "this answer is a guess" in done.stderr


@pytest.mark.parametrize("image", ["", " ", "busybox --privileged", "-v/:/host", "a\nb"])
def test_check_refuses_an_image_that_is_not_one_before_asking_anything(image: str) -> None:
    env = {"DOCKER_HOST": "unix:///none"}
    done = cli("check", "--port", "80", f"--image={image}", env=env)
    assert done.returncode == 2
    assert "not an image name" in done.stderr
    assert "Traceback" not in done.stderr


# --- class 5: check and doctor -------------------------------------------------------------


def test_check_against_a_hung_engine_ends_at_its_timeout(fake_engine: FakeEngine) -> None:
    release = threading.Event()
    for path in ("/info", "/version"):
        fake_engine.answers[path] = lambda conn: release.wait(60)
    start = time.monotonic()
    done = cli(
        "check", "--port", "80", "--timeout", "1", env={"DOCKER_HOST": fake_engine.docker_host}
    )
    release.set()
    assert time.monotonic() - start < 5
    assert done.returncode == 1
    assert "check needs the engine to run a container" in done.stderr
    assert "did not answer within 1 s" in done.stderr
    assert done.stdout == ""


def test_an_unjudged_drop_rule_is_uncertain_not_fine() -> None:
    facts = load(ROOTFUL)
    rules = (
        "*filter\n:INPUT ACCEPT [0:0]\n"
        "-A INPUT -i docker0 -m set --match-set blocked src -j DROP\nCOMMIT\n"
    )
    facts = facts._replace(
        listening=Listening(ports=(5432,), sockets=(Listener(5432, "0.0.0.0"),)),
        firewall=Firewall(iptables=rules),
    )
    report = diagnose(facts, resolve(facts), (5432,))
    (finding,) = [f for f in report.findings if f.id == "firewall"]
    assert finding.severity == "warning"
    assert "uncertain" in finding.message
    assert "--match-set blocked" in finding.message


def test_an_ipv6_only_wildcard_is_not_reachable_over_ipv4() -> None:
    facts = load(ROOTFUL)
    for v6only, expect in ((True, {"ipv6-only"}), (False, set()), (None, set())):
        listening = Listening(ports=(80,), sockets=(Listener(80, "::", v6only=v6only),))
        report = diagnose(facts._replace(listening=listening), resolve(facts), (80,))
        assert {f.id for f in report.findings} == expect


@pytest.fixture
def v6only_server() -> Iterator[int]:
    """What nginx's `listen [::]:PORT` makes: a [::] socket with IPV6_V6ONLY."""
    sock = socket.socket(socket.AF_INET6)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind(("::", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.engine
def test_doctor_and_check_name_an_ipv6_only_service_not_a_firewall(
    rootful: Engine, v6only_server: int
) -> None:
    port = str(v6only_server)
    done = cli("doctor", "--port", port, "--format", "json", "--no-cache", env=rootful.env())
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["listeners"][0]["v6only"] is True
    assert "ipv6-only" in {f["id"] for f in data["findings"]}
    done = cli("check", "--port", port, "--image", IMAGE, "--format", "json", env=rootful.env())
    data = json.loads(done.stdout)
    assert done.returncode == 1
    assert data["probes"][0]["outcome"] == "refused"
    assert "firewall" not in {f["id"] for f in data["findings"]}
    assert "ipv6-only" in {f["id"] for f in data["findings"]}


@pytest.mark.engine
def test_check_in_front_of_a_relay_with_its_backend_down_is_not_connected(
    rootful: Engine, tmp_path: Path
) -> None:
    with socket.socket() as free:  # a port where nothing listens, on loopback and the bridge
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    with relay_running(rootful, int(port)) as relay:
        done = cli("check", "--port", port, "--image", IMAGE, "--format", "json", env=rootful.env())
        data = json.loads(done.stdout)
        assert done.returncode == 1
        assert data["probes"][0]["outcome"] != "connected", data["probes"]
    assert "does not answer" in relay.log
    assert "not listening until it does" in relay.log


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A service that accepts and waits for its client to speak first, as a database does."""
    server = socket.create_server(("0.0.0.0", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.engine
def test_a_service_that_waits_for_its_client_is_connected_not_a_firewall(
    rootful: Engine, silent_server: int
) -> None:
    start = time.monotonic()
    argv = ["check", "--port", str(silent_server), "--image", IMAGE, "--timeout", "2"]
    done = cli(*argv, "--format", "json", env=rootful.env())
    assert time.monotonic() - start < 2 * 2 + 10
    data = json.loads(done.stdout)
    assert done.returncode == 0, data
    assert data["probes"][0]["outcome"] == "connected"
    assert "firewall" not in {f["id"] for f in data["findings"]}


@pytest.mark.engine
def test_a_check_killed_with_sigkill_leaves_nothing_after_the_next(
    rootful: Engine, server: HostServer, silent_server: int
) -> None:
    # The silent service keeps the probe's nc waiting until its own time limit.
    argv = ["check", "--port", str(silent_server), "--image", IMAGE, "--timeout", "5"]
    killed = subprocess.Popen(
        [sys.executable, "-m", "hostreach", *argv],
        env=rootful.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not running_probes(rootful) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_probes(rootful), "the probe container never ran"
    killed.kill()
    killed.wait(10)
    # Its container finishes on its own (the probe bounds its own wait) and stays: nobody
    # removes it.
    deadline = time.monotonic() + 30
    while running_probes(rootful):
        assert time.monotonic() < deadline, "the probe container never finished"
        time.sleep(0.2)
    assert probe_containers(rootful), "the control: kill -9 leaves the container behind"
    done = cli("check", "--port", str(server.port), "--image", IMAGE, env=rootful.env())
    assert done.returncode == 0, done.stderr
    assert probe_containers(rootful) == []


def test_an_interrupted_create_still_removes_its_container(fake_engine: FakeEngine) -> None:
    # Ctrl-C while the engine creates the probe container: its id is not known here yet, but
    # the container exists; the answer is awaited and the container removed before the
    # interruption goes on (found by the whole suite: an interrupted check left one in state Created).
    from hostreach.engine import containers, endpoint  # noqa: PLC0415

    ident = "ab" * 32
    gate = threading.Event()

    def create(conn: socket.socket) -> None:
        gate.wait(10)
        body = json.dumps({"Id": ident}).encode()
        conn.sendall(b"HTTP/1.0 201 Created\r\nContent-Type: application/json\r\n\r\n" + body)

    fake_engine.answers["/containers/create"] = create
    found = endpoint.given(fake_engine.docker_host)
    body = {"Image": IMAGE, "Cmd": ["true"], "Labels": {}, "HostConfig": {}}

    async def main() -> None:
        task = asyncio.create_task(containers._run(found, body, 5, pull=False))
        while "/containers/create" not in fake_engine.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.1)  # the cancellation is in; the engine answers only now
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert f"/containers/{ident}?force=1" in fake_engine.requests
    assert f"/containers/{ident}/start" not in fake_engine.requests
