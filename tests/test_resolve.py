"""resolve: the Linux engine rules, on snapshots captured from the real engines CI runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LIVE, PODMAN, PODMAN_ROOTLESS, PUBLISHED, ROOTFUL, ROOTLESS

import hostreach
from hostreach.checks import check_alias
from hostreach.engine import views
from hostreach.errors import EndpointError, FactsError, NoRouteError, UsageError
from hostreach.facts import Facts, from_json, load
from hostreach.resolve import resolve
from hostreach.routes import Request


def variant(path: Path, **changes: Any) -> Facts:
    """A captured snapshot with some fields changed (``daemon__info__ServerVersion=...``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = data
        for parent in parents:
            node = node[parent]
        node[last] = value
    return from_json(data)


@pytest.mark.parametrize("path", sorted(LIVE.glob("*.json")), ids=lambda p: p.stem)
def test_live_snapshots_give_their_expected_route(path: Path) -> None:
    expect = json.loads(path.read_text(encoding="utf-8"))["expect"]
    if "no_route" in expect:
        with pytest.raises(NoRouteError, match=expect["no_route"]):
            resolve(load(path))
        return
    route = resolve(load(path))
    assert route.runtime == expect["runtime"]
    assert route.rootless is expect["rootless"]
    assert route.strategy == expect["strategy"]


def test_rootful_uses_host_gateway() -> None:
    route = resolve(load(ROOTFUL), Request(aliases=("host.docker.internal", "local")))
    assert route.flags == [
        "--add-host=host.docker.internal:host-gateway",
        "--add-host=local:host-gateway",
    ]
    route.flags.append("--rm")  # the caller's own list: the route is unchanged
    assert route.flags[-1] == "--add-host=local:host-gateway"
    assert route.warnings == ()


def test_rootless_never_uses_host_gateway() -> None:
    route = resolve(load(ROOTLESS))
    assert route.flags == ["--add-host=host.docker.internal:192.0.2.2"]
    assert any("listen on 192.0.2.2 or on all interfaces" in w for w in route.warnings)
    forced = resolve(load(ROOTLESS), Request(strategy="host-gateway"))
    assert forced.flags == ["--add-host=host.docker.internal:host-gateway"]
    assert any("RootlessKit" in w for w in forced.warnings)


def test_engine_before_20_10_gets_the_bridge_gateway() -> None:
    # The captured 20.10 snapshot with an older version: the rule, not a fixture of an old engine.
    old = variant(
        ROOTFUL, daemon__info__ServerVersion="19.03.15", daemon__version__Version="19.03.15"
    )
    route = resolve(old)
    assert route.strategy == "gateway-ip"
    assert route.flags == ["--add-host=host.docker.internal:172.17.0.1"]
    with pytest.raises(NoRouteError, match="predates host-gateway"):
        resolve(old, Request(strategy="host-gateway"))


def test_version_master_falls_back_to_api_version() -> None:
    facts = variant(
        ROOTFUL,
        daemon__info__ServerVersion="master",
        daemon__version__Version="master",
        daemon__version__ApiVersion="1.40",
    )
    assert resolve(facts).strategy == "gateway-ip"  # API 1.40 is Engine 19.03


def test_bridge_interface_is_read_only_when_local() -> None:
    # Engine 20.10 left IPAM.Config's Gateway empty in one capture here (after a restart over an
    # existing docker0) and filled it in another: without it, only a local docker0 tells.
    remote = variant(
        ROOTFUL, client__endpoint="tcp://203.0.113.9:2375", daemon__bridge_gateway=None
    )
    with pytest.raises(NoRouteError, match="gateway is unknown"):
        resolve(remote, Request(strategy="gateway-ip", target="engine-host"))
    route = resolve(remote, Request(target="engine-host"))
    assert route.remote is True
    assert any("another machine" in w for w in route.warnings)


def test_podman_4_3_gets_its_network_gateway() -> None:
    route = resolve(load(PODMAN))
    assert route.flags == ["--add-host=host.docker.internal:10.88.0.1"]
    assert route.hosts == {"host.docker.internal": "10.88.0.1"}
    native = resolve(load(PODMAN), Request(aliases=("host.containers.internal",)))
    assert native.strategy == "native"
    assert native.flags == []


def test_host_network() -> None:
    route = resolve(load(ROOTFUL), Request(strategy="host-network"))
    assert route.flags == ["--network=host", "--add-host=host.docker.internal:127.0.0.1"]
    assert route.network_mode == "host"
    assert any("isolation" in w for w in route.warnings)


def test_no_engine_degrades_with_a_warning() -> None:
    facts = from_json({"issues": [{"source": "engine", "detail": "no engine socket at /x"}]})
    route = resolve(facts)
    assert route.runtime == "unknown"
    assert route.flags == ["--add-host=host.docker.internal:host-gateway"]
    assert any("no engine socket at /x" in w for w in route.warnings)


def test_bad_endpoint_is_bad_input() -> None:
    facts = from_json(
        {"issues": [{"source": "endpoint", "detail": "DOCKER_HOST='x' is not valid"}]}
    )
    with pytest.raises(EndpointError):
        resolve(facts)


@pytest.mark.parametrize(
    "alias",
    [
        "",
        "a b",
        "$(id)",
        "`id`",
        "x;y",
        "-x",
        "x-",
        "a..b",
        "a" * 64,
        ("a." * 127) + "ab",
        "ü.de",
        "a_b",
        "local\n",  # a regex's `$` would have let a trailing newline through
        "١٢٣",  # digits, but not ASCII ones
    ],
)
def test_bad_aliases_are_refused(alias: str) -> None:
    with pytest.raises(UsageError):
        check_alias(alias)
    with pytest.raises(UsageError):
        Request(aliases=(alias,)).check()


@pytest.mark.parametrize("alias", ["local", "host.docker.internal", "a", "x-1.example", "a" * 63])
def test_good_aliases(alias: str) -> None:
    assert check_alias(alias) == alias


def test_python_api_route_with_given_facts() -> None:
    route = hostreach.route("local", facts=load(ROOTLESS))
    assert route.flags == ["--add-host=local:192.0.2.2"]
    with pytest.raises(UsageError):
        hostreach.route("not a name", facts=load(ROOTLESS))


def test_a_native_engine_in_wsl2_answers_for_the_distro_and_says_so() -> None:
    # Published: Docker Engine 29.4.1 installed inside a WSL 2 Ubuntu distro (no Desktop).
    route = resolve(load(PUBLISHED / "docker-engine-29.4.1-wsl2.json"))
    assert route.runtime == "docker-engine"
    assert route.strategy == "host-gateway"  # the WSL distro, where this engine runs
    (warning,) = [w for w in route.warnings if "WSL 2" in w]
    assert "not Windows" in warning
    assert "--target windows" in warning  # which answers Windows: see the tests below


def test_a_remote_engine_route_says_whose_machine_it_reaches() -> None:
    facts = variant(ROOTFUL, client__endpoint="ssh://user@203.0.113.9")
    route = resolve(facts, Request(target="engine-host"))
    assert route.remote is True
    assert (route.target, route.topology) == ("engine-host", "remote")
    assert "the engine's machine (not this one)" in route.reason
    assert "this machine" not in route.reason.replace("not this one", "")
    # The caller, by default: never the engine's machine, so no route where its view is unknown.
    with pytest.raises(NoRouteError, match="the address at which it sees this one is unknown"):
        resolve(facts)


def test_a_remote_rootless_engines_machine_is_never_given_this_machines_address() -> None:
    # Found on the way (issue 23): lan-ip is this machine's main address, so a remote rootless
    # engine's machine got the caller's address: the wrong machine.
    facts = variant(ROOTLESS, client__endpoint="ssh://user@203.0.113.9")
    with pytest.raises(NoRouteError, match="another machine, whose own address is not in"):
        resolve(facts, Request(target="engine-host"))
    local = resolve(load(ROOTLESS), Request(target="engine-host"))  # here it is this machine
    assert local.flags == ["--add-host=host.docker.internal:192.0.2.2"]


def test_a_remote_tcp_engine_reaches_the_caller_at_its_address_on_the_connection() -> None:
    facts = variant(
        ROOTFUL, client__endpoint="tcp://203.0.113.9:2375", client__caller_address="192.0.2.2"
    )
    route = resolve(facts, Request(aliases=("host.docker.internal", "local")))
    assert (route.strategy, route.target, route.topology) == ("caller-ip", "caller", "remote")
    assert route.flags == [
        "--add-host=host.docker.internal:192.0.2.2",
        "--add-host=local:192.0.2.2",
    ]
    assert "reaches this one at 192.0.2.2" in route.reason
    assert route.to_json()["topology"] == "remote"
    engine_host = resolve(facts, Request(target="engine-host"))
    assert engine_host.flags == ["--add-host=host.docker.internal:host-gateway"]


def test_windows_containers_are_told_that_add_host_is_ignored() -> None:
    # moby/moby#41165: --add-host and extra_hosts have no effect on Windows containers.
    windows = variant(ROOTFUL, daemon__info__OSType="windows")
    route = resolve(windows, Request(aliases=("local",), strategy="gateway-ip"))
    assert route.flags == ["--add-host=local:172.17.0.1"]
    assert any("ignore --add-host" in w for w in route.warnings)
    linux = resolve(load(ROOTFUL), Request(aliases=("local",), strategy="gateway-ip"))
    assert not any("ignore --add-host" in w for w in linux.warnings)
    # A name the runtime resolves itself needs no flag, so nothing is ignored.
    native = resolve(load(PUBLISHED / "windows-containers-19.03.8.json"))
    assert native.flags == []
    assert not any("ignore --add-host" in w for w in native.warnings)


def podman_variant(path: Path, version: str, **client: Any) -> Facts:
    """A captured Podman snapshot as another Podman version would answer, seen from ``client``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for component in data["daemon"]["version"]["Components"]:
        if component["Name"] == "Podman Engine":
            component["Version"] = version
    data["client"] = {**data.get("client", {}), **client}
    return from_json(data)


def test_rootless_podman_5_with_pasta_warns_that_loopback_is_not_reached() -> None:
    # Podman 5 (pasta by default) cannot run here; the captured rootless 4.3.1 answers as 5.3.0.
    # pasta maps the names to this machine's main interface, never its loopback.
    facts = podman_variant(PODMAN_ROOTLESS, "5.3.0")
    route = resolve(facts)
    assert (route.runtime, route.rootless, route.strategy) == ("podman", True, "native")
    assert route.flags == []  # host.docker.internal is written in from 4.7
    assert any("pasta" in w and "127.0.0.1" in w for w in route.warnings)
    other = resolve(facts, Request(aliases=("local",)))
    assert other.flags == ["--add-host=local:host-gateway"]  # valid from 4.7
    # The real 4.3.1 it was captured from: no pasta, no host-gateway, this machine's address.
    old = resolve(load(PODMAN_ROOTLESS))
    assert old.strategy == "lan-ip"
    assert not any("pasta" in w for w in old.warnings)


def test_podman_machine_answers_both_names_through_its_own_dns() -> None:
    # podman machine (macOS, Windows): gvproxy's DNS answers both zones, even on Podman 4.3.1,
    # which on Linux writes in host.containers.internal only.
    names = ("host.containers.internal", "host.docker.internal")
    on_mac = podman_variant(PODMAN, "4.3.1", os="darwin")
    assert resolve(on_mac, Request(aliases=names)).flags == []
    on_linux = resolve(load(PODMAN), Request(aliases=names))
    assert on_linux.flags == ["--add-host=host.docker.internal:10.88.0.1"]
    rootless_mac = podman_variant(PODMAN_ROOTLESS, "5.3.0", os="darwin")
    assert not any("pasta" in w for w in resolve(rootless_mac).warnings)  # gvproxy, not pasta


def nested(**changes: Any) -> Facts:
    """The captured rootful engine, seen from a CI job's container on its default bridge."""
    job = {
        "client__in_container": True,
        "client__hostname": "0123456789ab",
        "client__networks": {"bridge": "172.17.0.5"},
        "network__interfaces": {"eth0": ["172.17.0.5"], "lo": ["127.0.0.1"]},
        "network__default_gateway": {"ip": "172.17.0.1", "interface": "eth0"},
    }
    return variant(ROOTFUL, **{**job, **changes})


def test_in_a_job_container_the_caller_is_the_job() -> None:
    route = resolve(nested())
    assert (route.strategy, route.topology, route.network_mode) == ("caller-ip", "nested", None)
    assert route.flags == ["--add-host=host.docker.internal:172.17.0.5"]
    assert not any("reaches the engine's host" in w for w in route.warnings)
    user = resolve(nested(client__networks={"ci-build": "10.9.0.3"}))
    assert user.flags == ["--network=ci-build", "--add-host=host.docker.internal:10.9.0.3"]
    assert user.docker_run_kwargs() == {
        "extra_hosts": {"host.docker.internal": "10.9.0.3"},
        "network_mode": "ci-build",
    }
    for_the_host = resolve(nested(), Request(target="engine-host"))
    assert for_the_host.flags == ["--add-host=host.docker.internal:host-gateway"]
    assert any("reaches the engine's host" in w for w in for_the_host.warnings)


def test_a_job_container_the_engine_does_not_know_gets_no_route() -> None:
    with pytest.raises(NoRouteError, match="the engine does not report"):
        resolve(nested(client__networks={}))


def in_wsl(wslconfig: str | None = None, **changes: Any) -> Facts:
    """The published Docker Engine 29.4.1 in a WSL 2 distro, with the distro's network as
    MicrosoftDocs/WSL WSL/networking.md shows it (distro 172.30.98.229, Windows 172.30.96.1)."""
    wsl = {
        "client__wsl": True,
        "client__wslconfig": wslconfig,
        "network": {
            "default_gateway": {"ip": "172.30.96.1", "interface": "eth0"},
            "interfaces": {"eth0": ["172.30.98.229"], "lo": ["127.0.0.1"]},
        },
    }
    return variant(PUBLISHED / "docker-engine-29.4.1-wsl2.json", **{**wsl, **changes})


def test_target_windows_in_nat_mode_is_the_distros_gateway() -> None:
    route = resolve(in_wsl(), Request(target="windows"))
    assert route.flags == ["--add-host=host.docker.internal:172.30.96.1"]
    assert "NAT mode" in route.reason
    assert any("Windows' firewall" in w for w in route.warnings)
    assert not any("not Windows" in w for w in route.warnings)
    # The distro itself stays the default target, with the note naming --target windows.
    assert any("--target windows" in w for w in resolve(in_wsl()).warnings)


def test_target_windows_in_mirrored_mode_needs_host_address_loopback() -> None:
    mirrored = "[wsl2]\nnetworkingMode=mirrored\n"  # MicrosoftDocs/WSL WSL/networking.md
    with pytest.raises(NoRouteError, match="hostAddressLoopback=true"):
        resolve(in_wsl(mirrored), Request(target="windows"))
    # As WSL reads it: any case, spaces around '=', CRLF, comments.
    loopback = "[WSL2]\r\nNetworkingMode = Mirrored\r\n# a comment\r\n[experimental]\r\nhostAddressLoopback = True\r\n"
    route = resolve(in_wsl(loopback), Request(target="windows"))
    assert route.flags == ["--add-host=host.docker.internal:172.30.98.229"]
    assert "mirrored mode" in route.reason
    # wslinfo's answer wins over the file.
    nat = resolve(in_wsl(loopback, client__wsl_networking="nat"), Request(target="windows"))
    assert nat.flags == ["--add-host=host.docker.internal:172.30.96.1"]


def test_target_windows_outside_wsl_is_bad_usage() -> None:
    with pytest.raises(UsageError, match="inside a WSL 2 distro"):
        resolve(load(ROOTFUL), Request(target="windows"))
    with pytest.raises(UsageError, match="leave out --strategy"):
        resolve(in_wsl(), Request(target="windows", strategy="lan-ip"))


VM_SOCKET = LIVE / "debian12-docker-20.10-qemu-vm-socket.json"
"""The VM lab's engine through its forwarded socket (.ci/vm.sh): a name hostreach does not know."""


def test_an_engine_in_an_unknown_vm_gets_no_guess() -> None:
    # Issue 24: host-gateway through the forwarded socket reached a decoy in the VM.
    with pytest.raises(NoRouteError) as caught:
        resolve(load(VM_SOCKET))
    message = str(caught.value)
    assert "its kernel is 6.1.0-50-cloud-amd64, this machine's 6.18.44-fc-v1045" in message
    assert "its memory is 1.9 GiB, this machine's 23.5 GiB" in message
    assert "--strategy discover" in message
    assert "tunnel --port PORT" in message


def test_an_engine_in_a_vm_booted_from_this_machines_kernel_is_told_by_its_memory() -> None:
    # The issue's own lab booted this machine's kernel in the VM: memory told it apart.
    facts = variant(VM_SOCKET, daemon__info__KernelVersion="6.18.44-fc-v1045")
    with pytest.raises(NoRouteError, match=r"\(its memory is 1.9 GiB, this machine's 23.5 GiB\)"):
        resolve(facts)
    same = variant(
        VM_SOCKET,
        daemon__info__KernelVersion="6.18.44-fc-v1045",
        daemon__info__MemTotal=25275990016 - 4096,  # a balloon's step: one kernel all the same
    )
    assert resolve(same).strategy == "host-gateway"


def test_a_vm_with_a_known_runtime_gets_its_rule() -> None:
    facts = load(VM_SOCKET)
    lima = resolve(facts, Request(runtime="lima"))
    assert lima.flags == ["--add-host=host.docker.internal:192.168.5.2"]
    assert "vm-engine" not in [n.id for n in lima.notes]
    # Renamed as Lima names its instances, it is recognised without being told.
    named = variant(VM_SOCKET, daemon__info__Name="lima-docker")
    assert resolve(named).flags == ["--add-host=host.docker.internal:192.168.5.2"]


def test_host_gateway_asked_for_in_an_unknown_vm_is_warned_about() -> None:
    route = resolve(load(VM_SOCKET), Request(strategy="host-gateway"))
    assert route.flags == ["--add-host=host.docker.internal:host-gateway"]
    (note,) = [n for n in route.notes if n.id == "vm-engine"]
    assert "lead into its VM" in note.message
    assert "--strategy discover" in note.fix
    # The engine's machine is what --target engine-host asks for: host-gateway reaches it.
    there = resolve(load(VM_SOCKET), Request(target="engine-host"))
    assert there.strategy == "host-gateway"
    assert "vm-engine" not in [n.id for n in there.notes]


def test_a_snapshot_without_this_machines_memory_still_replays() -> None:
    # Snapshots from before issue 24 have no client.mem_total: only the kernel is compared.
    facts = variant(
        VM_SOCKET, daemon__info__KernelVersion="6.18.44-fc-v1045", client__mem_total=None
    )
    assert resolve(facts).strategy == "host-gateway"
    assert resolve(load(ROOTFUL)).strategy == "host-gateway"


CLASH = LIVE / "debian13-docker-26.1-rootless-bridge-clash.json"


def test_an_address_inside_the_engines_bridge_is_never_the_route() -> None:
    # Measured in the lab (issue 23): containers given 172.17.0.2 sent it to their own bridge.
    with pytest.raises(NoRouteError, match=r"172\.17\.0\.2 lies inside .* 172\.17\.0\.0/16"):
        resolve(load(CLASH))
    # The same machine one subnet over is reached at its address; a hostile subnet is refused.
    moved = resolve(variant(CLASH, daemon__bridge_subnet="172.19.0.0/16"))
    assert moved.flags == ["--add-host=host.docker.internal:172.17.0.2"]
    with pytest.raises(FactsError, match="bridge_subnet must be an IP network"):
        variant(CLASH, daemon__bridge_subnet="172.17.0.0/16 --privileged")
    # A remote engine's bridge holding the caller's address: the same refusal.
    remote = variant(
        ROOTFUL, client__endpoint="tcp://203.0.113.9:2375", client__caller_address="172.17.5.5"
    )
    with pytest.raises(NoRouteError, match=r"172\.17\.5\.5 lies inside"):
        resolve(remote)


IPV6 = LIVE / "debian14-docker-28.5-rootful-ipv6.json"


def test_an_ipv6_bridge_on_engine_28_pins_the_names_to_ipv4() -> None:
    # Measured in the lab (issue 23): host-gateway wrote fd00:28::1 too, which a service on
    # 0.0.0.0 refused; the bridge's IPv4 gateway is one address every client takes.
    route = resolve(load(IPV6))
    assert route.flags == ["--add-host=host.docker.internal:172.17.0.1"]
    (pinned,) = [n for n in route.notes if n.id == "ipv4-pinned"]
    assert "fd00:28::/64" in pinned.message
    # Asked for by hand, host-gateway stays, with the warning.
    asked = resolve(load(IPV6), Request(strategy="host-gateway"))
    assert asked.flags == ["--add-host=host.docker.internal:host-gateway"]
    assert [n.id for n in asked.notes] == ["host-gateway-ipv6"]
    # The controls: Engine 27 writes no IPv6 line; a bridge without IPv6 has none to write.
    older = variant(IPV6, daemon__version__Version="27.5.1", daemon__info__ServerVersion="27.5.1")
    assert resolve(older).strategy == "host-gateway"
    plain = variant(IPV6, daemon__bridge_subnet6=None)
    assert resolve(plain).strategy == "host-gateway"
    assert "ipv4-pinned" not in {n.id for n in resolve(plain).notes}
    # An old snapshot, without the field, replays as before; a hostile one is refused.
    assert load(ROOTFUL).daemon.bridge_subnet6 is None  # type: ignore[union-attr]
    with pytest.raises(FactsError, match="bridge_subnet6 must be an IP network"):
        variant(IPV6, daemon__bridge_subnet6="fd00::/64; id")


def test_the_bridges_ipv6_subnet_is_read_without_a_gateway() -> None:
    # GET /networks/bridge as forky's Engine 28.5 answered it (the IPv6 entry has no Gateway).
    answer = {
        "IPAM": {
            "Config": [
                {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"},
                {"Subnet": "fd00:28::/64", "IPRange": "fd00:28::/64"},
            ]
        },
        "Options": {"com.docker.network.bridge.name": "docker0"},
    }
    fields = views.bridge_fields(answer)
    assert fields == {
        "bridge_gateway": "172.17.0.1",
        "bridge_interface": "docker0",
        "bridge_subnet": "172.17.0.0/16",
        "bridge_subnet6": "fd00:28::/64",
    }
    answer["IPAM"]["Config"][1]["Subnet"] = "not-a-network"  # type: ignore[index]
    assert views.bridge_fields(answer)["bridge_subnet6"] is None
