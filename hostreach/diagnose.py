"""diagnose: facts + route (+ a probe result) -> findings. Pure, like resolve.

Each finding says what fails, at which hop, and the exact fix. Its ``id`` is stable (tools and
the troubleshooting docs key on it): see :data:`FINDINGS`.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal, NamedTuple

from hostreach import engine, iptables, nftables
from hostreach.errors import HostreachError
from hostreach.facts import Facts, Listener, ProbeResult
from hostreach.resolve import Route, bridge_gateway, shares_network
from hostreach.runtimes import Runtime, by_id, identify

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
    "lima-network": "Lima's fixed host address holds only in its default user-mode network.",
    "windows-containers": "The engine runs Windows containers, which ignore --add-host and"
    " extra_hosts.",
    "not-listening": "Nothing listens on the port on this machine.",
    "loopback-only": "The service listens on 127.0.0.1 or ::1 only, which containers cannot"
    " reach here.",
    "bound-elsewhere": "The service listens on a specific address that is not the one"
    " containers arrive at.",
    "firewall": "The host firewall drops or rejects connections from containers to the port.",
    "listeners-unknown": "The listening sockets could not be read (macOS needs root), or a"
    " replayed snapshot was recorded without the port.",
    "unresolved": "The container could not resolve the host name.",
    "in-container": "hostreach runs in a container that does not share the host's network, so"
    " it cannot see the host's listening sockets.",
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


class Arrival(NamedTuple):
    """Where a container's connection lands on this machine (the relay listens there)."""

    address: str | None  # a non-loopback address, or None when it is loopback or unknown
    loopback: bool | None  # whether 127.0.0.1 is reached (None: unknown)
    interface: str | None  # the interface it arrives on, for the firewall
    main: bool = False  # the address is this machine's main (LAN) address, not a bridge's


def arrival(facts: Facts, route: Route, runtime: Runtime) -> Arrival:
    """Return where containers' connections by this route land on this machine."""
    literal = route.address
    bridge = facts.daemon.bridge_interface if facts.daemon else None
    if route.strategy == "host-network":
        return Arrival(None, loopback=True, interface="lo")
    if route.strategy == "host-loopback":
        return Arrival(None, loopback=True, interface=None)
    if route.strategy == "lan-ip":
        # Rootless engines connect from the host's namespace (slirp4netns), so over lo.
        return Arrival(
            literal, loopback=False, interface="lo" if route.rootless else bridge, main=True
        )
    if route.strategy == "gateway-ip":
        return Arrival(literal, loopback=False, interface=bridge)
    reaches = runtime.reaches_loopback(facts)
    if reaches:
        return Arrival(None, loopback=True, interface=None)
    address = bridge_gateway(facts, shares_network=shares_network(facts))
    return Arrival(address, loopback=reaches, interface=bridge if reaches is False else None)


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


def _bind_findings(target: Arrival, port: int, sockets: list[Listener]) -> list[Finding]:
    """Whether the service listens where containers arrive."""
    if not sockets:
        return [
            Finding(
                "not-listening",
                "error",
                f"Nothing listens on TCP port {port} on this machine.",
                f"start the service, or check its port: ss -ltnp 'sport = :{port}'",
            )
        ]
    addresses = sorted({s.address for s in sockets})
    shown = ", ".join(addresses)
    if any(a in _WILDCARDS for a in addresses):
        return []
    relay = f"python -m hostreach relay --port {port}"
    loopback_only = all(_is_loopback(a) for a in addresses)
    if target.address and target.address not in addresses:
        where = (
            "this machine's main address: firewall it from the LAN"
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
                f"make it also listen on {target.address}:{port} ({where}); or keep it where it"
                f" is and run: {relay}",
            )
        ]
    if target.loopback is False and loopback_only:
        return [
            Finding(
                "loopback-only",
                "error",
                f"The service on port {port} listens on {shown} only, which containers of this"
                " engine cannot reach.",
                f"make it listen on an address containers reach, or run: {relay}",
            )
        ]
    return []


