"""iptables: what the host's INPUT chain does with a new TCP connection from a container.

Pure: it reads ``iptables-save -t filter`` text (recorded in the facts by the firewall probe)
and walks INPUT the way the kernel would for one packet, following jumps into user chains
(ufw's ``ufw-before-input``, firewalld's ``INPUT_direct`` ...). A rule with a match it cannot
judge (``-m limit``, ``-m set`` ...) is skipped and makes the answer uncertain, never wrong.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable
from typing import Literal, NamedTuple

Action = Literal["accept", "drop", "reject", "unknown"]

_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject"}
_BUILTIN = ("INPUT", "FORWARD", "OUTPUT")


class Packet(NamedTuple):
    """A new TCP connection arriving at this machine."""

    interface: str
    port: int
    destination: str | None = None


class Verdict(NamedTuple):
    """The INPUT chain's answer for one packet, and the rule that gave it."""

    action: Action
    rule: str | None = None
    """The deciding rule as iptables-save prints it, or ``:INPUT DROP`` for the policy."""
    uncertain: tuple[str, ...] = ()
    """Rules before the answer whose matches could not be judged."""


class Table(NamedTuple):
    """The filter table: each chain's policy and rules."""

    policies: dict[str, str]
    rules: dict[str, list[tuple[str, list[str]]]]


def parse(text: str) -> Table:
    """Return the filter table from ``iptables-save`` output (other tables are ignored)."""
    policies: dict[str, str] = {}
    rules: dict[str, list[tuple[str, list[str]]]] = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif table != "filter" or not line or line.startswith("#"):
            continue
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policies[name] = rest.split(" ", 1)[0]
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            try:
                words = shlex.split(line)
            except ValueError:
                continue
            if len(words) > 1:
                rules.setdefault(words[1], []).append((line, words[2:]))
    return Table(policies=policies, rules=rules)


def _interface_matches(pattern: str, name: str) -> bool:
    # iptables: a trailing "+" matches any interface name with that prefix (e.g. br+).
    return name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern


def _ports(spec: str) -> list[tuple[int, int]]:
    found = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        found.append((int(low or 0), int(high or 65535) if _ else int(low)))
    return found


def _address_matches(spec: str, address: str | None) -> bool | None:
    if address is None:
        return None
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return None


_IGNORED_MODULES = {"tcp", "comment", "multiport", "conntrack", "state", "addrtype"}


def _dport(value: str, packet: Packet) -> bool | None:
    try:
        return any(low <= packet.port <= high for low, high in _ports(value))
    except ValueError:
        return None


# option -> (does its value match the packet (None: cannot judge), how many words it takes)
_OPTIONS: dict[str, tuple[Callable[[str, Packet], bool | None], int]] = {
    "--comment": (lambda _v, _p: True, 2),
    "-m": (lambda v, _p: True if v in _IGNORED_MODULES else None, 2),
    "-i": (lambda v, p: _interface_matches(v, p.interface), 2),
    "-p": (lambda v, _p: v.lower() in ("tcp", "6", "all", "0"), 2),
    "--dport": (_dport, 2),
    "--ctstate": (lambda v, _p: "NEW" in v.split(","), 2),
    "--dst-type": (lambda v, _p: v == "LOCAL", 2),
    "-d": (lambda v, p: _address_matches(v, p.destination), 2),
    "--syn": (lambda _v, _p: True, 1),
    "--tcp-flags": (lambda _v, _p: True, 3),
}
_ALIASES = {
    "--in-interface": "-i",
    "--protocol": "-p",
    "--destination-port": "--dport",
    "--dports": "--dport",
    "--destination-ports": "--dport",
    "--state": "--ctstate",
    "--destination": "-d",
}
# Anything else (-s: the container's address varies; --sport, -m limit, -m set ...) is not judged.
_UNJUDGED: tuple[Callable[[str, Packet], bool | None], int] = (lambda _v, _p: None, 2)


def _matches(words: list[str], packet: Packet) -> bool | None:
    """Whether a rule's matches hold for the packet; None where one cannot be judged."""
    result: bool | None = True
    negate = False
    i = 0
    while i < len(words):
        word = words[i]
        if word == "!":
            negate, i = True, i + 1
            continue
        if word in ("-j", "-g"):
            break  # what follows is the target and its options (--reject-with ...)
        match, step = _OPTIONS.get(_ALIASES.get(word, word), _UNJUDGED)
        one = match(words[i + 1] if i + 1 < len(words) else "", packet)
        if negate and one is not None:
            one = not one
        negate = False
        if one is False:
            return False
        if one is None:
            result = None
        i += step
    return result


def _target(words: list[str]) -> tuple[str | None, bool]:
    for flag in ("-j", "-g"):
        if flag in words:
            index = words.index(flag)
            if index + 1 < len(words):
                return words[index + 1], flag == "-g"
    return None, False


def _walk(
    table: Table, chain: str, packet: Packet, uncertain: list[str], memo: dict[str, Verdict]
) -> Verdict:
    # One packet gets one answer from a chain: each chain is walked once, however many rules
    # jump to it (without this, chains that jump twice to the next cost 2**depth walks), and a
    # chain that jumps back into itself, still being walked, answers "unknown".
    if chain in memo:
        return memo[chain]
    memo[chain] = Verdict("unknown")
    memo[chain] = answer = _walk_rules(table, chain, packet, uncertain, memo)
    return answer


def _walk_rules(
    table: Table, chain: str, packet: Packet, uncertain: list[str], memo: dict[str, Verdict]
) -> Verdict:
    for line, words in table.rules.get(chain, []):
        matched = _matches(words, packet)
        if matched is False:
            continue
        target, goto = _target(words)
        if matched is None:
            if target in _TERMINAL or (target and target in table.rules):
                uncertain.append(line)
            continue
        if target in _TERMINAL:
            return Verdict(_TERMINAL[target], line)  # type: ignore[arg-type]
        if target == "RETURN":
            return Verdict("unknown")
        if target and target in table.rules and target not in _BUILTIN:
            answer = _walk(table, target, packet, uncertain, memo)
            if answer.rule is not None or goto:
                return answer
    return Verdict("unknown")


def decide(table: Table, packet: Packet) -> Verdict:
    """Return what INPUT does with a new TCP connection: the first deciding rule, or the policy."""
    uncertain: list[str] = []
    answer = _walk(table, "INPUT", packet, uncertain, {})
    if answer.rule is None:
        policy = table.policies.get("INPUT", "ACCEPT")
        answer = Verdict(_TERMINAL.get(policy, "unknown"), f":INPUT {policy}")  # type: ignore[arg-type]
    return answer._replace(uncertain=tuple(uncertain))
