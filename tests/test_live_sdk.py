"""A launcher that uses only the docker SDK and hostreach's Python API reaches the host."""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest
from conftest import IMAGE, Engine, HostServer

import hostreach
from hostreach.probe import collect

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("engine_name", ["rootful", "rootless", "podman"])
def test_launcher_with_docker_run_kwargs(
    engine_name: str, request: pytest.FixtureRequest, server: HostServer
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    env = engine.env()
    facts = collect(environ=env, cache=False)
    route = hostreach.route("host.docker.internal", "local", facts=facts)
    client = docker.DockerClient(base_url=engine.docker_host, timeout=60)
    try:
        container = client.containers.run(
            IMAGE,
            [
                "sh",
                "-c",
                f"nc -w 3 local {server.port} </dev/null; nc -w 3 host.docker.internal {server.port} </dev/null",
            ],
            detach=True,
            **route.docker_run_kwargs(),
        )
        try:
            container.wait(timeout=60)
            # Podman 4.3.1 has answered the logs of a just-exited container before all of its
            # output had arrived (about one full run in eight): read them until they stop growing.
            output, deadline = b"", time.monotonic() + 5
            while output.count(server.token.encode()) < 2 and time.monotonic() < deadline:
                output = container.logs()
                time.sleep(0.2)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    assert output.decode().count(server.token) == 2, (output, route.to_json())


def _read_through(client: docker.DockerClient, kwargs: dict[str, Any], port: int) -> str:
    """What a container started by ``client`` with ``kwargs`` reads at host.docker.internal."""
    script = f"nc -w 3 host.docker.internal {port} </dev/null; echo nc-exit=$?"
    container = client.containers.run(IMAGE, ["sh", "-c", script], detach=True, **kwargs)
    try:
        container.wait(timeout=60)
        output, deadline = b"", time.monotonic() + 5
        while b"nc-exit=" not in output and time.monotonic() < deadline:
            output = container.logs()
            time.sleep(0.2)
    finally:
        container.remove(force=True)
    return output.decode()


def test_the_route_is_for_the_engine_the_caller_names_not_the_one_docker_host_names(
    rootful: Engine, rootless: Engine, server: HostServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 27: with a client of its own (testcontainers' tc.host, a DockerClient), a harness
    # got the route of the engine DOCKER_HOST names, and its container, on the other one,
    # timed out. DOCKER_HOST names the rootful engine here; the containers run on the rootless.
    for name, value in rootful.env().items():
        monkeypatch.setenv(name, value)
    hostreach.forget()
    own = hostreach.route()
    assert own.engine == rootful.docker_host
    client = docker.DockerClient(base_url=rootless.docker_host, timeout=60)
    try:
        by_client = hostreach.route(engine=client)
        by_url = hostreach.route(engine=rootless.docker_host)
        assert by_client.flags == by_url.flags
        assert by_client.to_json()["engine"] == rootless.docker_host
        assert by_client.rootless
        assert by_client.flags != own.flags
        output = _read_through(client, by_client.docker_run_kwargs(), server.port)
        assert server.token in output, (output, by_client.to_json())
        # The control: DOCKER_HOST's answer does not reach the caller from that engine.
        wrong = _read_through(client, own.docker_run_kwargs(), server.port)
        assert server.token not in wrong, wrong
    finally:
        client.close()
    # and the answer for DOCKER_HOST's engine does not depend on the order of the calls
    assert hostreach.route().flags == own.flags
    assert hostreach.collect(engine=rootless.docker_host).client.endpoint == rootless.docker_host
    assert hostreach.collect().client.endpoint == rootful.docker_host