def _firewall_findings(
    facts: Facts, target: Arrival, port: int, probe: ProbeResult | None, *, bound: bool
) -> list[Finding]:
    """Whether a firewall stops containers; ``bound``: the service listens where they arrive."""
    iface = target.interface or "docker0"
    if probe is not None and probe.outcome == "unresolved":
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
    if probe is not None and probe.outcome == "refused" and bound:
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
    allow = (
        f"sudo iptables -I INPUT -i {iface} -p tcp --dport {port} -j ACCEPT"
        f" (with ufw: sudo ufw allow in on {iface} to any port {port} proto tcp)"
    )
    if probe is not None and probe.outcome == "timed-out":
        return [
            Finding(
                "firewall",
                "error",
                f"A container's connection to {probe.alias}:{port} ({probe.resolved}) timed out:"
                " a firewall drops it (a closed port would refuse at once).",
                allow,
            )
        ]
    if facts.firewall is None or target.interface is None:
        return []
    packet = iptables.Packet(interface=target.interface, port=port, destination=target.address)
    verdicts = []
    if facts.firewall.iptables:
        verdicts.append((iptables.decide(iptables.parse(facts.firewall.iptables), packet), allow))
    if facts.firewall.nftables:  # firewalld and native rules; iptables-nft's tables skipped
        skip = bool(facts.firewall.iptables)
        verdict = nftables.decide(facts.firewall.nftables, packet, skip_iptables_tables=skip)
        verdicts.append((verdict, _nft_allow(verdict.rule or "", target.interface, port)))
    for verdict, fix in verdicts:
        if verdict.action in ("drop", "reject"):
            certain = not verdict.uncertain
            return [
                Finding(
                    "firewall",
                    "error" if certain else "warning",
                    f"The firewall {'drops' if verdict.action == 'drop' else 'rejects'} new"
                    f" connections from {target.interface} to port {port}"
                    f"{'' if certain else ' (unless an earlier rule it could not judge accepts them)'}:"
                    f" {verdict.rule}",
                    fix,
                )
            ]
    return []


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


def diagnose(
    facts: Facts,
    route: Route | HostreachError,
    ports: tuple[int, ...] = (),
    probes: tuple[ProbeResult, ...] = (),
    runtime: str | None = None,
) -> Report:
    """Return the findings for containers reaching these ports on this machine by this route."""
    findings = _engine_findings(facts)
    if isinstance(route, HostreachError):
        findings.append(Finding("no-route", "error", str(route), ""))
        return Report(None, (), tuple(findings), probes)
    row = by_id(runtime) if runtime else identify(facts)
    findings += [
        Finding(n.id, "warning", n.message[0].upper() + n.message[1:] + ".", n.fix)
        for n in row.notes(facts)
    ]
    if route.extra_hosts and engine.containers_os(facts) == "windows":
        findings.append(
            Finding(
                "windows-containers",
                "warning",
                "The engine runs Windows containers, which ignore --add-host and extra_hosts"
                " (moby/moby#41165): the names given will not resolve inside them.",
                "inside the container, connect to the host's address itself"
                + "".join(
                    f" ({a})"
                    for a in sorted(set(route.hosts.values()) - {"native", "host-gateway"})
                ),
            )
        )
    if route.remote:
        findings.append(
            Finding(
                "remote-engine",
                "warning",
                f"The engine runs on another machine ({facts.client.endpoint}): its containers"
                " reach that machine, not this one, and this machine's sockets say nothing"
                " about it.",
                "forward the port to the engine's machine: ssh -N -R 0.0.0.0:PORT:127.0.0.1:PORT"
                " ENGINE-HOST (its sshd needs GatewayPorts clientspecified)",
            )
        )
        return Report(route, (), tuple(findings), probes)
    listening = facts.listening
    # Without the engine's answer there is no telling whether we share its host's network.
    known = facts.daemon is not None
    if ports and known and facts.client.in_container and not shares_network(facts):
        findings.append(
            Finding(
                "in-container",
                "warning",
                FINDINGS["in-container"],
                "run the doctor on the engine's host",
            )
        )
        return Report(route, (), tuple(findings), probes)
    missing = [p for p in ports if listening is None or p not in listening.ports]
    if missing:
        details = "; ".join(i.detail for i in facts.issues if i.source == "listeners")
        shown = " ".join(f"--port {p}" for p in missing)
        findings.append(
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
        )
    target = arrival(facts, route, row)
    for port in ports:
        probe = next((p for p in probes if p.port == port), None)
        bound = True
        if listening is not None and port in listening.ports:
            sockets = [s for s in listening.sockets if s.port == port]
            bind = _bind_findings(target, port, sockets)
            findings += bind
            bound = not bind
        findings += _firewall_findings(facts, target, port, probe, bound=bound)
    if not any(f.id == "loopback-only" for f in findings):
        # Said as a warning only where it explains a failure; otherwise it is background.
        findings = [
            f._replace(severity="info") if f.id == "rootless-loopback" else f for f in findings
        ]
    listeners = listening.sockets if listening is not None else ()
    return Report(route, listeners, tuple(dict.fromkeys(findings)), probes)


def severity_order(finding: Finding) -> int:
    """Sort key: errors first."""
    return ("error", "warning", "info").index(finding.severity)
