"""Test harnesses (issue 27, item 4): the pytest plugin through pytest's own pytester, the
testcontainers helper with testcontainers-python itself, ``flags --format devcontainer`` with
the devcontainer CLI itself. Each against a real engine, each with its control: the
engine ``DOCKER_HOST`` names is the rootful one, the containers run on the rootless one, where
the rootful engine's route does not reach this machine.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import DESKTOP, IMAGE, ROOTLESS, Engine, HostServer, cli, skip_or_fail

from hostreach.tunnels.sidecar import LABEL

pytest_plugins = ("pytester",)

READ = "nc -w 3 host.docker.internal {port} </dev/null; echo nc-exit=$?"


def _plugin_installed() -> None:
    found = importlib.metadata.entry_points(group="pytest11").select(name="hostreach")
    if not found:
        skip_or_fail("hostreach is not installed: its pytest11 entry point is metadata")


INNER = """
import time

import docker

ENGINE, IMAGE, SCRIPT, TOKEN = {engine!r}, {image!r}, {script!r}, {token!r}


def read(kwargs):
    client = docker.DockerClient(base_url=ENGINE, timeout=60)
    try:
        container = client.containers.run(IMAGE, ["sh", "-c", SCRIPT], detach=True, **kwargs)
        try:
            container.wait(timeout=60)
            output, deadline = b"", time.monotonic() + 5
            while b"nc-exit=" not in output and time.monotonic() < deadline:
                output = container.logs()
                time.sleep(0.2)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    return output.decode()
"""


def _inner(pytester: pytest.Pytester, engine: Engine, server: HostServer, test: str) -> None:
    script = READ.format(port=server.port)
    head = INNER.format(engine=engine.docker_host, image=IMAGE, script=script, token=server.token)
    pytester.makepyfile(test_inner=head + test)


ROUTE_TEST = """

def test_the_route_reaches_the_caller(hostreach_route):
    output = read(hostreach_route.docker_run_kwargs())
    assert TOKEN in output, (output, hostreach_route.to_json())
"""


@pytest.mark.engine
def test_the_plugin_gives_the_route_for_the_engine_named(
    pytester: pytest.Pytester,
    rootful: Engine,
    rootless: Engine,
    server: HostServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _plugin_installed()
    for name, value in rootful.env().items():
        monkeypatch.setenv(name, value)
    _inner(pytester, rootless, server, ROUTE_TEST)
    named = pytester.runpytest_subprocess(
        f"--hostreach-engine={rootless.docker_host}", "-p", "no:cacheprovider"
    )
    named.assert_outcomes(passed=1)
    # The control: without the engine named, DOCKER_HOST's route does not reach the caller
    # from the rootless engine's containers.
    unnamed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    unnamed.assert_outcomes(failed=1)
    # The ini value names it as well.
    pytester.makeini(f"[pytest]\nhostreach_engine = {rootless.docker_host}\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_is_loaded_by_its_entry_point_and_can_be_turned_off(
    pytester: pytest.Pytester,
) -> None:
    _plugin_installed()
    pytester.makepyfile(test_inner="def test_has(hostreach_route, hostreach_tunnel):\n    pass\n")
    listed = pytester.runpytest_subprocess("--fixtures")
    listed.stdout.fnmatch_lines(["*hostreach_route*", "*hostreach_tunnel*"])
    off = pytester.runpytest_subprocess("-p", "no:hostreach")
    off.stdout.fnmatch_lines(["*fixture 'hostreach_route' not found*"])


TUNNEL_TEST = """

def test_the_tunnel_carries_a_loopback_service(hostreach_tunnel):
    route = hostreach_tunnel({port}, image=IMAGE)
    assert route.strategy == "tunnel"
    output = read(route.docker_run_kwargs())
    assert TOKEN in output, (output, route.to_json())
"""


@pytest.mark.engine
def test_the_tunnel_fixture_carries_a_port_on_the_engine_named(
    pytester: pytest.Pytester,
    rootful: Engine,
    rootless: Engine,
    loopback_server: HostServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service on 127.0.0.1 only, which a rootless engine's containers cannot reach directly."""
    _plugin_installed()
    for name, value in rootful.env().items():
        monkeypatch.setenv(name, value)
    _inner(pytester, rootless, loopback_server, TUNNEL_TEST.format(port=loopback_server.port))
    done = pytester.runpytest_subprocess(
        f"--hostreach-engine={rootless.docker_host}", "-p", "no:cacheprovider"
    )
    done.assert_outcomes(passed=1)
    left = rootless.docker("ps", "-aq", "--filter", f"label={LABEL}")
    assert left.strip() == "", "the fixture left its tunnel running"


TESTCONTAINERS = """
import json, sys, time

import hostreach
from hostreach.harness.testcontainers import with_route
from testcontainers.core.container import DockerContainer

from testcontainers.core.network import Network

image, script, client_kw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
network = Network() if sys.argv[4] == "network" else None
before = hostreach.route()  # the engine DOCKER_HOST names, before testcontainers runs
container = DockerContainer(image, docker_client_kw=client_kw).with_command(["sh", "-c", script])
container.with_kwargs(labels={"kept": "yes"}, extra_hosts={"other.test": "192.0.2.7"})
if network is not None:
    network.create()
    container.with_network(network)
route = with_route(container)
container.start()
try:
    wrapped = container.get_wrapped_container()
    wrapped.wait(timeout=60)
    output, deadline = b"", time.monotonic() + 5
    while b"nc-exit=" not in output and time.monotonic() < deadline:
        output = wrapped.logs()
        time.sleep(0.2)
    wrapped.reload()
    config = wrapped.attrs
finally:
    container.stop()
    if network is not None:
        network.remove()
print(json.dumps({
    "before": before.flags,
    "route": route.to_json(),
    "output": output.decode(),
    "labels": config["Config"]["Labels"],
    "hosts": config["HostConfig"]["ExtraHosts"],
}))
"""


