"""resolve: facts + request -> Route. Pure: it reads nothing but its arguments."""

from __future__ import annotations

from types import MappingProxyType

from hostreach import _url, engine
from hostreach._record import NamedTuple
from hostreach.errors import EndpointError, NoRouteError, UsageError
from hostreach.runtimes import RUNTIME_IDS, Runtime, by_id, identify

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: see _record.py
    from collections.abc import Mapping
    from typing import Any, Literal

    from hostreach.facts import Facts
    from hostreach.runtimes import Strategy

    StrategyChoice = Literal["auto", "host-gateway", "gateway-ip", "lan-ip", "host-network"]

DEFAULT_ALIAS = "host.docker.internal"
STRATEGIES = ("auto", "host-gateway", "gateway-ip", "lan-ip", "host-network")
"""The strategies a caller may ask for; ``native`` and ``host-loopback`` are chosen by auto."""

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_LABEL_CHARS = _ALNUM | {"-"}
_NAME_CHARS = _ALNUM | {"_", ".", "-"}


def _label(label: str) -> bool:
    # RFC 1123: 1-63 letters, digits and '-', neither first nor last a '-'.
    return (
        0 < len(label) <= 63
        and label[0] in _ALNUM
        and label[-1] in _ALNUM
        and _LABEL_CHARS.issuperset(label)
    )


def check_alias(name: str) -> str:
    """Return ``name`` if it is a valid host name (RFC 1123), else raise UsageError.

    This is also what keeps every emitted flag a single, inert shell word.
    """
    labels = name.split(".")
    if not name or len(name) > 253 or not all(map(_label, labels)):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise UsageError(
            f"invalid alias {shown!r}: use a host name of letters, digits, '-' and '.'"
            " (RFC 1123, at most 253 characters)"
        )
    return name


# Container, network and compose service names share one rule (compose-spec, moby's
# validContainerNamePattern: [a-zA-Z0-9][a-zA-Z0-9_.-]*, here at most 254 characters), which
# also keeps them safe in a URL path and a shell word.


def check_name(name: str, what: str) -> str:
    """Return a container, network or compose service name if valid, else raise UsageError."""
    if not (0 < len(name) <= 254 and name[0] in _ALNUM and _NAME_CHARS.issuperset(name)):
        raise UsageError(f"invalid {what} name {name[:60]!r}: use letters, digits, '_', '.', '-'")
    return name


def literal_address(hosts: Mapping[str, str]) -> str | None:
    """Return the first literal address among alias values (not ``native``/``host-gateway``)."""
    return next((v for v in hosts.values() if v not in ("native", "host-gateway")), None)


class Request(NamedTuple):
    """What the caller asks for: names to make resolvable, how, and optionally for which runtime."""

    aliases: tuple[str, ...] = (DEFAULT_ALIAS,)
    strategy: StrategyChoice = "auto"
    runtime: str | None = None

    def check(self) -> Request:
        """Return the request if every part of it is valid, else raise UsageError."""
        if not self.aliases:
            raise UsageError("at least one alias is needed")
        for alias in self.aliases:
            check_alias(alias)
        if self.strategy not in STRATEGIES:
            raise UsageError(
                f"unknown strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}"
            )
        if self.runtime is not None and self.runtime not in RUNTIME_IDS:
            raise UsageError(
                f"unknown runtime {self.runtime!r}; choose from {', '.join(RUNTIME_IDS)}"
            )
        return self


