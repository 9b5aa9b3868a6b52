"""resolve: facts + request -> Route. Pure: it reads nothing but its arguments.

The steps, in order: refuse a broken endpoint; pick the runtime's row; see where the caller
stands (:mod:`hostreach.vantage`); choose the strategy; give each alias its value; attach the
notes the user must know; say why.
"""

from __future__ import annotations

from ipaddress import ip_address
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from hostreach import vantage, wslconfig
from hostreach.engine import views
from hostreach.errors import EndpointError, NoRouteError, UsageError
from hostreach.facts import Facts, Tunnel
from hostreach.routes import (
    HOST_GATEWAY,
    NATIVE,
    OVERRIDE,
    SWARM_PURPOSES,
    Note,
    Request,
    Route,
    Strategy,
    literal_address,
)
from hostreach.runtimes import Runtime, by_id, identify, socket_hint
from hostreach.vantage import Vantage

if TYPE_CHECKING:
    from hostreach.discovery import Choice


class _Context(NamedTuple):
    facts: Facts
    request: Request
    runtime: Runtime
    vantage: Vantage
    builtin: frozenset[str]
    tunnel: Tunnel | None
    """The running tunnel that carries every port the request names (none named: none)."""


def resolve(facts: Facts, request: Request | None = None) -> Route:
    """Return the route by which containers of this engine reach the host."""
    request = (request or Request()).check()
    if request.purpose == "pod":  # the kubeconfig's cluster: no engine in it
        return _for_pod(facts, request)
    _refuse_broken_endpoint(facts)
    runtime = by_id(request.runtime) if request.runtime else identify(facts)
    ctx = _Context(
        facts,
        request,
        runtime,
        vantage.of(facts),
        runtime.builtin_names(facts),
        _carrier(facts, request),
    )
    if request.purpose in SWARM_PURPOSES:
        return _for_swarm(ctx)
    strategy, notes = _strategy(ctx)
    hosts = _hosts(ctx, strategy)
    network_mode = _network_mode(ctx, strategy)
    if request.purpose == "build":
        strategy, hosts, notes = _for_build(ctx, strategy, hosts, notes, network_mode)
    notes += _route_notes(ctx, strategy, hosts)
    return Route(
        runtime=runtime.id,
        rootless=views.rootless(facts),
        remote=ctx.vantage.remote,
        strategy=strategy,
        hosts=MappingProxyType(hosts),
        reason=_reason(ctx, strategy, hosts),
        notes=tuple(dict.fromkeys(notes)),
        network_mode=network_mode,
        target=request.target,
        topology=ctx.vantage.topology,
        engine=facts.client.endpoint,
    )


def _for_pod(facts: Facts, request: Request) -> Route:
    """The route for a pod of the kubeconfig's current cluster (issue 25)."""
    from hostreach import clusters  # noqa: PLC0415 - --format k8s only

    if vantage.of(facts).nested:
        # This container's own address is what it sees toward the nodes, and the engine keeps
        # its bridges apart: a pod does not reach it there.
        raise NoRouteError(
            "hostreach runs in a container, whose address the cluster's nodes do not reach:"
            " run it on the machine where the service listens"
        )
    strategy, hosts, notes, reason = clusters.plan(facts, request)
    row = clusters.identify(facts.cluster, facts.client.os) if facts.cluster else None
    return Route(
        runtime=row.id if row else "kubernetes",
        rootless=False,
        remote=False,
        strategy=strategy,
        hosts=MappingProxyType(hosts),
        reason=reason,
        notes=tuple(notes),
        purpose="pod",
    )


