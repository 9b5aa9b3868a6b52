"""clusters: the Kubernetes cluster registry, and a pod's route to the caller (issue 25). Pure:
it reads the facts' cluster (:attr:`hostreach.facts.Facts.cluster`) and nothing else.

One row per kind of local cluster: how it is recognised from ``kubectl``'s answers, the names
its pods resolve to the caller by themselves, and whether another name can be given the
caller's address toward the nodes (``hostAliases`` needs an address). Each rule cites where it
was seen; ``tests/test_clusters.py`` replays a published output for each row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from hostreach.errors import NoRouteError
from hostreach.facts import Cluster, Facts, KubeNode
from hostreach.routes import NATIVE, Note, Request, Strategy


class ClusterKind(NamedTuple):
    """One kind of cluster: how to tell it, and how its pods reach the caller."""

    id: str
    title: str
    recognise: Callable[[Cluster, str], bool]
    """Whether the cluster (and the caller's OS) is this kind."""
    names: tuple[str, ...]
    """Host names its pods resolve to the caller's machine by themselves."""
    node_gateway: bool
    """Whether a pod reaches the caller at the caller's address toward its node (the node is
    a container or VM on a network of the caller's machine)."""
    sources: tuple[str, ...]


def _kind_nodes(cluster: Cluster) -> bool:
    """kind's node names: ``NAME-control-plane``, then ``NAME-control-planeN`` and
    ``NAME-worker``, ``NAME-workerN`` (kubernetes-sigs/kind#1552's listing), or its provider
    IDs (``kind://docker/NAME/NODE``, kubernetes-sigs/kind#1805)."""
    if any(n.provider_id.startswith("kind://") for n in cluster.nodes):
        return True
    first = next((n.name for n in cluster.nodes if n.name.endswith("-control-plane")), None)
    if first is None:
        return False
    prefix = first.removesuffix("-control-plane")
    return all(
        n.name.startswith((f"{prefix}-control-plane", f"{prefix}-worker")) for n in cluster.nodes
    )


def _is_kind(cluster: Cluster, _os: str) -> bool:
    return cluster.context.startswith("kind-") or _kind_nodes(cluster)


def _in_a_desktop_vm(cluster: Cluster, os_name: str) -> bool:
    """Docker Desktop's VM runs the nodes: linuxkit's kernel; or a macOS or Windows caller whose
    nodes do not say their kernel (a published listing). Nodes on another kernel there run in
    another VM (Colima, OrbStack, a minikube driver's), whose names Desktop's rule does not
    promise."""
    kernels = [n.kernel for n in cluster.nodes if n.kernel]
    if kernels:
        return any("linuxkit" in kernel for kernel in kernels)
    return os_name in ("darwin", "windows")


def _is_k3d(cluster: Cluster, _os: str) -> bool:
    names = [n.name for n in cluster.nodes]
    return cluster.context.startswith("k3d-") or bool(
        names and all(n.startswith("k3d-") for n in names)
    )


def _is_minikube(cluster: Cluster, _os: str) -> bool:
    return cluster.context == "minikube" or any(
        "minikube.k8s.io/name" in n.labels for n in cluster.nodes
    )


CLUSTERS: tuple[ClusterKind, ...] = (
    ClusterKind(
        "docker-desktop",
        "Docker Desktop's Kubernetes",
        lambda c, _os: (
            c.context == "docker-desktop" or any(n.name == "docker-desktop" for n in c.nodes)
        ),
        ("host.docker.internal",),
        node_gateway=False,
        sources=(
            "https://github.com/docker/for-mac/issues/7131",  # the context and its server
            "https://github.com/kubernetes-sigs/kind/issues/2325",
            "https://openillumi.com/en/en-k8s-pod-host-localhost-access-fix",  # pods: the name
        ),
    ),
    ClusterKind(
        "kind-desktop",
        "kind on Docker Desktop",
        lambda c, os_name: _is_kind(c, os_name) and _in_a_desktop_vm(c, os_name),
        ("host.docker.internal",),
        node_gateway=False,  # the kind network's gateway is in Desktop's VM (curie#900)
        sources=(
            "https://github.com/kubernetes-sigs/kind/issues/2405",  # the name, from a maintainer
            "https://github.com/curie-eng/curie/issues/900",  # measured from a kind pod
            "https://github.com/kubernetes-sigs/kind/issues/1552",  # nodes on linuxkit
        ),
    ),
    ClusterKind(
        "kind",
        "kind",
        _is_kind,
        (),
        node_gateway=True,  # the kind network's gateway is the caller's machine on Linux
        sources=(
            "https://github.com/kubernetes-sigs/kind/issues/1200",  # no name of its own
            "https://github.com/curie-eng/curie/issues/900",  # the gateway works on Linux
            "https://github.com/kubernetes-sigs/kind/pull/1805",  # kind:// provider IDs
        ),
    ),
    ClusterKind(
        "k3d",
        "k3d",
        _is_k3d,
        ("host.k3d.internal",),
        node_gateway=True,
        sources=(
            "https://github.com/k3d-io/k3d/releases/tag/v3.1.0",  # host.k3d.internal in CoreDNS
            "https://github.com/k3d-io/k3d/issues/482",  # its node names
        ),
    ),
    ClusterKind(
        "minikube",
        "minikube",
        _is_minikube,
        ("host.minikube.internal",),
        node_gateway=True,
        sources=(
            "https://minikube.sigs.k8s.io/docs/handbook/host-access/",
            # the name in CoreDNS, for pods: addCoreDNSEntry
            "https://github.com/kubernetes/minikube/blob/master/pkg/minikube/node/start.go",
            "https://github.com/kubernetes/minikube/issues/11644",  # its node labels
        ),
    ),
)
"""The rows, in the order they are tried (Desktop before kind: kind runs on Desktop too)."""


def identify(cluster: Cluster, os_name: str) -> ClusterKind | None:
    """The row that recognises the cluster, or None."""
    return next((row for row in CLUSTERS if row.recognise(cluster, os_name)), None)


def _node_address(nodes: tuple[KubeNode, ...], title: str) -> str:
    """The one address of the caller that every node reaches it at; NoRouteError else."""
    if not nodes:
        raise NoRouteError(
            f"{title}: its nodes could not be read, and hostAliases needs an address"
        )
    unknown = [n.name for n in nodes if n.caller_address is None]
    if unknown:
        raise NoRouteError(
            f"{title}: where the caller is, as its node{'s' if len(unknown) > 1 else ''}"
            f" {', '.join(unknown)} see{'' if len(unknown) > 1 else 's'} it, is unknown"
            " (no route to the node's InternalIP from here)"
        )
    found = {n.caller_address for n in nodes}
    if len(found) > 1:
        raise NoRouteError(
            f"{title}: the nodes reach this machine at different addresses ("
            + ", ".join(f"{n.name} at {n.caller_address}" for n in nodes)
            + "): no one hostAliases entry serves every pod"
        )
    return str(found.pop())


def plan(facts: Facts, request: Request) -> tuple[Strategy, dict[str, str], list[Note], str]:
    """The strategy, the aliases' values, the notes and the reason for a pod of the cluster."""
    cluster = facts.cluster  # (its strategy and target: Request.check)
    if cluster is None:
        why = "; ".join(i.detail for i in facts.issues if i.source == "cluster")
        raise NoRouteError(f"the cluster could not be read: {why or 'not asked'}")
    row = identify(cluster, facts.client.os)
    title = row.title if row else f"the cluster of context {cluster.context or '(unnamed)'}"
    names = row.names if row else ()
    hosts: dict[str, str] = {}
    for alias in request.aliases:
        if alias in names:
            hosts[alias] = NATIVE
        elif row is None and facts.client.os in ("darwin", "windows"):
            raise NoRouteError(
                f"{title} is not one hostreach knows, and on {facts.client.os} its nodes run in"
                " a VM whose gateway is not this machine: use the name the runtime provides"
            )
        elif row is not None and not row.node_gateway:
            raise NoRouteError(
                f"{title}'s pods reach this machine by the name {', '.join(names)}, and no"
                f" address of it is known for {alias}: use that name"
            )
        elif any("linuxkit" in n.kernel for n in cluster.nodes):
            # Its nodes run in Docker Desktop's VM: their network's gateway is the VM, not this
            # machine (measured for kind: curie-eng/curie#900); Desktop's DNS answers the name.
            raise NoRouteError(
                f"{title}'s nodes run in Docker Desktop's VM (linuxkit's kernel), whose gateway"
                " is not this machine: use host.docker.internal, which Desktop answers there"
            )
        else:
            hosts[alias] = _node_address(cluster.nodes, title)
    notes = []
    if facts.client.os in ("darwin", "windows") and any(v != NATIVE for v in hosts.values()):
        notes.append(
            Note(
                "cluster-vm",
                f"on {facts.client.os} the nodes run in a VM: the address is this machine's"
                " route toward them, which no rule here has proven to reach it from a pod",
                "prove it from a pod before relying on it",
            )
        )
    if row is None:
        notes.append(
            Note(
                "cluster-unknown",
                f"{title} is not one hostreach knows: the address is this machine's address"
                " toward its nodes, which is right where the nodes are containers or VMs here",
                "prove it from a pod before relying on it",
            )
        )
    native = [a for a, v in hosts.items() if v == NATIVE]
    given = {v for v in hosts.values() if v != NATIVE}
    reason = f"{title}: " + (f"its pods resolve {', '.join(native)} themselves" if native else "")
    if given:
        reason += ("; " if native else "") + (
            f"pods reach this machine at {given.pop()}, its address toward the nodes"
        )
    strategy: Strategy = "native" if not any(v != NATIVE for v in hosts.values()) else "caller-ip"
    return strategy, hosts, notes, reason
