"""nftables: what the input hook chains do with a new TCP connection from a container.

Pure: it reads ``nft list ruleset`` text (recorded by the firewall probe). firewalld and other
native nftables setups write chains that ``iptables-save`` never shows. Every base chain hooked at
input must let a packet through, so the first drop or reject in any of them decides; an accept
only ends its own chain. Tables that iptables-nft manages (``ip filter``, ``ip6 filter``) are
skipped when the iptables reader saw them. A match it cannot judge makes the answer uncertain.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from hostreach.iptables import Packet, Verdict

_TOKEN = re.compile(r'\{[^}]*\}|"[^"]*"|\S+')
_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50}
_MAX_DEPTH = 32
_TERMINAL = {"accept", "drop", "reject"}
_SKIP_WORDS = {"log", "comment", "notrack"}
_IPTABLES_TABLES = {("ip", "filter"), ("ip6", "filter")}


class Chain(NamedTuple):
    """One chain: its table, whether and where it hooks input, and its rule lines."""

    family: str
    table: str
    name: str
    hook: str | None
    priority: int
    policy: str
    rules: tuple[str, ...]


def parse(text: str) -> list[Chain]:
    """Return every chain of ``nft list ruleset`` output."""
    chains: list[Chain] = []
    family = table = name = hook = None
    priority, policy = 0, "accept"
    rules: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if words[:1] == ["table"] and len(words) >= 3:
            family, table = words[1], words[2]
        elif words[:1] == ["chain"] and len(words) >= 2 and family is not None:
            name, hook, priority, policy, rules = words[1], None, 0, "accept", []
        elif name is not None and line.startswith("type ") and " hook " in line:
            hook = line.split(" hook ", 1)[1].split()[0]
            priority = _priority(line)
            found = re.search(r"policy (\w+);", line)
            policy = found.group(1) if found else "accept"
        elif line == "}" and name is not None:
            chains.append(
                Chain(str(family), str(table), name, hook, priority, policy, tuple(rules))
            )
            name = None
        elif line == "}":
            family = table = None
        elif name is not None and line and not line.startswith("#"):
            rules.append(line)
    return chains


def _priority(line: str) -> int:
    found = re.search(r"priority ([\w-]+)(?: ([+-]) (\d+))?;", line)
    if not found:
        return 0
    base, sign, offset = found.groups()
    value = _PRIORITIES.get(base, 0) if not base.lstrip("-").isdigit() else int(base)
    return value + (int(offset) * (1 if sign == "+" else -1) if offset else 0)


def _values(token: str) -> list[str]:
    return [v.strip().strip('"') for v in token.strip("{}").split(",") if v.strip()]


def _name_matches(token: str, name: str) -> bool:
    return any(name.startswith(v[:-1]) if v.endswith("*") else name == v for v in _values(token))


def _port_matches(token: str, port: int) -> bool | None:
    for value in _values(token):
        low, _, high = value.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None  # a named service or a variable: not judged
        if int(low) <= port <= int(high or low):
            return True
    return False


def _address_matches(token: str, address: str | None) -> bool | None:
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(v, strict=False) for v in _values(token))
    except ValueError:
        return None


def _match(words: list[str], packet: Packet) -> tuple[bool | None, str | None, str | None]:
    """Return (matches, verdict word, its argument) for one rule."""
    result: bool | None = True
    i = 0
    while i < len(words):
        word = words[i]
        if word in _TERMINAL or word in ("jump", "goto", "return", "continue"):
            target = words[i + 1] if word in ("jump", "goto") and i + 1 < len(words) else None
            return result, word, target
        negate = i + 2 < len(words) and words[i + 1] == "!="
        value = words[i + 2] if negate else (words[i + 1] if i + 1 < len(words) else "")
        step = 3 if negate else 2
        one: bool | None
        if word in ("iifname", "iif"):
            one = _name_matches(value, packet.interface)
        elif word in ("tcp", "th") and i + 1 < len(words) and words[i + 1] == "dport":
            negate = i + 3 < len(words) and words[i + 2] == "!="
            value = words[i + 3] if negate else (words[i + 2] if i + 2 < len(words) else "")
            one, step = _port_matches(value, packet.port), (4 if negate else 3)
        elif word in ("udp", "sctp"):
            one, step = False, 3
        elif word == "meta" and i + 1 < len(words) and words[i + 1] == "l4proto":
            one, step = "tcp" in _values(words[i + 2] if i + 2 < len(words) else ""), 3
        elif word == "ct" and i + 1 < len(words) and words[i + 1] in ("state", "status"):
            # A new connection to the host is in state "new", and not DNATed by the host.
            one, step = words[i + 1] == "state" and "new" in _values(words[i + 2]), 3
        elif word == "fib" and words[i + 1 : i + 4] == ["daddr", "type", "local"]:
            one, step = True, 4
        elif word in ("ip", "ip6") and i + 1 < len(words) and words[i + 1] == "daddr":
            one, step = _address_matches(words[i + 2], packet.destination), 3
        elif word == "counter":  # listed with its numbers: "counter packets 82 bytes 5442"
            one, step = True, (5 if words[i + 1 : i + 2] == ["packets"] else 1)
        elif word in _SKIP_WORDS:
            one, step = True, (2 if word in ("comment", "log") and value.startswith('"') else 1)
        else:
            one, step = None, 1
        if negate and one is not None:
            one = not one
        if one is False:
            return False, None, None
        if one is None:
            result = None
        i += step
    return result, None, None


def _walk(
    chains: dict[str, Chain], chain: Chain, packet: Packet, uncertain: list[str], depth: int
) -> Verdict:
    if depth > _MAX_DEPTH:
        return Verdict("unknown")
    for line in chain.rules:
        matched, verdict, target = _match(_TOKEN.findall(line), packet)
        if matched is False or verdict is None:
            continue
        if matched is None:
            if verdict in ("drop", "reject", "accept") or target:
                uncertain.append(line)
            continue
        if verdict in _TERMINAL:
            return Verdict(verdict, line)  # type: ignore[arg-type]
        if verdict == "return":
            return Verdict("unknown")
        if target in chains:
            answer = _walk(chains, chains[target], packet, uncertain, depth + 1)
            if answer.rule is not None or verdict == "goto":
                return answer
    return Verdict("unknown")


def decide(text: str, packet: Packet, *, skip_iptables_tables: bool = True) -> Verdict:
    """Return what the input hook chains do with a new TCP connection from a container."""
    every = parse(text)
    uncertain: list[str] = []
    for base in sorted((c for c in every if c.hook == "input"), key=lambda c: c.priority):
        if skip_iptables_tables and (base.family, base.table) in _IPTABLES_TABLES:
            continue
        same_table = {c.name: c for c in every if (c.family, c.table) == (base.family, base.table)}
        where = f"{base.family} {base.table} {base.name}"
        answer = _walk(same_table, base, packet, uncertain, 0)
        if answer.rule is None:  # fell off the end: the chain's policy
            action = base.policy if base.policy in _TERMINAL else "unknown"
            answer = Verdict(action, f"policy {base.policy}")  # type: ignore[arg-type]
        if answer.action in ("drop", "reject"):
            return Verdict(answer.action, f"{where}: {answer.rule}", tuple(uncertain))
    return Verdict("accept", None, tuple(uncertain))
