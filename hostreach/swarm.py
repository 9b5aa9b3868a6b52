"""swarm: where the tasks of a Swarm service reach the caller, node by node. Pure: it reads the
facts' nodes (:attr:`hostreach.facts.Facts.swarm`) and nothing else.

A service's tasks run on any node, and ``host-gateway`` sends each to its own node's machine:
measured on a two-node swarm (issue 25), the worker's task read a decoy there. The route is one
address of the caller that every node's tasks reach: this machine's address toward the nodes.
"""

from __future__ import annotations

from typing import NamedTuple

from hostreach.engine import views
from hostreach.errors import NoRouteError
from hostreach.facts import Facts, SwarmNode
from hostreach.routes import HOST_GATEWAY, NATIVE, OVERRIDE, Note, Request, Strategy


class Reach(NamedTuple):
    """Where one node's tasks reach the caller."""

    node: SwarmNode
    address: str | None
    """The caller's address toward the node (None: no route to it from here)."""
    here: bool
    """The node is the caller's machine: any of its addresses serves its tasks."""


def reaches(facts: Facts) -> tuple[Reach, ...]:
    """Each node that runs tasks (not drained), and where its tasks reach the caller."""
    own = {a for addresses in facts.network.interfaces.values() for a in addresses}
    return tuple(
        Reach(node, node.caller_address, here=node.address in own)
        for node in facts.swarm
        if node.availability != "drain"
    )


def name(node: SwarmNode) -> str:
    """How a node is named to the user: its host name, its address and its ID's start."""
    return f"{node.hostname} ({node.address or 'no address'}, {node.id[:12]})"


def common_address(found: tuple[Reach, ...]) -> str:
    """The one address of the caller that every node's tasks reach; NoRouteError naming each
    node's where there is none (one service per group of nodes, pinned by constraint)."""
    if not found:
        raise NoRouteError("the swarm has no node that runs tasks (all drained?)")
    unknown = [r.node for r in found if not r.here and r.address is None]
    if unknown:
        raise NoRouteError(
            "this machine has no route to the swarm's node "
            + ", ".join(map(name, unknown))
            + ": its tasks cannot reach the caller; run the caller where every node reaches it,"
            " or name its address with HOSTREACH_HOST_ADDRESS"
        )
    elsewhere = {r.address for r in found if not r.here and r.address is not None}
    if len(elsewhere) == 1:
        return elsewhere.pop()
    if not elsewhere:  # every node is this machine: its own swarm address serves
        node_address = next(r.node.address for r in found if r.here)
        assert node_address is not None  # noqa: S101 - here means it is one of ours
        return node_address
    placement = "; ".join(
        f"node {name(r.node)} at {r.address}" for r in found if not r.here and r.address
    )
    raise NoRouteError(
        "no one address of this machine reaches every node of the swarm: " + placement + "."
        " Place one service per group with --constraint node.id==ID and its own --host"
    )


_NODE_LOCAL = Note(
    "swarm-node-local",
    "host-gateway sends each task to its own node's machine: tasks on any other node than the"
    " caller's do not reach the caller (measured: the worker's task read a decoy there)",
    "leave out --strategy: hostreach gives the caller's address toward every node",
)


def _membership(facts: Facts) -> None:
    """Refuse an engine that cannot say where a service's tasks run: no swarm, or a worker."""
    state = views.swarm_state(facts)
    if facts.daemon is None:
        asked = "; ".join(i.detail for i in facts.issues if i.source == "engine")
        raise NoRouteError(
            f"a service's route needs the swarm's manager, which did not answer: {asked}"
        )
    if state == "worker":
        raise NoRouteError(
            "the engine is a swarm worker, and only a manager lists the nodes a service runs"
            " on: point DOCKER_HOST (or --context) at a manager"
        )
    if state != "manager":
        raise NoRouteError(
            f"the engine is not in a swarm ({state or 'it does not say'}): `docker swarm init`"
            " makes one; for a plain container leave out --for"
        )
    if not facts.swarm:
        asked = "; ".join(i.detail for i in facts.issues if i.source == "swarm")
        raise NoRouteError(
            f"the swarm's nodes could not be read: {asked}"
            if asked
            else "these facts hold no swarm nodes (a snapshot records them with `hostreach"
            " facts` against a manager)"
        )


def plan(
    facts: Facts, request: Request, *, nested: bool, builtin: frozenset[str]
) -> tuple[Strategy, dict[str, str], list[Note], str]:
    """The strategy, the aliases' values, the notes and the reason for a Swarm service."""
    _membership(facts)  # (the request's purpose, strategy and target: Request.check)
    aliases = request.aliases
    if nested and not facts.client.host_override:
        # This container's own address is what it sees toward the nodes, and no other node
        # reaches a bridge of this machine: another machine's bridge may even hold that address.
        raise NoRouteError(
            "hostreach runs in a container, whose address the swarm's other nodes cannot reach:"
            " run it on the machine where the service listens, or name an address every node"
            " reaches with HOSTREACH_HOST_ADDRESS"
        )
    if request.strategy == "host-gateway":
        hosts = dict.fromkeys(aliases, HOST_GATEWAY)
        return "host-gateway", hosts, [_NODE_LOCAL], "host-gateway, each task's own node's machine"
    if facts.client.host_override:
        hosts = dict.fromkeys(aliases, facts.client.host_override)
        return "override", hosts, [OVERRIDE], "the address HOSTREACH_HOST_ADDRESS names"
    nodes = facts.swarm
    if len(nodes) == 1 and all(alias in builtin for alias in aliases):
        return "native", dict.fromkeys(aliases, NATIVE), [], "the swarm's one node names the host"
    found = reaches(facts)
    address = common_address(found)
    notes = [
        Note(
            "swarm-node-down",
            f"node {name(node)} is {node.state}: its tasks start when it is back, and look for"
            f" the caller at {address}",
        )
        for node in nodes
        if node.state != "ready"
    ]
    reason = (
        f"every node of the swarm that runs tasks ({len(found)}: "
        + ", ".join(f"{r.node.role} {name(r.node)}" for r in found)
        + f") reaches this machine at {address}, its address toward them"
    )
    return "caller-ip", dict.fromkeys(aliases, address), notes, reason