def _for_swarm(ctx: _Context) -> Route:
    """The route for a Swarm service's tasks, on whichever node they run (issue 25)."""
    from hostreach import swarm  # noqa: PLC0415 - --for service and stack only

    nested = ctx.vantage.topology == "nested"
    strategy, hosts, notes, reason = swarm.plan(
        ctx.facts, ctx.request, nested=nested, builtin=ctx.builtin
    )
    return Route(
        runtime=ctx.runtime.id,
        rootless=views.rootless(ctx.facts),
        remote=ctx.vantage.remote,
        strategy=strategy,
        hosts=MappingProxyType(hosts),
        reason=f"{ctx.runtime.title} swarm: {reason}",
        notes=tuple(dict.fromkeys(notes)),
        topology=ctx.vantage.topology,
        engine=ctx.facts.client.endpoint,
        purpose=ctx.request.purpose,
    )


def _carrier(facts: Facts, request: Request) -> Tunnel | None:
    """The caller's running tunnel that carries every port the request names: a tunnel changes
    the answer only for its own ports (issue 26: one for port A took port B's route over)."""
    wanted = set(request.ports)
    if not wanted or request.target != "caller" or request.strategy != "auto":
        return None
    return next((t for t in facts.tunnels if wanted <= set(t.ports)), None)


def _for_build(
    ctx: _Context,
    strategy: Strategy,
    hosts: dict[str, str],
    notes: list[Note],
    network_mode: str | None,
) -> tuple[Strategy, dict[str, str], list[Note]]:
    """The route for ``docker build``: host-gateway written out as the address it stands for.

    host-gateway has failed in builds on Engine 23.0 (docker/cli#4025), 25.0
    (docker/buildx#2201) and with buildx drivers other than moby's; a literal address works in
    all of them. A build joins no user-defined network.
    """
    if network_mode not in (None, "host"):
        raise NoRouteError(
            f"this route needs --network={network_mode}, which `docker build` cannot join; run"
            " the step in a container instead (hostreach run), or build with --network=host"
        )
    if HOST_GATEWAY not in hosts.values():
        return strategy, hosts, notes
    names = ", ".join(sorted(ctx.builtin))
    hint = f"; in a build use the name {ctx.runtime.title} provides: {names}" if names else ""
    if views.rootless(ctx.facts):
        # A rootless engine's bridge gateway is in its own namespace, not on this machine
        # (rootless Podman 4.7+ answers host-gateway itself; podman build rejects it: #26034).
        raise NoRouteError(
            "host-gateway is not safe in a build (docker/cli#4025, docker/buildx#2201,"
            " containers/podman#26034), and a rootless engine's bridge gateway is not this"
            f" machine{hint}"
        )
    try:
        address = _address(ctx, "gateway-ip")
    except NoRouteError as exc:
        raise NoRouteError(
            f"host-gateway is not safe in a build (docker/cli#4025, docker/buildx#2201), and"
            f" {exc}{hint}"
        ) from exc
    written = {alias: address if value == HOST_GATEWAY else value for alias, value in hosts.items()}
    note = Note(
        "build",
        f"for a build, host-gateway is written out as {address}: it has failed in builds on"
        " Engine 23.0 and 25.0 and with buildx drivers other than moby's",
    )
    return "gateway-ip", written, [*notes, note]


def _refuse_broken_endpoint(facts: Facts) -> None:
    for issue in facts.issues:
        if issue.source == "endpoint":  # a malformed DOCKER_HOST or a missing context
            raise EndpointError(issue.detail)
        if issue.source == "override":  # HOSTREACH_HOST_ADDRESS that is not an address
            raise UsageError(issue.detail)


_WINDOWS_FIREWALL = Note(
    "windows-firewall",
    "the Windows service must listen on that address or on all interfaces, and"
    " Windows' firewall must let the port in from WSL",
    "on Windows (PowerShell, as administrator): New-NetFirewallRule -DisplayName WSL"
    " -Direction Inbound -InterfaceAlias 'vEthernet (WSL)' -Action Allow (NAT mode;"
    " in mirrored mode allow the port in the Hyper-V firewall)",
)
# What asking for host-gateway earns, by the runtime's verdict on it ("rejected" is an error).
_HOST_GATEWAY_NOTES = {
    "unreliable": ("host-gateway-unreliable", "host-gateway may not reach this machine: {}"),
    "elsewhere": ("host-gateway-elsewhere", "host-gateway will not reach this machine: {}"),
    "unknown": ("version-unknown", "{}"),
}


