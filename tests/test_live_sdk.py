"""A launcher that uses only the docker SDK and hostreach's Python API reaches the host."""

from __future__ import annotations

import time

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
