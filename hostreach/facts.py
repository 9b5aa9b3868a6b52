"""Facts: one frozen, JSON-round-trippable snapshot of what the probes read (schema v1).

The engine part keeps the Engine API's own JSON (``GET /info``, ``GET /version``) raw, so that
``docker info --format '{{json .}}'`` pasted from anyone's machine replays as it is. Reading a
snapshot accepts any key missing or extra; a value of the wrong type is a :class:`FactsError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from hostreach.checks import (
    check_address,
    check_alias,
    check_host_address,
    check_hostname,
    check_interface,
    check_name,
    check_network,
    check_swarm_id,
    socket_path,
)
from hostreach.engine.address import Address, parse_or_none
from hostreach.errors import FactsError, InputError, UsageError
from hostreach.files import MIB, read_text

SCHEMA = 1
"""The schema major this version writes and reads."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Client(NamedTuple):
    """Where hostreach itself runs."""

    os: str = "linux"
    release: str = ""
    wsl: bool = False
    in_container: bool = False
    docker_host: str | None = None
    context: str | None = None
    endpoint: str | None = None
    socket_target: str | None = None
    """Where a unix endpoint's socket path leads, when it is a symbolic link (Rancher Desktop
    links /var/run/docker.sock to ~/.rd/docker.sock)."""
    container_markers: tuple[str, ...] = ()
    resolved: Mapping[str, str] = _EMPTY
    """Host names as this process resolves them (read by ``address`` only)."""
    hostname: str = ""
    caller_address: str | None = None
    """This machine's address on its connection to a TCP engine: where the engine's machine
    sees the caller (None for a local socket, or where not known)."""
    container_id: str | None = None
    """The engine's ID of the container hostreach runs in, when it runs in one."""
    networks: Mapping[str, str] = _EMPTY
    """That container's networks, as the engine reports them: name -> its IPv4 address there."""
    wsl_networking: str | None = None
    """WSL 2's networking mode as ``wslinfo --networking-mode`` says it (nat, mirrored)."""
    wslconfig: str | None = None
    """The text of the Windows user's .wslconfig, where it was found (WSL 2 only)."""
    host_override: str | None = None
    """``HOSTREACH_HOST_ADDRESS``: the host's address as the user set it, which wins."""
    tls: bool = False
    """The endpoint is spoken to over TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, a TLS context)."""
    tls_dir: str | None = None
    """The folder of its ``ca.pem``, ``cert.pem`` and ``key.pem``."""
    tls_verify: bool = False
    """Whether the engine's certificate is verified."""
    mem_total: int | None = None
    """This machine's memory in bytes (/proc/meminfo's MemTotal, as the engine reports its
    own): told apart from an engine in a VM behind a local socket (issue 24)."""

    @property
    def address(self) -> Address | None:
        """The endpoint's parts (:func:`hostreach.engine.address.parse`, which keeps each value
        it parsed), or None where there is no endpoint or it is not a valid one."""
        return parse_or_none(self.endpoint)


class Gateway(NamedTuple):
    """The default route of this machine."""

    ip: str
    interface: str


class Network(NamedTuple):
    """This machine's interfaces and default route."""

    default_gateway: Gateway | None = None
    interfaces: Mapping[str, tuple[str, ...]] = _EMPTY


class EngineNetwork(NamedTuple):
    """One of the engine's networks as GET /networks reports it: its name, subnet and gateway."""

    name: str
    subnet: str
    gateway: str


class Daemon(NamedTuple):
    """The engine's raw answers, plus its default bridge network."""

    info: Mapping[str, Any] = _EMPTY
    version: Mapping[str, Any] = _EMPTY
    bridge_gateway: str | None = None
    bridge_interface: str | None = None
    bridge_subnet: str | None = None
    bridge_subnet6: str | None = None
    """The default bridge's IPv6 subnet (Engine 28's host-gateway names its address too)."""
    networks: tuple[EngineNetwork, ...] = ()
    """The engine's networks, read only for a caller in a container the engine does not report
    (to find the one whose gateway is the caller's default gateway)."""


