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
from collections.abc import Callable
from typing import NamedTuple

from hostreach.iptables import Packet, Verdict

# An unclosed brace or quote takes the rest of the line: each one scanning to the end and then
# backing off would make a long line cost its length squared.
_TOKEN = re.compile(r'\{[^}]*\}?|"[^"]*"?|\S+')
_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50}
_TERMINAL = {"accept", "drop", "reject"}
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
    other = 0  # depth inside a table's set, map, flowtable ...: none of it is a chain's
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if other:
            # Found by issue 23's replay of Docker's nftables tables: a map's closing brace had
            # closed its table, so every chain after a set or map was lost (a drop policy too).
            other = max(0, other + line.count("{") - line.count("}"))
        elif words[:1] == ["table"] and len(words) >= 3:
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
        elif family is not None and line.endswith("{"):
            other = line.count("{") - line.count("}")
    return chains


def _priority(line: str) -> int:
    found = re.search(r"priority ([\w-]+)(?: ([+-]) (\d+))?;", line)
    if not found:
        return 0
    base, sign, offset = found.groups()
    number = base.lstrip("-")
    value = int(base) if number.isascii() and number.isdecimal() else _PRIORITIES.get(base, 0)
    return value + (int(offset) * (1 if sign == "+" else -1) if offset else 0)


def _values(token: str) -> list[str]:
    return [v.strip().strip('"') for v in token.strip("{}").split(",") if v.strip()]


def _name_matches(token: str, name: str) -> bool:
    return any(name.startswith(v[:-1]) if v.endswith("*") else name == v for v in _values(token))


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdecimal()  # isdigit() also passes "²", which int() refuses


def _port_matches(token: str, port: int) -> bool | None:
    for value in _values(token):
        low, _, high = value.partition("-")
        if not _decimal(low) or (high and not _decimal(high)):
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


def _at(words: list[str], i: int) -> str:
    return words[i] if i < len(words) else ""


def _operand(words: list[str], i: int) -> tuple[bool, str, int]:
    """Return (negated, value, words taken) of the operand at ``i``: ``VALUE`` or ``!= VALUE``."""
    if _at(words, i) == "!=":
        return True, _at(words, i + 1), 2
    return False, _at(words, i), 1


# Each reads one match at words[i]: (does it hold (None: cannot judge), how many words it takes).
_Reader = Callable[[list[str], int, Packet], tuple[bool | None, int]]


def _selector(keyword: str | None, test: Callable[[str, Packet], bool | None]) -> _Reader:
    """A reader of ``WORD [KEYWORD] [!=] VALUE``: not judged when KEYWORD is not there."""

    def read(words: list[str], i: int, packet: Packet) -> tuple[bool | None, int]:
        start = i + 1
        if keyword is not None:
            if _at(words, start) != keyword:
                return None, 1
            start += 1
        negated, value, taken = _operand(words, start)
        one = test(value, packet)
        return (not one if negated and one is not None else one), start + taken - i

    return read


# A new connection to the host is in state "new", and not DNATed by the host.
_CT_STATE = _selector("state", lambda v, _p: "new" in _values(v))
_CT_STATUS = _selector("status", lambda _v, _p: False)


def _fib(words: list[str], i: int, packet: Packet) -> tuple[bool | None, int]:
    if words[i + 1 : i + 4] == ["daddr", "type", "local"]:
        return True, 4
    return None, 1


def _quoted(words: list[str], i: int, packet: Packet) -> tuple[bool | None, int]:
    return True, 2 if _at(words, i + 1).startswith('"') else 1


_READERS: dict[str, _Reader] = {
    "iifname": _selector(None, lambda v, p: _name_matches(v, p.interface)),
    "iif": _selector(None, lambda v, p: _name_matches(v, p.interface)),
    "tcp": _selector("dport", lambda v, p: _port_matches(v, p.port)),
    "th": _selector("dport", lambda v, p: _port_matches(v, p.port)),
    "udp": lambda _w, _i, _p: (False, 3),
    "sctp": lambda _w, _i, _p: (False, 3),
    "meta": _selector("l4proto", lambda v, _p: "tcp" in _values(v)),
    "ct": lambda w, i, p: (_CT_STATE if _at(w, i + 1) == "state" else _CT_STATUS)(w, i, p),
    "fib": _fib,
    "ip": _selector("daddr", lambda v, p: _address_matches(v, p.destination)),
    "ip6": _selector("daddr", lambda v, p: _address_matches(v, p.destination)),
    # listed with its numbers: "counter packets 82 bytes 5442"
    "counter": lambda w, i, _p: (True, 5 if _at(w, i + 1) == "packets" else 1),
    "log": _quoted,
    "comment": _quoted,
    "notrack": lambda _w, _i, _p: (True, 1),
}


def _match(words: list[str], packet: Packet) -> tuple[bool | None, str | None, str | None]:
    """Return (matches, verdict word, its argument) for one rule."""
    result: bool | None = True
    i = 0
    while i < len(words):
        word = words[i]
        if word in _TERMINAL or word in ("jump", "goto", "return", "continue"):
            target = _at(words, i + 1) if word in ("jump", "goto") else None
            return result, word, target or None
        reader = _READERS.get(word)
        one, step = reader(words, i, packet) if reader is not None else (None, 1)
        if one is False:
            return False, None, None
        if one is None:
            result = None
        i += step
    return result, None, None


def _walk(
    chains: dict[str, Chain],
    chain: Chain,
    packet: Packet,
    uncertain: list[str],
    memo: dict[str, Verdict],
) -> Verdict:
    # Each chain is walked once per packet (see iptables._walk); a cycle answers "unknown".
    if chain.name in memo:
        return memo[chain.name]
    memo[chain.name] = Verdict("unknown")
    memo[chain.name] = answer = _walk_rules(chains, chain, packet, uncertain, memo)
    return answer


def _walk_rules(
    chains: dict[str, Chain],
    chain: Chain,
    packet: Packet,
    uncertain: list[str],
    memo: dict[str, Verdict],
) -> Verdict:
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
            answer = _walk(chains, chains[target], packet, uncertain, memo)
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
        answer = _walk(same_table, base, packet, uncertain, {})
        if answer.rule is None:  # fell off the end: the chain's policy
            action = base.policy if base.policy in _TERMINAL else "unknown"
            answer = Verdict(action, f"policy {base.policy}")  # type: ignore[arg-type]
        if answer.action in ("drop", "reject"):
            return Verdict(answer.action, f"{where}: {answer.rule}", tuple(uncertain))
    return Verdict("accept", None, tuple(uncertain))
