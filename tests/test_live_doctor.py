"""doctor, check and relay on the real engines: the failures users meet, made and diagnosed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import IMAGE, Engine, HostServer, cli, reach, relay_running, skip_or_fail

from hostreach.engine.containers import PROBE_RUN

pytestmark = pytest.mark.engine


def report(command: str, *args: str, engine: Engine) -> tuple[int, dict[str, Any]]:
    # A generous --timeout first, so that a loaded machine's slow engine (Podman under a full
    # tox run and three busy loops answered /info in over 2 s) is not taken for an unreachable
    # one; a test that is about timing gives its own later, which wins.
    done = cli(
        command, "--timeout", "10", *args, "--format", "json", "--no-cache", env=engine.env()
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def ids(data: dict[str, Any]) -> set[str]:
    return {f["id"] for f in data["findings"]}


def probe_containers(engine: Engine) -> list[str]:
    return engine.docker("ps", "-aq", "--filter", "label=hostreach.probe").split()


@pytest.fixture
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Assert that no probe container is left behind on any engine the test used."""
    yield
    for name in ("rootful", "rootless", "podman", "podman_rootless"):
        if name in request.fixturenames:
            engine: Engine = request.getfixturevalue(name)
            assert probe_containers(engine) == [], f"{name}: probe container left behind"


def test_loopback_only_service_is_diagnosed_and_check_fails(
    rootful: Engine, loopback_server: HostServer, clean: None
) -> None:
    code, data = report("doctor", "--port", str(loopback_server.port), engine=rootful)
    assert code == 1
    assert "loopback-only" in ids(data)
    finding = next(f for f in data["findings"] if f["id"] == "loopback-only")
    # The fix names the bridge gateway (containers reach it, the LAN does not), not 0.0.0.0.
    docker0 = subprocess.check_output(["ip", "-o", "-4", "addr", "show", "docker0"], text=True)
    gateway = docker0.split(" inet ", 1)[1].split("/", 1)[0]
    assert f"{gateway}:{loopback_server.port}" in finding["fix"]
    assert "relay --port" in finding["fix"]
    assert finding["severity"] == "error"
    assert data["listeners"][0]["address"] == "127.0.0.1"

    code, data = report(
        "check", "--port", str(loopback_server.port), "--image", IMAGE, engine=rootful
    )
    assert code == 1
    assert data["probes"][0]["outcome"] == "refused"
    assert "loopback-only" in ids(data)


@pytest.mark.parametrize("name", ["rootful", "rootless", "podman", "podman_rootless"])
def test_service_on_all_interfaces_passes_doctor_and_check(
    name: str, server: HostServer, request: pytest.FixtureRequest, clean: None
) -> None:
    engine: Engine = request.getfixturevalue(name)
    code, data = report("doctor", "--port", str(server.port), engine=engine)
    assert code == 0, data["findings"]
    assert not {"loopback-only", "not-listening", "firewall"} & ids(data)
    code, data = report("check", "--port", str(server.port), "--image", IMAGE, engine=engine)
    assert code == 0, data
    assert data["probes"][0]["outcome"] == "connected"
    assert probe_containers(engine) == []


def test_nothing_listening_is_diagnosed(rootful: Engine, server: HostServer) -> None:
    # A port no one listens on: take the server's and add one we did not open.
    unused = 1 if server.port != 1 else 2
    code, data = report("doctor", "--port", str(unused), engine=rootful)
    assert code == 1
    assert "not-listening" in ids(data)


@pytest.fixture
def drop_rule(server: HostServer) -> Iterator[list[str]]:
    """An iptables rule that drops new connections from docker0 to the server's port."""
    if os.geteuid() != 0:
        message = "adding an iptables rule needs root"
        skip_or_fail(message)
    rule = ["INPUT", "-i", "docker0", "-p", "tcp", "--dport", str(server.port), "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
    try:
        yield rule
    finally:  # removed even when the test fails
        subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)