class Route(NamedTuple):
    """How a container reaches the host: the flags to pass, and why."""

    runtime: str
    rootless: bool
    remote: bool
    strategy: Strategy
    hosts: Mapping[str, str]
    """alias -> an IP address, ``"host-gateway"``, or ``"native"`` (the runtime resolves it)."""
    flag_words: tuple[str, ...]
    """The flags, immutable (a cached Route is shared); use :attr:`flags` for a list."""
    reason: str
    warnings: tuple[str, ...] = ()
    network_mode: str | None = None
    extra_hosts: tuple[str, ...] = ()
    """``NAME:VALUE`` entries, the form the Engine API and compose ``extra_hosts`` take."""

    @property
    def address(self) -> str | None:
        """The literal address the names point at, or None (``native``, ``host-gateway``)."""
        return literal_address(self.hosts)

    @property
    def flags(self) -> list[str]:
        """The ``docker run`` flags, one word each: a new list, yours to extend."""
        return list(self.flag_words)

    def docker_run_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments for the docker SDK's ``containers.run`` / ``create``."""
        kwargs: dict[str, Any] = {}
        if self.extra_hosts:
            kwargs["extra_hosts"] = dict(entry.split(":", 1) for entry in self.extra_hosts)
        if self.network_mode is not None:
            kwargs["network_mode"] = self.network_mode
        return kwargs

    def compose(self) -> dict[str, Any]:
        """Return the compose service fragment: ``extra_hosts`` and, if needed, ``network_mode``."""
        fragment: dict[str, Any] = {}
        if self.extra_hosts:
            fragment["extra_hosts"] = list(self.extra_hosts)
        if self.network_mode is not None:
            fragment["network_mode"] = self.network_mode
        return fragment

    def env(self) -> dict[str, str]:
        """Return what to tell an app in the container: the host name, its address if fixed."""
        return {
            "HOSTREACH_HOST": next(iter(self.hosts)),
            "HOSTREACH_ADDRESS": self.address or "",
            "HOSTREACH_RUNTIME": self.runtime,
            "HOSTREACH_STRATEGY": self.strategy,
        }

    def to_json(self) -> dict[str, Any]:
        """Return the route as plain JSON data."""
        return {
            "runtime": self.runtime,
            "rootless": self.rootless,
            "remote": self.remote,
            "strategy": self.strategy,
            "hosts": dict(self.hosts),
            "flags": self.flags,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "network_mode": self.network_mode,
            "extra_hosts": list(self.extra_hosts),
        }


def endpoint_host(endpoint: str | None) -> tuple[str, str | None]:
    """Return ``(scheme, host)`` of an engine endpoint such as ``tcp://10.0.0.5:2376``."""
    if not endpoint:
        return "", None
    try:
        parts = _url.split(endpoint)
    except ValueError:
        return "", None
    return parts.scheme, parts.hostname


def is_remote(facts: Facts) -> bool:
    """Whether the engine runs on another machine (ssh://, or tcp:// to an address not ours)."""
    scheme, host = endpoint_host(facts.client.endpoint)
    if scheme == "ssh":
        return True
    if scheme not in ("tcp", "http", "https") or host is None:
        return False
    if host == "localhost":
        return False
    import ipaddress  # noqa: PLC0415 - 2.5 ms, only for a tcp:// engine

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name other than localhost: assume another machine
    if address.is_loopback:
        return False
    own = {a for addrs in facts.network.interfaces.values() for a in addrs}
    return str(address) not in own


def shares_network(facts: Facts) -> bool:
    """Whether this process sees the engine host's interfaces (not remote, not in a container).

    Inside a container that sees the engine's bridge interface (a sandbox that runs its own
    dockerd, or ``--network host``), or whose host name is the engine's, it does.
    """
    if is_remote(facts):
        return False
    if not facts.client.in_container:
        return True
    if facts.client.hostname and engine.info(facts, "Name") == facts.client.hostname:
        return True  # the same UTS namespace as the engine: Podman has no bridge before a run
    bridge = facts.daemon.bridge_interface if facts.daemon else None
    return bridge is not None and bridge in facts.network.interfaces


def _ipv4(addresses: tuple[str, ...]) -> str | None:
    # A dotted quad; addresses come from the interface probe, which writes them canonical.
    for text in addresses:
        parts = text.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return text
    return None


def lan_address(facts: Facts) -> str | None:
    """Return the IPv4 address of the interface that carries the default route."""
    gateway = facts.network.default_gateway
    if gateway is None:
        return None
    return _ipv4(facts.network.interfaces.get(gateway.interface, ()))


def bridge_gateway(facts: Facts, *, shares_network: bool) -> str | None:
    """Return the default bridge's gateway address as the engine reports it.

    Engine 20.10 reports only a Subnet for the default bridge; then take the address of the
    bridge interface, which we can read only when the engine shares our network namespace.
    """
    if facts.daemon is None:
        return None
    if facts.daemon.bridge_gateway:
        return facts.daemon.bridge_gateway
    name = facts.daemon.bridge_interface
    if name and shares_network:
        return _ipv4(facts.network.interfaces.get(name, ()))
    return None


