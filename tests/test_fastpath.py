"""The warm path: a stored `flags` answer is replayed only while it is still the right one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Engine

from hostreach import _fastpath, probe

VERSION = "test"


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return tmp_path


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[Path]:
    """A real unix socket file standing for the engine's (its identity is what counts)."""
    path = tmp_path / "engine.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    yield path
    sock.close()


def test_only_plain_flags_calls_are_cached() -> None:
    assert _fastpath.key(["flags", "--alias", "db"], VERSION) is not None
    for argv in (
        ["flags", "--no-cache"],
        ["flags", "--facts", "f.json"],
        ["flags", "--facts=f.json"],
        ["flags", "--debug"],
        ["flags", "--help"],
        ["doctor", "--port", "1"],
        [],
    ):
        assert _fastpath.key(argv, VERSION) is None, argv


def test_the_key_follows_the_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _fastpath.key(["flags"], VERSION)
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert _fastpath.key(["flags"], VERSION) != first
    monkeypatch.delenv("DOCKER_HOST")
    assert _fastpath.key(["flags"], VERSION) == first
    assert _fastpath.key(["flags"], "other version") != first
    assert _fastpath.key(["flags", "--alias", "x"], VERSION) != first


def test_docker_context_use_invalidates(cache_home: Path) -> None:
    config = cache_home / "docker-config"
    config.mkdir()
    (config / "config.json").write_text('{"currentContext": "a"}', encoding="utf-8")
    before = _fastpath.key(["flags"], VERSION)
    (config / "config.json").unlink()
    (config / "config.json").write_text('{"currentContext": "b"}', encoding="utf-8")
    assert _fastpath.key(["flags"], VERSION) != before


def test_replay_returns_what_was_stored(engine_socket: Path) -> None:
    key = _fastpath.key(["flags"], VERSION)
    assert key is not None
    assert _fastpath.replay(key) is None
    _fastpath.store(key, str(engine_socket), "--add-host=a:b\n", "hostreach: warning: w\n")
    assert _fastpath.replay(key) == ("--add-host=a:b\n", "hostreach: warning: w\n")


def test_an_engine_restart_invalidates(engine_socket: Path) -> None:
    key = _fastpath.key(["flags"], VERSION)
    assert key is not None
    _fastpath.store(key, str(engine_socket), "old\n", "")
    engine_socket.unlink()  # what a restarting engine does: a new socket file
    again = socket.socket(socket.AF_UNIX)
    again.bind(str(engine_socket))
    try:
        assert _fastpath.replay(key) is None
    finally:
        again.close()


def test_expired_or_damaged_entries_are_ignored(engine_socket: Path) -> None:
    key = _fastpath.key(["flags"], VERSION)
    assert key is not None
    _fastpath.store(key, str(engine_socket), "x\n", "")
    path = Path(_fastpath._path(key))
    text = path.read_text(encoding="utf-8").split("\n")
    text[2] = repr(float(text[2]) - _fastpath.TTL_SECONDS - 1)
    path.write_text("\n".join(text), encoding="utf-8")
    assert _fastpath.replay(key) is None
    path.write_text("garbage", encoding="utf-8")
    assert _fastpath.replay(key) is None
    path.write_bytes(b"\xff\xfe not utf-8")
    assert _fastpath.replay(key) is None


@pytest.mark.engine
def test_warm_call_answers_the_same_without_loading_the_cli(rootful: Engine) -> None:
    env = rootful.env(XDG_CACHE_HOME=os.environ["XDG_CACHE_HOME"])
    run = [sys.executable, "-X", "importtime", "-m", "hostreach", "flags", "--alias", "warm"]
    cold = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=60)
    warm = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=60)
    assert warm.stdout == cold.stdout == "--add-host=warm:host-gateway\n"
    assert "hostreach.cli" in cold.stderr
    assert "hostreach.cli" not in warm.stderr  # replayed by _fastpath alone


@pytest.mark.parametrize(
    ("argv", "asks_early"),
    [
        (["flags"], True),
        (["flags", "--alias", "local"], True),
        (["flags", "--timeout", "5"], False),  # its own timeout: the full path asks
        (["flags", "--timeout=5"], False),
        (["flags", "--facts", "f.json"], False),  # a replay probes nothing
        (["doctor"], False),
    ],
)
def test_a_miss_asks_the_engine_before_the_full_path(
    argv: list[str], asks_early: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setattr(sys, "argv", ["hostreach", *argv])
    monkeypatch.setattr(probe, "_prefetched", {})
    assert _fastpath.main(VERSION) is None  # nothing stored: the full path runs
    assert bool(probe._prefetched) is asks_early
