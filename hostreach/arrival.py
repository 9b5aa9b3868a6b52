"""arrival: where a container's connection by a route lands on this machine (its address, its
interface, whether 127.0.0.1 is reached). The relay listens there; the doctor checks there."""

from __future__ import annotations

from typing import NamedTuple

from hostreach import vantage
from hostreach.facts import Facts
from hostreach.routes import Route
from hostreach.runtimes import by_id


class Arrival(NamedTuple):
    """Where a container's connection lands on this machine (the relay listens there)."""

    address: str | None  # a non-loopback address, or None when it is loopback or unknown
    loopback: bool | None  # whether 127.0.0.1 is reached (None: unknown)
    interface: str | None  # the interface it arrives on, for the firewall
    main: bool = False  # the address is this machine's main (LAN) address, not a bridge's


_ON_LOOPBACK = {
    "host-network": Arrival(None, loopback=True, interface="lo"),
    "host-loopback": Arrival(None, loopback=True, interface=None),
    "tunnel": Arrival(None, loopback=True, interface=None),  # the tunnel connects from here
}


def arrival(facts: Facts, route: Route) -> Arrival:
    """Return where containers' connections by this route land on this machine."""
    if route.strategy in _ON_LOOPBACK:
        return _ON_LOOPBACK[route.strategy]
    if route.strategy == "discover":
        return _discovered(facts, route)
    literal = route.address
    bridge = facts.daemon.bridge_interface if facts.daemon else None
    if route.strategy == "caller-ip" and not vantage.own_address(facts, literal):
        # The engine's machine sees this one at an address it does not have: NAT, or a VM's
        # user-mode network, which forwards to this machine's loopback (QEMU's, Lima's; issue
        # 24: a 127.0.0.1-only service was reached through 192.168.5.2). Where they land here is
        # not known; `check` proves it.
        return Arrival(None, loopback=None, interface=None)
    if route.strategy in ("lan-ip", "gateway-ip", "windows-ip", "override", "caller-ip"):
        interface = {
            # Rootless engines connect from the host's namespace (slirp4netns), so over lo.
            "lan-ip": "lo" if route.rootless else bridge,
            "gateway-ip": bridge,
            # a remote engine's containers, arriving from its machine at the caller's address
            "caller-ip": next(
                (i for i, a in facts.network.interfaces.items() if literal in a), None
            ),
        }.get(route.strategy)
        main = route.strategy in ("lan-ip", "caller-ip")
        return Arrival(literal, loopback=False, interface=interface, main=main)
    return _by_row(facts, route, bridge)


def _discovered(facts: Facts, route: Route) -> Arrival:
    """Where the candidate ``--strategy discover`` chose lands: this machine's own address,
    or the bridge's gateway, as the address says; elsewhere (a user-mode network's address, a
    name, host-gateway) the proof listened on every address, so whether 127.0.0.1 is reached
    is not known."""
    from hostreach import discovery  # noqa: PLC0415

    found = discovery.choose(facts.discovered, tuple(route.hosts))
    chosen, kind = found.chosen, found.kind
    if kind == "caller":
        interface = next(
            (i for i, a in facts.network.interfaces.items() if chosen.address in a), None
        )
        return Arrival(chosen.address, loopback=False, interface=interface, main=True)
    if kind == "gateway" and vantage.own_address(facts, chosen.address):
        bridge = facts.daemon.bridge_interface if facts.daemon else None
        return Arrival(chosen.address, loopback=False, interface=bridge)
    return Arrival(None, loopback=None, interface=None)


def _by_row(facts: Facts, route: Route, bridge: str | None) -> Arrival:
    """Where the runtime's own names and host-gateway land, as its registry row says."""
    row = by_id(route.runtime)
    reaches = row.reaches_loopback(facts)
    if reaches:
        return Arrival(None, loopback=True, interface=None)
    landing = row.names_arrive(facts)
    if landing == "main":
        # pasta connects from this machine's own namespace, so over lo (as slirp4netns does)
        return Arrival(vantage.lan_address(facts), loopback=False, interface="lo", main=True)
    if landing == "unknown":
        return Arrival(None, loopback=reaches, interface=None)
    address = vantage.bridge_gateway(facts, shares_network=vantage.of(facts).shares_network)
    return Arrival(address, loopback=reaches, interface=bridge if reaches is False else None)
