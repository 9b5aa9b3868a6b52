"""discovery: ``--strategy discover``, the route found by trying it (issue 24). Pure: the plan
of what one container tries, the script it runs, the reading of what it printed, and the
choice among what answered. :func:`hostreach.operations.discover` runs it.

Where the rules are unsure (a VM no row knows, a custom user-mode subnet, an unknown network
driver), a container tries every candidate at once against a listener on the caller that
answers a random token; the answer is the first that returned it, in :data:`PREFERENCE` order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import NamedTuple

from hostreach import vantage
from hostreach.checks import check_address
from hostreach.errors import EngineError, NoRouteError
from hostreach.facts import CANDIDATE_KINDS, Candidate, Facts, candidate_via
from hostreach.routes import HOST_GATEWAY, NATIVE

FIXED: Mapping[str, str] = {
    "192.168.5.2": "Lima's and Colima's user-mode network (lima-vm.io/docs/config/network/user)",
    "10.0.2.2": "QEMU's and slirp4netns' user-mode network (the host's loopback)",
    "192.168.127.254": "gvisor-tap-vsock's host address (podman machine)",
    "192.168.65.254": "Docker Desktop's host address (docker/docs networking)",
}
"""The user-mode networks' fixed addresses of the host, which forward to its loopback."""

EXTRA_NAMES = ("gateway.docker.internal",)
"""Names tried beside those the registry's runtimes provide (Docker Desktop's gateway name)."""

HOST_GATEWAY_NAME = "hostreach-host-gateway"
"""The name the container gets for ``host-gateway`` (``--add-host=NAME:host-gateway``)."""

PREFERENCE = ("name", "host-gateway", "fixed", "vm-gateway", "gateway", "caller")
"""The order in which what answered is chosen: a name the runtime resolves itself (nothing to
add), host-gateway (the engine's own, which follows its changes), a user-mode network's fixed
address (it reaches the host's loopback too), the engine machine's own default gateway (a
user-mode network on a subnet of its own), the container's default gateway, and last the
caller's own addresses (a service must listen on them)."""


class Plan(NamedTuple):
    """What one discovery container tries."""

    names: tuple[str, ...]
    fixed: tuple[str, ...]
    caller: tuple[str, ...]
    host_gateway: bool
    """Whether to try host-gateway: not where the engine rejects it (or writes it literally)."""


def plan(facts: Facts) -> Plan:
    """Every candidate for these facts: the registry's host names, host-gateway where the
    engine is known to take it (an engine that does not would refuse the container), the
    fixed user-mode addresses, and the caller's addresses (as the engine's machine sees this
    one, and this machine's own global IPv4 addresses)."""
    from hostreach import runtimes  # noqa: PLC0415 - the registry: only a discovery needs it

    verdict = runtimes.identify(facts).host_gateway(facts)
    own = [
        text
        for addresses in facts.network.interfaces.values()
        for text in addresses
        if vantage.global_ipv4(text)
    ]
    # The engine's view of this machine first, then its main address: among the caller's
    # addresses that answer, the first is chosen.
    main = vantage.lan_address(facts) or ""
    seen = dict.fromkeys([facts.client.caller_address or "", main, *own])
    caller = tuple(a for a in seen if a and a not in FIXED)
    return Plan(
        names=tuple(dict.fromkeys((*runtimes.host_names(), *EXTRA_NAMES))),
        fixed=tuple(FIXED),
        caller=caller,
        host_gateway=verdict.status in ("reaches-host", "elsewhere", "unreliable"),
    )


def environment(found: Plan, token: tuple[int, str], timeout: float) -> dict[str, str]:
    """What the script reads: never spliced into it, so no value can be a command."""
    import math  # noqa: PLC0415

    return {
        "HR_NAMES": " ".join(found.names),
        "HR_FIXED": " ".join(found.fixed),
        "HR_CALLER": " ".join(found.caller),
        "HR_HG": HOST_GATEWAY_NAME if found.host_gateway else "",
        "HR_TOKEN_PORT": str(token[0]),
        "HR_TOKEN": token[1],
        "HR_WAIT": str(math.ceil(timeout)),
    }


_TRY = r"""
command -v nc >/dev/null 2>&1 || { echo "hostreach-discover no-nc"; exit 3; }
t=; command -v timeout >/dev/null 2>&1 && t="timeout $((HR_WAIT + 1))"
try() {  # try KIND ADDRESS: does the caller's proof listener answer its token there?
  got=$($t nc -w "$HR_WAIT" "$2" "$HR_TOKEN_PORT" </dev/null 2>/dev/null)
  case "$got" in
    *"$HR_TOKEN"*) echo "hostreach-discover $1 $2 answered" ;;
    *) echo "hostreach-discover $1 $2 silent" ;;
  esac
}
gateway() {  # this network namespace's default gateway
  ip route 2>/dev/null | while read -r d v gw rest; do
    [ "$d" = default ] && [ "$v" = via ] && { echo "$gw"; break; }
  done
}
"""

