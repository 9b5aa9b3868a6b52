"""diagnose: facts + route (+ a probe result) -> findings. Pure, like resolve.

Each finding says what fails, at which hop, and the exact fix. Its ``id`` is stable (tools and
the troubleshooting docs key on it): see :data:`FINDINGS`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from hostreach import iptables, nftables, vantage
from hostreach.arrival import Arrival, arrival
from hostreach.errors import HostreachError
from hostreach.facts import Facts, Firewall, Listener, ProbeResult
from hostreach.routes import Route
from hostreach.vantage import Vantage

Severity = Literal["error", "warning", "info"]

FINDINGS: dict[str, str] = {
    "engine-unreachable": "The container engine could not be asked (no socket, permission"
    " denied, or no answer in time).",
    "runtime-unknown": "The container runtime was not recognised; the route is the most widely"
    " working guess.",
    "no-route": "No route to this machine can be given from these facts.",
    "remote-engine": "The engine runs on another machine, so the host its containers reach is"
    " that machine.",
    "wsl-two-hosts": "The engine runs inside WSL 2: the route reaches the WSL distro, not Windows.",
    "rootless-loopback": "A rootless engine cannot reach this machine's 127.0.0.1 by design.",
    "pasta-host-address": "Rootless Podman 5.0-5.2 (pasta) names another address of this"
    " machine, or none where it has only one.",
    "rancher-containerd": "Rancher Desktop's Docker socket does not answer: stopped, or its"
    " containerd engine, which has no Docker API.",
    "lima-network": "Lima's fixed host address holds only in its default user-mode network.",
    "windows-containers": "The engine runs Windows containers, which ignore --add-host and"
    " extra_hosts.",
    "not-listening": "Nothing listens on the port on this machine.",
    "loopback-only": "The service listens on 127.0.0.1 or ::1 only, which containers cannot"
    " reach here.",
    "bound-elsewhere": "The service listens on a specific address that is not the one"
    " containers arrive at.",
    "firewall": "The host firewall drops or rejects connections from containers to the port.",
    "ipv6-only": "The service listens on [::] with IPV6_V6ONLY, so it refuses the IPv4"
    " connections containers make.",
    "listeners-unknown": "The listening sockets could not be read (macOS needs root), or a"
    " replayed snapshot was recorded without the port.",
    "unresolved": "The container could not resolve the host name.",
    "wrong-machine": "Through the route a container reached another machine than this one (the"
    " engine's, a VM): this machine's proof listener did not answer there.",
    "nat-caller": "The engine's machine sees this one at an address it does not have (NAT, a"
    " VM's user-mode network): where containers' connections land here is not known.",
    "vm-engine": "The engine is behind a local socket but not on this machine's kernel (a VM,"
    " a forwarded socket), and its runtime is not recognised: host-gateway and its gateway"
    " lead into that VM.",
    "in-container": "hostreach runs in a container that does not share the host's network, so"
    " it cannot see the host's listening sockets.",
    "network-by-gateway": "hostreach runs in a container the engine does not report; its network"
    " was found by its default gateway.",
    "host-network": "--network=host removes the container's network isolation.",
    "host-network-unknown": "Whether --network=host shares this machine's network depends on"
    " an engine version that is unknown.",
    "windows-firewall": "A route to Windows from WSL 2 needs the Windows service to listen on"
    " that address and Windows' firewall to let the port in.",
    "host-gateway-elsewhere": "host-gateway was asked for where it lands on another machine or"
    " namespace than this one.",
    "host-gateway-unreliable": "host-gateway was asked for where it has regressed between"
    " releases; the runtime's fixed address is the route chosen.",
    "version-unknown": "The engine did not say its version, so host-gateway (Engine 20.10+) is"
    " not assumed.",
    "rootless-unknown": "The engine's answers do not say whether it is rootless, so"
    " host-gateway (inside RootlessKit's namespace on a rootless engine) is not assumed.",
    "own-network": "Containers on a network of their own (compose's project network) cannot"
    " reach the default network's gateway here, so the route is this machine's main address.",
    "override": "HOSTREACH_HOST_ADDRESS is set: it wins over detection.",
    "build": "For a build, host-gateway is written out as the address it stands for.",
    "socket-hint": "The runtime was recognised from the engine's socket path alone: a guess.",
    "tunnel": "The route goes through a running `hostreach tunnel`: only its ports, and only"
    " while it runs.",
    "swarm-node-local": "host-gateway was asked for a Swarm service: each task reaches its own"
    " node's machine, so tasks on other nodes than the caller's miss it.",
    "swarm-node-down": "A node of the swarm is not ready: its tasks start when it is back.",
    "cluster-unknown": "The kubeconfig's cluster is not a kind hostreach knows: the address given"
    " is this machine's address toward its nodes, unproven.",
    "cluster-vm": "On macOS or Windows a cluster's nodes run in a VM: the address given is this"
    " machine's route toward them, unproven.",
    "ipv4-pinned": "host-gateway would name the bridge's IPv6 address too (Engine 28+), so the"
    " names are pinned to its IPv4 gateway.",
    "host-gateway-ipv6": "host-gateway names the bridge's IPv6 address too (Engine 28+): a client"
    " that tries IPv6 first needs the service on IPv6 as well.",
    "ipv4-only": "The route names an IPv6 address too, and the service listens on IPv4 only: a"
    " client that tries IPv6 first is refused there.",
    "tunnel-ports": "A `hostreach tunnel` runs, but not for every port asked about: the route is"
    " the direct one, and the ports the tunnel carries are reached through its own route.",
}
"""Every finding id, with what it means (the troubleshooting page is built from this table)."""


class Finding(NamedTuple):
    """One thing that stops (error) or may stop (warning) a container from reaching the host."""

    id: str
    severity: Severity
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """Return the finding as plain JSON data."""
        return dict(self._asdict())


class Report(NamedTuple):
    """The doctor's answer: the route (if any), the listening sockets and the findings."""

    route: Route | None
    listeners: tuple[Listener, ...]
    findings: tuple[Finding, ...]
    probes: tuple[ProbeResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return {
            "ok": self.ok,
            "route": None if self.route is None else self.route.to_json(),
            "listeners": [dict(s._asdict()) for s in self.listeners],
            "probes": [p.to_json() for p in self.probes],
            "findings": [f.to_json() for f in self.findings],
        }


_WILDCARDS = frozenset({"0.0.0.0", "::"})


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _engine_findings(facts: Facts) -> list[Finding]:
    if facts.daemon is not None:
        return []
    fixes = {
        "no-socket": "start the engine (`sudo systemctl start docker`, or the runtime's app), or"
        " point DOCKER_HOST at its socket",
        "permission-denied": "sudo usermod -aG docker $USER, then log in again (or use a"
        " rootless engine's socket: DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock)",
        "timed-out": "the engine accepts connections but does not answer: restart it"
        " (`sudo systemctl restart docker`) or raise --timeout",
        "refused": "start the engine, or point DOCKER_HOST at a running one",
    }
    found = []
    for issue in facts.issues:
        if issue.source == "engine":
            fix = fixes.get(issue.reason, "check that the engine runs and DOCKER_HOST is right")
            message = f"The container engine could not be asked: {issue.detail}."
            found.append(Finding("engine-unreachable", "error", message, fix))
    return found or [
        Finding(
            "engine-unreachable",
            "error",
            "The container engine was not asked (these facts carry no engine answer).",
            "run hostreach where `docker info` works, or capture facts there",
        )
    ]


def _bind_findings(
    target: Arrival, port: int, sockets: list[Listener], *, helper: str | None
) -> list[Finding]:
    """Whether the service listens where containers arrive; ``helper``: what carries a
    loopback-only service's connections instead (``relay``; ``tunnel`` where no route reaches
    this machine's loopback: a remote or rootless engine; None for a Swarm service's tasks,
    which run on every node)."""
    if not sockets:
        return [
            Finding(
                "not-listening",
                "error",
                f"Nothing listens on TCP port {port} on this machine.",
                f"start the service, or check its port: ss -ltnp 'sport = :{port}'",
            )
        ]
    relay = f"python -m hostreach {helper} --port {port}" if helper else ""
    # On "::", IPV6_V6ONLY refuses IPv4: such a socket is no wildcard for containers.
    v6only = [s for s in sockets if s.address == "::" and s.v6only]
    addresses = sorted({s.address for s in sockets if s not in v6only})
    if any(a in _WILDCARDS for a in addresses):
        return []
    if v6only and not addresses:
        return [
            Finding(
                "ipv6-only",
                "error",
                f"The service on port {port} listens on [::] with IPV6_V6ONLY (as nginx's"
                f" `listen [::]:{port}` does), so it refuses IPv4, and containers connect over"
                " IPv4: they will get 'connection refused'.",
                f"make it listen on IPv4 too (nginx: add `listen {port};`), or turn its"
                " IPv6-only option off"
                + (f"; or keep it and run: {relay} --backend [::1]:{port}" if relay else ""),
            )
        ]
    return _where_bound(target, port, addresses, relay)


def _where_bound(target: Arrival, port: int, addresses: list[str], relay: str) -> list[Finding]:
    """Whether addresses other than a wildcard include where containers arrive."""
    shown = ", ".join(addresses)
    loopback_only = all(_is_loopback(a) for a in addresses)
    if target.address and target.address not in addresses:
        where = (
            "an address of this machine others reach: firewall it from the LAN"
            if target.main
            else "the bridge gateway: containers reach it, the LAN does not"
        )
        return [
            Finding(
                "loopback-only" if loopback_only else "bound-elsewhere",
                "error",
                f"The service on port {port} listens on {shown} only, but containers arrive at"
                f" {target.address}"
                + (": they will get 'connection refused'." if loopback_only else "."),
                f"make it also listen on {target.address}:{port} ({where})"
                + (f"; or keep it where it is and run: {relay}" if relay else ""),
            )
        ]
    if target.loopback is False and loopback_only:
        return [
            Finding(
                "loopback-only",
                "error",
                f"The service on port {port} listens on {shown} only, which containers of this"
                " engine cannot reach.",
                "make it listen on an address containers reach"
                + (f", or run: {relay}" if relay else ""),
            )
        ]
    return []


def _firewall_findings(
    facts: Facts, target: Arrival, port: int, probe: ProbeResult | None, *, bound: bool
) -> list[Finding]:
    """Whether a firewall stops containers; ``bound``: the service listens where they arrive."""
    iface = target.interface or "docker0"
    allow = (
        f"sudo iptables -I INPUT -i {iface} -p tcp --dport {port} -j ACCEPT"
        f" (with ufw: sudo ufw allow in on {iface} to any port {port} proto tcp)"
    )
    if probe is not None:
        found = _probe_findings(probe, port, iface, allow, bound=bound)
        if found:
            return found
    if facts.firewall is None or target.interface is None:
        return []
    return _rule_findings(facts.firewall, target.interface, target.address, port, allow)


def _probe_findings(
    probe: ProbeResult, port: int, iface: str, allow: str, *, bound: bool
) -> list[Finding]:
    """What a probe container's failure says about names and firewalls."""
    if probe.outcome == "unresolved":
        return [
            Finding(
                "unresolved",
                "error",
                f"The container could not resolve {probe.alias}: the route's flags were not"
                " applied, or the runtime does not provide that name.",
                "pass the flags from `python -m hostreach flags` to docker run, or use"
                " `python -m hostreach run ...`",
            )
        ]
    if probe.outcome == "refused" and bound:
        return [
            Finding(
                "firewall",
                "error",
                f"A container's connection to {probe.alias}:{port} ({probe.resolved}) was"
                " refused although the service listens on a reachable address: a firewall"
                " rule rejects it.",
                f"sudo iptables -I INPUT -i {iface} -p tcp --dport {port} -j ACCEPT",
            )
        ]
    if probe.outcome == "timed-out":
        return [
            Finding(
                "firewall",
                "error",
                f"A container's connection to {probe.alias}:{port} ({probe.resolved}) timed out:"
                " a firewall drops it (a closed port would refuse at once).",
                allow,
            )
        ]
    return []


def _rule_findings(
    firewall: Firewall, interface: str, address: str | None, port: int, allow: str
) -> list[Finding]:
    """What the firewall's rules (iptables, nftables) do to a container's new connection."""
    packet = iptables.Packet(interface=interface, port=port, destination=address)
    verdicts = []
    if firewall.iptables:
        verdicts.append((iptables.decide(iptables.parse(firewall.iptables), packet), allow))
    if firewall.nftables:  # firewalld and native rules; iptables-nft's tables skipped
        skip = bool(firewall.iptables)
        verdict = nftables.decide(firewall.nftables, packet, skip_iptables_tables=skip)
        verdicts.append((verdict, _nft_allow(verdict.rule or "", interface, port)))
    for verdict, fix in verdicts:
        if verdict.action in ("drop", "reject"):
            certain = not verdict.uncertain
            return [
                Finding(
                    "firewall",
                    "error" if certain else "warning",
                    f"The firewall {'drops' if verdict.action == 'drop' else 'rejects'} new"
                    f" connections from {interface} to port {port}"
                    f"{'' if certain else ' (unless an earlier rule it could not judge accepts them)'}:"
                    f" {verdict.rule}",
                    fix,
                )
            ]
    unjudged = [r for verdict, _ in verdicts for r in verdict.uncertain if not _accepts(r)]
    if unjudged:  # "no problem found" would claim more than was read
        more = f" (and {len(unjudged) - 1} more)" if len(unjudged) > 1 else ""
        return [
            Finding(
                "firewall",
                "warning",
                f"Whether the firewall lets connections from {interface} to port {port}"
                f" through is uncertain: it has rules that could not be judged, such as:"
                f" {unjudged[0]}{more}",
                "check that rule, or prove the route with: python -m hostreach check --port"
                f" {port}",
            )
        ]
    return []


def _accepts(rule: str) -> bool:
    """Whether a rule's verdict is accept (iptables ``-j ACCEPT``, nft ``accept``)."""
    words = rule.split()
    return "-j ACCEPT" in rule or (bool(words) and words[-1] == "accept")


def _nft_allow(rule: str, interface: str, port: int) -> str:
    """The fix for a native nftables verdict ``FAMILY TABLE CHAIN: RULE``: accept in that chain."""
    family, table, chain = [*rule.split(":", 1)[0].split(), "", "", ""][:3]
    if table == "firewalld":  # firewalld rewrites its table: ask it, not nft
        return (
            f"sudo firewall-cmd --zone=trusted --add-interface={interface} (add --permanent to"
            " keep it), or open only the port in that interface's zone with --add-port"
            f"={port}/tcp"
        )
    return f'sudo nft insert rule {family} {table} {chain} iifname "{interface}" tcp dport {port} accept'


class _Case(NamedTuple):
    """What the checks read: the facts, the route and where its containers arrive."""

    facts: Facts
    route: Route
    ports: tuple[int, ...]
    probes: tuple[ProbeResult, ...]
    vantage: Vantage
    target: Arrival


class _Found(NamedTuple):
    findings: list[Finding]
    final: bool = False
    """No later check applies (this machine's sockets say nothing about the route)."""


def _check_engine(case: _Case) -> _Found:
    return _Found(_engine_findings(case.facts))


# Notes the doctor checks in detail itself: the engine's reachability, and where the service
# listens (the port checks name the address and the process).
_CHECKED_ITSELF = frozenset({"engine-unreachable", "listen-address"})


def _check_notes(case: _Case) -> _Found:
    """The route's notes as warnings: each is worded once, in the rule that found it."""
    return _Found(
        [
            Finding(n.id, "warning", n.message[0].upper() + n.message[1:] + ".", n.fix)
            for n in case.route.notes
            if n.id not in _CHECKED_ITSELF
        ]
    )


def _check_proof(case: _Case) -> _Found:
    """A probe that did not reach this machine's proof listener: the route leads elsewhere."""
    return _Found(
        [
            Finding(
                "wrong-machine",
                "error",
                f"A container resolved {probe.alias} to {probe.resolved}, but this machine's proof"
                " listener did not answer there: the route leads to another machine (the"
                " engine's, a VM), where a service on the same port would be the wrong one.",
                # Name what led there (issue 24: it blamed a --strategy never given).
                f"the route came from: {case.route.reason} That is not so here: find the route"
                " by trying it (python -m hostreach flags --strategy discover), or carry the"
                " port from this side (python -m hostreach tunnel --port PORT); where a"
                " --strategy or --runtime was given by hand, drop it; and please send"
                " `python -m hostreach facts` with a report",
            )
            for probe in case.probes
            if probe.outcome == "elsewhere"
        ]
    )


def _check_elsewhere(case: _Case) -> _Found:
    """Stop where this machine's sockets and firewall say nothing about the route's target."""
    # The engine's machine, or Windows: this machine's sockets say nothing about either.
    elsewhere = case.route.target == "windows" or (
        case.route.remote and case.route.target == "engine-host"
    )
    return _Found([], final=elsewhere or any(n.id == "in-container" for n in case.route.notes))


def _check_listeners_read(case: _Case) -> _Found:
    listening = case.facts.listening
    missing = [p for p in case.ports if listening is None or p not in listening.ports]
    if not missing:
        return _Found([])
    details = "; ".join(i.detail for i in case.facts.issues if i.source == "listeners")
    shown = " ".join(f"--port {p}" for p in missing)
    return _Found(
        [
            Finding(
                "listeners-unknown",
                "warning",
                f"The listening sockets could not be read ({details})."
                if details
                else f"These facts hold no listening sockets for {shown.replace('--port ', '')}:"
                " they were recorded without those ports.",
                "run the doctor again with sudo"
                if details
                else f"record them with: python -m hostreach facts {shown} > facts.json",
            )
        ]
    )


def _check_ports(case: _Case) -> _Found:
    """For each port: does the service listen where containers arrive, and does a firewall drop?"""
    listening = case.facts.listening
    findings = []
    # Each port is judged by the route it would use (issue 26): one a tunnel carries is reached
    # through the tunnel (its own connections, from this process), never through this route.
    carried = (
        {p for t in case.facts.tunnels for p in t.ports} if case.route.target == "caller" else set()
    )
    for port in case.ports:
        if port in carried and case.route.strategy != "tunnel":
            continue
        # (A service's tasks probe from every node: the first that failed speaks for them.)
        tried = [p for p in case.probes if p.port == port]
        probe = next((p for p in tried if p.outcome != "connected"), tried[0] if tried else None)
        bound = True
        if listening is not None and port in listening.ports:
            sockets = [s for s in listening.sockets if s.port == port]
            helper: str | None = "tunnel" if case.route.remote or case.route.rootless else "relay"
            if case.route.purpose == "service":
                helper = None  # neither carries a service's tasks on other nodes
            bind = _bind_findings(case.target, port, sockets, helper=helper)
            findings += bind or _ipv6_findings(case, port, sockets)
            bound = not bind
        findings += _firewall_findings(case.facts, case.target, port, probe, bound=bound)
    return _Found(findings)


def _ipv6_findings(case: _Case, port: int, sockets: list[Listener]) -> list[Finding]:
    """Whether the service takes IPv6 where the route names the bridge's IPv6 address too."""
    if not any(n.id == "host-gateway-ipv6" for n in case.route.notes):
        return []
    ipv6 = [s.address for s in sockets if ":" in s.address and not _is_loopback(s.address)]
    if ipv6:
        return []
    shown = ", ".join(sorted({s.address for s in sockets}))
    return [
        Finding(
            "ipv4-only",
            "warning",
            f"The service on port {port} listens on {shown}, IPv4 only, but containers resolve"
            f" {', '.join(case.route.hosts)} to the bridge's IPv6 address too: a client that"
            " tries IPv6 first gets 'connection refused' there (or waits, where a firewall"
            " drops IPv6) before it tries IPv4, and one that does not fall back fails.",
            f"make it listen on [::]:{port} as well, or leave out --strategy host-gateway:"
            " hostreach then pins the names to the bridge's IPv4 gateway",
        )
    ]


_CHECKS: tuple[Callable[[_Case], _Found], ...] = (
    _check_engine,
    _check_notes,
    _check_proof,
    _check_elsewhere,
    _check_listeners_read,
    _check_ports,
)
"""The doctor's checks, in order; a final one ends the list."""


def diagnose(
    facts: Facts,
    route: Route | HostreachError,
    ports: tuple[int, ...] = (),
    probes: tuple[ProbeResult, ...] = (),
) -> Report:
    """Return the findings for containers reaching these ports on this machine by this route."""
    if isinstance(route, HostreachError):
        findings = [*_engine_findings(facts), Finding("no-route", "error", str(route), "")]
        return Report(None, (), tuple(findings), probes)
    here = vantage.of(facts)
    target = arrival(facts, route)
    case = _Case(facts, route, ports, probes, here, target)
    findings = []
    for check in _CHECKS:
        found = check(case)
        findings += found.findings
        if found.final:
            break
    if not any(f.id == "loopback-only" for f in findings):
        # Said as a warning only where it explains a failure; otherwise it is background.
        findings = [
            f._replace(severity="info") if f.id == "rootless-loopback" else f for f in findings
        ]
    listeners = facts.listening.sockets if facts.listening is not None and not found.final else ()
    return Report(route, listeners, tuple(dict.fromkeys(findings)), probes)


def severity_order(finding: Finding) -> int:
    """Sort key: errors first."""
    return ("error", "warning", "info").index(finding.severity)
