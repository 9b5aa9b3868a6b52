"""The doctor's reasoning, replayed: real captured and published facts plus listening sockets."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DESKTOP, FIREWALLD, FIXTURES, PODMAN, ROOTFUL, ROOTLESS, UFW

from hostreach import iptables, nftables
from hostreach.diagnose import FINDINGS, diagnose
from hostreach.errors import NoRouteError
from hostreach.facts import Facts, Firewall, Issue, Listener, Listening, dumps, load, loads
from hostreach.resolve import resolve
from hostreach.routes import Request, Route
from hostreach.runtimes import RUNTIMES


def with_listeners(path: Path, *addresses: str, port: int = 5432) -> Facts:
    sockets = tuple(Listener(port=port, address=a, pid=None) for a in addresses)
    return load(path)._replace(listening=Listening(ports=(port,), sockets=sockets))


def ids(facts: Facts, port: int = 5432) -> dict[str, str]:
    report = diagnose(facts, resolve(facts), (port,))
    assert all(f.id in FINDINGS for f in report.findings)
    return {f.id: f.severity for f in report.findings}


def test_loopback_only_on_rootful_names_the_bridge_gateway_to_bind() -> None:
    facts = with_listeners(ROOTFUL, "127.0.0.1")
    report = diagnose(facts, resolve(facts), (5432,))
    (finding,) = report.findings
    assert finding.id == "loopback-only"
    assert finding.severity == "error"
    assert "172.17.0.1:5432" in finding.fix
    assert "relay --port 5432" in finding.fix
    assert not report.ok


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "172.17.0.1"])
def test_reachable_bindings_give_no_finding(address: str) -> None:
    facts = with_listeners(ROOTFUL, "127.0.0.1", address)
    assert ids(facts) == {}


def test_another_specific_address_is_bound_elsewhere() -> None:
    assert ids(with_listeners(ROOTFUL, "192.0.2.2")) == {"bound-elsewhere": "error"}


def test_nothing_listening() -> None:
    assert ids(with_listeners(ROOTFUL)) == {"not-listening": "error"}


def test_rootless_loopback_only_names_the_main_address_and_why() -> None:
    facts = with_listeners(ROOTLESS, "127.0.0.1")
    report = diagnose(facts, resolve(facts), (5432,))
    found = {f.id: f for f in report.findings}
    assert found["loopback-only"].severity == "error"
    assert "192.0.2.2:5432" in found["loopback-only"].fix
    assert found["rootless-loopback"].severity == "warning"
    assert "DISABLE_HOST_LOOPBACK" in found["rootless-loopback"].fix


def test_rootless_note_is_background_when_the_service_is_reachable() -> None:
    assert ids(with_listeners(ROOTLESS, "0.0.0.0")) == {"rootless-loopback": "info"}


def test_podman_gateway_is_the_address_to_bind() -> None:
    facts = with_listeners(PODMAN, "127.0.0.1")
    (finding,) = diagnose(facts, resolve(facts), (5432,)).findings
    assert finding.id == "loopback-only"
    assert "10.88.0.1:5432" in finding.fix


def test_docker_desktop_reaches_loopback_services() -> None:
    # Desktop sends container traffic from the host-side backend: 127.0.0.1 answers.
    assert ids(with_listeners(DESKTOP, "127.0.0.1")) == {}


def test_ufw_default_policy_is_a_firewall_finding() -> None:
    facts = with_listeners(ROOTFUL, "0.0.0.0")._replace(
        firewall=Firewall(iptables=UFW.read_text(encoding="utf-8"))
    )
    report = diagnose(facts, resolve(facts), (5432,))
    (finding,) = report.findings
    assert finding.id == "firewall"
    assert ":INPUT DROP" in finding.message
    assert "iptables -I INPUT -i docker0 -p tcp --dport 5432 -j ACCEPT" in finding.fix
    # ...while the port ufw allows passes.
    allowed = with_listeners(ROOTFUL, "0.0.0.0", port=22)._replace(firewall=facts.firewall)
    assert ids(allowed, port=22) == {}


def test_for_the_engines_machine_a_remote_route_skips_local_sockets() -> None:
    facts = with_listeners(ROOTFUL, "127.0.0.1")
    facts = facts._replace(client=facts.client._replace(endpoint="ssh://builder@203.0.113.9"))
    report = diagnose(facts, resolve(facts, Request(target="engine-host")), (5432,))
    assert {f.id: f.severity for f in report.findings} == {"remote-engine": "warning"}
    # For the caller (the default) the address the engine sees is not known over ssh:// here.
    report = diagnose(facts, resolve_or_error(facts), (5432,))
    assert [f.id for f in report.findings] == ["no-route"]
    assert "--target engine-host" in report.findings[0].message


def test_a_remote_engine_reaching_the_caller_reads_the_callers_listeners() -> None:
    # A tcp:// engine, which sees this machine at 192.0.2.2: the service listens on 127.0.0.1.
    facts = with_listeners(ROOTFUL, "127.0.0.1")
    client = facts.client._replace(endpoint="tcp://203.0.113.9:2375", caller_address="192.0.2.2")
    facts = facts._replace(client=client)
    report = diagnose(facts, resolve(facts), (5432,))
    found = {f.id: f for f in report.findings}
    assert found["loopback-only"].severity == "error"
    assert "192.0.2.2:5432" in found["loopback-only"].fix
    # Where no route reaches the caller's loopback, the fix is a tunnel from this side.
    assert "hostreach tunnel --port 5432" in found["loopback-only"].fix
    assert "hostreach tunnel --port PORT" in found["remote-engine"].fix
    assert "0.0.0.0" not in found["remote-engine"].fix


def resolve_or_error(facts: Facts) -> Route | NoRouteError:
    try:
        return resolve(facts)
    except NoRouteError as exc:
        return exc


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("no-socket", "systemctl start docker"),
        ("permission-denied", "usermod -aG docker"),
        ("timed-out", "restart"),
    ],
)
def test_engine_unreachable_says_why(reason: str, words: str) -> None:
    facts = Facts(issues=(Issue("engine", "the detail", reason),))
    report = diagnose(facts, resolve(facts))
    finding = next(f for f in report.findings if f.id == "engine-unreachable")
    assert finding.severity == "error"
    assert words in finding.fix
    assert "the detail" in finding.message


def test_no_route_is_an_error_finding() -> None:
    report = diagnose(Facts(), NoRouteError("nothing works"))
    assert report.route is None
    assert ("no-route", "error") in {(f.id, f.severity) for f in report.findings}


def test_a_snapshot_without_the_port_says_how_to_record_it() -> None:
    report = diagnose(load(DESKTOP), resolve(load(DESKTOP)), (5432,))
    (finding,) = report.findings
    assert finding.id == "listeners-unknown"
    assert finding.fix == "record them with: python -m hostreach facts --port 5432 > facts.json"


def test_unreadable_listeners_are_said_not_guessed() -> None:
    facts = load(ROOTFUL)._replace(issues=(Issue("listeners", "needs root", "not-permitted"),))
    assert ids(facts) == {"listeners-unknown": "warning"}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.json")), ids=lambda p: p.stem)
def test_every_finding_id_is_documented(path: Path) -> None:
    for listeners in ((), ("127.0.0.1",), ("0.0.0.0",)):
        facts = with_listeners(path, *listeners)
        try:
            route: Route | NoRouteError = resolve(facts)
        except NoRouteError as exc:
            route = exc
        report = diagnose(facts, route, (5432,))
        assert {f.id for f in report.findings} <= set(FINDINGS)
    for row in RUNTIMES:
        assert {n.id for n in row.notes(facts)} <= set(FINDINGS)


def test_listening_and_firewall_round_trip_through_json() -> None:
    facts = with_listeners(ROOTFUL, "127.0.0.1")._replace(firewall=Firewall(iptables="*filter"))
    assert loads(dumps(facts)) == facts


# --- iptables -------------------------------------------------------------------------------


def test_ufw_rules_as_ufw_writes_them() -> None:
    table = iptables.parse(UFW.read_text(encoding="utf-8"))
    assert iptables.decide(table, iptables.Packet("docker0", 8080)).action == "drop"
    assert iptables.decide(table, iptables.Packet("docker0", 22)).action == "accept"
    assert iptables.decide(table, iptables.Packet("lo", 8080)).action == "accept"


@pytest.mark.parametrize(
    ("rule", "packet", "action"),
    [
        ("-A INPUT -i docker0 -p tcp -m tcp --dport 8080 -j DROP", ("docker0", 8080), "drop"),
        ("-A INPUT -i docker0 -p tcp -m tcp --dport 8080 -j DROP", ("docker0", 8081), "accept"),
        ("-A INPUT -i br+ -j REJECT --reject-with icmp-port-unreachable", ("br-1a2b", 1), "reject"),
        (
            "-A INPUT ! -i lo -p tcp -m multiport --dports 80,8000:8100 -j DROP",
            ("docker0", 8050),
            "drop",
        ),
        ("-A INPUT -p udp -j DROP", ("docker0", 53), "accept"),
        ("-A INPUT -m conntrack --ctstate INVALID -j DROP", ("docker0", 1), "accept"),
    ],
)
def test_single_rules(rule: str, packet: tuple[str, int], action: str) -> None:
    table = iptables.parse(f"*filter\n:INPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n")
    assert iptables.decide(table, iptables.Packet(*packet)).action == action


def test_a_rule_it_cannot_judge_makes_the_answer_uncertain() -> None:
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set ok src -j ACCEPT\nCOMMIT\n"
    verdict = iptables.decide(iptables.parse(text), iptables.Packet("docker0", 1))
    assert verdict.action == "drop"
    assert verdict.uncertain == ("-A INPUT -m set --match-set ok src -j ACCEPT",)


# --- nftables -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interface", "port", "action"),
    [
        ("docker0", 8080, "accept"),  # in the zone that accepts
        ("br-5f1a2b3c4d5e", 8080, "reject"),  # a user-defined network's bridge: public zone
        ("br-5f1a2b3c4d5e", 22, "accept"),  # ...where ssh is allowed
        ("lo", 8080, "accept"),
    ],
)
def test_nftables_zones_as_firewalld_writes_them(interface: str, port: int, action: str) -> None:
    text = FIREWALLD.read_text(encoding="utf-8")
    assert nftables.decide(text, iptables.Packet(interface, port)).action == action


def test_a_native_nftables_reject_is_a_firewall_finding() -> None:
    facts = with_listeners(ROOTFUL, "0.0.0.0")
    facts = facts._replace(
        daemon=facts.daemon._replace(bridge_interface="br-5f1a2b3c4d5e"),  # type: ignore[union-attr]
        firewall=Firewall(nftables=FIREWALLD.read_text(encoding="utf-8")),
    )
    report = diagnose(facts, resolve(facts), (5432,))
    (finding,) = report.findings
    assert finding.id == "firewall"
    assert "inet firewalld filter_INPUT: reject with icmpx admin-prohibited" in finding.message
    # firewalld rewrites its own table: the fix goes through firewall-cmd, not iptables or nft.
    assert finding.fix.startswith(
        "sudo firewall-cmd --zone=trusted --add-interface=br-5f1a2b3c4d5e"
    )


DOCKER_28 = FIXTURES / "iptables" / "docker-28.5-forky-filter.rules"


def test_engine_28s_iptables_layout_leaves_input_to_the_host() -> None:
    # Engine 28 moved its rules into DOCKER-FORWARD and friends (issue 23): a container's
    # connection to the host meets INPUT alone, whose policy here accepts.
    text = DOCKER_28.read_text(encoding="utf-8")
    table = iptables.parse(text)
    assert {"DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE"} <= set(table.rules)
    verdict = iptables.decide(table, iptables.Packet("docker0", 5432, "172.17.0.1"))
    assert verdict == iptables.Verdict("accept", ":INPUT ACCEPT")
    facts = with_listeners(ROOTFUL, "0.0.0.0")
    facts = facts._replace(firewall=Firewall(iptables=text, nftables=None))
    assert ids(facts) == {}
    # The control: the same layout under a dropping INPUT is a firewall finding.
    dropping = text.replace(":INPUT ACCEPT", ":INPUT DROP")
    facts = facts._replace(firewall=Firewall(iptables=dropping, nftables=None))
    assert ids(facts) == {"firewall": "error"}


DOCKER_NFT = FIXTURES / "nftables" / "docker-29-new-daemon.nft"


def test_docker_29s_nftables_backend_leaves_the_hosts_input_alone() -> None:
    # Engine 29's own tables hook forward, prerouting, output and postrouting, never input: a
    # container's connection to the host is the host's input rules' alone (issue 23).
    text = DOCKER_NFT.read_text(encoding="utf-8")
    hooks = {chain.hook for chain in nftables.parse(text)}
    assert hooks == {"forward", "output", "postrouting", "prerouting", None}
    assert nftables.decide(text, iptables.Packet("docker0", 5432, "172.17.0.1")).action == (
        "accept"
    )
    facts = with_listeners(ROOTFUL, "0.0.0.0")
    facts = facts._replace(firewall=Firewall(iptables=None, nftables=text))
    assert [f.id for f in diagnose(facts, resolve(facts), (5432,)).findings] == []


SET_THEN_INPUT = """table inet filter {
\tset trusted {
\t\ttype ipv4_addr
\t\telements = { 192.0.2.1,
\t\t\t     192.0.2.2 }
\t}

\tmap ports {
\t\ttype inet_service : verdict
\t\telements = { 22 : accept }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname "lo" accept
\t}
}
"""


def test_a_drop_policy_after_a_set_or_map_is_read() -> None:
    # Its closing brace had closed the table: the input chain after it was lost, and a host that
    # drops every new connection was said to accept them (found replaying Docker 29's maps).
    (chain,) = nftables.parse(SET_THEN_INPUT)
    assert (chain.table, chain.name, chain.policy) == ("filter", "input", "drop")
    verdict = nftables.decide(SET_THEN_INPUT, iptables.Packet("docker0", 5432, "172.17.0.1"))
    assert verdict == iptables.Verdict("drop", "inet filter input: policy drop")
    # The table after it is read too.
    two = SET_THEN_INPUT + SET_THEN_INPUT.replace("inet filter", "ip other")
    assert {c.table for c in nftables.parse(two)} == {"filter", "other"}


IPV6 = FIXTURES / "live" / "debian14-docker-28.5-rootful-ipv6.json"


@pytest.mark.parametrize(
    ("addresses", "found"),
    [
        (("0.0.0.0",), {"host-gateway-ipv6": "warning", "ipv4-only": "warning"}),
        (("172.17.0.1",), {"host-gateway-ipv6": "warning", "ipv4-only": "warning"}),
        (("0.0.0.0", "::1"), {"host-gateway-ipv6": "warning", "ipv4-only": "warning"}),
        (("::",), {"host-gateway-ipv6": "warning"}),  # dual-stack
        (("0.0.0.0", "fd00:28::1"), {"host-gateway-ipv6": "warning"}),
    ],
)
def test_the_doctor_reads_ipv6_listeners_where_host_gateway_names_ipv6(
    addresses: tuple[str, ...], found: dict[str, str]
) -> None:
    facts = with_listeners(IPV6, *addresses)
    report = diagnose(facts, resolve(facts, Request(strategy="host-gateway")), (5432,))
    assert {f.id: f.severity for f in report.findings} == found
    # The pinned route (the default) names IPv4 alone: nothing to say about IPv6 listeners.
    assert "ipv4-only" not in ids(facts)


def test_wsl2_engine_gives_the_two_hosts_finding() -> None:
    facts = with_listeners(ROOTFUL, "0.0.0.0")
    daemon = facts.daemon
    assert daemon is not None
    wsl = "5.15.153.1-microsoft-standard-WSL2"
    info = {**daemon.info, "KernelVersion": wsl}
    # The caller in the same WSL 2 VM: one kernel for every distro.
    client = facts.client._replace(release=wsl, wsl=True)
    facts = facts._replace(client=client, daemon=daemon._replace(info=info))
    assert ids(facts) == {"wsl-two-hosts": "warning"}


def test_windows_containers_are_a_finding_when_the_route_needs_add_host() -> None:
    # moby/moby#41165: Windows containers ignore --add-host, so the doctor says so.
    data = load(ROOTFUL)
    assert data.daemon is not None
    info = {**data.daemon.info, "OSType": "windows"}
    facts = data._replace(daemon=data.daemon._replace(info=info))
    route = resolve(facts, Request(aliases=("local",), strategy="gateway-ip"))
    (finding,) = [f for f in diagnose(facts, route).findings if f.id == "windows-containers"]
    assert "(172.17.0.1)" in finding.fix
    assert "windows-containers" not in ids(load(ROOTFUL))


def test_the_readme_lists_every_finding_id() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    listed = readme[readme.index("Finding ids:") : readme.index("`--format json` gives")]
    assert [i for i in FINDINGS if f"`{i}`" not in listed] == []


def test_every_note_written_in_the_source_has_a_finding_id() -> None:
    """A Note's id is the doctor's finding id: one missing from FINDINGS has no meaning in the
    troubleshooting page (own-network was, until this test)."""
    import ast  # noqa: PLC0415

    package = Path(__file__).resolve().parent.parent / "hostreach"
    written = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Note":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    written.add(first.value)
    assert len(written) > 20  # the control: the notes are found
    # listen-address is a warning of flags only: the doctor checks the listeners themselves
    assert sorted(written - set(FINDINGS) - {"listen-address"}) == []
