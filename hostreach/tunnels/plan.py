"""plan: what a tunnel opens on the engine the facts describe. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from hostreach.engine.address import Address
from hostreach.errors import TunnelError
from hostreach.facts import Facts
from hostreach.pump import Limits
from hostreach.tunnels.sidecar import DEFAULT_IMAGE

TUNNEL_LIMITS = Limits(connections=128, idle_seconds=600.0)
_BIG_ENDIAN = frozenset({"s390x", "ppc64", "mips", "mips64"})  # Go's GOARCH names
"""A tunnel's default: open connections, and how long one may sit idle."""


class Plan(NamedTuple):
    """What to open: each listening port in the sidecar, and the service here it leads to."""

    ports: Mapping[int, tuple[str, int]]
    endpoint: Address
    image: str = DEFAULT_IMAGE
    network: str = "bridge"
    network_mode: str | None = None
    """The ``--network`` a container needs to reach the sidecar (None: a plain run does)."""
    timeout: float = 2.0
    limits: Limits = TUNNEL_LIMITS
    verbose: bool = False
    """Log each connection: where it went, and the bytes it carried each way."""
    start_seconds: float = 10.0
    """How long the sidecar may take to start, beyond ``timeout`` (an image pull aside)."""
    big_endian: bool = False
    """Whether the engine's machine is big-endian, which decides how its /proc/net/tcp writes
    a peer's address."""


def plan_for(
    facts: Facts,
    ports: Mapping[int, tuple[str, int]],
    *,
    image: str = DEFAULT_IMAGE,
    network: str | None = None,
    timeout: float = 2.0,
    limits: Limits | None = None,
    verbose: bool = False,
) -> Plan:
    """Return what to open on the engine these facts describe; TunnelError where it cannot."""
    from hostreach.engine import views  # noqa: PLC0415
    from hostreach.runtimes import identify  # noqa: PLC0415

    if facts.daemon is None:
        asked = "; ".join(i.detail for i in facts.issues if i.source.startswith("engine"))
        raise TunnelError(f"the tunnel needs the engine: {asked or 'it could not be asked'}")
    address = facts.client.address
    if address is None:
        raise TunnelError("the engine's address is unknown")
    runtime = identify(facts)
    chosen = network or runtime.default_network
    shared = chosen == runtime.default_network and runtime.joins_default_network(facts)
    return Plan(
        ports=dict(ports),
        endpoint=address,
        image=image,
        network=chosen,
        network_mode=None if shared else chosen,
        timeout=timeout,
        limits=limits or TUNNEL_LIMITS,
        verbose=verbose,
        big_endian=views.version_field(facts, "Arch") in _BIG_ENDIAN,
    )
