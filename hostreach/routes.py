"""The records a route is made of (Request, Route, Note) and the checks on what goes into them.

Every name and address that reaches a flag passes a check here first: that is what keeps each
printed flag a single, inert shell word (``docker run $(hostreach flags)`` executes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

from hostreach.checks import check_address, check_alias, check_name, port_number
from hostreach.engine.address import parse_or_none
from hostreach.errors import UsageError

DEFAULT_ALIAS = "host.docker.internal"
STRATEGIES = ("auto", "host-gateway", "gateway-ip", "lan-ip", "host-network", "discover")
"""The strategies a caller may ask for; ``native``, ``host-loopback``, ``caller-ip`` and
``tunnel`` (while ``hostreach tunnel`` runs) are chosen by auto. ``discover`` finds the route
by trying every candidate from one container (issue 24)."""

StrategyChoice = Literal["auto", "host-gateway", "gateway-ip", "lan-ip", "host-network", "discover"]
Strategy = Literal[
    "native",
    "host-gateway",
    "gateway-ip",
    "lan-ip",
    "host-loopback",
    "host-network",
    "caller-ip",
    "windows-ip",
    "tunnel",
    "override",
    "discover",
]
Target = Literal["caller", "engine-host", "windows"]
Purpose = Literal["run", "build", "service", "stack", "pod"]
PURPOSES: tuple[Purpose, ...] = ("run", "build", "service", "stack", "pod")
"""What the flags are for: ``docker run`` (and create, compose, the SDK), ``docker build``, a
Swarm service (``docker service create``), a stack (``docker stack deploy``) or a Kubernetes
pod of the kubeconfig's current cluster (``--format k8s``)."""
SWARM_PURPOSES: tuple[Purpose, ...] = ("service", "stack")
"""The purposes whose containers are a swarm's tasks, on any of its nodes (issue 25)."""
TARGETS: tuple[Target, ...] = ("caller", "engine-host", "windows")
TOPOLOGIES = ("local", "remote", "nested")
"""Whom the route reaches: the process that asks (default), the engine's machine, or (in WSL 2)
the Windows host."""


class Request(NamedTuple):
    """What the caller asks for: names to make resolvable, how, and optionally for which runtime."""

    aliases: tuple[str, ...] = (DEFAULT_ALIAS,)
    strategy: StrategyChoice = "auto"
    runtime: str | None = None
    target: Target = "caller"
    purpose: Purpose = "run"
    ports: tuple[int, ...] = ()
    """The ports containers will connect to: a running tunnel's route is given only for the
    ports it carries (issue 26), and a request that names none gets the direct route."""
    own_network: bool = False
    """The containers join a network of their own (compose's project network), not the
    engine's default one: a route only the default network reaches is not given (issue 27)."""

    def check(self) -> Request:
        """Return the request if its aliases and strategy are valid, else raise UsageError.

        (An unknown ``runtime`` is refused where the registry is: resolve.)
        """
        if not self.aliases:
            raise UsageError("at least one alias is needed")
        for alias in self.aliases:
            check_alias(alias)
        if self.strategy not in STRATEGIES:
            raise UsageError(
                f"unknown strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}"
            )
        if self.purpose not in PURPOSES:
            raise UsageError(f"unknown purpose {self.purpose!r}; choose from {', '.join(PURPOSES)}")
        if self.target not in TARGETS:
            raise UsageError(f"unknown target {self.target!r}; choose from {', '.join(TARGETS)}")
        self._check_purpose()
        try:
            ports = tuple(dict.fromkeys(map(port_number, self.ports)))
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from exc
        return self._replace(ports=ports)

    def _check_purpose(self) -> None:
        """Refuse what a swarm's or a cluster's route cannot take, before anything is probed."""
        if self.purpose == "pod" and (self.strategy != "auto" or self.target != "caller"):
            raise UsageError(
                "--format k8s chooses its own route: leave out --strategy and --target"
            )
        if self.purpose in SWARM_PURPOSES:
            if self.target != "caller":
                raise UsageError(
                    "--for service and --for stack reach the caller: leave out --target"
                )
            if self.strategy not in ("auto", "host-gateway"):
                raise UsageError(
                    "--for service and --for stack choose the caller's address toward every"
                    " node: leave out --strategy (or --strategy host-gateway for each node's"
                    " own machine)"
                )


class Note(NamedTuple):
    """Something the user should know about a route: ``id`` is the doctor's finding id.

    resolve attaches notes to the Route; its warnings and the doctor's findings are both read
    from them, so each fact is worded in one place.
    """

    id: str
    message: str
    fix: str = ""


HOST_GATEWAY = "host-gateway"
NATIVE = "native"
OVERRIDE = Note(
    "override",
    "HOSTREACH_HOST_ADDRESS is set, so this address is yours, not detected",
    "unset HOSTREACH_HOST_ADDRESS to let hostreach choose",
)


def literal_address(hosts: Mapping[str, str]) -> str | None:
    """Return the first literal address among alias values (not ``native``/``host-gateway``)."""
    return next((v for v in hosts.values() if v not in (NATIVE, HOST_GATEWAY)), None)


