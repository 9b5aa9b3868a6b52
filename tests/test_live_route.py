"""The promise, proven on real engines: after `docker run $(hostreach flags) IMAGE`, every alias
resolves in the container to an address where a host service on all interfaces answers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import IMAGE, Engine, HostServer, assert_not_reached, cli, reach

pytestmark = pytest.mark.engine


def assert_reaches(engine: Engine, server: HostServer, *aliases: str) -> dict[str, Any]:
    args = [a for alias in aliases for a in ("--alias", alias)]
    flags = cli("flags", *args, env=engine.env(), check=True).stdout.splitlines()
    route: dict[str, Any] = json.loads(
        cli("flags", "--format", "json", *args, env=engine.env(), check=True).stdout
    )
    assert route["flags"] == flags
    for alias in aliases or ("host.docker.internal",):
        done = reach(engine, flags, alias, server.port)
        assert server.token in done.stdout, (
            f"{engine.name}: {alias}:{server.port} did not answer through {flags}: {done.stderr}"
        )
    return route


@pytest.mark.parametrize("aliases", [(), ("local",), ("local", "host.docker.internal")])
def test_rootful_engine_reaches_host(
    rootful: Engine, server: HostServer, aliases: tuple[str, ...]
) -> None:
    route = assert_reaches(rootful, server, *aliases)
    assert route["runtime"] == "docker-engine"
    assert route["rootless"] is False
    assert route["strategy"] == "host-gateway"


def test_rootful_without_flags_does_not_resolve(rootful: Engine, server: HostServer) -> None:
    # The control: without hostreach's flags the name does not exist on native Linux.
    done = reach(rootful, [], "host.docker.internal", server.port)
    assert_not_reached(done, server.token, "bad address 'host.docker.internal'")


@pytest.mark.parametrize("aliases", [(), ("local",)])
def test_rootless_engine_reaches_host(
    rootless: Engine, server: HostServer, aliases: tuple[str, ...]
) -> None:
    route = assert_reaches(rootless, server, *aliases)
    assert route["runtime"] == "docker-engine"
    assert route["rootless"] is True
    assert route["strategy"] == "lan-ip"
    assert all(v not in ("host-gateway", "native") for v in route["hosts"].values())


def test_rootless_host_gateway_is_refused(rootless: Engine, server: HostServer) -> None:
    # Why the rootless row never uses host-gateway: it is RootlessKit's namespace, not the host.
    done = reach(
        rootless,
        ["--add-host=host.docker.internal:host-gateway"],
        "host.docker.internal",
        server.port,
    )
    assert_not_reached(done, server.token, "Connection refused")


def test_gateway_ip_strategy_on_engine_20_10(rootful: Engine, server: HostServer) -> None:
    # Engine 20.10 reports no Gateway for the default bridge: the address comes from docker0.
    flags = cli(
        "flags", "--strategy", "gateway-ip", env=rootful.env(), check=True
    ).stdout.splitlines()
    assert flags
    assert "host-gateway" not in flags[0]
    assert server.token in reach(rootful, flags, "host.docker.internal", server.port).stdout


def test_host_network_strategy(rootful: Engine, server: HostServer) -> None:
    flags = cli(
        "flags", "--strategy", "host-network", env=rootful.env(), check=True
    ).stdout.splitlines()
    assert flags[0] == "--network=host"
    assert server.token in reach(rootful, flags, "host.docker.internal", server.port).stdout


@pytest.mark.parametrize("engine_name", ["rootful", "rootless"])
def test_replayed_facts_give_the_live_route(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    snapshot = tmp_path / "facts.json"
    snapshot.write_text(cli("facts", env=engine.env(), check=True).stdout, encoding="utf-8")
    live = json.loads(
        cli("flags", "--format", "json", "--alias", "local", env=engine.env(), check=True).stdout
    )
    # During the replay the engine is unreachable: the answer can only come from the file.
    dead = engine.env(DOCKER_HOST="unix:///nonexistent/docker.sock")
    replayed = json.loads(
        cli(
            "flags",
            "--format",
            "json",
            "--alias",
            "local",
            "--facts",
            str(snapshot),
            env=dead,
            check=True,
        ).stdout
    )
    assert replayed == live
    assert json.loads(
        cli("facts", "--facts", str(snapshot), env=dead, check=True).stdout
    ) == json.loads(snapshot.read_text(encoding="utf-8"))


def test_podman_reaches_host_through_host_docker_internal(
    podman: Engine, server: HostServer
) -> None:
    # Debian's Podman 4.3.1: host-gateway is not supported and host.docker.internal is not
    # written by Podman itself; the emitted flags make the same name work.
    route = assert_reaches(podman, server)
    assert route["runtime"] == "podman"
    assert route["strategy"] == "gateway-ip"
    done = reach(podman, [], "host.docker.internal", server.port)
    # The control: without the flags it does not resolve.
    assert_not_reached(done, server.token, "bad address 'host.docker.internal'")


def test_podman_builtin_name_is_native(podman: Engine, server: HostServer) -> None:
    route = assert_reaches(podman, server, "host.containers.internal")
    assert route["strategy"] == "native"
    assert route["flags"] == []


def test_rootless_podman_reaches_host_through_the_main_address(
    podman_rootless: Engine, server: HostServer
) -> None:
    # Debian's rootless Podman 4.3.1 (slirp4netns): its network's gateway is inside the user's
    # namespace, so the route is this machine's main address, as for rootless Docker.
    route = assert_reaches(podman_rootless, server)
    assert route["runtime"] == "podman"
    assert route["rootless"] is True
    assert route["strategy"] == "lan-ip"


@pytest.mark.engine
def test_flags_for_build_reach_the_host_from_a_docker_build(
    rootful: Engine, server: HostServer, tmp_path: Path
) -> None:
    flags = cli("flags", "--for", "build", env=rootful.env(), check=True).stdout.split()
    assert "host-gateway" not in " ".join(flags)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {IMAGE}\nRUN nc -w 3 host.docker.internal {server.port} </dev/null > /answer"
        " && cat /answer\n"
    )
    tag = f"localhost/hostreach-test:build-{os.getpid()}"
    done = subprocess.run(
        ["docker", "build", "--no-cache", "-t", tag, *flags, str(tmp_path)],
        env=rootful.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        assert done.returncode == 0, done.stderr
        answer = rootful.docker("run", "--rm", tag, "cat", "/answer")
        assert server.token in answer
    finally:
        rootful.docker("rmi", "-f", tag, check=False)
