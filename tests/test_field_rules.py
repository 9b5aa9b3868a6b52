"""Rules from the field (issue 16): each replays published facts and fails without its rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PUBLISHED, ROOTFUL, ROOTLESS, ROOTLESS_LOOPBACK, cli, load_fixture

from hostreach import vantage
from hostreach.diagnose import FINDINGS, diagnose
from hostreach.errors import FactsError, NoRouteError, RelayError, UsageError
from hostreach.facts import (
    Facts,
    Gateway,
    Listener,
    Listening,
    RootlessKit,
    from_json,
    load,
    to_json,
)
from hostreach.probe import collect
from hostreach.probe.client import container_markers, host_override
from hostreach.relay import plan as relay_plan
from hostreach.resolve import resolve
from hostreach.routes import Request
from hostreach.runtimes import identify

WSL_ENGINE = PUBLISHED / "docker-engine-29.4.1-wsl2.json"
COLIMA_VERSION = PUBLISHED / "colima-27.4.0-version-only.json"
COLIMA_SOCKET = PUBLISHED / "colima-socket-path-only.json"
ORBSTACK_PARTIAL = PUBLISHED / "orbstack-0.7-containerized.json"


# Rule 11: HOSTREACH_HOST_ADDRESS wins over detection, and says so.


def test_the_users_address_wins_over_detection() -> None:
    facts = load(ROOTFUL)
    facts = facts._replace(client=facts.client._replace(host_override="192.168.1.50"))
    route = resolve(facts)
    assert route.strategy == "override"
    assert route.flags == ["--add-host=host.docker.internal:192.168.1.50"]
    assert "HOSTREACH_HOST_ADDRESS=192.168.1.50 overrides detection" in route.reason
    report = diagnose(facts, route, ())
    assert "override" in {f.id for f in report.findings}
    assert set(FINDINGS) >= {f.id for f in report.findings}
    # It is the caller's address: not for the engine's machine, nor over a strategy asked for.
    assert resolve(facts, Request(target="engine-host")).strategy == "host-gateway"
    assert resolve(facts, Request(strategy="gateway-ip")).strategy == "gateway-ip"


def test_an_override_that_is_no_address_is_refused() -> None:
    assert host_override({"HOSTREACH_HOST_ADDRESS": "10.0.0.7"}) == ("10.0.0.7", "")
    assert host_override({}) == (None, "")
    value, problem = host_override({"HOSTREACH_HOST_ADDRESS": "1.2.3.4 --privileged"})
    assert value is None
    assert "is not an IP address" in problem
    done = cli("flags", env={"HOSTREACH_HOST_ADDRESS": "$(reboot)", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stdout == ""
    assert "HOSTREACH_HOST_ADDRESS='$(reboot)' is not an IP address" in done.stderr


# Rule 4: an engine whose version is unknown never gets host-gateway assumed.


def test_an_unknown_version_is_said_and_host_gateway_is_not_assumed() -> None:
    facts = load(ORBSTACK_PARTIAL)  # two published `docker info` lines, no version
    assert identify(facts).id == "docker-engine"
    with pytest.raises(NoRouteError, match="version is unknown") as raised:
        resolve(facts)
    assert "host-gateway" in str(raised.value)
    # With the bridge's gateway known, the literal address is the answer, with the reason.
    rootful = load(ROOTFUL)
    daemon = facts.daemon
    assert daemon is not None
    assert rootful.daemon is not None
    known = facts._replace(daemon=daemon._replace(bridge_gateway=rootful.daemon.bridge_gateway))
    with pytest.raises(NoRouteError, match=r"version is unknown.*primary address is unknown"):
        resolve(known)
    # Nor whether it is rootless (issue 23): not the bridge gateway, which on a rootless engine
    # is inside RootlessKit's namespace, but this machine's main address, which both reach.
    here = known._replace(network=rootful.network)
    route = resolve(here)
    assert route.strategy == "lan-ip"
    assert {"version-unknown", "rootless-unknown"} <= {n.id for n in route.notes}


# Rule 5: a macOS or Windows client with only /version from its local socket: a desktop VM.


def test_thin_facts_from_a_mac_are_a_desktop_vm_not_a_plain_engine() -> None:
    facts = load(COLIMA_VERSION)
    assert resolve(facts).runtime == "colima"  # its context names it
    # The same published answer reached through a socket no row knows (DOCKER_HOST set by
    # hand): still a VM on a Mac, where every runtime resolves host.docker.internal.
    unnamed = facts._replace(
        client=facts.client._replace(context=None, endpoint="unix:///tmp/engine.sock")
    )
    route = resolve(unnamed)
    assert route.runtime != "docker-engine"
    assert route.strategy == "native"
    assert route.flags == []
    # A Linux client with the same answer is a plain engine.
    linux = unnamed._replace(client=unnamed.client._replace(os="linux"))
    assert identify(linux).id == "docker-engine"


# Rule 8: the socket path names the runtime where the engine says nothing, as a guess.


def test_a_socket_path_names_the_runtime_as_a_guess() -> None:
    route = resolve(load(COLIMA_SOCKET))
    assert route.runtime == "colima"
    assert route.flags == ["--add-host=host.docker.internal:192.168.5.2"]
    hint = next(n for n in route.notes if n.id == "socket-hint")
    assert "/Users/andrew/.colima/docker.sock" in hint.message
    assert "a guess" in hint.message


@pytest.mark.parametrize(
    ("endpoint", "runtime"),
    [
        ("unix:///Users/me/.docker/run/docker.sock", "docker-desktop"),
        ("npipe:////./pipe/dockerDesktopLinuxEngine", "docker-desktop"),
        ("unix:///Users/me/.rd/docker.sock", "rancher-desktop"),
        ("unix:///Users/me/.orbstack/run/docker.sock", "orbstack"),
        ("unix:///Users/me/.colima/work/docker.sock", "colima"),
        ("unix:///Users/me/.lima/docker/sock/docker.sock", "lima"),
        ("unix:///var/folders/x/T/podman/podman-machine-default-api.sock", "podman"),
        ("unix:///var/run/docker.sock", "unknown"),
    ],
)
def test_each_runtimes_socket_path(endpoint: str, runtime: str) -> None:
    facts = Facts()._replace(client=Facts().client._replace(os="darwin", endpoint=endpoint))
    assert identify(facts).id == runtime


def test_an_engines_own_answer_beats_its_socket_path() -> None:
    facts = load(ROOTFUL)  # a full answer: Docker Engine, whatever the socket is called
    renamed = facts._replace(
        client=facts.client._replace(endpoint="unix:///home/me/.colima/default/docker.sock")
    )
    assert identify(renamed).id == "docker-engine"
    assert "socket-hint" not in {n.id for n in resolve(renamed).notes}


# Rule 6: a container on a WSL 2 kernel (a dev container on Windows) is no WSL distro.


def test_a_dev_container_on_a_wsl_kernel_is_not_wsl(tmp_path: Path) -> None:
    facts = load(WSL_ENGINE)  # Engine 29.4.1 inside a WSL 2 distro, as published
    distro = facts._replace(client=facts.client._replace(wsl=True, in_container=False))
    assert "wsl-two-hosts" in {n.id for n in resolve(distro).notes}
    # ddev/ddev#8018: the caller is a dev container there; the kernel still says microsoft.
    dev = facts._replace(
        client=facts.client._replace(
            wsl=True, in_container=True, networks={"bridge": "172.17.0.2"}, container_id="ab" * 32
        )
    )
    route = resolve(dev)
    assert route.topology == "nested"
    assert "wsl-two-hosts" not in {n.id for n in route.notes}
    with pytest.raises(UsageError, match="a container on a WSL 2 kernel"):
        resolve(dev, Request(target="windows"))


# Rule 7: dev containers and Codespaces say so in their environment.


@pytest.mark.parametrize("name", ["CODESPACES", "REMOTE_CONTAINERS", "IN_DEVCONTAINER"])
def test_dev_container_variables_mark_a_container(name: str, tmp_path: Path) -> None:
    assert container_markers(tmp_path, {}) == ()
    assert container_markers(tmp_path, {name: "true"}) == (f"${name}",)
    assert container_markers(tmp_path, {name: "false"}) == ()


def test_fixtures_of_these_rules_name_their_sources() -> None:
    for path in (COLIMA_VERSION, COLIMA_SOCKET, ORBSTACK_PARTIAL):
        assert str(load_fixture(path)["source"]).startswith("https://github.com/")
    assert json.loads(COLIMA_SOCKET.read_text())["daemon"] is None


# Rule 10: `flags --for build` writes host-gateway out (docker/cli#4025, docker/buildx#2201).


def test_a_build_gets_host_gateway_written_out() -> None:
    facts = load(ROOTFUL)
    assert resolve(facts).flags == ["--add-host=host.docker.internal:host-gateway"]
    build = resolve(facts, Request(purpose="build"))
    assert build.flags == ["--add-host=host.docker.internal:172.17.0.1"]
    assert "build" in {n.id for n in build.notes}
    desktop = load(PUBLISHED / "docker-desktop-mac-20.10.17.json")
    assert resolve(desktop, Request(purpose="build")).flags == []  # its own name stays
    with pytest.raises(NoRouteError, match="use the name Docker Desktop provides"):
        resolve(desktop, Request(aliases=("host.docker.internal", "local"), purpose="build"))
    done = cli("flags", "--for", "build", "--facts", ROOTFUL, check=True)
    assert done.stdout == "--add-host=host.docker.internal:172.17.0.1\n"


# Rule 3: rootless Docker whose RootlessKit lets containers reach the host's loopback.


@pytest.mark.parametrize(
    ("kit", "strategy", "flag", "note"),
    [
        (RootlessKit("slirp4netns", host_loopback=True), "host-loopback", "10.0.2.2", None),
        (RootlessKit("slirp4netns", host_loopback=False), "lan-ip", None, "LOOPBACK=false"),
        # each driver's host address (issue 23): rootlesskit#515, docker/docs#25774
        (RootlessKit("gvisor-tap-vsock", host_loopback=True), "host-loopback", "10.0.2.1", None),
        (RootlessKit("pasta", host_loopback=True), "host-loopback", "10.0.2.2", None),
        (RootlessKit("vpnkit", host_loopback=True), "lan-ip", None, "does not know"),
        (None, "lan-ip", None, "LOOPBACK=false"),
    ],
)
def test_rootlesskits_host_loopback_decides_the_rootless_route(
    kit: RootlessKit | None, strategy: str, flag: str | None, note: str | None
) -> None:
    facts = load(ROOTLESS)._replace(rootlesskit=kit)
    route = resolve(facts)
    assert route.strategy == strategy
    if flag is not None:
        assert route.flags == [f"--add-host=host.docker.internal:{flag}"]
    notes = {n.id: n for n in route.notes}
    if note is None:
        assert "rootless-loopback" not in notes
    else:
        found = notes["rootless-loopback"]
        assert note in found.message + found.fix
    listening = Listening(ports=(5432,), sockets=(Listener(5432, "127.0.0.1"),))
    findings = {
        f.id for f in diagnose(facts._replace(listening=listening), route, (5432,)).findings
    }
    assert ("loopback-only" in findings) is (strategy != "host-loopback")


def test_the_engines_own_report_of_rootlesskits_driver_picks_the_loopback_address() -> None:
    # GET /version lists RootlessKit's network driver (moby daemon/info_unix.go, as
    # moby/moby#47248 shows it); it names the host's address where the command line did not.
    facts = load(ROOTLESS)._replace(rootlesskit=RootlessKit("host", host_loopback=True))
    assert resolve(facts).strategy == "lan-ip"  # "host": no driver whose address is known
    daemon = facts.daemon
    assert daemon is not None
    component = {"Name": "rootlesskit", "Version": "3.0.0"}
    for driver, address in (("gvisor-tap-vsock", "10.0.2.1"), ("slirp4netns", "10.0.2.2")):
        version = dict(daemon.version)
        version["Components"] = [
            *daemon.version["Components"],
            {**component, "Details": {"NetworkDriver": driver}},
        ]
        reported = facts._replace(daemon=daemon._replace(version=version))
        route = resolve(reported)
        assert route.flags == [f"--add-host=host.docker.internal:{address}"], driver


def test_a_snapshot_keeps_rootlesskit_and_an_old_one_has_none() -> None:
    kit = RootlessKit("slirp4netns", host_loopback=True)
    facts = load(ROOTLESS)._replace(rootlesskit=kit)
    assert from_json(json.loads(json.dumps(to_json(facts)))).rootlesskit == kit
    assert load(ROOTLESS).rootlesskit is None


def test_the_captured_engine_with_host_loopback_replays_its_route() -> None:
    facts = load(ROOTLESS_LOOPBACK)  # captured from .ci/engines.sh's second rootless engine
    assert facts.rootlesskit == RootlessKit("slirp4netns", host_loopback=True)
    route = resolve(facts)
    assert route.flags == ["--add-host=host.docker.internal:10.0.2.2"]
    assert "10.0.2.2" in route.reason


def test_rootlesskits_flags_are_read_from_the_process_that_serves_the_socket(
    tmp_path: Path,
) -> None:
    from hostreach.probe import rootlesskit  # noqa: PLC0415

    runtime_dir = tmp_path / "run"
    runtime_dir.mkdir()
    (runtime_dir / "docker.sock").touch()

    def process(pid: int, argv: list[str], runtime: Path, root: Path = Path("/")) -> None:
        folder = tmp_path / "proc" / str(pid)
        folder.mkdir(parents=True)
        (folder / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
        (folder / "environ").write_bytes(f"XDG_RUNTIME_DIR={runtime}\0".encode())
        (folder / "root").symlink_to(root)

    sock = str(runtime_dir / "docker.sock")
    # A container's RootlessKit (its own root) with the same runtime dir path: not this one's.
    container = tmp_path / "container"
    (container / str(runtime_dir).lstrip("/")).mkdir(parents=True)
    (container / str(runtime_dir).lstrip("/") / "docker.sock").touch()
    process(
        9, ["rootlesskit", "--net=pasta", "--disable-host-loopback", "x"], runtime_dir, container
    )
    assert rootlesskit.read(sock, tmp_path) is None
    process(10, ["rootlesskit", "--net=slirp4netns", "--disable-host-loopback", "x"], tmp_path)
    assert rootlesskit.read(sock, tmp_path) is None  # another runtime dir's, not this socket's
    process(11, ["/usr/bin/rootlesskit", "--net=slirp4netns", "--mtu=65520", "x"], runtime_dir)
    # This machine's own, beside the container's: this one alone (before, neither: ambiguous).
    assert rootlesskit.read(sock, tmp_path) == {"net": "slirp4netns", "host_loopback": True}
    process(12, ["rootlesskit", "--net=$(reboot)", "x"], runtime_dir)  # not a driver: skipped
    assert rootlesskit.read(sock, tmp_path) == {"net": "slirp4netns", "host_loopback": True}


# Rule 1: rootless Podman 5.0-5.2 (pasta, before --map-guest-addr) and 5.3+.

PODMAN_52 = PUBLISHED / "podman-5.2.2-rootless-pasta.json"
PODMAN_54 = PUBLISHED / "podman-5.4.0-rootless-pasta.json"


def _on_machine(facts: Facts, **interfaces: tuple[str, ...]) -> Facts:
    """The same engine, seen from its own machine with these interfaces (eth0 the main one)."""
    network = facts.network._replace(
        default_gateway=Gateway("192.0.2.1", "eth0"),
        interfaces={"lo": ("127.0.0.1", "::1"), **interfaces},
    )
    return facts._replace(network=network)


def test_podman_52_with_one_address_has_no_route_and_never_the_lan_address(tmp_path: Path) -> None:
    # pasta copies the main address into each container: that address leads to the container
    # itself (podman#26494), and Podman writes no name (podman#19213, #22881).
    facts = _on_machine(load(PODMAN_52), eth0=("192.0.2.10", "fe80::1"))
    for aliases in (("host.docker.internal",), ("local",)):
        with pytest.raises(NoRouteError, match=r"5\.0-5\.2 \(pasta\) has no address.*tunnel"):
            resolve(facts, Request(aliases=aliases))
    snapshot = tmp_path / "facts.json"
    snapshot.write_text(json.dumps(to_json(facts)))
    done = cli("flags", "--facts", str(snapshot))
    assert (done.returncode, done.stdout) == (1, "")
    assert "192.0.2.10" not in done.stderr


def test_podman_52_with_a_second_address_keeps_its_names_and_says_where_they_lead() -> None:
    facts = _on_machine(load(PODMAN_52), eth0=("192.0.2.10",), docker0=("172.17.0.1",))
    route = resolve(facts)
    assert (route.strategy, route.flags) == ("native", [])
    assert "pasta-host-address" in {n.id for n in route.notes}
    assert resolve(facts, Request(aliases=("local",))).flags == ["--add-host=local:host-gateway"]


def test_podman_53_and_later_map_the_main_interface_whatever_the_addresses() -> None:
    facts = _on_machine(load(PODMAN_54), eth0=("192.0.2.10",))
    route = resolve(facts)
    assert (route.strategy, route.flags) == ("native", [])
    assert {n.id for n in route.notes} >= {"rootless-loopback"}
    assert "pasta-host-address" not in {n.id for n in route.notes}
    listening = Listening(ports=(5432,), sockets=(Listener(5432, "127.0.0.1"),))
    report = diagnose(facts._replace(listening=listening), route, (5432,))
    assert "loopback-only" in {f.id for f in report.findings}


# Rule 9: Rancher Desktop's containerd engine (nerdctl) serves no Docker API.

RANCHER_CONTAINERD = PUBLISHED / "rancher-desktop-containerd-socket-missing.json"


def test_a_link_to_rancher_desktops_missing_socket_is_read_and_named(tmp_path: Path) -> None:
    # As rancher-desktop#2534 shows it: /var/run/docker.sock links to ~/.rd/docker.sock, which
    # is missing while Rancher Desktop runs containerd.
    (tmp_path / ".rd").mkdir()
    link = tmp_path / "docker.sock"
    link.symlink_to(tmp_path / ".rd" / "docker.sock")
    facts = collect(environ={"DOCKER_HOST": f"unix://{link}"}, home=tmp_path, cache=False)
    assert facts.daemon is None
    assert facts.client.socket_target == str(tmp_path / ".rd" / "docker.sock")
    route = resolve(facts)
    assert route.runtime == "rancher-desktop"
    assert {"socket-hint", "rancher-containerd"} <= {n.id for n in route.notes}
    assert f"a link to {tmp_path}/.rd/docker.sock" in route.reason + " ".join(route.warnings)
    # A plain socket path says nothing of Rancher Desktop.
    plain = collect(
        environ={"DOCKER_HOST": f"unix://{tmp_path}/x.sock"}, home=tmp_path, cache=False
    )
    assert plain.client.socket_target is None
    assert resolve(plain).runtime != "rancher-desktop"


def test_rancher_desktop_answering_gets_no_containerd_note() -> None:
    facts = load(PUBLISHED / "rancher-desktop-name-only.json")
    assert "rancher-containerd" not in {n.id for n in resolve(facts).notes}
    replayed = load(RANCHER_CONTAINERD)
    assert replayed.client.socket_target == "~/.rd/docker.sock"
    assert from_json(json.loads(json.dumps(to_json(replayed)))) == replayed
    # The path reaches a note: a snapshot's unprintable one is refused, not shown.
    data = json.loads(RANCHER_CONTAINERD.read_text())
    data["client"]["socket_target"] = "~/.rd/docker.sock\x1b]0;owned\x07"
    with pytest.raises(FactsError, match=r"client\.socket_target must be a socket path"):
        from_json(data)


# Rule 2: Colima gets its fixed 192.168.5.2, never host-gateway or a name that has come and gone.


def test_colima_writes_its_fixed_address_and_says_why_not_host_gateway() -> None:
    facts = load(COLIMA_VERSION)  # Docker 27.4.0 in Colima: host-gateway is supported by the engine
    route = resolve(facts, Request(aliases=("host.docker.internal", "local")))
    assert route.strategy == "host-loopback"
    assert route.flags == [
        "--add-host=host.docker.internal:192.168.5.2",
        "--add-host=local:192.168.5.2",
    ]
    asked = resolve(facts, Request(strategy="host-gateway"))
    assert asked.flags == ["--add-host=host.docker.internal:host-gateway"]
    assert "host-gateway-unreliable" in {n.id for n in asked.notes}
    assert "abiosoft/colima#902" in " ".join(asked.warnings)
    # The doctor knows 192.168.5.2 reaches this machine's loopback (Lima's user-mode network).
    listening = Listening(ports=(9003,), sockets=(Listener(9003, "127.0.0.1"),))
    found = diagnose(facts._replace(listening=listening), route, (9003,)).findings
    assert "loopback-only" not in {f.id for f in found}


# Rule 12: a CI job container the engine does not report (GitLab's FF_NETWORK_PER_BUILD).

GITLAB_PER_BUILD = PUBLISHED / "gitlab-ff-network-per-build.json"
PER_BUILD = "runner-346da30e-2641-1-8365005"


def test_a_job_container_is_placed_on_the_network_its_gateway_names() -> None:
    facts = load(GITLAB_PER_BUILD)
    assert vantage.of(facts).topology == "nested"
    # The published facts lack the job's own address: the network is named, no route guessed.
    with pytest.raises(NoRouteError, match=f"that of network {PER_BUILD}, but it has no address"):
        resolve(facts)
    # With the address the job has on that network (this test's, 172.22.0.3), siblings join it.
    seen = facts.network._replace(
        default_gateway=Gateway("172.22.0.1", "eth0"),
        interfaces={"lo": ("127.0.0.1",), "eth0": ("172.22.0.3",)},
    )
    route = resolve(facts._replace(network=seen))
    assert route.flags == [f"--network={PER_BUILD}", "--add-host=host.docker.internal:172.22.0.3"]
    assert "network-by-gateway" in {n.id for n in route.notes}
    # Two networks with that gateway: no guess.
    assert facts.daemon is not None
    runner = facts.daemon.networks[0]
    twice = facts.daemon._replace(networks=(runner, runner._replace(name="other")))
    with pytest.raises(NoRouteError, match="does not report"):
        resolve(facts._replace(network=seen, daemon=twice))


def test_a_job_containers_published_ports_are_at_its_default_gateway() -> None:
    # testcontainers-node#15: in a GitLab docker runner job (the runner's own socket mounted),
    # testcontainers-java reached published ports at the job's default gateway, 172.17.0.1,
    # where testcontainers-node said localhost and was refused.
    facts = load(PUBLISHED / "gitlab-docker-runner-job.json")
    found = vantage.host_address(facts, ("host.docker.internal",))
    assert (found.address, found.via) == ("172.17.0.1", "default gateway")


def test_a_rootless_engines_bridge_gateway_is_never_written_for_a_build() -> None:
    # Rootless Podman 5.4 answers host-gateway itself; its default network's gateway lives in
    # the user's namespace, so a build gets no literal for it (podman build rejects host-gateway:
    # containers/podman#26034) and is told to use the names Podman writes in.
    facts = load(PODMAN_54)
    assert facts.daemon is not None
    facts = facts._replace(daemon=facts.daemon._replace(bridge_gateway="10.88.0.1"))
    assert resolve(facts, Request(aliases=("local",))).flags == ["--add-host=local:host-gateway"]
    with pytest.raises(NoRouteError, match="bridge gateway is not this machine; in a build use"):
        resolve(facts, Request(aliases=("local",), purpose="build"))
    # The names themselves need nothing written.
    assert resolve(facts, Request(purpose="build")).flags == []


# Rule 3 (Docker 29.5): a rootless engine's --network=host is this machine's only from 29.5.


def test_rootless_host_network_depends_on_the_engine_version() -> None:
    facts = load(ROOTLESS)  # captured from Debian's rootless Engine 20.10
    with pytest.raises(NoRouteError, match="RootlessKit's network namespace"):
        resolve(facts, Request(strategy="host-network"))
    assert facts.daemon is not None
    newer = facts.daemon._replace(info={**facts.daemon.info, "ServerVersion": "29.5.0"})
    route = resolve(facts._replace(daemon=newer), Request(strategy="host-network"))
    assert route.flags == ["--network=host", "--add-host=host.docker.internal:127.0.0.1"]
    assert resolve(load(ROOTFUL), Request(strategy="host-network")).strategy == "host-network"


def test_podman_50_warns_of_its_names_on_a_network_of_ones_own() -> None:
    # containers/podman#22644 (fixed in 5.1): on a user-created network rootless Podman 5.0
    # wrote this machine's main address for host.containers.internal.
    facts = load(PODMAN_52)
    assert facts.daemon is not None
    old = facts.daemon._replace(
        version={
            **facts.daemon.version,
            "Components": [{"Name": "Podman Engine", "Version": "5.0.3"}],
        }
    )
    messages = [n.message for n in resolve(facts._replace(daemon=old)).notes]
    assert any("podman#22644" in m for m in messages)
    assert not any("podman#22644" in n.message for n in resolve(facts).notes)


def _pasta(name: str) -> Facts:
    """A published rootless Podman (pasta) answer, on this machine's network, with its default
    network's gateway known (rootless Podman reports 10.88.0.1 there too) and a service on
    127.0.0.1:5432 only."""
    data = json.loads((PUBLISHED / name).read_text(encoding="utf-8"))
    data["network"] = json.loads(ROOTLESS.read_text(encoding="utf-8"))["network"]
    data["daemon"]["bridge_gateway"] = "10.88.0.1"
    listening = Listening(ports=(5432,), sockets=(Listener(5432, "127.0.0.1"),))
    return from_json(data)._replace(listening=listening)


def test_pasta_connections_arrive_at_the_main_address_not_the_bridge_gateway() -> None:
    # Issue 23, measured on Podman 5.4 and 5.8: pasta maps the names to this machine's main
    # address, so the doctor told users to listen on 10.88.0.1 and the relay listened there,
    # and containers got 'connection refused'.
    facts = _pasta("podman-5.4.0-rootless-pasta.json")
    route = resolve(facts)
    (finding,) = [f for f in diagnose(facts, route, (5432,)).findings if f.id == "loopback-only"]
    assert "containers arrive at 192.0.2.2" in finding.message
    assert "10.88.0.1" not in finding.message + finding.fix
    where = relay_plan(facts, route, port=5432, target=None, allowed=())
    assert where.listen[0] == "192.0.2.2"
    # Podman 5.0-5.2 point the names at another address of this machine, not known here: the
    # relay says so rather than listen on the bridge gateway.
    older = _pasta("podman-5.2.2-rootless-pasta.json")
    with pytest.raises(RelayError, match="unknown here"):
        relay_plan(older, resolve(older), port=5432, target=None, allowed=())