def _strategy(ctx: _Context) -> tuple[Strategy, list[Note]]:
    """Return the strategy for the request, and the notes that asking for it earns."""
    asked = ctx.request.strategy
    if ctx.request.target == "windows":
        if asked != "auto":
            raise UsageError("--target windows chooses its own route: leave out --strategy")
        return "windows-ip", [_WINDOWS_FIREWALL]
    if asked == "host-network":
        return "host-network", _host_network_notes(ctx)
    if asked == "auto":
        return _auto(ctx)
    if asked != "host-gateway":
        return asked, []
    verdict = ctx.runtime.host_gateway(ctx.facts)
    if verdict.status == "rejected":
        raise NoRouteError(f"host-gateway cannot be used here: {verdict.why}")
    found = _HOST_GATEWAY_NOTES.get(verdict.status)
    ipv6 = _host_gateway_ipv6(ctx)
    if verdict.status == "unknown":
        return asked, [Note(verdict.note, verdict.why), *ipv6]
    return asked, [*([Note(found[0], found[1].format(verdict.why))] if found else []), *ipv6]


def _host_gateway_ipv6(ctx: _Context) -> list[Note]:
    """The note host-gateway earns where it names an IPv6 address too (asked for by hand)."""
    subnet = ctx.runtime.host_gateway_ipv6(ctx.facts)
    if subnet is None:
        return []
    return [
        Note(
            "host-gateway-ipv6",
            f"host-gateway names the default bridge's IPv6 address (in {subnet}) as well as its"
            " IPv4 one: a client that tries IPv6 first reaches the service only if it listens"
            " on IPv6 too",
            "make the service listen on [::] as well as 0.0.0.0, or leave out --strategy"
            " host-gateway: hostreach then pins the names to the bridge's IPv4 gateway",
        )
    ]


def _auto(ctx: _Context) -> tuple[Strategy, list[Note]]:
    """The strategy ``auto`` picks: the user's address, a running tunnel, the caller's own
    address off this machine, the runtime's names, else the runtime's best route."""
    for_caller = ctx.request.target == "caller"
    if ctx.facts.client.host_override and for_caller:
        return "override", [OVERRIDE]  # the user's word wins (cf. TESTCONTAINERS_HOST_OVERRIDE)
    if ctx.tunnel is not None:
        # The caller's own tunnel carries these ports: it reaches this machine's loopback
        # from any topology, which is what the user started it for.
        return "tunnel", []
    if ctx.vantage.topology != "local" and for_caller:
        # The runtime's own answers (its names, host-gateway) reach the engine's machine:
        # the caller is wherever the engine's machine sees this one (remote), or this
        # container, on a network its siblings share (nested).
        return "caller-ip", []
    if all(alias in ctx.builtin for alias in ctx.request.aliases):
        return "native", []
    if ctx.vantage.vm and not ctx.runtime.in_vm and for_caller:
        raise NoRouteError(_unknown_vm(ctx))
    strategy = _auto_strategy(ctx)
    if strategy == "gateway-ip" and ctx.request.own_network and not ctx.runtime.shared_gateway:
        return "lan-ip", [_own_network_note(ctx.runtime.title)]
    return _pinned_to_ipv4(ctx, strategy)


def _pinned_to_ipv4(ctx: _Context, strategy: Strategy) -> tuple[Strategy, list[Note]]:
    """host-gateway, unless it names an IPv6 address too: then the bridge's IPv4 gateway."""
    subnet = ctx.runtime.host_gateway_ipv6(ctx.facts) if strategy == "host-gateway" else None
    if subnet is None:
        return strategy, []
    # Issue 23: a client that tries the IPv6 line first (glibc's getaddrinfo gave fd00:28::1
    # first on the lab's IPv6 host; busybox prefers IPv4) is refused by a service on 0.0.0.0,
    # or waits out a firewall that drops IPv6: one address, IPv4.
    return "gateway-ip", [
        Note(
            "ipv4-pinned",
            f"the engine's default bridge has IPv6 ({subnet}), where host-gateway names its"
            " IPv6 address too, which a service listening on IPv4 only refuses: the names"
            " are pinned to the bridge's IPv4 gateway",
            "for IPv6 as well, make the service listen on [::] and pass --strategy host-gateway",
        )
    ]


