"""vantage: where the caller stands relative to the engine. Pure: it reads only the facts.

The caller is the process that runs hostreach (where the user's service lives). It may share
the engine's machine and network, sit in one of its containers, or be on another machine.
resolve, diagnose, publish and the relay all ask these questions here, once per answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Literal, NamedTuple

from hostreach.checks import check_address
from hostreach.engine import views
from hostreach.errors import NoRouteError
from hostreach.facts import EngineNetwork, Facts

Topology = Literal["local", "remote", "nested"]


class Vantage(NamedTuple):
    """The caller's position: on the engine's machine or not, sharing its network or not."""

    scheme: str
    """The engine endpoint's scheme: unix, tcp, ssh, npipe ("" when unknown)."""
    engine_host: str | None
    """The engine endpoint's host name or address, for tcp:// and ssh://."""
    engine_port: int | None
    """The engine endpoint's TCP port, for tcp://."""
    remote: bool
    """The engine runs on another machine (ssh://, or tcp:// to an address not ours)."""
    shares_network: bool
    """This process sees the engine host's interfaces (not remote, not in its own container)."""
    nested: bool = False
    """In a container of the engine's machine, apart from its network (the engine told)."""
    elsewhere: tuple[str, ...] = ()
    """Why the engine, though behind a local socket, is not on this machine's kernel (a VM:
    Lima, Colima, Docker Desktop; a socket forwarded over ssh), one reason each; () where
    nothing says so (issue 24: such an engine's host-gateway is the VM, not this machine)."""

    @property
    def vm(self) -> bool:
        """The engine is behind a local socket but not on this machine's kernel."""
        return bool(self.elsewhere)

    @property
    def topology(self) -> Topology:
        """local: on the engine's machine and network (or, without the engine's answer, taken
        to be); remote: another machine; nested: in a container apart from its network."""
        if self.remote:
            return "remote"
        return "nested" if self.nested else "local"


def _is_remote(facts: Facts, scheme: str, host: str | None) -> bool:
    if scheme == "ssh":
        return True
    if scheme not in ("tcp", "http", "https") or host is None or host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name other than localhost: assume another machine
    if address.is_loopback:
        return False
    own = {a for addrs in facts.network.interfaces.values() for a in addrs}
    return str(address) not in own


# Two kernels' MemTotal differ by more than this share: a VM's memory is a setting, never the
# same as its host's; one kernel's reading moves only with a memory balloon, a little.
_MEMORY_TOLERANCE = 0.01


def _gib(count: int) -> str:
    return f"{count / (1 << 30):.1f} GiB"


def other_kernel(facts: Facts) -> tuple[str, ...]:
    """Why the engine's answers say it does not run on this machine's kernel (() where nothing
    does): its kernel release, or its memory, differs from this machine's.

    Measured in the VM lab (issue 24): the guest's kernel may be this machine's own build, but
    its memory is not; the host name differs for a container engine too, so it is not evidence.
    """
    client = facts.client
    if facts.daemon is None or views.containers_os(facts) not in ("linux", ""):
        return ()  # Windows containers run on Windows itself
    if client.os in ("darwin", "windows"):
        return (f"Linux containers cannot run on {client.os}'s own kernel",)
    found = []
    kernel = views.kernel(facts)
    if kernel and client.release and kernel != client.release:
        found.append(f"its kernel is {kernel}, this machine's {client.release}")
    memory = views.info_count(facts, "MemTotal")
    # The probe leaves mem_total out where /proc/meminfo is a view (lxcfs in a container).
    here = client.mem_total
    if memory and here and abs(memory - here) > _MEMORY_TOLERANCE * here:
        found.append(f"its memory is {_gib(memory)}, this machine's {_gib(here)}")
    return tuple(found)


def _shares_network(facts: Facts, *, remote: bool) -> bool:
    # Inside a container that sees the engine's bridge interface (a sandbox that runs its own
    # dockerd, or --network host), or whose host name is the engine's, it does.
    if remote:
        return False
    if not facts.client.in_container:
        return True
    if facts.client.hostname and views.info(facts, "Name") == facts.client.hostname:
        return True  # the same UTS namespace as the engine: Podman has no bridge before a run
    bridge = facts.daemon.bridge_interface if facts.daemon else None
    return bridge is not None and bridge in facts.network.interfaces