class Route(NamedTuple):
    """How a container reaches the host: the flags to pass, and why."""

    runtime: str
    rootless: bool
    remote: bool
    strategy: Strategy
    hosts: Mapping[str, str]
    """alias -> an IP address, ``"host-gateway"``, or ``"native"`` (the runtime resolves it)."""
    reason: str
    notes: tuple[Note, ...] = ()
    network_mode: str | None = None
    target: Target = "caller"
    topology: str = "local"
    """Where the caller stands: local, remote (the engine on another machine) or nested."""
    engine: str | None = None
    """The engine this route is for, as its endpoint is written (``unix:///var/run/...``)."""
    purpose: Purpose = "run"
    """What the flags are for: ``service`` prints ``docker service create``'s ``--host``."""

    @property
    def address(self) -> str | None:
        """The literal address the names point at, or None (``native``, ``host-gateway``)."""
        return literal_address(self.hosts)

    @property
    def extra_hosts(self) -> tuple[str, ...]:
        """``NAME:VALUE`` entries, the form the Engine API and compose ``extra_hosts`` take."""
        return tuple(f"{a}:{v}" for a, v in self.hosts.items() if v != NATIVE)

    @property
    def flags(self) -> list[str]:
        """The ``docker run`` flags, one word each: a new list, yours to extend."""
        # No brackets around IPv6 addresses: bash would glob "[::1]" against file names.
        network = [f"--network={self.network_mode}"] if self.network_mode else []
        option = "--host" if self.purpose == "service" else "--add-host"
        return network + [f"{option}={entry}" for entry in self.extra_hosts]

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes' messages, for stderr."""
        return tuple(note.message for note in self.notes)

    def docker_run_kwargs(self) -> dict[str, Any]:
        """Return keyword arguments for the docker SDK's ``containers.run`` / ``create``."""
        kwargs: dict[str, Any] = {}
        if self.extra_hosts:
            kwargs["extra_hosts"] = {a: v for a, v in self.hosts.items() if v != NATIVE}
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

    def host_aliases(self) -> list[dict[str, Any]]:
        """A pod spec's ``hostAliases``: one entry per address, its names in order (a name the
        cluster resolves itself needs none)."""
        found: dict[str, list[str]] = {}
        for alias, value in self.hosts.items():
            if value not in (NATIVE, HOST_GATEWAY):
                found.setdefault(value, []).append(alias)
        return [{"ip": ip, "hostnames": names} for ip, names in found.items()]

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
            "notes": [note._asdict() for note in self.notes],
            "network_mode": self.network_mode,
            "extra_hosts": list(self.extra_hosts),
            "target": self.target,
            "topology": self.topology,
            "engine": self.engine,
            "purpose": self.purpose,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        """Return the route that :meth:`to_json` wrote; ValueError (or KeyError) if it is not one."""
        try:
            hosts = {check_alias(a): check_value(v) for a, v in data["hosts"].items()}
        except UsageError as exc:
            raise ValueError(str(exc)) from exc
        mode = data["network_mode"]
        if mode is not None:
            try:
                check_name(mode, "network")
            except UsageError as exc:
                raise ValueError(str(exc)) from exc
        if data["strategy"] not in get_args(Strategy):
            raise ValueError("not a stored route")
        if mode in ("host", "none") and data["strategy"] != "host-network":
            # resolve gives --network=host only when it is asked for (a planted answer would
            # take the container's isolation away: issue 22)
            raise ValueError("not a stored route: a network mode its strategy never gives")
        # A stored answer whose target or topology this version does not know is not replayed
        # (it used to come back as "caller": issue 21).
        if data.get("target") not in TARGETS or data.get("topology") not in TOPOLOGIES:
            raise ValueError("not a stored route of this version")
        return cls(
            runtime=str(data["runtime"]),
            rootless=data["rootless"] is True,
            remote=data["remote"] is True,
            strategy=data["strategy"],
            hosts=MappingProxyType(hosts),
            reason=str(data["reason"]),
            notes=tuple(
                Note(str(n["id"]), str(n["message"]), str(n["fix"])) for n in data["notes"]
            ),
            network_mode=mode,
            target=data["target"],
            topology=data["topology"],
            engine=_engine_text(data.get("engine")),
            purpose=_purpose(data.get("purpose", "run")),
        )


def _purpose(value: object) -> Purpose:
    """A stored route's purpose; ValueError for one this version does not know."""
    for purpose in PURPOSES:
        if value == purpose:
            return purpose
    raise ValueError("not a stored route: an unknown purpose")


def _engine_text(value: object) -> str | None:
    """A stored route's engine: an engine address or none; ValueError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str) or parse_or_none(value) is None or not value.isprintable():
        raise ValueError("not a stored route: its engine is no engine address")
    return value


def check_value(value: object) -> str:
    """Return an alias's value if it is ``native``, ``host-gateway`` or an IP address.

    Raise ValueError otherwise: addresses come from the engine, the interfaces or a snapshot,
    and none of them is trusted to hold one.
    """
    if value in (NATIVE, HOST_GATEWAY):
        return str(value)
    return check_address(value)
