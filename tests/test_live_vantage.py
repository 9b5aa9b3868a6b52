"""hostreach running inside a real container: `address` finds the host from there."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IMAGE, REPO, Engine, HostServer, cli, reach, run_inside

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


@pytest.fixture
def job(
    rootful: Engine,
    server: HostServer,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A CI job's container: the engine's socket mounted, hostreach in it, and its own service
    on the same port as the decoy on the engine's host (``server``), answering "the job"."""
    network, unreported = getattr(request, "param", None) or (None, False)
    name = f"hr-job-{uuid.uuid4().hex[:8]}" + ("-unreported" if unreported else "")
    if network:
        rootful.docker("network", "create", network)
    hidden = []
    if unreported:
        # As a CI job the engine does not report: neither its host name nor the path its
        # /etc/hostname is mounted from names the container (GitLab's FF_NETWORK_PER_BUILD
        # case, found by testcontainers-python through the network's gateway).
        hostname = tmp_path_factory.mktemp("job") / "hostname"
        hostname.write_text("ci-job\n")
        hidden = ["--hostname=ci-job", f"--volume={hostname}:/etc/hostname:ro"]
    mounts = {sys.base_prefix, sys.prefix, str(REPO), "/usr", "/lib", "/lib64", "/etc/ssl"}
    volumes = [f"--volume={m}:{m}:ro" for m in sorted(mounts) if Path(m).exists()]
    script = f"echo 'echo the job' > /tmp/answer; nc -ll -p {server.port} -e sh /tmp/answer"
    rootful.docker(
        "run",
        "-d",
        f"--name={name}",
        *([f"--network={network}"] if network else []),
        *hidden,
        "--volume=/var/run/docker.sock:/var/run/docker.sock",
        *volumes,
        f"--env=PYTHONPATH={REPO}",
        IMAGE,
        "sh",
        "-c",
        script,
    )
    try:
        yield name
    finally:
        rootful.docker("rm", "-f", name, check=False)
        if network:
            rootful.docker("network", "rm", network, check=False)


@pytest.mark.parametrize(
    "job",
    [None, ("hr-job-net", False), ("hr-job-net", True)],
    indirect=True,
    ids=["default-bridge", "user-network", "user-network-unreported"],
)
def test_in_a_job_container_siblings_reach_the_job_not_the_engines_host(
    rootful: Engine, server: HostServer, job: str
) -> None:
    # server (on the engine's host, 0.0.0.0:PORT) is the decoy; the job listens on PORT too.
    flags = rootful.docker(
        "exec", job, sys.executable, "-m", "hostreach", "flags", "--alias", "job"
    ).split()
    assert any(f.startswith("--add-host=job:") and "host-gateway" not in f for f in flags), flags
    done = reach(rootful, flags, "job", server.port)
    assert "the job" in done.stdout, (flags, done.stderr)
    assert server.token not in done.stdout
    route = json.loads(
        rootful.docker("exec", job, sys.executable, "-m", "hostreach", "flags", "--format", "json")
    )
    assert (route["topology"], route["target"]) == ("nested", "caller")
    by_gateway = any(n["id"] == "network-by-gateway" for n in route["notes"])
    assert by_gateway is (job.endswith("-unreported")), route
    # For the engine's host, on purpose: host-gateway, which lands on the decoy.
    other = rootful.docker(
        "exec", job, sys.executable, "-m", "hostreach", "flags", "--target", "engine-host"
    ).split()
    assert server.token in reach(rootful, other, "host.docker.internal", server.port).stdout