def _unknown_vm(ctx: _Context) -> str:
    """Why there is no route for an engine in a VM that no row knows (issue 24: host-gateway
    there reached a decoy in the VM)."""
    return (
        f"the engine behind {ctx.facts.client.endpoint} does not run on this machine's kernel"
        f" ({'; '.join(ctx.vantage.elsewhere)}): it is in a VM, or behind a socket forwarded"
        f" from another machine, that {ctx.runtime.title} rules do not cover, so host-gateway"
        " and its gateway would reach that machine, not this one. Find the route by trying it:"
        " python -m hostreach flags --strategy discover; or carry the port from this side:"
        " python -m hostreach tunnel --port PORT; or name the runtime: --runtime ID"
    )


def _own_network_note(title: str) -> Note:
    """Why a compose project's containers get this machine's main address, not the gateway."""
    return Note(
        "own-network",
        f"on a network of their own (compose's project network) containers cannot reach"
        f" {title}'s default gateway, which exists only while a container is on the default"
        " network: the names point at this machine's main address",
    )


def _host_network_notes(ctx: _Context) -> list[Note]:
    """The notes --network=host earns; NoRouteError where it is not this machine's network."""
    shared = ctx.runtime.host_network(ctx.facts)
    if shared.status == "elsewhere":
        raise NoRouteError(f"--network=host does not reach this machine here: {shared.why}")
    uncertain = [Note("host-network-unknown", shared.why)] if shared.status == "unknown" else []
    return [
        Note(
            "host-network",
            "--network=host removes the container's network isolation: it shares every port"
            " and interface of the engine's host",
        ),
        *uncertain,
    ]


def _auto_strategy(ctx: _Context) -> Strategy:
    """Return the strategy for the names the runtime does not resolve itself."""
    verdict = ctx.runtime.host_gateway(ctx.facts)
    if verdict.status == "reaches-host":
        return "host-gateway"
    fallback = ctx.runtime.fallback(ctx.facts)
    if fallback is None:
        names = sorted(ctx.builtin)
        hint = (
            f"use the name it provides: {', '.join(names)}"
            if names
            else "this version provides no name for the host; upgrading it is the fix"
        )
        raise NoRouteError(
            f"{ctx.runtime.title} offers no route for these names ({verdict.why}); {hint}"
        )
    return fallback


def _hosts(ctx: _Context, strategy: Strategy) -> dict[str, str]:
    """Return each alias's value: an address, ``host-gateway`` or ``native``."""
    aliases = ctx.request.aliases
    if strategy == "discover":
        return _discovered(ctx).hosts
    one = _one_address(ctx, strategy)
    if one is not None:
        return dict.fromkeys(aliases, one)
    value = HOST_GATEWAY if strategy == "host-gateway" else NATIVE
    if strategy in ("gateway-ip", "lan-ip", "host-loopback"):
        try:
            value = _address(ctx, strategy)
        except NoRouteError as exc:
            verdict = ctx.runtime.host_gateway(ctx.facts)
            if verdict.status == "unknown":  # why host-gateway was not the answer
                raise NoRouteError(f"{verdict.why}; and {exc}") from exc
            if not ctx.builtin:
                raise
            names = ", ".join(sorted(ctx.builtin))
            raise NoRouteError(
                f"{exc}; or use the name {ctx.runtime.title} provides: {names}"
            ) from exc
    auto = ctx.request.strategy == "auto"
    return {alias: NATIVE if auto and alias in ctx.builtin else value for alias in aliases}


