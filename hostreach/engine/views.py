"""views: typed, read-only views of raw engine JSON (the facts' answers, and the networks and
containers the engine reports), each field validated as it is read.

Nothing here knows about a particular runtime: that lives in :mod:`hostreach.runtimes`. This
module only reads Engine API fields safely, whatever a pasted ``docker info`` happens to hold.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from hostreach.checks import check_address, check_interface, check_name, check_network
from hostreach.errors import UsageError
from hostreach.facts import NODE_AVAILABILITY, NODE_ROLES, NODE_STATES, Facts

Version = tuple[int, ...]

# Engine API version -> Docker Engine release (docker/docs engine/api/version-history.md).
# Used when ServerVersion is not a version: Docker Desktop builds have reported "master".
_API_TO_ENGINE: dict[Version, Version] = {
    (1, 35): (17, 12),
    (1, 36): (18, 2),
    (1, 37): (18, 3),
    (1, 38): (18, 6),
    (1, 39): (18, 9),
    (1, 40): (19, 3),
    (1, 41): (20, 10),
    (1, 42): (23, 0),
    (1, 43): (24, 0),
    (1, 44): (25, 0),
    (1, 45): (26, 0),
    (1, 46): (27, 0),
}


def _digits(text: str) -> str:
    """The ASCII digits ``text`` starts with."""
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[:end]


def parse_version(text: object) -> Version | None:
    """Return ``(major, minor, patch)`` from a version string such as ``20.10.24+dfsg1``, or None.

    Reads what ``v?MAJOR.MINOR[.PATCH]`` matches at the start; the patch is left out when absent.
    """
    if not isinstance(text, str):
        return None
    major, dot, rest = text.strip().removeprefix("v").partition(".")
    minor = _digits(rest)
    if not dot or not major or _digits(major) != major or not minor:
        return None
    patch = _digits(rest[len(minor) + 1 :]) if rest[len(minor) : len(minor) + 1] == "." else ""
    return (int(major), int(minor), int(patch)) if patch else (int(major), int(minor))


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strs(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def info(facts: Facts, key: str) -> str:
    """Return a string field of ``GET /info``, or "" when absent or not a string."""
    return "" if facts.daemon is None else _str(facts.daemon.info, key)


def info_count(facts: Facts, key: str) -> int | None:
    """Return a non-negative integer field of ``GET /info`` (MemTotal), or None."""
    value = None if facts.daemon is None else facts.daemon.info.get(key)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def info_list(facts: Facts, key: str) -> tuple[str, ...]:
    """Return the string items of a list field of ``GET /info`` (SecurityOptions, Labels)."""
    return () if facts.daemon is None else _strs(facts.daemon.info, key)


def version_field(facts: Facts, key: str) -> str:
    """Return a string field of ``GET /version``, or ""."""
    return "" if facts.daemon is None else _str(facts.daemon.version, key)


def platform_name(facts: Facts) -> str:
    """Return ``Platform.Name`` of ``GET /version`` ("Docker Desktop 4.52.0 (210994)", ...)."""
    if facts.daemon is None:
        return ""
    platform = facts.daemon.version.get("Platform")
    return _str(platform, "Name") if isinstance(platform, Mapping) else ""


def components(facts: Facts) -> dict[str, str]:
    """Return ``{component name: version}`` from ``GET /version``."""
    if facts.daemon is None:
        return {}
    found: dict[str, str] = {}
    items = facts.daemon.version.get("Components")
    for item in items if isinstance(items, list | tuple) else ():
        if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
            found[item["Name"]] = _str(item, "Version")
    return found


def rootless(facts: Facts) -> bool:
    """Whether the engine is known to run rootless (see :func:`rootless_known`)."""
    return rootless_known(facts) is True


def rootless_known(facts: Facts) -> bool | None:
    """Whether the engine runs rootless; None where its answers do not say.

    ``name=rootless`` in /info's SecurityOptions (moby daemon/info.go) or Podman's own
    ``Rootless`` field; else a ``rootlesskit`` component in /version, which dockerd lists only
    when it runs under RootlessKit (moby daemon/info_unix.go, fillRootlessVersion). Its absence
    proves nothing (Debian's Engine 20.10 lists none), and an /info without SecurityOptions (a
    paste cut short, a version-only answer) leaves it unknown (issue 23).
    """
    if facts.daemon is None:
        return None
    if facts.daemon.info.get("Rootless") is True:  # Podman adds this non-Docker field
        return True
    if "rootlesskit" in components(facts):
        return True
    if "SecurityOptions" not in facts.daemon.info:
        return None
    return any(opt.split(",")[0] == "name=rootless" for opt in info_list(facts, "SecurityOptions"))


def rootlesskit_driver(facts: Facts) -> str | None:
    """The network driver /version's ``rootlesskit`` component names (slirp4netns, pasta,
    gvisor-tap-vsock ...), or None."""
    if facts.daemon is None:
        return None
    items = facts.daemon.version.get("Components")
    for item in items if isinstance(items, list | tuple) else ():
        if isinstance(item, Mapping) and item.get("Name") == "rootlesskit":
            details = item.get("Details")
            if isinstance(details, Mapping) and isinstance(details.get("NetworkDriver"), str):
                return str(details["NetworkDriver"])
    return None


def containers_os(facts: Facts) -> str:
    """Return the OS the engine's containers run ("linux", "windows"; "" when not reported)."""
    return info(facts, "OSType") or version_field(facts, "Os")