def of(facts: Facts) -> Vantage:
    """Return where the caller stands, from the facts."""
    address = facts.client.address
    scheme, host, port = (
        (address.scheme, address.host, address.tcp_port) if address else ("", None, None)
    )
    remote = _is_remote(facts, scheme, host)
    elsewhere = () if remote else other_kernel(facts)
    shares = not elsewhere and _shares_network(facts, remote=remote)
    # Without the engine's answer there is no telling whether we share its host's network.
    nested = (
        facts.client.in_container
        and not shares
        and not remote
        and not elsewhere
        and facts.daemon is not None
    )
    return Vantage(
        scheme=scheme,
        engine_host=host,
        engine_port=port,
        remote=remote,
        shares_network=shares,
        nested=nested,
        elsewhere=elsewhere,
    )


def _ipv4(addresses: tuple[str, ...]) -> str | None:
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue  # a replayed snapshot may hold anything
        if isinstance(address, ipaddress.IPv4Address):
            return str(address)
    return None


def global_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address a host can be reached at (not loopback, link-local,
    multicast or unspecified), as Go's IsGlobalUnicast counts it (private ranges included)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return isinstance(address, ipaddress.IPv4Address) and not (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address == ipaddress.IPv4Address("255.255.255.255")
    )


def own_address(facts: Facts, address: str | None) -> bool:
    """Whether ``address`` is one of this machine's (as its interfaces hold them)."""
    return address is not None and any(
        address in found for found in facts.network.interfaces.values()
    )


def lan_address(facts: Facts) -> str | None:
    """Return the IPv4 address of the interface that carries the default route."""
    gateway = facts.network.default_gateway
    if gateway is None:
        return None
    return _ipv4(facts.network.interfaces.get(gateway.interface, ()))


def bridge_gateway(facts: Facts, *, shares_network: bool) -> str | None:
    """Return the default bridge's gateway address as the engine reports it (None: unknown).

    Engine 20.10 reports only a Subnet for the default bridge; then take the address of the
    bridge interface, which we can read only when the engine shares our network namespace.
    """
    if facts.daemon is None:
        return None
    if facts.daemon.bridge_gateway:
        try:
            return check_address(facts.daemon.bridge_gateway)
        except ValueError:
            return None  # not an address: never let it reach a flag
    name = facts.daemon.bridge_interface
    if name and shares_network:
        return _ipv4(facts.network.interfaces.get(name, ()))
    return None


class HostAddress(NamedTuple):
    """Where this process, itself in a container, reaches the host."""

    address: str
    via: str


def host_address(facts: Facts, names: tuple[str, ...]) -> HostAddress:
    """Return the host's address as seen from here: a name the runtime provides, else the gateway."""
    if not facts.client.in_container:
        return HostAddress(address="127.0.0.1", via="not in a container: this is the host")
    for name in names:
        with contextlib.suppress(ValueError):  # only an address is printed
            return HostAddress(address=check_address(facts.client.resolved.get(name)), via=name)
    gateway = facts.network.default_gateway
    if gateway is not None:
        shown = f" ({gateway.interface})" if gateway.interface else ""
        return HostAddress(address=gateway.ip, via=f"default gateway{shown}")
    raise NoRouteError(
        f"no route to the host from here: none of {', '.join(names)} resolves and there is no"
        " default route"
    )


def network_by_gateway(facts: Facts) -> tuple[EngineNetwork, str | None] | None:
    """The engine's network whose gateway is this container's default gateway, and this
    container's address in its subnet (None: not here), where exactly one network matches.

    For a container the engine does not report (by ID or host name), as testcontainers-python
    finds a GitLab job's FF_NETWORK_PER_BUILD network (core/testcontainers/core/docker_client.py).
    """
    gateway = facts.network.default_gateway
    if gateway is None or facts.daemon is None:
        return None
    matches = [n for n in facts.daemon.networks if n.gateway == gateway.ip]
    if len(matches) != 1:
        return None  # none, or a gateway several networks share: no guess
    network = matches[0]
    subnet = ipaddress.ip_network(network.subnet)
    for text in facts.network.interfaces.get(gateway.interface, ()):
        with contextlib.suppress(ValueError):  # a replayed snapshot may hold anything
            if text != network.gateway and ipaddress.ip_address(text) in subnet:
                return network, text
    return network, None
