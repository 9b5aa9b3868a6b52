"""Hostile class 3: no parser crashes, and none costs more than linear time on what it reads."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOTFUL, FakeEngine, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostreach import iptables, nftables
from hostreach.engine.endpoint import find_endpoint
from hostreach.errors import EndpointError
from hostreach.facts import load
from hostreach.probe import collect

BUDGET = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PACKET = iptables.Packet("docker0", 5432, "172.17.0.1")


def test_malformed_json_is_one_clean_line(tmp_path: Path) -> None:
    for text in ('{"daemon": {"info": {"a": ', "\x00", '{"a": 1}{', "[" * 100_000, "nul"):
        path = tmp_path / "facts.json"
        path.write_text(text, encoding="utf-8")
        done = cli("flags", "--facts", path)
        assert done.returncode == 2, text[:20]
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1


def test_deep_json_from_an_engine_is_a_bad_answer(fake_engine: FakeEngine) -> None:
    deep = b"HTTP/1.0 200 OK\r\n\r\n" + b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    fake_engine.answers["/info"] = deep
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False)
    assert facts.daemon is None
    (issue,) = [i for i in facts.issues if i.source == "engine"]
    assert issue.reason == "bad-answer"


def test_engine_answers_nested_past_the_limit_are_refused(fake_engine: FakeEngine) -> None:
    value: object = "x"
    for _ in range(100):
        value = {"a": value}
    fake_engine.answers["/info"] = {"ServerVersion": "24.0.0", "Deep": value}
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False)
    assert facts.daemon is None
    assert any("nested more than" in i.detail for i in facts.issues)


def test_an_engine_closing_mid_answer_is_a_bad_answer(fake_engine: FakeEngine) -> None:
    fake_engine.answers["/info"] = b'HTTP/1.0 200 OK\r\n\r\n{"ServerVersion": "24.'
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False)
    assert facts.daemon is None
    assert any(i.reason == "bad-answer" for i in facts.issues)


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n{}",
        b"HTTP/1.0 999999999999999999999 X\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_chunked_and_odd_replies_are_read_or_refused(fake_engine: FakeEngine, reply: bytes) -> None:
    fake_engine.answers["/version"] = reply
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False)
    assert facts.daemon is None or facts.daemon.version == {}


def test_a_billion_laughs_compose_file_ends_at_once(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    lines += ["services:", "  web:", "    image: x", "    network_mode: *i"]
    path = tmp_path / "compose.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The peak of this process's own memory (VmHWM): ru_maxrss would count the parent's too,
    # when the child was started with vfork.
    code = (
        "import sys\nfrom hostreach.cli import main\n"
        f"c = main(['compose-override', '-f', {str(path)!r}, '--facts', {str(ROOTFUL)!r}])\n"
        "print(c, open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert time.monotonic() - start < 10
    exit_code, peak_kib = done.stdout.split()
    assert exit_code == "2"
    assert "network_mode is not text" in done.stderr
    assert int(peak_kib) < 150_000


def test_deep_yaml_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services: " + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    done = cli("compose-override", "-f", path, "--facts", ROOTFUL)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "rule",
    [
        "ct state",
        "ip daddr",
        "tcp dport",
        "iifname",
        "tcp dport ²",
        "tcp dport 1-²",
        "meta l4proto",
        "ct status",
        "fib daddr",
        "counter packets",
        'comment "unclosed',
        "{ { { {",
        "iifname != ",
    ],
)
def test_nft_rules_cut_short_are_judged_not_crashed(rule: str) -> None:
    text = (
        "table inet t {\n chain input {\n  type filter hook input priority ²; policy accept;\n"
        f"  {rule}\n  {rule} drop\n }}\n}}\n"
    )
    assert nftables.decide(text, PACKET).action in ("accept", "drop", "reject", "unknown")


@pytest.mark.parametrize("port", ["²", "1-²", "٣"])
def test_iptables_ports_in_other_scripts_are_not_judged(port: str) -> None:
    text = f"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport {port} -j DROP\nCOMMIT\n"
    assert iptables.decide(iptables.parse(text), PACKET).action in ("accept", "drop", "unknown")


def test_a_firewall_walk_costs_its_rules_not_its_paths() -> None:
    # 32 chains, each jumping twice to the next: 2**32 paths, 64 rules.
    chains = [f"c{i}" for i in range(33)]
    ipt = ["*filter", ":INPUT ACCEPT [0:0]", *(f":{c} - [0:0]" for c in chains)]
    ipt.append("-A INPUT -j c0")
    nft = [
        "table inet t {",
        " chain input {",
        "  type filter hook input priority 0;",
        "  jump c0",
        " }",
    ]
    for here, after in itertools.pairwise(chains):
        ipt += [f"-A {here} -p tcp -j {after}", f"-A {here} -p tcp -j {after}"]
        nft += [f" chain {here} {{", f"  tcp dport 1-65535 jump {after}", f"  jump {after}", " }"]
    nft += [" chain c32 {", "  counter", " }", "}"]
    ipt.append("COMMIT")
    start = time.monotonic()
    iptables.decide(iptables.parse("\n".join(ipt)), PACKET)
    nftables.decide("\n".join(nft), PACKET)
    assert time.monotonic() - start < 1


def test_the_nft_tokenizer_is_linear_in_the_line() -> None:
    line = "{" * 200_000
    text = f"table inet t {{\n chain input {{\n  type filter hook input priority 0;\n  {line}\n }}\n}}\n"
    start = time.monotonic()
    nftables.decide(text, PACKET)
    assert time.monotonic() - start < 1


nft_words = st.sampled_from(
    [
        "iifname",
        "iif",
        "tcp",
        "th",
        "dport",
        "!=",
        "ct",
        "state",
        "status",
        "new",
        "established",
        "ip",
        "ip6",
        "daddr",
        "meta",
        "l4proto",
        "fib",
        "type",
        "local",
        "counter",
        "packets",
        "drop",
        "reject",
        "accept",
        "jump",
        "goto",
        "return",
        "docker0",
        '"docker*"',
        "{ 22, 5432 }",
        "1-65535",
        "²",
        "172.17.0.0/16",
        "c1",
        '"unclosed',
        "{",
    ]
)


@BUDGET
@given(st.lists(st.lists(nft_words, max_size=8), max_size=10), st.sampled_from(["c1", "input"]))
def test_any_nft_text_gives_a_verdict(rules: list[list[str]], jump: str) -> None:
    body = "\n".join(f"  {' '.join(words)}" for words in rules)
    text = (
        "table inet t {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        f"{body}\n  jump {jump}\n }}\n chain c1 {{\n{body}\n }}\n}}\n"
    )
    assert nftables.decide(text, PACKET).action in ("accept", "drop", "reject", "unknown")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=12,
)


@BUDGET
@given(json_values, json_values, st.sampled_from([None, "ctx", "default"]))
def test_any_docker_config_and_context_give_an_endpoint_or_our_error(
    config: object, meta: object, context: str | None
) -> None:
    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
        meta_dir = root / "contexts" / "meta" / hashlib.sha256(b"ctx").hexdigest()
        meta_dir.mkdir(parents=True)
        (meta_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        env = {"DOCKER_CONFIG": home, **({"DOCKER_CONTEXT": context} if context else {})}
        try:
            found = find_endpoint(env, root)
        except EndpointError:
            return
        assert found.address.scheme in ("unix", "tcp", "ssh", "npipe", "http", "https", "fd")


def test_a_snapshot_replays_after_the_checks(tmp_path: Path) -> None:
    # The checks refuse hostile values, not real ones: every captured snapshot still loads.
    for path in sorted((ROOTFUL.parent).glob("*.json")):
        assert load(path).daemon is not None