SCRIPT = (
    _TRY
    + r"""
# Each name is looked up beside the others: DNS that does not answer costs one wait, not six.
for n in $HR_NAMES; do
  { a=$(lookup "$n"); [ -n "$a" ] && try "$n" "$a"; } &
done
if [ -n "$HR_HG" ]; then a=$(lookup "$HR_HG"); [ -n "$a" ] && try host-gateway "$a" & fi
g=$(gateway); [ -n "$g" ] && try gateway "$g" &
for a in $HR_FIXED; do try fixed "$a" & done
for a in $HR_CALLER; do try caller "$a" & done
wait
echo "hostreach-discover done"
"""
)
"""Run in a container on the default network, after :data:`hostreach.probe_script.LOOKUP`:
every candidate at once, one line each."""

HOST_SCRIPT = (
    _TRY
    + r"""
g=$(gateway); [ -n "$g" ] && try vm-gateway "$g"
echo "hostreach-discover done"
"""
)
"""Run beside :data:`SCRIPT` in a ``--network host`` container: the engine's machine's own
default gateway (a VM's user-mode network on a subnet no rule knows: passt, Lima's user-v2),
which a container reaches through that machine's NAT as well."""

_MAX_CANDIDATES = 64


def parse(logs: str, image: str, tried: Plan | None = None) -> tuple[Candidate, ...]:
    """The candidates a discovery container reported, in ``tried``'s order (its tries run at
    once, so they report in any order); EngineError where it could not try."""
    found: dict[tuple[str, str], Candidate] = {}
    done = False
    for line in logs.splitlines():
        if line.startswith("hostreach-discover no-nc"):
            raise EngineError(f"image {image!r} has no `nc`: pass --image with busybox or similar")
        words = line.split()
        if words == ["hostreach-discover", "done"]:
            done = True
        if len(words) != 4 or words[0] != "hostreach-discover":
            continue
        with contextlib.suppress(ValueError):
            candidate = Candidate(
                via=candidate_via(words[1]),
                address=check_address(words[2]),
                answered=words[3] == "answered",
            )
            key = (candidate.via, candidate.address)
            if key not in found or candidate.answered:  # reported twice: answered wins
                found[key] = candidate
    if not done:
        raise EngineError(
            f"the discovery container in image {image!r} did not finish its tries:"
            f" {logs.strip()[:200]!r}"
        )
    listed = list(found.values())[:_MAX_CANDIDATES]
    if tried is not None:
        kinds = ("host-gateway", "vm-gateway", "gateway")
        order = [*tried.names, *kinds, *tried.fixed, *tried.caller]

        def place(c: Candidate) -> int:
            key = c.via if c.via in (*tried.names, *kinds) else c.address
            return order.index(key) if key in order else len(order)

        listed.sort(key=place)
    return tuple(listed)


def kind(candidate: Candidate) -> str:
    """``name`` for a host name, else the candidate's own kind."""
    return candidate.via if candidate.via in CANDIDATE_KINDS else "name"


class Choice(NamedTuple):
    """What discovery chose: each alias's value, and the candidate that answered."""

    hosts: dict[str, str]
    chosen: Candidate

    @property
    def kind(self) -> str:
        """The chosen candidate's kind (``name`` for a host name)."""
        return kind(self.chosen)


def choose(candidates: tuple[Candidate, ...], aliases: tuple[str, ...]) -> Choice:
    """Each alias's value from what answered, in :data:`PREFERENCE` order; NoRouteError if
    nothing did. An alias the runtime resolves itself, and that answered, needs nothing."""
    answered = sorted(
        (c for c in candidates if c.answered), key=lambda c: PREFERENCE.index(kind(c))
    )
    if not answered:
        raise NoRouteError(
            "no candidate reached this machine's proof listener from a container ("
            + (", ".join(f"{c.via} {c.address}" for c in candidates) or "none resolved")
            + "): nothing on the engine's side leads here (a firewall, a NAT); carry the port"
            " from this side: python -m hostreach tunnel --port PORT"
        )
    best = next((c for c in answered if kind(c) != "name"), answered[0])
    value = HOST_GATEWAY if best.via == "host-gateway" else best.address
    native = {c.via for c in answered if kind(c) == "name"}
    hosts = {alias: NATIVE if alias in native else value for alias in aliases}
    chosen = next((c for c in answered if c.via in aliases), best)
    return Choice(hosts=hosts, chosen=chosen)
