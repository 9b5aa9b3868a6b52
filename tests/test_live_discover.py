"""--strategy discover on every engine CI runs (issue 24): it finds the route auto gives, and
that route reaches the caller's token (on the remote engines, never the decoy on their machine)."""

from __future__ import annotations

import contextlib
import json
import secrets
import time

import pytest
from conftest import (
    IMAGE,
    Engine,
    HostServer,
    cli,
    decoy_on_the_engines_machine,
    reach,
    skip_or_fail,
)

pytestmark = pytest.mark.engine

ENGINES = ["rootful", "rootless", "rootless_loopback", "podman", "podman_rootless"]
REMOTE = ["remote", "remote_ssh"]


@pytest.mark.parametrize("name", ENGINES + REMOTE)
def test_discover_finds_what_auto_gives_and_it_reaches_the_caller(
    name: str, server: HostServer, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(name)
    decoy = decoy_on_the_engines_machine(server.port) if name in REMOTE else None
    with decoy or contextlib.nullcontext("") as said:
        argv = ["flags", "--strategy", "discover", "--image", IMAGE, "--format", "json"]
        done = cli(*argv, "--timeout", "5", "--no-cache", env=engine.env(), check=True)
        found = json.loads(done.stdout)
        auto = cli("flags", "--timeout", "5", "--no-cache", env=engine.env(), check=True)
        assert found["flags"] == auto.stdout.split(), found["reason"]
        got = reach(engine, found["flags"], "host.docker.internal", server.port)
        assert server.token in got.stdout, got.stderr
        if said:
            assert said not in got.stdout


def test_discover_never_pulls_an_image_it_was_not_named(rootful: Engine) -> None:
    done = cli("flags", "--strategy", "discover", "--no-cache", env=rootful.env())
    if done.returncode == 0:  # the premise fails: under CI=true, a failure
        skip_or_fail("docker.io/library/busybox:latest is present on this engine: nothing to prove")
    assert "is not pulled unless --image names it" in done.stderr
    assert done.stdout == ""


def _probes_created(engine: Engine, since: float, until: float) -> list[str]:
    """The probe containers the engine created between two moments (its own events)."""
    return engine.docker(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
        "--filter", "type=container", "--filter", "event=create",
        "--filter", "label=hostreach.probe=1", "--format", "{{.ID}}",
    ).split()  # fmt: skip


def test_a_warm_discovery_is_a_stored_answer(rootful: Engine) -> None:
    # Probe containers are removed when their run ends, so what proves a stored answer is that
    # the engine created none for it. A --timeout no other test (nor an earlier run of this one:
    # its answer stays stored while the engine runs) uses keeps the first run cold.
    timeout = f"5.{secrets.randbelow(10**6):06d}"
    argv = ["flags", "--strategy", "discover", "--image", IMAGE, "--timeout", timeout]
    started = time.time()
    cold = cli(*argv, env=rootful.env(), check=True)
    between = time.time()
    warm = cli(*argv, env=rootful.env(), check=True)
    ended = time.time()
    assert warm.stdout == cold.stdout
    assert len(_probes_created(rootful, started, between)) >= 1  # the control: it counts
    assert _probes_created(rootful, between, ended) == []


def test_an_image_without_nc_is_one_line(rootful: Engine, no_nc_image: str) -> None:
    argv = ["flags", "--strategy", "discover", "--image", no_nc_image, "--no-cache"]
    done = cli(*argv, "--timeout", "5", env=rootful.env())
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "has no `nc`" in done.stderr


def test_check_never_pulls_an_image_it_was_not_named(rootful: Engine, server: HostServer) -> None:
    done = cli("check", "--port", str(server.port), "--no-cache", env=rootful.env())
    if done.returncode == 0:  # the premise fails: under CI=true, a failure
        skip_or_fail("docker.io/library/busybox:latest is present on this engine: nothing to prove")
    assert "is not pulled unless --image names it" in done.stderr, done.stderr
