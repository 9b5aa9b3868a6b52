"""Fuzzing with a fixed example budget: replay and the parsers raise only hostreach's own errors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostreach.cli import main
from hostreach.errors import HostreachError
from hostreach.facts import from_json, loads
from hostreach.resolve import Request, resolve
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


@BUDGET
@given(st.text(max_size=300))
def test_any_alias_is_valid_or_refused(alias: str) -> None:
    safely(lambda: Request(aliases=(alias,)).check())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=5))
def test_any_argv_gives_an_exit_code(argv: list[str]) -> None:
    # The facts file does not exist, so nothing is ever probed: only usage, help or exit 2.
    assert main(["flags", *argv, "--facts", "/nonexistent/facts.json"]) in (0, 2)
    assert main(["address", *argv, "--facts", "/nonexistent/facts.json"]) in (0, 2)