def _one_address(ctx: _Context, strategy: Strategy) -> str | None:
    """The address every alias gets, for the strategies that name no host (None: others)."""
    if strategy == "host-network":
        return "127.0.0.1"
    if strategy == "caller-ip":
        return _caller_address(ctx)
    if strategy == "windows-ip":
        return _windows(ctx)[0]
    if strategy == "tunnel" and ctx.tunnel is not None:
        return ctx.tunnel.address
    if strategy == "override":
        return ctx.facts.client.host_override or ""
    return None


def _discovered(ctx: _Context) -> Choice:
    from hostreach import discovery  # noqa: PLC0415 - --strategy discover only: not cold flags

    if not ctx.facts.discovered:
        raise NoRouteError(
            "these facts hold no discovery (--strategy discover tries the candidates from a"
            " container when hostreach probes; a snapshot records them with"
            " `python -m hostreach facts --discover`)"
        )
    return discovery.choose(ctx.facts.discovered, ctx.request.aliases)


def _caller_address(ctx: _Context) -> str:
    if ctx.vantage.topology == "nested":
        return _own_network(ctx)[1]
    facts = ctx.facts
    found = facts.client.caller_address
    if found is None:
        asked = "; ".join(i.detail for i in facts.issues if i.source == "engine")
        why = (
            f"it could not be asked ({asked})"
            if facts.daemon is None
            else "it did not say (hostreach reads it from its tcp:// connection, or from"
            " SSH_CONNECTION over ssh://)"
        )
        raise NoRouteError(
            f"the engine runs on another machine ({facts.client.endpoint}), and the address at"
            f" which it sees this one is unknown: {why}. For a service on the engine's machine"
            " pass --target engine-host; for one here, carry its port from this side:"
            " python -m hostreach tunnel --port PORT"
        )
    return _outside_the_bridge(facts, found)


def _outside_the_bridge(facts: Facts, address: str) -> str:
    """Refuse an address inside the engine's default bridge subnet: a container sends it there.

    Measured in the modern-engines lab (issue 23): a rootless engine's RootlessKit namespace
    sees none of this machine's interfaces, so its bridge took 172.17.0.0/16 while this machine
    was 172.17.0.2, and the route led to the container's own bridge (to itself, or nowhere).
    """
    subnet = views.bridge_subnet(facts)
    if subnet is None or ip_address(address) not in subnet:
        return address
    raise NoRouteError(
        f"this machine's address {address} lies inside the engine's bridge subnet {subnet}, so"
        " a container sends it onto its own bridge (to another container, or to itself), not"
        ' here; give the engine another subnet ("bip" or "default-address-pools" in its'
        " daemon.json, ~/.config/docker/daemon.json for a rootless engine) or carry the port:"
        " python -m hostreach tunnel --port PORT"
    )


def _windows(ctx: _Context) -> tuple[str, str]:
    return wslconfig.windows_address(ctx.facts, vantage.lan_address(ctx.facts))


def _own_network(ctx: _Context) -> tuple[str, str]:
    """The network (and this container's address on it) that a sibling should share."""
    networks = ctx.facts.client.networks
    if not networks and (by_gateway := vantage.network_by_gateway(ctx.facts)) is not None:
        network, address = by_gateway
        if address is None:
            raise NoRouteError(
                f"hostreach runs in a container the engine does not report; its default gateway"
                f" {network.gateway} is that of network {network.name}, but it has no address in"
                f" {network.subnet} here, so how siblings reach it is unknown"
            )
        return network.name, address
    if not networks:
        raise NoRouteError(
            "hostreach runs in a container that the engine does not report (its ID or host name"
            " is not one of the engine's containers), so how its siblings reach it is unknown;"
            " for a service on the engine's machine pass --target engine-host"
        )
    default = ctx.runtime.default_network
    name = default if default in networks else ("bridge" if "bridge" in networks else min(networks))
    return name, networks[name]


def _network_mode(ctx: _Context, strategy: Strategy) -> str | None:
    if strategy == "host-network":
        return "host"
    if strategy == "tunnel" and ctx.tunnel is not None:
        return ctx.tunnel.network_mode
    if strategy == "caller-ip" and ctx.vantage.topology == "nested":
        name = _own_network(ctx)[0]
        # On a network the engine does not join by default, the sibling must join it.
        return None if name in (ctx.runtime.default_network, "bridge") else name
    return None