def kernel(facts: Facts) -> str:
    """Return the engine's kernel release (where the containers really run)."""
    return info(facts, "KernelVersion") or version_field(facts, "KernelVersion")


def engine_version(facts: Facts) -> Version | None:
    """Return the Docker Engine version, falling back to the API version when it is not a version."""
    if facts.daemon is None:
        return None
    for text in (info(facts, "ServerVersion"), version_field(facts, "Version")):
        parsed = parse_version(text)
        if parsed is not None:
            return parsed
    api = parse_version(version_field(facts, "ApiVersion"))
    if api is None:
        return None
    api = api[:2]
    if api in _API_TO_ENGINE:
        return _API_TO_ENGINE[api]
    # An API newer than this table: at least the newest engine it knows.
    newest = max(_API_TO_ENGINE)
    return _API_TO_ENGINE[newest] if api > newest else None


def component_version(facts: Facts, name: str) -> Version | None:
    """Return the version of one ``GET /version`` component ("Podman Engine", ...)."""
    return parse_version(components(facts).get(name))


# --- networks and containers, as GET /networks and GET /containers/ID/json answer ------------

MAX_NETWORKS = 1024
"""More networks than any engine has; the rest are not read."""


def ipam_configs(network: object) -> Iterator[Mapping[str, Any]]:
    """The IPAM configurations (subnet, gateway) of one network object, as far as they parse."""
    ipam = network.get("IPAM") if isinstance(network, Mapping) else None
    configs = ipam.get("Config") if isinstance(ipam, Mapping) else None
    for config in configs if isinstance(configs, list) else ():
        if isinstance(config, Mapping):
            yield config


