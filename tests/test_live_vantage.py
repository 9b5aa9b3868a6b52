"""hostreach running inside a real container: `address` finds the host from there."""

from __future__ import annotations

import json

import pytest
from conftest import Engine, HostServer, cli, reach, run_inside

pytestmark = pytest.mark.engine


def test_address_inside_a_container_uses_the_name(rootful: Engine, server: HostServer) -> None:
    flags = cli("flags", env=rootful.env(), check=True).stdout.splitlines()
    done = run_inside(rootful, flags, "address", "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["via"] == "host.docker.internal"
    # The address it prints is where the host service answers, seen from a sibling container.
    probe = reach(rootful, [], found["address"], server.port)
    assert server.token in probe.stdout


def test_address_falls_back_to_the_default_gateway(rootful: Engine) -> None:
    done = run_inside(rootful, [], "address", "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["via"].startswith("default gateway")
    facts = json.loads(run_inside(rootful, [], "facts").stdout)
    assert facts["client"]["in_container"] is True
    assert "/.dockerenv" in facts["client"]["container_markers"]


def test_address_without_any_route_exits_1(rootful: Engine) -> None:
    done = run_inside(rootful, ["--network=none"], "address")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no route to the host" in done.stderr