class Issue(NamedTuple):
    """A probe that failed, recorded instead of raised."""

    source: str
    detail: str
    reason: str = ""
    """A stable code for tools, e.g. ``no-socket``, ``permission-denied``, ``timed-out``."""


class Listener(NamedTuple):
    """A listening TCP socket on this machine."""

    port: int
    address: str
    pid: int | None = None
    process: str | None = None
    v6only: bool | None = None
    """On ``::``: whether it refuses IPv4 (IPV6_V6ONLY); None where not known."""


class Listening(NamedTuple):
    """The listening sockets found for the ports that were asked about."""

    ports: tuple[int, ...] = ()
    sockets: tuple[Listener, ...] = ()


class Firewall(NamedTuple):
    """This machine's packet filter as read (Linux): ``iptables-save`` and ``nft`` output."""

    iptables: str | None = None
    nftables: str | None = None


class ProbeResult(NamedTuple):
    """What a real container saw when it connected to ALIAS:PORT (``check``)."""

    alias: str
    port: int
    resolved: str | None
    outcome: Literal["connected", "refused", "timed-out", "unresolved", "elsewhere", "failed"]
    detail: str = ""
    proven: bool = False
    """The container reached this machine's own token listener through the alias first."""
    node: str = ""
    """The swarm node whose task tried (``check --for service``); "" for a container."""

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain JSON data."""
        return dict(self._asdict())


class Candidate(NamedTuple):
    """One route ``--strategy discover`` tried from a container (hostreach.discovery)."""

    via: str
    """What it was: a host name it resolved, ``host-gateway``, ``gateway`` (the container's
    default gateway), ``vm-gateway`` (the engine's machine's own default gateway), ``fixed``
    (a user-mode network's host address) or ``caller`` (an address of the caller)."""
    address: str
    answered: bool
    """Whether the caller's proof listener answered its token there."""


class RootlessKit(NamedTuple):
    """The flags of the RootlessKit behind a local rootless engine, from its command line."""

    net: str
    """Its network driver: slirp4netns, vpnkit, gvisor-tap-vsock, pasta, host."""
    host_loopback: bool
    """Whether containers may reach the host's 127.0.0.1 (no ``--disable-host-loopback``)."""


class Tunnel(NamedTuple):
    """A ``hostreach tunnel`` of this caller, running on the engine in use.

    Containers reach ``ports`` on this machine at ``address``: the tunnel's container on
    ``network`` (``network_mode``: the ``--network`` a container must join to reach it, None
    where a plain ``run`` does).
    """

    container: str
    address: str
    network: str
    ports: tuple[int, ...]
    pid: int
    network_mode: str | None = None
    endpoint: str | None = None


class SwarmNode(NamedTuple):
    """One node of the engine's swarm, as its manager's ``GET /nodes`` reports it (issue 25)."""

    id: str
    hostname: str
    role: str
    """``manager`` or ``worker``."""
    state: str
    """``Status.State``: ready, down, disconnected or unknown."""
    availability: str
    """``Spec.Availability``: active, pause or drain (a drained node runs no task)."""
    address: str | None
    """The node's address in the swarm: a manager's ``ManagerStatus.Addr``, a worker's
    ``Status.Addr`` (:func:`hostreach.engine.views.swarm_nodes`)."""
    caller_address: str | None = None
    """This process's address toward ``address``: the source address the kernel picks."""


class KubeNode(NamedTuple):
    """One node of the current kubeconfig context's cluster, as ``kubectl get nodes`` says."""

    name: str
    internal_ip: str | None = None
    provider_id: str = ""
    """``spec.providerID``: ``kind://docker/kind/kind-control-plane``, ``k3s://...``."""
    os_image: str = ""
    kernel: str = ""
    labels: Mapping[str, str] = _EMPTY
    """Only the labels the cluster rules read (:data:`hostreach.probe.kube.LABELS`)."""
    caller_address: str | None = None
    """This process's address toward ``internal_ip``: the source address the kernel picks."""


class Cluster(NamedTuple):
    """The Kubernetes cluster the current kubeconfig context names (``--format k8s``)."""

    context: str = ""
    """The current context's name ("" where a replayed output does not say)."""
    server: str | None = None
    nodes: tuple[KubeNode, ...] = ()


class Facts(NamedTuple):
    """Everything resolve needs, and nothing it has to ask the machine for."""

    client: Client = Client()
    daemon: Daemon | None = None
    network: Network = Network()
    issues: tuple[Issue, ...] = ()
    schema: int = SCHEMA
    listening: Listening | None = None
    """Read only when ports were asked about (``doctor``, ``check``); None when not read."""
    firewall: Firewall | None = None
    """Read only by ``doctor`` and ``check``; None when not read."""
    tunnels: tuple[Tunnel, ...] = ()
    """This caller's tunnels that run on the engine in use (the engine confirmed each)."""
    rootlesskit: RootlessKit | None = None
    """The RootlessKit of a local rootless engine, where its process was found."""
    discovered: tuple[Candidate, ...] = ()
    """What ``--strategy discover`` tried and what answered (empty: not tried)."""
    swarm: tuple[SwarmNode, ...] = ()
    """The nodes of the swarm whose manager the engine is, read only for ``--for service`` and
    ``--for stack`` and by ``facts`` (empty: not read, or no swarm)."""
    cluster: Cluster | None = None
    """The kubeconfig's current cluster, read only for ``--format k8s`` (None: not read)."""


MAX_DEPTH = 64
"""The deepest nesting a snapshot's engine answers may have (a real one has about 5)."""


def freeze(value: Any, depth: int = 0) -> Any:
    """Return a deeply read-only copy of a JSON value (dicts become mappingproxies, lists tuples).

    FactsError past MAX_DEPTH levels: nothing an engine says is that deep.
    """
    if depth > MAX_DEPTH:
        raise FactsError(f"facts: an engine answer nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v, depth + 1) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v, depth + 1) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Return a plain JSON value (dicts and lists) from a frozen one."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def _client_json(c: Client) -> dict[str, Any]:
    return {
        "os": c.os,
        "release": c.release,
        "wsl": c.wsl,
        "in_container": c.in_container,
        "docker_host": c.docker_host,
        "context": c.context,
        "endpoint": c.endpoint,
        "socket_target": c.socket_target,
        "container_markers": list(c.container_markers),
        "resolved": dict(c.resolved),
        "hostname": c.hostname,
        "caller_address": c.caller_address,
        "container_id": c.container_id,
        "networks": dict(c.networks),
        "wsl_networking": c.wsl_networking,
        "wslconfig": c.wslconfig,
        "host_override": c.host_override,
        "tls": c.tls,
        "tls_dir": c.tls_dir,
        "tls_verify": c.tls_verify,
        "mem_total": c.mem_total,
    }


def to_json(facts: Facts) -> dict[str, Any]:
    """Return the snapshot as plain JSON data."""
    c, n = facts.client, facts.network
    gateway = n.default_gateway
    return {
        "schema": facts.schema,
        "client": _client_json(c),
        "daemon": None
        if facts.daemon is None
        else {
            "info": thaw(facts.daemon.info),
            "version": thaw(facts.daemon.version),
            "bridge_gateway": facts.daemon.bridge_gateway,
            "bridge_interface": facts.daemon.bridge_interface,
            "bridge_subnet": facts.daemon.bridge_subnet,
            "bridge_subnet6": facts.daemon.bridge_subnet6,
            "networks": [n._asdict() for n in facts.daemon.networks],
        },
        "network": {
            "default_gateway": None
            if gateway is None
            else {"ip": gateway.ip, "interface": gateway.interface},
            "interfaces": {name: list(addrs) for name, addrs in n.interfaces.items()},
        },
        "issues": [
            {"source": i.source, "detail": i.detail, "reason": i.reason} for i in facts.issues
        ],
        "listening": None
        if facts.listening is None
        else {
            "ports": list(facts.listening.ports),
            "sockets": [s._asdict() for s in facts.listening.sockets],
        },
        "firewall": None if facts.firewall is None else facts.firewall._asdict(),
        "tunnels": [tunnel_json(t) for t in facts.tunnels],
        "rootlesskit": None if facts.rootlesskit is None else facts.rootlesskit._asdict(),
        "discovered": [c._asdict() for c in facts.discovered],
        "swarm": [node._asdict() for node in facts.swarm],
        "cluster": None if facts.cluster is None else _cluster_json(facts.cluster),
    }


def _cluster_json(cluster: Cluster) -> dict[str, Any]:
    return {
        "context": cluster.context,
        "server": cluster.server,
        "nodes": [{**n._asdict(), "labels": dict(n.labels)} for n in cluster.nodes],
    }


def tunnel_json(tunnel: Tunnel) -> dict[str, Any]:
    """Return a tunnel record as plain JSON data (a snapshot's, and the tunnel's state file)."""
    return {**tunnel._asdict(), "ports": list(tunnel.ports)}


def dumps(facts: Facts) -> str:
    """Return the snapshot as indented JSON text."""
    import json  # noqa: PLC0415 - only `facts` writes a snapshot

    return json.dumps(to_json(facts), indent=2, sort_keys=True)


class _Reader:
    """Typed access to one JSON object, naming the path of any value of the wrong type."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise FactsError(f"facts: {path} must be an object, not {_kind(data)}")
        self.data: Mapping[str, Any] = data
        self.path = path

    def _get(self, key: str, types: type | tuple[type, ...], kind: str) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        # bool is an int in Python; a JSON true is never a valid number here.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            raise FactsError(f"facts: {self.path}.{key} must be {kind}, not {_kind(value)}")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self._get(key, str, "a string")
        return default if value is None else str(value)

    def flag(self, key: str) -> bool:
        return bool(self._get(key, bool, "true or false") or False)

    def optional_flag(self, key: str) -> bool | None:
        value = self._get(key, bool, "true or false")
        return None if value is None else bool(value)

    def integer(self, key: str) -> int | None:
        value = self._get(key, int, "an integer")
        return None if value is None else int(value)

    def child(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        return None if value is None else _Reader(value, f"{self.path}.{key}")

    def array(self, key: str) -> list[Any]:
        value = self._get(key, list, "a list")
        return [] if value is None else list(value)

    def raw(self, key: str) -> Mapping[str, Any]:
        value = self._get(key, Mapping, "an object")
        return _EMPTY if value is None else freeze(value)

    def parsed(self, key: str, parse: Callable[[str], str], kind: str) -> str | None:
        """The text at ``key`` as ``parse`` reads it (None when absent); FactsError if it cannot."""
        value = self.text(key)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError:
            raise FactsError(
                f"facts: {self.path}.{key} must be {kind}, not {value[:60]!r}"
            ) from None

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.array(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise FactsError(
                    f"facts: {self.path}.{key}[{i}] must be a string, not {_kind(item)}"
                )
        return tuple(items)


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    for t, name in names.items():
        if isinstance(value, t):
            return name
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def from_json(data: object) -> Facts:
    """Return Facts from JSON data, accepting missing and extra keys; raise FactsError on bad types."""
    top = _Reader(data, "facts")
    schema = top.integer("schema")
    if schema is None:
        schema = SCHEMA
    if schema != SCHEMA:
        raise FactsError(
            f"facts: schema {schema} is not supported (this hostreach reads schema {SCHEMA});"
            " re-create the snapshot with `python -m hostreach facts`"
        )
    client = _client(top.child("client"))
    daemon = _daemon(top.child("daemon"))
    network = _network(top.child("network"))
    issues = []
    for i, item in enumerate(top.array("issues")):
        r = _Reader(item, f"facts.issues[{i}]")
        issues.append(
            Issue(
                source=r.text("source") or "",
                detail=r.text("detail") or "",
                reason=r.text("reason") or "",
            )
        )
    return Facts(
        client=client,
        daemon=daemon,
        network=network,
        issues=tuple(issues),
        schema=schema,
        listening=_listening(top.child("listening")),
        firewall=_firewall(top.child("firewall")),
        tunnels=tuple(
            _tunnel(_Reader(item, f"facts.tunnels[{i}]"))
            for i, item in enumerate(top.array("tunnels"))
        ),
        rootlesskit=_rootlesskit(top.child("rootlesskit")),
        discovered=tuple(
            _candidate(_Reader(item, f"facts.discovered[{i}]"))
            for i, item in enumerate(top.array("discovered"))
        ),
        swarm=tuple(
            _swarm_node(_Reader(item, f"facts.swarm[{i}]"))
            for i, item in enumerate(top.array("swarm"))
        ),
        cluster=_cluster(top.child("cluster")),
    )


CANDIDATE_KINDS = frozenset({"host-gateway", "gateway", "vm-gateway", "fixed", "caller"})
"""What a discovery candidate is, where it is not a host name."""


def candidate_via(text: str) -> str:
    """A candidate's kind, or the host name it was resolved from; ValueError if neither."""
    if text in CANDIDATE_KINDS:
        return text
    try:
        return check_alias(text)
    except UsageError as exc:
        raise ValueError(text) from exc


def _candidate(r: _Reader) -> Candidate:
    found = r.parsed("via", candidate_via, "a host name or a candidate kind")
    address = r.parsed("address", check_address, "an IP address")
    if found is None or address is None:
        raise FactsError(f"facts: {r.path} is not a whole candidate")
    return Candidate(via=found, address=address, answered=r.flag("answered"))


NODE_ROLES = frozenset({"manager", "worker"})
NODE_STATES = frozenset({"ready", "down", "disconnected", "unknown"})
NODE_AVAILABILITY = frozenset({"active", "pause", "drain"})


def _one_of(allowed: frozenset[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text

    return parse


def _swarm_node(r: _Reader) -> SwarmNode:
    node_id = r.parsed("id", check_swarm_id, "a swarm node ID")
    hostname = r.parsed("hostname", check_hostname, "a host name")
    role = r.parsed("role", _one_of(NODE_ROLES), "manager or worker")
    state = r.parsed("state", _one_of(NODE_STATES), "a node state")
    availability = r.parsed("availability", _one_of(NODE_AVAILABILITY), "a node availability")
    if not (node_id and hostname is not None and role and state and availability):
        raise FactsError(f"facts: {r.path} is not a whole swarm node")
    return SwarmNode(
        id=node_id,
        hostname=hostname,
        role=role,
        state=state,
        availability=availability,
        address=r.parsed("address", check_address, "an IP address"),
        caller_address=r.parsed("caller_address", check_address, "an IP address"),
    )


def _printable(limit: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > limit or not text.isprintable():
            raise ValueError(text)
        return text

    return parse


def _cluster(r: _Reader | None) -> Cluster | None:
    if r is None:
        return None
    return Cluster(
        context=r.parsed("context", _printable(253), "a context name") or "",
        server=r.parsed("server", _printable(2048), "a server address"),
        nodes=tuple(
            _kube_node(_Reader(item, f"{r.path}.nodes[{i}]"))
            for i, item in enumerate(r.array("nodes"))
        ),
    )


def _labels(r: _Reader | None) -> Mapping[str, str]:
    if r is None:
        return _EMPTY
    found = {}
    for key in r.data:
        _printable(317)(str(key))  # a prefix of 253 and a name of 63, as Kubernetes allows
        found[str(key)] = r.parsed(str(key), _printable(63), "a label value") or ""
    return MappingProxyType(found)


def _kube_node(r: _Reader) -> KubeNode:
    name = r.parsed("name", check_hostname, "a node name")
    if not name:
        raise FactsError(f"facts: {r.path} needs a name")
    try:
        labels = _labels(r.child("labels"))
    except ValueError:
        raise FactsError(f"facts: {r.path}.labels has a key that is not one") from None
    return KubeNode(
        name=name,
        internal_ip=r.parsed("internal_ip", check_address, "an IP address"),
        provider_id=r.parsed("provider_id", _printable(512), "a provider ID") or "",
        os_image=r.parsed("os_image", _printable(256), "an OS name") or "",
        kernel=r.parsed("kernel", _printable(256), "a kernel release") or "",
        labels=labels,
        caller_address=r.parsed("caller_address", check_address, "an IP address"),
    )


def _rootlesskit(r: _Reader | None) -> RootlessKit | None:
    if r is None:
        return None
    net = r.parsed("net", _network_name, "a network driver name") or ""  # it reaches a note
    return RootlessKit(net=net, host_loopback=r.flag("host_loopback"))


def read_tunnel(data: object, path: str) -> Tunnel:
    """Return the tunnel record in JSON ``data``; FactsError where it is not a whole, valid one."""
    return _tunnel(_Reader(data, path))


def _tunnel(r: _Reader) -> Tunnel:
    ports = _ports(r)
    pid = r.integer("pid")
    container = r.parsed("container", _container_id, "a container ID")
    address = r.parsed("address", check_address, "an IP address")
    network = r.parsed("network", _network_name, "a network name")
    if not ports or pid is None or pid <= 0 or not (container and address and network):
        raise FactsError(f"facts: {r.path} is not a whole tunnel record")
    return Tunnel(
        container=container,
        address=address,
        network=network,
        ports=tuple(ports),
        pid=pid,
        network_mode=r.parsed("network_mode", _network_name, "a network name"),
        endpoint=r.text("endpoint"),
    )


def _network_name(text: str) -> str:
    try:
        return check_name(text, "network")
    except UsageError as exc:
        raise ValueError(text) from exc


def _port(value: int | None, path: str) -> int:
    if value is None or not 0 < value < 65536:
        raise FactsError(f"facts: {path} must be a port number (1-65535)")
    return value


def _ports(r: _Reader) -> list[int]:
    ports = []
    for i, item in enumerate(r.array("ports")):
        value = item if isinstance(item, int) and not isinstance(item, bool) else None
        ports.append(_port(value, f"{r.path}.ports[{i}]"))
    return ports


def _listening(r: _Reader | None) -> Listening | None:
    if r is None:
        return None
    ports = _ports(r)
    sockets = []
    for i, item in enumerate(r.array("sockets")):
        s = _Reader(item, f"{r.path}.sockets[{i}]")
        sockets.append(
            Listener(
                port=_port(s.integer("port"), f"{s.path}.port"),
                address=s.parsed("address", check_address, "an IP address") or "",
                pid=s.integer("pid"),
                process=s.text("process"),
                v6only=s.optional_flag("v6only"),
            )
        )
    return Listening(ports=tuple(ports), sockets=tuple(sockets))


def _firewall(r: _Reader | None) -> Firewall | None:
    return None if r is None else Firewall(iptables=r.text("iptables"), nftables=r.text("nftables"))


def _client(r: _Reader | None) -> Client:
    if r is None:
        return Client()
    return Client(
        os=r.text("os") or "linux",
        release=r.text("release") or "",
        wsl=r.flag("wsl"),
        in_container=r.flag("in_container"),
        docker_host=r.text("docker_host"),
        context=r.text("context"),
        endpoint=r.text("endpoint"),
        socket_target=r.parsed("socket_target", socket_path, "a socket path"),
        container_markers=r.texts("container_markers"),
        resolved=_text_map(r.child("resolved")),
        hostname=r.text("hostname") or "",
        caller_address=r.parsed("caller_address", check_address, "an IP address"),
        container_id=r.parsed("container_id", _container_id, "a container ID"),
        networks=_networks(r.child("networks")),
        wsl_networking=r.text("wsl_networking"),
        wslconfig=r.text("wslconfig"),
        host_override=r.parsed("host_override", check_host_address, "an address of the host"),
        tls=r.flag("tls"),
        tls_dir=r.parsed("tls_dir", socket_path, "a folder's path"),
        tls_verify=r.flag("tls_verify"),
        mem_total=_count(r, "mem_total"),
    )


def _count(r: _Reader, key: str) -> int | None:
    value = r.integer(key)
    if value is not None and value < 0:
        raise FactsError(f"facts: {r.path}.{key} must not be negative")
    return value


def _container_id(text: str) -> str:
    try:
        if len(text) <= 64:
            return check_name(text, "container")
    except UsageError:
        pass
    raise ValueError(text)


def _networks(r: _Reader | None) -> Mapping[str, str]:
    if r is None:
        return _EMPTY
    found = {}
    for name in r.data:
        try:
            check_name(str(name), "network")
        except UsageError:
            raise FactsError(f"facts: {r.path} has a network name that is not one") from None
        found[str(name)] = r.parsed(name, check_address, "an IP address") or ""
    return MappingProxyType(found)


def _text_map(r: _Reader | None) -> Mapping[str, str]:
    if r is None:
        return _EMPTY
    return MappingProxyType(
        {str(k): r.parsed(k, check_address, "an IP address") or "" for k in r.data}
    )


def _daemon(r: _Reader | None) -> Daemon | None:
    if r is None:
        return None
    return Daemon(
        info=r.raw("info"),
        version=r.raw("version"),
        bridge_gateway=r.parsed("bridge_gateway", check_address, "an IP address"),
        bridge_interface=r.parsed("bridge_interface", check_interface, "an interface name"),
        bridge_subnet=r.parsed("bridge_subnet", check_network, "an IP network"),
        bridge_subnet6=r.parsed("bridge_subnet6", check_network, "an IP network"),
        networks=tuple(
            _engine_network(_Reader(item, f"{r.path}.networks[{i}]"))
            for i, item in enumerate(r.array("networks"))
        ),
    )


def _engine_network(r: _Reader) -> EngineNetwork:
    name = r.parsed("name", _network_name, "a network name")
    subnet = r.parsed("subnet", check_network, "an IP network")
    gateway = r.parsed("gateway", check_address, "an IP address")
    if not (name and subnet and gateway):
        raise FactsError(f"facts: {r.path} needs a name, a subnet and a gateway")
    return EngineNetwork(name=name, subnet=subnet, gateway=gateway)


def _any_interface(name: str) -> str:
    # Interfaces of any OS (Windows names them by GUID, in braces): printable, no white space.
    if not 0 < len(name) <= 64 or not name.isprintable() or any(c.isspace() for c in name):
        raise ValueError(name)
    return name


def _network(r: _Reader | None) -> Network:
    if r is None:
        return Network()
    gw = r.child("default_gateway")
    gateway = None
    if gw is not None:
        ip = gw.parsed("ip", check_address, "an IP address")
        interface = gw.parsed("interface", _any_interface, "an interface name")
        gateway = Gateway(ip=ip, interface=interface or "") if ip else None
    interfaces: dict[str, tuple[str, ...]] = {}
    ifaces = r.child("interfaces")
    if ifaces is not None:
        for name in ifaces.data:
            try:
                _any_interface(str(name))
                interfaces[str(name)] = tuple(map(check_address, ifaces.texts(name)))
            except ValueError:
                raise FactsError(
                    f"facts: {ifaces.path}.{str(name)[:40]} must be an interface's addresses"
                ) from None
    return Network(default_gateway=gateway, interfaces=MappingProxyType(interfaces))


def loads(text: str) -> Facts:
    """Return Facts from JSON text."""
    import json  # noqa: PLC0415 - not on the live path: its error messages say where

    try:
        data = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FactsError(f"facts: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise FactsError("facts: JSON nested too deeply") from exc
    try:
        return from_json(data)
    except RecursionError as exc:
        raise FactsError("facts: JSON nested too deeply") from exc


def load(path: str | os.PathLike[str], *, timeout: float = 10.0) -> Facts:
    """Return Facts read from a snapshot file written by ``python -m hostreach facts``.

    ``timeout`` bounds the wait when ``path`` is a pipe (``--facts <(...)``).
    """
    try:
        text = read_text(path, what="facts file", limit=16 * MIB, pipe_timeout=timeout)
    except FileNotFoundError as exc:
        raise FactsError(f"facts file not found: {path}") from exc
    except InputError as exc:
        raise FactsError(str(exc)) from exc
    return loads(text)