def _address(ctx: _Context, strategy: Strategy) -> str:
    """Return the literal address for an address-based strategy, or raise NoRouteError."""
    facts = ctx.facts
    if strategy == "gateway-ip":
        found = vantage.bridge_gateway(facts, shares_network=ctx.vantage.shares_network)
        if found is None:
            raise NoRouteError(
                "the default bridge network's gateway is unknown (the engine did not report it"
                + ("" if facts.daemon is not None else ", and the engine could not be reached")
                + "); try --strategy lan-ip"
            )
        return found
    if strategy == "lan-ip":
        if ctx.request.target == "engine-host" and ctx.vantage.topology != "local":
            # This machine's address is not the engine's machine's: the wrong machine.
            raise NoRouteError(
                "the engine runs on another machine, whose own address is not in its answers"
                " (lan-ip would name this machine instead); pass that machine's address"
                " yourself with --add-host=NAME:ADDRESS"
            )
        found = vantage.lan_address(facts)
        if found is None:
            raise NoRouteError(
                "this machine's primary address is unknown (no default route with an IPv4"
                " address); pass the address yourself with --add-host=NAME:ADDRESS"
            )
        return _outside_the_bridge(facts, found)
    found = ctx.runtime.loopback_address(facts)
    if found is None:
        raise NoRouteError(f"{ctx.runtime.title} has no fixed address for the host's loopback here")
    return found


def _route_notes(ctx: _Context, strategy: Strategy, hosts: dict[str, str]) -> list[Note]:
    """Return what the user must know about this route, runtime and vantage."""
    notes = _address_notes(ctx.facts, strategy, hosts)
    if strategy == "override":
        return notes  # the user's address: the runtime's caveats are about its own routes
    if strategy == "discover":  # proven: the runtime's caveats are about its own routes
        found = _discovered(ctx)
        chosen = found.chosen
        if found.kind in ("gateway", "caller"):
            notes.append(
                Note(
                    "listen-address",
                    f"the host service must listen on {chosen.address} or on all interfaces"
                    " (0.0.0.0), not on 127.0.0.1 only",
                )
            )
        return notes
    if strategy == "tunnel" and ctx.tunnel is not None:
        return [*notes, _tunnel_note(ctx.tunnel)]  # the runtime's own routes are not in use
    notes += _tunnel_aside(ctx)
    notes += _runtime_notes(ctx, strategy)
    notes += _vantage_notes(ctx)
    return notes


def _address_notes(facts: Facts, strategy: Strategy, hosts: dict[str, str]) -> list[Note]:
    """What the route's addresses ask of the service, and of Windows containers."""
    notes = []
    address = literal_address(hosts)
    if strategy == "caller-ip" and not vantage.own_address(facts, address):
        notes.append(
            Note(
                "nat-caller",
                f"the engine's machine sees this one at {address}, which is not an address of"
                " this machine: NAT, or a VM's user-mode network (QEMU's, Lima's and Colima's"
                " forward it to this machine's 127.0.0.1), so where its containers' connections"
                " land here is not known",
                "prove it: python -m hostreach check --port PORT; where it fails, carry the"
                " port from this side: python -m hostreach tunnel --port PORT",
            )
        )
    elif strategy in ("lan-ip", "gateway-ip", "caller-ip"):
        notes.append(
            Note(
                "listen-address",
                f"the host service must listen on {address} or on all interfaces (0.0.0.0), not"
                " on 127.0.0.1 only",
            )
        )
    if any(v != NATIVE for v in hosts.values()) and views.containers_os(facts) == "windows":
        # https://github.com/moby/moby/issues/41165 (open): Windows ignores the hosts entries
        shown = "".join(f" ({a})" for a in sorted(set(hosts.values()) - {NATIVE, HOST_GATEWAY}))
        notes.append(
            Note(
                "windows-containers",
                "the engine runs Windows containers, which ignore --add-host and extra_hosts"
                " (moby/moby#41165): inside the container use the address itself, not the name",
                f"inside the container, connect to the host's address itself{shown}",
            )
        )
    return notes


