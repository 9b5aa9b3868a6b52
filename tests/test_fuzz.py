"""Fuzzing with a fixed example budget: replay and the parsers raise only hostreach's own errors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostreach import iptables
from hostreach.cli import main
from hostreach.diagnose import diagnose
from hostreach.errors import HostreachError
from hostreach.facts import from_json, loads
from hostreach.publish import published_endpoint
from hostreach.resolve import resolve
from hostreach.routes import Request, Route
from hostreach.runtimes import RUNTIME_IDS

BUDGET = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Facts-shaped documents with arbitrary values where the schema expects something definite.
keys = st.sampled_from(
    [
        "schema",
        "client",
        "daemon",
        "network",
        "issues",
        "info",
        "version",
        "os",
        "wsl",
        "endpoint",
        "interfaces",
        "default_gateway",
        "ip",
        "interface",
        "bridge_gateway",
        "bridge_interface",
        "OperatingSystem",
        "Name",
        "KernelVersion",
        "ServerVersion",
        "SecurityOptions",
        "Components",
        "Platform",
        "ApiVersion",
        "OSType",
        "Labels",
        "context",
        "in_container",
        "resolved",
        "listening",
        "ports",
        "sockets",
        "port",
        "address",
        "pid",
        "firewall",
        "iptables",
        "NetworkSettings",
        "Ports",
        "Networks",
        "IPAddress",
        "IPPrefixLen",
        "HostIp",
        "HostPort",
        "8000/tcp",
    ]
)
facts_shaped = st.recursive(
    json_values,
    lambda children: st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)


def safely(call: Any) -> None:
    with contextlib.suppress(HostreachError):
        call()


@BUDGET
@given(
    facts_shaped,
    st.sampled_from([None, *RUNTIME_IDS]),
    st.sampled_from(["auto", "host-gateway", "gateway-ip", "lan-ip", "host-network"]),
)
def test_any_json_replays_or_fails_cleanly(
    data: object, runtime: str | None, strategy: Any
) -> None:
    def run() -> None:
        facts = from_json(data)
        resolve(
            facts,
            Request(aliases=("host.docker.internal", "local"), strategy=strategy, runtime=runtime),
        )

    safely(run)
    safely(lambda: loads(json.dumps(data)))

    def doctor() -> None:
        facts = from_json(data)
        try:
            route: Route | HostreachError = resolve(facts, Request(runtime=runtime))
        except HostreachError as exc:
            route = exc
        diagnose(facts, route, (5432, 8000))

    safely(doctor)


@BUDGET
@given(
    facts_shaped,
    st.sampled_from([None, "", "172.18.0.3", "fe80::1", "not an ip", "300.1.1.1"]),
    st.sampled_from([None, 16, 64, -1, 999]),
    st.sampled_from(["8000", "8000/tcp", "80/udp", "x"]),
    st.booleans(),
)
def test_any_container_json_gives_an_endpoint_or_our_error(
    data: object, ip: str | None, prefix: int | None, port: str, in_container: bool
) -> None:
    container = {
        "Name": "/web",
        "NetworkSettings": {
            "Networks": {"net": {"IPAddress": ip, "IPPrefixLen": prefix}},
            "Ports": {"8000/tcp": [{"HostIp": ip, "HostPort": "49153"}]},
        },
    }

    def run() -> None:
        facts = from_json(data)
        facts = facts._replace(client=facts.client._replace(in_container=in_container))
        published_endpoint(facts, container, port)

    safely(run)


@BUDGET
@given(st.lists(st.text(max_size=40), max_size=12), st.integers(1, 65535))
def test_any_iptables_text_gives_a_verdict(lines: list[str], port: int) -> None:
    text = "\n".join(["*filter", ":INPUT DROP [0:0]", *(f"-A INPUT {line}" for line in lines)])
    verdict = iptables.decide(iptables.parse(text), iptables.Packet("docker0", port, "172.17.0.1"))
    assert verdict.action in ("accept", "drop", "reject", "unknown")


@BUDGET
@given(st.from_regex(r"[A-Za-z0-9.-]{1,80}", fullmatch=True) | st.text(max_size=300))
def test_any_alias_is_valid_or_refused(alias: str) -> None:
    try:
        checked = Request(aliases=(alias,)).check()
    except HostreachError:
        return
    # Accepted: one inert word, as it reaches `--add-host=ALIAS:ADDRESS` (issue 21).
    (accepted,) = checked.aliases
    assert accepted == alias
    assert accepted
    assert accepted.isascii()
    assert accepted.isprintable()
    assert not accepted.startswith("-")
    assert not set(accepted) & set(" \t\n:=$`;|&<>()[]*?!'\"\\")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=5))
def test_any_argv_gives_an_exit_code(argv: list[str]) -> None:
    # The facts file does not exist, so nothing is ever probed: only usage, help or exit 2.
    assert main(["flags", *argv, "--facts", "/nonexistent/facts.json"]) in (0, 2)
    assert main(["address", *argv, "--facts", "/nonexistent/facts.json"]) in (0, 2)
    for command in ("doctor", "relay", "endpoint", "compose-override"):
        assert main([command, *argv, "--facts", "/nonexistent/facts.json"]) in (0, 2)
