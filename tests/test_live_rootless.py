"""Rootless Docker with and without RootlessKit's host loopback (issue 16, rule 3), live: a
second rootless engine runs without --disable-host-loopback (.ci/engines.sh, 2b)."""

from __future__ import annotations

import json

import pytest
from conftest import Engine, HostServer, assert_not_reached, cli, reach

pytestmark = pytest.mark.engine


def test_host_loopback_reaches_a_loopback_only_service(
    rootless_loopback: Engine, loopback_server: HostServer
) -> None:
    done = cli("flags", "--format", "json", "--no-cache", env=rootless_loopback.env(), check=True)
    route = json.loads(done.stdout)
    assert route["strategy"] == "host-loopback"
    assert route["flags"] == ["--add-host=host.docker.internal:10.0.2.2"]
    assert "rootless-loopback" not in {n["id"] for n in route["notes"]}
    reached = reach(rootless_loopback, route["flags"], "host.docker.internal", loopback_server.port)
    assert loopback_server.token in reached.stdout, reached.stderr
    # The doctor knows the service's 127.0.0.1 is reached there.
    doctor = cli(
        "doctor",
        "--port",
        str(loopback_server.port),
        "--format",
        "json",
        env=rootless_loopback.env(),
    )
    found = {f["id"] for f in json.loads(doctor.stdout)["findings"]}
    assert "loopback-only" not in found, doctor.stdout


def test_the_engine_with_loopback_disabled_is_told_apart(
    rootless: Engine, loopback_server: HostServer
) -> None:
    facts = json.loads(cli("facts", "--no-cache", env=rootless.env(), check=True).stdout)
    assert facts["rootlesskit"] == {"net": "slirp4netns", "host_loopback": False}
    done = cli("flags", "--format", "json", "--no-cache", env=rootless.env(), check=True)
    route = json.loads(done.stdout)
    assert route["strategy"] == "lan-ip"
    note = next(n for n in route["notes"] if n["id"] == "rootless-loopback")
    assert "DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false" in note["fix"]
    # 10.0.2.2 leads nowhere there: RootlessKit refuses the host's loopback.
    flags = ["--add-host=host.docker.internal:10.0.2.2"]
    refused = reach(rootless, flags, "host.docker.internal", loopback_server.port)
    assert_not_reached(refused, loopback_server.token, "nc:")


@pytest.mark.parametrize("engine_name", ["rootful", "rootless", "podman_rootless"])
def test_host_network_is_offered_only_where_it_is_this_machines_network(
    engine_name: str, request: pytest.FixtureRequest, loopback_server: HostServer
) -> None:
    # Until Engine 29.5 a rootless Docker's --network=host is RootlessKit's namespace (docker/docs
    # rootless troubleshooting); rootless Podman's is the host's. The control runs it anyway.
    engine: Engine = request.getfixturevalue(engine_name)
    forced = reach(engine, ["--network=host"], "127.0.0.1", loopback_server.port)
    done = cli("flags", "--strategy", "host-network", "--no-cache", env=engine.env())
    if engine_name == "rootless":
        assert_not_reached(forced, loopback_server.token, "Connection refused")
        assert (done.returncode, done.stdout) == (1, "")
        assert "RootlessKit's network namespace" in done.stderr
        return
    assert loopback_server.token in forced.stdout, forced.stderr
    assert done.returncode == 0, done.stderr
    flags = done.stdout.split()
    assert flags == ["--network=host", "--add-host=host.docker.internal:127.0.0.1"]
    reached = reach(engine, flags, "host.docker.internal", loopback_server.port)
    assert loopback_server.token in reached.stdout, reached.stderr