@pytest.mark.engine
@pytest.mark.parametrize("how", ["tc.host", "docker_client_kw"])
def test_testcontainers_gets_the_route_of_the_engine_it_uses(
    how: str, tmp_path: Path, rootful: Engine, rootless: Engine, server: HostServer
) -> None:
    pytest.importorskip("testcontainers", reason="the test extra installs testcontainers")
    client_kw = {}
    if how == "tc.host":  # the user's ~/.testcontainers.properties, as the issue had it
        (tmp_path / ".testcontainers.properties").write_text(f"tc.host={rootless.docker_host}\n")
    else:  # a client of the harness's own: testcontainers leaves DOCKER_HOST as it is here
        client_kw = {"environment": {"DOCKER_HOST": rootless.docker_host}}
    env = rootful.env(HOME=str(tmp_path), TESTCONTAINERS_RYUK_DISABLED="true")
    script = READ.format(port=server.port)
    done = subprocess.run(
        [sys.executable, "-c", TESTCONTAINERS, IMAGE, script, json.dumps(client_kw), "default"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["route"]["engine"] == rootless.docker_host
    assert server.token in found["output"], found
    assert found["labels"]["kept"] == "yes"  # the container's own kwargs kept
    assert "other.test:192.0.2.7" in found["hosts"]
    # The control: DOCKER_HOST's route, asked before the container, is another engine's.
    assert found["before"] != found["route"]["flags"]


@pytest.mark.engine
def test_testcontainers_on_a_network_of_its_own_gets_a_route_that_network_reaches(
    tmp_path: Path, rootful: Engine, podman: Engine, server: HostServer
) -> None:
    """Podman 4.3's route for its default network (10.88.0.1) is refused from another network."""
    pytest.importorskip("testcontainers", reason="the test extra installs testcontainers")
    (tmp_path / ".testcontainers.properties").write_text(f"tc.host={podman.docker_host}\n")
    env = rootful.env(HOME=str(tmp_path), TESTCONTAINERS_RYUK_DISABLED="true")
    script = READ.format(port=server.port)
    done = subprocess.run(
        [sys.executable, "-c", TESTCONTAINERS, IMAGE, script, "{}", "network"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["route"]["engine"] == podman.docker_host
    assert found["route"]["strategy"] == "lan-ip", found["route"]
    assert server.token in found["output"], found


def _devcontainer_reads(engine: Engine, folder: Path, run_args: list[str], port: int) -> str:
    """What a container that the devcontainer CLI starts with ``run_args`` reads at the host
    name; the container and its image are removed afterwards."""
    config = folder / ".devcontainer"
    config.mkdir(parents=True)
    folder.chmod(0o755)
    # The CLI runs as root by name, which a FROM-scratch image lacks: a passwd file says it.
    (config / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n", encoding="utf-8")
    (config / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY passwd /etc/passwd\n", encoding="utf-8")
    spec = {"build": {"dockerfile": "Dockerfile"}, "runArgs": run_args}
    (config / "devcontainer.json").write_text(json.dumps(spec), encoding="utf-8")
    workspace = ["--workspace-folder", str(folder)]
    label = f"label=devcontainer.local_folder={folder}"
    try:
        up = subprocess.run(
            ["devcontainer", "up", *workspace],
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        done = subprocess.run(
            ["devcontainer", "exec", *workspace, "sh", "-c", READ.format(port=port)],
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.stdout + done.stderr
    finally:
        for container in engine.docker("ps", "-aq", "--filter", label).split():
            image = engine.docker("inspect", "--format", "{{.Image}}", container).strip()
            engine.docker("rm", "-f", container)
            engine.docker("rmi", "-f", image, check=False)


@pytest.mark.engine
def test_the_devcontainer_cli_reaches_the_caller_with_the_run_args(
    rootful: Engine, rootless: Engine, server: HostServer
) -> None:
    if shutil.which("devcontainer") is None:
        skip_or_fail("the devcontainer CLI is not installed (.ci/engines.sh installs it)")
    done = cli("flags", "--format", "devcontainer", env=rootless.env(), check=True)
    run_args = json.loads(done.stdout)["runArgs"]
    assert "this machine's route (rootless docker-engine)" in done.stderr
    # The workspace is bind-mounted by the rootless engine's user: not under pytest's own
    # folder, which only root may enter.
    shared = Path(tempfile.mkdtemp(prefix="hostreach-devcontainer-"))
    shared.chmod(0o755)
    try:
        output = _devcontainer_reads(rootless, shared / "ours", run_args, server.port)
        assert server.token in output, (output, run_args)
        # The control: the rootful engine's runArgs do not reach the caller from the rootless.
        theirs = json.loads(cli("flags", "--format", "devcontainer", env=rootful.env()).stdout)
        wrong = _devcontainer_reads(rootless, shared / "theirs", theirs["runArgs"], server.port)
        assert server.token not in wrong, wrong
    finally:
        shutil.rmtree(shared)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [(ROOTLESS, ["--add-host=host.docker.internal:192.0.2.2"]), (DESKTOP, [])],
)
def test_devcontainer_is_the_run_args_object(facts: Path, expected: list[str]) -> None:
    done = cli("flags", "--format", "devcontainer", "--facts", str(facts), check=True)
    assert json.loads(done.stdout) == {"runArgs": expected}