def test_firewall_drop_times_out_check_and_doctor_names_it(
    rootful: Engine, server: HostServer, drop_rule: list[str], clean: None
) -> None:
    code, data = report("doctor", "--port", str(server.port), engine=rootful)
    assert code == 1
    finding = next(f for f in data["findings"] if f["id"] == "firewall")
    assert f"--dport {server.port} -j DROP" in finding["message"]
    assert "-j ACCEPT" in finding["fix"]

    started = time.monotonic()
    code, data = report(
        "check", "--port", str(server.port), "--image", IMAGE, "--timeout", "2", engine=rootful
    )
    assert code == 1
    assert data["probes"][0]["outcome"] == "timed-out"
    assert "firewall" in ids(data)
    assert time.monotonic() - started < 30


@pytest.fixture
def nft_drop(server: HostServer) -> Iterator[str]:
    """A native nftables table (as firewalld would add) that drops docker0 -> the port."""
    if os.geteuid() != 0:
        skip_or_fail("adding an nftables table needs root")
    table = f"hostreach_test_{server.port}"
    rules = (
        f"table inet {table} {{\n chain input {{\n"
        "  type filter hook input priority 0; policy accept;\n"
        f'  iifname "docker0" tcp dport {server.port} drop\n }}\n}}\n'
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=30)
    try:
        yield table
    finally:  # removed even when the test fails
        subprocess.run(["nft", "delete", "table", "inet", table], check=False, timeout=30)


def test_a_native_nftables_drop_is_found_too(
    rootful: Engine, server: HostServer, nft_drop: str, clean: None
) -> None:
    code, data = report("doctor", "--port", str(server.port), engine=rootful)
    assert code == 1
    finding = next(f for f in data["findings"] if f["id"] == "firewall")
    assert f"inet {nft_drop} input" in finding["message"]
    fix = f'sudo nft insert rule inet {nft_drop} input iifname "docker0" tcp dport {server.port} accept'
    assert finding["fix"] == fix
    code, data = report(
        "check", "--port", str(server.port), "--image", IMAGE, "--timeout", "2", engine=rootful
    )
    assert code == 1
    assert data["probes"][0]["outcome"] == "timed-out"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_check_interrupted_removes_its_container(
    rootful: Engine, server: HostServer, drop_rule: list[str], clean: None, signum: int
) -> None:
    # The dropped connection keeps the probe waiting; interrupt it like Ctrl-C or CI does. As a
    # terminal's Ctrl-C reaches it: with SIGINT's default action, which a test run started as a
    # background job (an async list in a shell without job control) would otherwise pass on
    # ignored, and the check would wait out its --timeout (seen here).
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
            " os.execv(sys.executable, [sys.executable, '-m', 'hostreach', *sys.argv[1:]])",
            "check",
            "--port",
            str(server.port),
            "--image",
            IMAGE,
            "--timeout",
            "60",
        ],
        env=rootful.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Its own container (another run's may stand there: the signal would come before its
    # handler), at any point from the engine's create on: the interruption may come while the
    # engine creates it, before its id is known here (found by the whole suite: one was left in Created).
    own = f"label={PROBE_RUN}={socket.gethostname()}/{proc.pid}"
    deadline = time.monotonic() + 30
    while not rootful.docker("ps", "-aq", "--filter", own).split():
        assert time.monotonic() < deadline, "the probe container never appeared"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert rootful.docker("ps", "-aq", "--filter", own).split() == []


def test_check_says_when_the_image_has_no_nc(
    rootful: Engine, server: HostServer, no_nc_image: str, clean: None
) -> None:
    done = cli("check", "--port", str(server.port), "--image", no_nc_image, env=rootful.env())
    assert done.returncode == 1
    assert "has no `nc`" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("name", ["rootful", "rootless"])
def test_relay_makes_loopback_service_reachable(
    name: str, loopback_server: HostServer, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(name)
    with relay_running(engine, loopback_server.port) as relay:
        assert f"-> 127.0.0.1:{loopback_server.port}" in relay.status
        flags = cli("flags", env=engine.env(), check=True).stdout.split()
        answers = [reach(engine, flags, "host.docker.internal", loopback_server.port).stdout]
        answers.append(reach(engine, flags, "host.docker.internal", loopback_server.port).stdout)
        assert all(loopback_server.token in a for a in answers), answers
    assert relay.exit_code == 0, relay.log
    assert "Traceback" not in relay.log