def _add_host(alias: str, value: str) -> str:
    # No brackets around IPv6 addresses: bash would glob "[::1]" against file names.
    return f"--add-host={alias}:{value}"


class _Context(NamedTuple):
    facts: Facts
    runtime: Runtime
    remote: bool
    shares_network: bool


def _address(ctx: _Context, strategy: Strategy) -> str:
    """Return the literal address for an address-based strategy, or raise NoRouteError."""
    facts = ctx.facts
    if strategy == "gateway-ip":
        found = bridge_gateway(facts, shares_network=ctx.shares_network)
        if found is None:
            raise NoRouteError(
                "the default bridge network's gateway is unknown (the engine did not report it"
                + ("" if facts.daemon is not None else ", and the engine could not be reached")
                + "); try --strategy lan-ip"
            )
        return found
    if strategy == "lan-ip":
        found = lan_address(facts)
        if found is None:
            raise NoRouteError(
                "this machine's primary address is unknown (no default route with an IPv4"
                " address); pass the address yourself with --add-host=NAME:ADDRESS"
            )
        return found
    if strategy == "host-loopback":
        if ctx.runtime.loopback_address is None:
            raise NoRouteError(f"{ctx.runtime.title} has no fixed address for the host")
        return ctx.runtime.loopback_address
    raise AssertionError(strategy)  # pragma: no cover - callers pass address strategies only


def _auto_strategy(ctx: _Context) -> Strategy:
    """Return the strategy for the names the runtime does not resolve itself."""
    verdict = ctx.runtime.host_gateway(ctx.facts)
    if verdict.status == "reaches-host":
        return "host-gateway"
    fallback = ctx.runtime.fallback(ctx.facts)
    if fallback is None:
        names = sorted(ctx.runtime.builtin_names(ctx.facts))
        hint = (
            f"use the name it provides: {', '.join(names)}"
            if names
            else "this version provides no name for the host; upgrading it is the fix"
        )
        raise NoRouteError(
            f"{ctx.runtime.title} offers no route for these names ({verdict.why}); {hint}"
        )
    return fallback


_STRATEGY_WARNINGS: dict[str, str] = {
    "lan-ip": "the host service must listen on {address} or on all interfaces (0.0.0.0),"
    " not on 127.0.0.1 only",
    "gateway-ip": "the host service must listen on {address} or on all interfaces (0.0.0.0),"
    " not on 127.0.0.1 only",
}


def resolve(facts: Facts, request: Request | None = None) -> Route:
    """Return the route by which containers of this engine reach the host."""
    request = (request or Request()).check()
    for issue in facts.issues:
        if issue.source == "endpoint":  # a malformed DOCKER_HOST or a missing context
            raise EndpointError(issue.detail)
    runtime = by_id(request.runtime) if request.runtime else identify(facts)
    remote = is_remote(facts)
    ctx = _Context(
        facts=facts, runtime=runtime, remote=remote, shares_network=shares_network(facts)
    )
    warnings: list[str] = []
    network_mode: str | None = None
    builtin = runtime.builtin_names(facts)
    hosts: dict[str, str] = {}

    if request.strategy == "host-network":
        strategy: Strategy = "host-network"
        network_mode = "host"
        hosts = dict.fromkeys(request.aliases, "127.0.0.1")
        warnings.append(
            "--network=host removes the container's network isolation: it shares every port and"
            " interface of the engine's host"
        )
    else:
        if request.strategy == "auto":
            if all(alias in builtin for alias in request.aliases):
                strategy = "native"
            else:
                strategy = _auto_strategy(ctx)
        else:
            strategy = request.strategy
            verdict = runtime.host_gateway(facts)
            if strategy == "host-gateway" and verdict.status == "rejected":
                raise NoRouteError(f"host-gateway cannot be used here: {verdict.why}")
            if strategy == "host-gateway" and verdict.status == "elsewhere":
                warnings.append(f"host-gateway will not reach this machine: {verdict.why}")
        value = "host-gateway" if strategy == "host-gateway" else None
        if strategy in ("gateway-ip", "lan-ip", "host-loopback"):
            try:
                value = _address(ctx, strategy)
            except NoRouteError as exc:
                if not builtin:
                    raise
                names = ", ".join(sorted(builtin))
                raise NoRouteError(
                    f"{exc}; or use the name {runtime.title} provides: {names}"
                ) from exc
            if strategy in _STRATEGY_WARNINGS:
                warnings.append(_STRATEGY_WARNINGS[strategy].format(address=value))
        for alias in request.aliases:
            native = request.strategy == "auto" and alias in builtin
            hosts[alias] = "native" if native or value is None else value

    extra_hosts = tuple(f"{a}:{v}" for a, v in hosts.items() if v != "native")
    flags = tuple(_add_host(*entry.split(":", 1)) for entry in extra_hosts)
    if network_mode is not None:
        flags = (f"--network={network_mode}", *flags)

    if extra_hosts and engine.containers_os(facts) == "windows":
        # https://github.com/moby/moby/issues/41165 (open): Windows ignores the hosts entries
        warnings.append(
            "the engine runs Windows containers, which ignore --add-host and extra_hosts"
            " (moby/moby#41165): inside the container use the address itself, not the name"
        )
    warnings += [note.message for note in runtime.notes(facts)]
    warnings += _vantage_warnings(facts, remote=remote, shares=ctx.shares_network)
    return Route(
        runtime=runtime.id,
        rootless=engine.rootless(facts),
        remote=remote,
        strategy=strategy,
        hosts=MappingProxyType(hosts),
        flag_words=flags,
        reason=_reason(runtime, strategy, facts, hosts, remote=remote),
        warnings=tuple(dict.fromkeys(warnings)),
        network_mode=network_mode,
        extra_hosts=extra_hosts,
    )