def _ipv4(value: object) -> str | None:
    """The IPv4 address ``value`` holds, else None: an engine's answer is validated, not trusted."""
    try:
        return str(ipaddress.IPv4Address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _ipv4_network(value: object) -> str | None:
    return _network(value, 4)


def _ipv6_network(value: object) -> str | None:
    return _network(value, 6)


def _network(value: object, version: int) -> str | None:
    """The network ``value`` holds, where it is of that IP version."""
    try:
        network = check_network(value)
    except ValueError:
        return None
    return network if ipaddress.ip_network(network).version == version else None


def bridge_subnet(facts: Facts) -> ipaddress.IPv4Network | None:
    """The default bridge's IPv4 subnet, where the engine reported a valid one."""
    subnet = _ipv4_network(facts.daemon.bridge_subnet) if facts.daemon is not None else None
    return ipaddress.IPv4Network(subnet, strict=False) if subnet is not None else None


def bridge_subnet6(facts: Facts) -> str | None:
    """The default bridge's IPv6 subnet, where the engine reported a valid one."""
    subnet = facts.daemon.bridge_subnet6 if facts.daemon is not None else None
    return _ipv6_network(subnet)


def bridge_fields(network: object) -> dict[str, str | None]:
    """Return the default bridge's gateway, interface name and subnets from GET
    /networks/bridge (Engine 28 reports its IPv6 subnet without a gateway: measured, issue 23)."""
    gateway = interface = subnet = subnet6 = None
    for config in ipam_configs(network):
        subnet6 = subnet6 or _ipv6_network(config.get("Subnet"))
        value, net = _ipv4(config.get("Gateway")), _ipv4_network(config.get("Subnet"))
        subnet = subnet or net
        if value and not gateway:
            gateway = value
    options = network.get("Options") if isinstance(network, Mapping) else None
    if isinstance(options, Mapping):
        with contextlib.suppress(ValueError):
            interface = check_interface(options.get("com.docker.network.bridge.name"))
    return {
        "bridge_gateway": gateway,
        "bridge_interface": interface,
        "bridge_subnet": subnet,
        "bridge_subnet6": subnet6,
    }


def _networks(answer: object) -> list[object]:
    return answer[:MAX_NETWORKS] if isinstance(answer, list) else []


def network_subnets(answer: object) -> list[str]:
    """Every subnet of the engine's networks (GET /networks), validated."""
    found = []
    for network in _networks(answer):
        for config in ipam_configs(network):
            with contextlib.suppress(ValueError):
                found.append(check_network(config.get("Subnet")))
    return found


def gateway_networks(answer: object) -> list[dict[str, str]]:
    """The engine's networks with an IPv4 subnet and a gateway (GET /networks), validated."""
    found = []
    for network in _networks(answer):
        name = network.get("Name") if isinstance(network, Mapping) else None
        for config in ipam_configs(network):
            with contextlib.suppress(ValueError, UsageError):  # the engine's answer: validated
                subnet = ipaddress.ip_network(str(config.get("Subnet")))
                gateway = check_address(config.get("Gateway"))
                if subnet.version == 4:
                    name = check_name(str(name), "network")
                    found.append({"name": name, "subnet": str(subnet), "gateway": gateway})
    return found


def container_networks(container: object) -> dict[str, str]:
    """A container's networks and its address on each (GET /containers/ID/json), validated."""
    settings = container.get("NetworkSettings") if isinstance(container, Mapping) else None
    networks = settings.get("Networks") if isinstance(settings, Mapping) else None
    own = {}
    for name, network in networks.items() if isinstance(networks, Mapping) else ():
        address = network.get("IPAddress") if isinstance(network, Mapping) else None
        with contextlib.suppress(ValueError, UsageError):
            own[check_name(str(name), "network")] = check_address(address)
    return own


MAX_NODES = 1000
"""The most swarm nodes read from one answer (docker's own tests stop far below)."""


def swarm_state(facts: Facts) -> str:
    """The engine's swarm membership from ``GET /info``: ``manager``, ``worker``, ``inactive``
    (or pending, error, locked: ``Swarm.LocalNodeState`` as it says), "" where it does not say."""
    swarm = facts.daemon.info.get("Swarm") if facts.daemon is not None else None
    if not isinstance(swarm, Mapping):
        return ""
    state = _str(swarm, "LocalNodeState")
    if state != "active":
        return state
    return "manager" if swarm.get("ControlAvailable") is True else "worker"


def _node_address(node: Mapping[str, Any]) -> str | None:
    """A node's address: a manager's ``ManagerStatus.Addr`` first (its ``Status.Addr`` has said
    0.0.0.0 and 127.0.0.1: moby/moby#35437, #30119), else ``Status.Addr`` (a worker's: the source
    address of its connection to the manager); never a loopback or unspecified one."""
    status, manager = node.get("Status"), node.get("ManagerStatus")
    candidates: list[object] = []
    if isinstance(manager, Mapping) and isinstance(manager.get("Addr"), str):
        candidates.append(str(manager["Addr"]).rpartition(":")[0].strip("[]"))
    if isinstance(status, Mapping):
        candidates.append(status.get("Addr"))
    for value in candidates:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(check_address(value))
            if not (address.is_unspecified or address.is_loopback):
                return str(address)
    return None


def swarm_nodes(answer: object) -> list[dict[str, Any]]:
    """The nodes of a swarm manager's ``GET /nodes``, each field validated; a node whose ID,
    host name, role, state or availability does not parse is left out."""
    from hostreach.checks import check_hostname, check_swarm_id  # noqa: PLC0415

    found = []
    for node in answer[:MAX_NODES] if isinstance(answer, list) else ():
        if not isinstance(node, Mapping):
            continue
        spec, status, description = (node.get(k) for k in ("Spec", "Status", "Description"))
        fields = {
            "role": _str(spec, "Role") if isinstance(spec, Mapping) else "",
            "availability": _str(spec, "Availability") if isinstance(spec, Mapping) else "",
            "state": _str(status, "State") if isinstance(status, Mapping) else "",
            "hostname": _str(description, "Hostname") if isinstance(description, Mapping) else "",
        }
        try:
            node_id = check_swarm_id(str(node.get("ID")))
            check_hostname(fields["hostname"])
        except ValueError:
            continue
        if fields["role"] not in NODE_ROLES or fields["availability"] not in NODE_AVAILABILITY:
            continue
        if fields["state"] not in NODE_STATES:
            fields["state"] = "unknown"
        found.append({"id": node_id, **fields, "address": _node_address(node)})
    return found
