"""Today's engines (issue 23), live in the modern-engines lab: Debian trixie (Docker 26.1, Podman
5.4) and forky (Docker 28.5, Podman 5.8, Compose v2, buildx) hosts, each a container of this
machine's rootful engine with six engine modes inside; hostreach runs inside as a user would.

Each route is proved by what a container reads, beside decoys where a wrong route lands: on the
machine outside the lab (its gateway) and, for rootless Docker, in RootlessKit's namespace.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from conftest import decoy
from lab import DOCKER_MODES, IMAGE, MODES, SUITES, Lab, Mode, open_lab, route_flags, route_json

from hostreach.tunnels.sidecar import LABEL

pytestmark = [pytest.mark.engine, pytest.mark.lab]

CASES = [(suite, mode) for suite in SUITES for mode in MODES]
ROOT = MODES["rootful"]


@pytest.fixture(scope="session")
def labs() -> dict[str, Lab]:
    """The running labs, this checkout copied into each (once a session)."""
    return {}


def lab_for(labs: dict[str, Lab], suite: str) -> Lab:
    if suite not in labs:
        labs[suite] = open_lab(suite)
    return labs[suite]


@contextlib.contextmanager
def decoys(lab: Lab, mode: Mode, port: int) -> Iterator[None]:
    """The decoys for a mode: outside the lab, and in RootlessKit's namespace where there is one.

    Started after the lab host's service, as a user's service runs before its containers: with
    pasta's port driver RootlessKit forwards the namespace's ports to the host, and a decoy
    that came first took the service's port on the host (seen once here).
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(decoy(port))
        if mode.rootless and mode.name in DOCKER_MODES:
            # On the namespace's bridge gateway, where host-gateway lands: not on 0.0.0.0, which
            # pasta's -T auto had taken on its loopback, mirroring the service's 127.0.0.1:PORT.
            gateway = lab.must(
                mode, "docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}'"
            ).strip()
            child = f"/run/user/{mode.uid}/dockerd-rootless/child_pid"
            stack.enter_context(
                lab.serving(mode, gateway, port, "decoy-in-rootlesskit", netns_of=child)
            )
        yield


def assert_reads(got: str, token: str) -> None:
    assert token in got, got
    assert "decoy" not in got, got


