"""publish: the other two directions. Pure, like resolve.

Host -> container: from where *this process* reaches a container's published port. Container ->
container: two containers on one user-defined network reach each other by name (Docker's
embedded DNS; the default bridge has none).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Any, NamedTuple

from hostreach import vantage
from hostreach.checks import check_address, check_name, host_port, port_number
from hostreach.errors import NoRouteError, UsageError
from hostreach.facts import Facts
from hostreach.runtimes import host_names


class Endpoint(NamedTuple):
    """Where this process connects to reach a container's port, and why there."""

    host: str
    port: int
    via: str

    @property
    def address(self) -> str:
        """``host:port``, with brackets around an IPv6 host."""
        return host_port(self.host, self.port)

    def to_json(self) -> dict[str, Any]:
        """Return the endpoint as plain JSON data."""
        return {"host": self.host, "port": self.port, "address": self.address, "via": self.via}


def parse_port(text: str) -> tuple[int, str]:
    """Return ``(port, protocol)`` from ``8000`` or ``8000/udp``; raise UsageError."""
    number, _, proto = text.partition("/")
    proto = proto or "tcp"
    try:
        port = port_number(number)
    except ValueError:
        port = 0
    if not port or proto not in ("tcp", "udp", "sctp"):
        raise UsageError(f"not a container port: {text[:40]!r} (use e.g. 8000 or 8000/udp)")
    return port, proto


def _same_network(facts: Facts, settings: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return ``(network, container IP)`` for a network this process is on too, if any."""
    own = []
    for addrs in facts.network.interfaces.values():
        for text in addrs:
            with contextlib.suppress(ValueError):  # a replayed snapshot may hold anything
                address = ipaddress.ip_address(text)
                if not address.is_link_local:
                    own.append(address)
    networks = settings.get("Networks")
    for name, net in networks.items() if isinstance(networks, Mapping) else ():
        if not isinstance(net, Mapping) or not isinstance(name, str):
            continue
        try:  # the engine's answer: validated before anything of it is printed
            ip = check_address(net.get("IPAddress"))
            subnet = ipaddress.ip_network(f"{ip}/{net.get('IPPrefixLen')}", strict=False)
            check_name(name, "network")
        except (ValueError, UsageError):
            continue
        if any(a in subnet and str(a) != ip for a in own):
            return str(name), str(ip)
    return None


def _bindings(settings: Mapping[str, Any], key: str) -> list[tuple[str, int]]:
    ports = settings.get("Ports")
    found = ports.get(key) if isinstance(ports, Mapping) else None
    result = []
    for binding in found if isinstance(found, list) else ():
        if not isinstance(binding, Mapping):
            continue
        try:  # the engine's answer: a port and an address, or nothing we print
            port = port_number(binding.get("HostPort"))
            ip = binding.get("HostIp") or ""
            result.append((check_address(ip) if ip else "", port))
        except ValueError:
            continue
    return result


def published_endpoint(facts: Facts, container: Mapping[str, Any], port: str) -> Endpoint:
    """Return where this process reaches ``port`` of the inspected container (GET /containers/X/json)."""
    number, proto = parse_port(port)
    key = f"{number}/{proto}"
    name = str(container.get("Name", "")).lstrip("/") or "the container"
    settings = container.get("NetworkSettings")
    settings = settings if isinstance(settings, Mapping) else {}
    here = vantage.of(facts)
    if facts.client.in_container and not here.shares_network:
        same = _same_network(facts, settings)
        if same is not None:
            return Endpoint(same[1], number, f"on network {same[0]} with {name}")
    bindings = _bindings(settings, key)
    if not bindings:
        raise NoRouteError(
            f"port {key} of {name} is not published; run it with -p {number} (or -p"
            f" HOSTPORT:{number}), or put this process on one of its networks"
        )
    wildcard = [p for ip, p in bindings if ip in ("", "0.0.0.0", "::")]
    if here.remote:
        host = here.engine_host
        if not wildcard or host is None:
            raise NoRouteError(
                f"{name} publishes {key} only on the engine machine's {bindings[0][0]}:"
                f" publish it on all interfaces (-p {number}) to reach it from here"
            )
        return Endpoint(host, wildcard[0], "published on the remote engine's machine")
    # The desktop VMs (Docker Desktop, Lima, Colima, OrbStack) forward published ports to this
    # machine's localhost; an unrecognised VM may not (issue 24: not yet proven there).
    if here.shares_network or here.vm:
        if wildcard:
            return Endpoint("localhost", wildcard[0], "published on this machine")
        ip, host_port = bindings[0]
        return Endpoint(ip, host_port, f"published on this machine's {ip} only")
    found = vantage.host_address(facts, host_names())
    if not wildcard:
        raise NoRouteError(
            f"{name} publishes {key} only on the host's {bindings[0][0]}, which this container"
            f" cannot reach; publish it on all interfaces (-p {number})"
        )
    return Endpoint(found.address, wildcard[0], f"published on the host, reached via {found.via}")