def _tunnel_aside(ctx: _Context) -> list[Note]:
    """A running tunnel whose route this is not: which ports it carries, and how to use it."""
    if not ctx.facts.tunnels or ctx.request.target != "caller":
        return []
    tunnel = ctx.facts.tunnels[0]
    carried = ", ".join(map(str, tunnel.ports))
    asked = ", ".join(map(str, ctx.request.ports))
    flags = " ".join(f"--port {p}" for p in tunnel.ports)
    return [
        Note(
            "tunnel-ports",
            f"hostreach tunnel (pid {tunnel.pid}) carries port{'s' if len(tunnel.ports) > 1 else ''}"
            f" {carried} only"
            + (f", not every port asked for ({asked})" if asked else "")
            + f": this is the direct route (its own: {flags})",
            f"for {carried}, ask with {flags} (or use the flags the tunnel printed); one name"
            " leads to one address, so a container that needs both gets them through the tunnel"
            f" once it carries both: hostreach tunnel {flags} --port OTHER",
        )
    ]


def _tunnel_note(tunnel: Tunnel) -> Note:
    ports = ", ".join(map(str, tunnel.ports))
    return Note(
        "tunnel",
        f"through hostreach tunnel (pid {tunnel.pid}): only"
        + (f" ports {ports} reach" if len(tunnel.ports) > 1 else f" port {ports} reaches")
        + " this machine, and only while the tunnel runs",
        f"to reach another port, stop it and start `hostreach tunnel --port {tunnel.ports[0]}"
        " --port OTHER`",
    )


def _runtime_notes(ctx: _Context, strategy: Strategy) -> list[Note]:
    """The runtime row's caveats, and how sure the recognition of the runtime is."""
    facts = ctx.facts
    notes = []
    if not ctx.runtime.detect(facts) and ctx.runtime is socket_hint(facts):
        notes.append(
            Note(
                "socket-hint",
                f"{ctx.runtime.title} was recognised from the engine's socket path only"
                f" ({facts.client.endpoint}"
                + (
                    f", a link to {facts.client.socket_target}"
                    if facts.client.socket_target
                    else ""
                )
                + "), because the engine "
                + ("could not be asked" if facts.daemon is None else "said too little to tell")
                + ": a guess",
                "start the engine, or capture its facts with `python -m hostreach facts`",
            )
        )
    verdict = ctx.runtime.host_gateway(facts)
    if strategy in ("gateway-ip", "lan-ip") and verdict.status == "unknown":
        notes.append(Note(verdict.note, verdict.why))
    if ctx.request.target != "windows":  # the row's notes are about the engine's machine
        notes += ctx.runtime.notes(facts)
    if ctx.vantage.topology == "nested":
        # A caller in its own container on a WSL engine (a dev container on Windows): the route
        # leads to that container, and --target windows is not for it (ddev/ddev#8018).
        notes = [n for n in notes if n.id != "wsl-two-hosts"]
    if strategy == "caller-ip" and ctx.vantage.topology == "nested" and not facts.client.networks:
        network = _own_network(ctx)[0]
        notes.append(
            Note(
                "network-by-gateway",
                "the engine does not report this container (by ID or host name), so it is taken"
                f" to be on network {network}, whose gateway is its default gateway",
                "if siblings do not reach it, give them this container's network and address"
                " yourself: --network=NETWORK --add-host=ALIAS:ADDRESS",
            )
        )
    return notes