@pytest.mark.parametrize(("suite", "name"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_flags_reach_the_lab_host_not_a_decoy(
    suite: str, name: str, labs: dict[str, Lab], unused_port: int
) -> None:
    lab, mode = lab_for(labs, suite), MODES[name]
    port, token = unused_port, f"token-{suite}-{name}"
    with lab.serving(ROOT, "0.0.0.0", port, token), decoys(lab, mode, port):
        flags = route_flags(lab, mode)
        assert_reads(lab.reach(mode, flags, port), token)
        check = lab.hostreach(mode, f"check --port {port} --timeout 30 --no-cache --image {IMAGE}")
        assert check.returncode == 0, check.stdout + check.stderr
        doctor = lab.hostreach(mode, f"doctor --port {port} --format json --timeout 30")
        errors = [f for f in json.loads(doctor.stdout)["findings"] if f["severity"] == "error"]
        assert errors == [], doctor.stdout
        if mode.rootless and name in DOCKER_MODES:
            # The control: host-gateway lands in RootlessKit's namespace, on its decoy.
            forced = lab.reach(mode, "--add-host=host.docker.internal:host-gateway", port)
            assert "decoy-in-rootlesskit" in forced, forced


@pytest.mark.parametrize(("suite", "name"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_a_loopback_only_service_is_diagnosed_and_relayed(
    suite: str, name: str, labs: dict[str, Lab], unused_port: int
) -> None:
    lab, mode = lab_for(labs, suite), MODES[name]
    port, token = unused_port, f"loopback-{suite}-{name}"
    with lab.serving(ROOT, "127.0.0.1", port, token), decoys(lab, mode, port):
        doctor = lab.hostreach(mode, f"doctor --port {port} --format json --timeout 30")
        found = {f["id"] for f in json.loads(doctor.stdout)["findings"]}
        flags = route_flags(lab, mode)
        if name == "rootless_loopback":  # RootlessKit carries 10.0.2.2 to this loopback
            assert "loopback-only" not in found, doctor.stdout
            assert_reads(lab.reach(mode, flags, port), token)
            return
        assert "loopback-only" in found, doctor.stdout
        assert token not in lab.reach(mode, flags, port)
        check = lab.hostreach(mode, f"check --port {port} --timeout 30 --no-cache --image {IMAGE}")
        assert check.returncode == 1, check.stdout + check.stderr
        assert "127.0.0.1" in check.stdout + check.stderr, check.stdout + check.stderr
        with running(lab, mode, f"relay --port {port} --no-cache", "^relay: ") as status:
            assert f"-> 127.0.0.1:{port}" in status
            flags = route_flags(lab, mode)
            assert_reads(lab.reach(mode, flags, port), token)


@contextlib.contextmanager
def running(lab: Lab, mode: Mode, args: str, ready: str) -> Iterator[str]:
    """``python -m hostreach ARGS`` in the lab, in the background, until the block ends; yields
    the first line of its output that matches the grep pattern ``ready``, once there. It must
    end on SIGTERM, without a traceback."""
    log = f"/tmp/hr-{abs(hash(args))}.log"
    pid = lab.must(mode, f"(python -m hostreach {args} >{log} 2>{log}.err & echo $!)").strip()
    try:
        line = lab.must(
            mode,
            f"for i in $(seq 1 1200); do grep -h -m1 '{ready}' {log} {log}.err && exit 0;"
            f" kill -0 {pid} 2>/dev/null || break; sleep 0.1; done; cat {log}.err; exit 1",
        )
        yield line
    finally:
        ended = lab.run(
            mode,
            f"kill {pid}; for i in $(seq 1 600); do kill -0 {pid} 2>/dev/null || exit 0;"
            " sleep 0.1; done; exit 1",
        )
        errors = lab.run(mode, f"cat {log}.err").stdout
        assert ended.returncode == 0, errors
        assert "Traceback" not in errors, errors


HOSTS_LINE = "grep -w host.docker.internal /etc/hosts | cut -f1"
"""The addresses a container's /etc/hosts gives the name, one a line."""


def test_an_ipv6_bridge_on_engine_28_is_pinned_to_ipv4(
    labs: dict[str, Lab], unused_port: int
) -> None:
    # forky-ipv6: Engine 28.5, its default bridge on fd00:28::/64 (.ci/lab.sh).
    lab, port = lab_for(labs, "forky-ipv6"), unused_port
    forced = "--add-host=host.docker.internal:host-gateway"
    six = "$(" + HOSTS_LINE + " | grep :)"
    with decoy(port), lab.serving(ROOT, "0.0.0.0", port, "token-v4"):
        flags = route_flags(lab, ROOT)
        assert flags == "--add-host=host.docker.internal:172.17.0.1"
        listed = lab.must(ROOT, f"docker run --rm {flags} {IMAGE} sh -c '{HOSTS_LINE}'")
        assert listed.split() == ["172.17.0.1"]
        assert_reads(lab.reach(ROOT, flags, port), "token-v4")
        # The control: host-gateway names fd00:28::1 too, and a client that takes it is refused.
        listed = lab.must(ROOT, f"docker run --rm {forced} {IMAGE} sh -c '{HOSTS_LINE}'")
        assert listed.split() == ["172.17.0.1", "fd00:28::1"]
        got = lab.run(ROOT, f"docker run --rm {forced} {IMAGE} sh -c 'nc -w 10 {six} {port}'")
        assert "token" not in got.stdout, got
        assert "refused" in got.stderr, got
        doctor = lab.hostreach(
            ROOT, f"doctor --strategy host-gateway --port {port} --format json --timeout 30"
        )
        found = {f["id"] for f in json.loads(doctor.stdout)["findings"]}
        assert {"host-gateway-ipv6", "ipv4-only"} <= found, doctor.stdout
    # A dual-stack service takes both: the route works for a client that goes to IPv6.
    with lab.serving(ROOT, "::", port, "token-both"):
        got = lab.run(ROOT, f"docker run --rm {forced} {IMAGE} sh -c 'nc -w 10 {six} {port}'")
        assert "token-both" in got.stdout, got
        doctor = lab.hostreach(
            ROOT, f"doctor --strategy host-gateway --port {port} --format json --timeout 30"
        )
        assert "ipv4-only" not in {f["id"] for f in json.loads(doctor.stdout)["findings"]}


def _write(lab: Lab, mode: Mode, path: str, text: str) -> None:
    """Write a file in the lab as the mode's user."""
    done = lab.run(mode, f"cat > {path}", stdin=text.encode())
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("suite", "name"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_flags_for_build_reach_the_lab_host_from_a_build(
    suite: str, name: str, labs: dict[str, Lab], unused_port: int
) -> None:
    # docker build is BuildKit (buildx) on these engines; Podman's modes build with podman.
    lab, mode = lab_for(labs, suite), MODES[name]
    port, token = unused_port, f"build-{suite}-{name}"
    work = f"/tmp/hr-build-{name}-{port}"
    tag = f"localhost/hostreach-test:build-{port}"
    cli = "podman" if name.startswith("podman") else "docker"
    with lab.serving(ROOT, "0.0.0.0", port, token), decoys(lab, mode, port):
        flags = " ".join(lab.must(mode, "python -m hostreach flags --for build --no-cache").split())
        assert "host-gateway" not in flags
        lab.must(mode, f"rm -rf {work} && mkdir -p {work}")
        _write(
            lab,
            mode,
            f"{work}/Dockerfile",
            f"FROM {IMAGE}\nRUN nc -w 10 host.docker.internal {port} </dev/null > /answer; true\n",
        )
        try:
            lab.must(mode, f"{cli} build --no-cache -q -t {tag} {flags} {work}", timeout=300)
            assert_reads(lab.must(mode, f"{cli} run --rm {tag} cat /answer"), token)
        finally:
            lab.run(mode, f"{cli} rmi -f {tag}; rm -rf {work}")


COMPOSE = f"""services:
  web:
    image: {IMAGE}
    command: ["sh", "-c", "nc -w 10 host.docker.internal $$PORT </dev/null"]
    environment: [PORT]
    # Compose v2 applies the override's !override over this (issue 27)
    extra_hosts: ["host.docker.internal:host-gateway"]
"""


@pytest.mark.parametrize(("suite", "name"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_compose_override_with_compose_v2(
    suite: str, name: str, labs: dict[str, Lab], unused_port: int
) -> None:
    # The hosts' Compose v2 (2.26 on trixie, 2.40 on forky), through the mode's socket.
    lab, mode = lab_for(labs, suite), MODES[name]
    port, token = unused_port, f"compose-{suite}-{name}"
    work, project = f"/tmp/hr-compose-{name}-{port}", f"hr{port}"
    compose = f"cd {work} && PORT={port} docker compose -p {project} -f compose.yml"
    with lab.serving(ROOT, "0.0.0.0", port, token), decoys(lab, mode, port):
        lab.must(mode, f"rm -rf {work} && mkdir -p {work}")
        _write(lab, mode, f"{work}/compose.yml", COMPOSE)
        lab.must(
            mode,
            f"cd {work} && python -m hostreach compose-override --no-cache -f compose.yml"
            " > override.yml",
        )
        try:
            got = lab.run(mode, f"{compose} -f override.yml run --rm web", timeout=300)
            assert_reads(got.stdout + got.stderr, token)
        finally:
            lab.run(mode, f"{compose} down; rm -rf {work}", timeout=300)


TUNNEL_CASES = [(*case, bound) for case in CASES for bound in ("127.0.0.1", "0.0.0.0")]


@pytest.mark.parametrize(
    ("suite", "name", "bound"), TUNNEL_CASES, ids=[f"{s}-{m}-{b}" for s, m, b in TUNNEL_CASES]
)
def test_a_service_through_the_tunnel(
    suite: str, name: str, bound: str, labs: dict[str, Lab], unused_port: int
) -> None:
    lab, mode = lab_for(labs, suite), MODES[name]
    port, token = unused_port, f"tunnel-{suite}-{name}"
    with lab.serving(ROOT, bound, port, token), decoys(lab, mode, port):
        with running(lab, mode, f"tunnel --port {port} --image {IMAGE}", "carrying"):
            route = route_json(lab, mode, f"--port {port}")
            assert route["strategy"] == "tunnel", route
            assert_reads(lab.reach(mode, route_flags(lab, mode, f"--port {port}"), port), token)
        # Gone with the tunnel: its container too.
        left = lab.must(mode, f"docker ps -aq --filter label={LABEL}")
        assert left.strip() == "", left