def _vantage_warnings(facts: Facts, *, remote: bool, shares: bool) -> list[str]:
    found = []
    if remote:
        found.append(
            f"the engine runs on another machine ({facts.client.endpoint}): this route reaches"
            " that machine, not this one. To reach a service here, give the engine's machine a"
            " route to it (an address of this machine it can reach, or an ssh -R tunnel)"
        )
    if facts.client.in_container and not remote and not shares:
        found.append(
            "hostreach runs inside a container: the route reaches the engine's host, not this"
            " container"
        )
    if facts.daemon is None:
        details = "; ".join(i.detail for i in facts.issues if i.source.startswith("engine"))
        found.append(
            "the container engine could not be asked"
            + (f" ({details})" if details else "")
            + ", so this answer is a guess"
        )
    return found


_REASONS: dict[str, str] = {
    "native": "{title} resolves {names} by itself",
    "host-gateway": "{title} maps host-gateway to {machine}",
    "gateway-ip": "{title} reaches {machine} at its default bridge gateway {address}",
    "lan-ip": "{title} cannot reach this machine through host-gateway{rootless}, so the names"
    " point at this machine's primary address {address}",
    "host-loopback": "{title} forwards {address} to {machine}'s loopback",
    "host-network": "the container shares the host's network, where 127.0.0.1 is the host",
}


def _reason(
    runtime: Runtime, strategy: Strategy, facts: Facts, hosts: Mapping[str, str], *, remote: bool
) -> str:
    text = _REASONS[strategy].format(
        title=runtime.title,
        machine="the engine's machine (not this one)" if remote else "this machine",
        names=", ".join(hosts),
        address=literal_address(hosts) or "",
        rootless=" (rootless engine)" if engine.rootless(facts) else "",
    )
    return text[0].upper() + text[1:] + "."


class HostAddress(NamedTuple):
    """Where this process, itself in a container, reaches the host."""

    address: str
    via: str


def host_address(facts: Facts, names: tuple[str, ...]) -> HostAddress:
    """Return the host's address as seen from here: a name the runtime provides, else the gateway."""
    if not facts.client.in_container:
        return HostAddress(address="127.0.0.1", via="not in a container: this is the host")
    for name in names:
        address = facts.client.resolved.get(name)
        if address:
            return HostAddress(address=address, via=name)
    gateway = facts.network.default_gateway
    if gateway is not None:
        return HostAddress(address=gateway.ip, via=f"default gateway ({gateway.interface})")
    raise NoRouteError(
        f"no route to the host from here: none of {', '.join(names)} resolves and there is no"
        " default route"
    )
