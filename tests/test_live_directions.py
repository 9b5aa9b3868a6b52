"""The two other directions on real engines: host -> container (`endpoint`) and container ->
container (`network`)."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from conftest import IMAGE, Engine, assert_not_reached, cli, reach, run_inside

pytestmark = pytest.mark.engine

SERVE = "while true; do echo {token} | nc -l -p 8000; done"


def read_banner(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=5) as conn:
        return conn.recv(100).decode()


@pytest.fixture
def names(request: pytest.FixtureRequest) -> Iterator[list[tuple[Engine, str, str]]]:
    """Containers and networks a test creates, removed afterwards: (engine, kind, name)."""
    created: list[tuple[Engine, str, str]] = []
    yield created
    for engine, kind, name in reversed(created):
        engine.docker(kind, "rm", "-f" if kind == "container" else "", name, check=False)


def serve(engine: Engine, names: list[tuple[Engine, str, str]], *flags: str) -> tuple[str, str]:
    name, token = f"hr-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    names.append((engine, "container", name))
    engine.docker("run", "-d", "--name", name, *flags, IMAGE, "sh", "-c", SERVE.format(token=token))
    return name, token


@pytest.mark.parametrize("engine_name", ["rootful", "rootless", "podman"])
def test_endpoint_from_the_host_is_localhost_and_the_published_port(
    engine_name: str, request: pytest.FixtureRequest, names: list[tuple[Engine, str, str]]
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    name, token = serve(engine, names, "-p", "8000")
    found = json.loads(
        cli("endpoint", name, "8000", "--format", "json", env=engine.env(), check=True).stdout
    )
    published = engine.docker("port", name, "8000/tcp").split()[0].rsplit(":", 1)[1]
    assert found["host"] == "localhost"
    assert found["port"] == int(published)
    # Retry briefly: the server loop re-listens between connections.
    for _ in range(20):
        try:
            assert token in read_banner("127.0.0.1", found["port"])
            break
        except (ConnectionError, TimeoutError, AssertionError):
            subprocess.run(["sleep", "0.25"], check=True)
    else:
        pytest.fail(f"{found['address']} never answered with the token")


def test_endpoint_from_a_container_on_the_same_network_is_the_container(
    rootful: Engine, names: list[tuple[Engine, str, str]]
) -> None:
    net = f"hr-net-{uuid.uuid4().hex[:8]}"
    names.append((rootful, "network", net))
    assert cli("network", net, env=rootful.env(), check=True).stdout == f"--network={net}\n"
    name, token = serve(rootful, names, f"--network={net}", "-p", "8000")
    # hostreach in a CI-job-like container on that network, with the engine socket mounted.
    script = f'a=$($HOSTREACH endpoint {name} 8000) && echo "$a" && nc -w 3 ${{a%:*}} ${{a#*:}}'
    done = run_inside(
        rootful,
        [f"--network={net}", "-v=/var/run/docker.sock:/var/run/docker.sock"],
        script=script + " </dev/null",
    )
    assert done.returncode == 0, done.stderr
    address, banner = done.stdout.splitlines()[:2]
    ip = rootful.docker(
        "inspect", name, "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}'
    ).strip()
    assert address == f"{ip}:8000"
    assert banner == token


def test_endpoint_from_a_container_elsewhere_goes_through_the_host(
    rootful: Engine, names: list[tuple[Engine, str, str]]
) -> None:
    name, token = serve(rootful, names, "-p", "8000")  # on the default bridge
    published = rootful.docker("port", name, "8000/tcp").split()[0].rsplit(":", 1)[1]
    other = f"hr-net-{uuid.uuid4().hex[:8]}"  # the job's container: another network
    names.append((rootful, "network", other))
    cli("network", other, env=rootful.env(), check=True)
    flags = cli("flags", env=rootful.env(), check=True).stdout.split()
    done = run_inside(
        rootful,
        [*flags, f"--network={other}", "-v=/var/run/docker.sock:/var/run/docker.sock"],
        script=f'a=$($HOSTREACH endpoint {name} 8000) && echo "$a" && nc -w 3 ${{a%:*}} ${{a#*:}}'
        " </dev/null",
    )
    assert done.returncode == 0, done.stderr
    address, banner = done.stdout.splitlines()[:2]
    assert address.endswith(f":{published}")
    assert banner == token


def test_network_lets_containers_reach_each_other_by_name(
    rootful: Engine, names: list[tuple[Engine, str, str]]
) -> None:
    net = f"hr-net-{uuid.uuid4().hex[:8]}"
    names.append((rootful, "network", net))
    first = json.loads(
        cli("network", net, "--format", "json", env=rootful.env(), check=True).stdout
    )
    again = json.loads(
        cli("network", net, "--format", "json", env=rootful.env(), check=True).stdout
    )
    assert (first["created"], again["created"]) == (True, False)
    flag = cli("network", net, env=rootful.env(), check=True).stdout.strip()
    name, token = serve(rootful, names, flag)
    done = reach(rootful, [flag], name, 8000)
    assert token in done.stdout, done.stderr
    # The control: on the default bridge the name does not resolve.
    assert_not_reached(reach(rootful, [], name, 8000), token, f"bad address '{name}'")