def _vantage_notes(ctx: _Context) -> list[Note]:
    facts = ctx.facts
    notes = []
    if ctx.vantage.remote and ctx.request.target == "caller":
        notes.append(
            Note(
                "remote-engine",
                f"the engine runs on another machine ({facts.client.endpoint}): its containers"
                f" reach this machine at {facts.client.caller_address}, the address of this"
                " machine's connection to the engine; where they cannot (NAT, a cloud VM:"
                " `hostreach check` tells), carry the port from this side instead",
                "python -m hostreach tunnel --port PORT: it opens every connection from this"
                " machine, and only containers reach it (nothing on the engine machine's LAN)",
            )
        )
    elif ctx.vantage.remote:
        notes.append(
            Note(
                "remote-engine",
                f"the engine runs on another machine ({facts.client.endpoint}): this route reaches"
                " that machine, as --target engine-host asks, not this one",
            )
        )
    if ctx.vantage.vm and not ctx.runtime.in_vm and ctx.request.target == "caller":
        notes.append(
            Note(
                "vm-engine",
                f"the engine does not run on this machine's kernel"
                f" ({'; '.join(ctx.vantage.elsewhere)}): host-gateway and its bridge gateway"
                " lead into its VM, not to this machine",
                "prove a route: python -m hostreach check --port PORT, or find one by trying:"
                " python -m hostreach flags --strategy discover",
            )
        )
    # Without the engine's answer there is no telling whether we share its host's network.
    known = facts.daemon is not None
    if ctx.vantage.topology == "nested" and known and ctx.request.target == "engine-host":
        notes.append(
            Note(
                "in-container",
                "hostreach runs inside a container: the route reaches the engine's host, not this"
                " container",
                "run hostreach on the engine's host",
            )
        )
    if facts.daemon is None:
        details = "; ".join(i.detail for i in facts.issues if i.source.startswith("engine"))
        notes.append(
            Note(
                "engine-unreachable",
                "the container engine could not be asked"
                + (f" ({details})" if details else "")
                + ", so this answer is a guess",
            )
        )
    return notes


_REASONS: dict[str, str] = {
    "native": "{title} resolves {names} by itself",
    "host-gateway": "{title} maps host-gateway to {machine}",
    "gateway-ip": "{title} reaches {machine} at its default bridge gateway {address}",
    "lan-ip": "{title} cannot reach this machine through host-gateway{rootless}, so the names"
    " point at this machine's primary address {address}",
    "host-loopback": "{title} forwards {address} to {machine}'s loopback",
    "host-network": "the container shares the host's network, where 127.0.0.1 is the host",
    "caller-ip": "{title} runs on another machine, which reaches this one at {address}: the"
    " address of this machine's connection to it",
    "caller-ip nested": "this process runs in a container of {title}: its siblings reach it"
    " at {address}, on a network they share",
    "override": "HOSTREACH_HOST_ADDRESS={address} overrides detection: containers reach the"
    " host there",
    "tunnel": "a hostreach tunnel carries connections from {title}'s containers, at {address},"
    " to this machine's loopback, over connections this machine opened",
    "discover": "found by trying from a container of {title}: this machine's proof listener"
    " answered at {chosen}, the first in order of preference of the {answered} of {tried}"
    " candidates that answered ({which})",
}


def _reason(ctx: _Context, strategy: Strategy, hosts: dict[str, str]) -> str:
    if strategy == "windows-ip":
        text = _windows(ctx)[1]
        return text[0].upper() + text[1:] + "."
    nested = strategy == "caller-ip" and ctx.vantage.topology == "nested"
    tried = ctx.facts.discovered
    chosen = _discovered(ctx).chosen if strategy == "discover" else None
    text = _REASONS[f"{strategy} nested" if nested else strategy].format(
        chosen=f"{chosen.via} ({chosen.address})" if chosen else "",
        answered=sum(c.answered for c in tried),
        tried=len(tried),
        which=", ".join(f"{c.via} {c.address}" for c in tried if c.answered),
        title=ctx.runtime.title,
        machine="the engine's machine (not this one)" if ctx.vantage.remote else "this machine",
        names=", ".join(hosts),
        address=literal_address(hosts) or "",
        rootless=" (rootless engine)" if views.rootless(ctx.facts) else "",
    )
    return text[0].upper() + text[1:] + "."
