"""The warm path: a stored answer is replayed exactly while what it depends on holds."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import netifaces
import pytest
from conftest import ROOTLESS, Engine, FakeEngine, cli, skip_or_fail

from hostreach import cache


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return tmp_path / "cache" / "hostreach"


def env_for(engine: FakeEngine | Engine, cache: Path) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": engine.docker_host, "XDG_CACHE_HOME": str(cache.parent)}


def test_only_flags_answers_have_a_key() -> None:
    assert cache.cli_key(["flags", "--alias", "db"]) is not None
    for argv in (["doctor", "--port", "1"], ["facts"], []):
        assert cache.cli_key(argv) is None, argv


def test_the_key_follows_the_engine_choice_and_the_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = cache.cli_key(["flags"])
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert cache.cli_key(["flags"]) != first
    monkeypatch.delenv("DOCKER_HOST")
    assert cache.cli_key(["flags"]) == first
    assert cache.cli_key(["flags", "--alias", "x"]) != first


def test_docker_context_use_changes_the_key(tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text('{"currentContext": "a"}', encoding="utf-8")
    before = cache.cli_key(["flags"])
    (config / "config.json").unlink()
    (config / "config.json").write_text('{"currentContext": "b"}', encoding="utf-8")
    assert cache.cli_key(["flags"]) != before


def test_a_warm_answer_is_the_cold_one_until_the_engine_restarts(
    fake_engine: FakeEngine, cache_home: Path
) -> None:
    env = env_for(fake_engine, cache_home)
    cold = cli("flags", "--alias", "db", env=env, check=True)
    asked = len(fake_engine.requests)
    assert asked == 3  # /version, /info, /networks/bridge
    warm = cli("flags", "--alias", "db", env=env, check=True)
    assert (
        (warm.stdout, warm.stderr)
        == (cold.stdout, cold.stderr)
        == ("--add-host=db:host-gateway\n", "")
    )
    assert len(fake_engine.requests) == asked  # replayed: the engine was not asked
    fake_engine.restart()
    cli("flags", "--alias", "db", env=env, check=True)
    assert len(fake_engine.requests) == asked + 3  # a new socket: asked again


def test_a_guess_is_never_stored(tmp_path: Path, cache_home: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    done = cli("flags", env=env, check=True)
    assert "this answer is a guess" in done.stderr
    assert not cache_home.exists() or list(cache_home.iterdir()) == []


def test_no_cache_and_facts_answers_are_not_stored(
    fake_engine: FakeEngine, cache_home: Path
) -> None:
    env = env_for(fake_engine, cache_home)
    cli("flags", "--no-cache", env=env, check=True)
    cli("flags", "--facts", str(ROOTLESS), env=env, check=True)
    assert not cache_home.exists() or list(cache_home.iterdir()) == []


def test_damaged_entries_mean_not_cached(fake_engine: FakeEngine, cache_home: Path) -> None:
    env = env_for(fake_engine, cache_home)
    cli("flags", env=env, check=True)
    cli("flags", env=env, check=True)  # the engine's answer and the flags answer are stored
    asked = len(fake_engine.requests)
    for damage in (b"garbage", b"\xff\xfe not utf-8", b"", b"hostreach-cache 2\nx\n99\n"):
        for entry in cache_home.iterdir():
            entry.write_bytes(damage)
        done = cli("flags", env=env, check=True)
        assert done.stdout == "--add-host=host.docker.internal:host-gateway\n"
        assert len(fake_engine.requests) == asked + 3  # asked again, and stored again
        asked += 3


def test_an_entry_for_another_key_is_not_replayed(fake_engine: FakeEngine) -> None:
    dependency = cache.socket_dependency(fake_engine.docker_host.removeprefix("unix://"))
    assert dependency is not None
    cache.write("a key", [dependency], "the answer")
    assert cache.read("a key") == "the answer"
    assert cache.read("another key") is None
    cache.write("no dependency", [], "never stored")
    assert cache.read("no dependency") is None


PROC = Path(__file__).parent / "fixtures" / "proc" / "debian12-ci"
"""/proc/net/route and /proc/net/fib_trie as read on a CI machine (eth0 192.0.2.2 holds the
default route; docker0 172.17.0.1 and the remote engine's veth hr-caller 10.250.0.1 do not)."""


def test_the_main_address_dependency_holds_only_for_the_default_routes_address() -> None:
    assert cache.address_dependency("eth0", "192.0.2.2", str(PROC)) is not None
    assert cache.address_dependency("eth0", "192.0.2.254", str(PROC)) is None  # not ours
    assert cache.address_dependency("docker0", "172.17.0.1", str(PROC)) is None  # no default
    assert cache.address_dependency("eth0", "192.0.2.2", "/nonexistent") is None  # unreadable


def test_the_main_address_dependency_holds_on_this_machine() -> None:
    # The live twin of the replay above: this machine's own tables (CI machines have a route).
    gateways = netifaces.gateways().get("default", {})
    if netifaces.AF_INET not in gateways:
        skip_or_fail("this machine has no IPv4 default route")
    interface = gateways[netifaces.AF_INET][1]
    address = netifaces.ifaddresses(interface)[netifaces.AF_INET][0]["addr"]
    assert cache.address_dependency(interface, address) is not None
    assert cache.address_dependency(interface, "192.0.2.254") is None  # not ours
    assert cache.address_dependency("lo", address) is None  # not the default route's


@pytest.mark.engine
@pytest.mark.parametrize("entry", ["module", "script"])
def test_both_entry_points_replay_without_loading_the_cli(
    entry: str, rootful: Engine, cache_home: Path
) -> None:
    script = shutil.which("hostreach", path=os.path.dirname(sys.executable))
    if entry == "script" and script is None:
        pytest.fail(f"the hostreach console script is not installed next to {sys.executable}")
    argv = [sys.executable, "-m", "hostreach"] if entry == "module" else [str(script)]
    env = {**env_for(rootful, cache_home), "PYTHONPROFILEIMPORTTIME": "1"}
    run = [*argv, "flags", "--alias", "warm"]
    cold = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=60)
    warm = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=60)
    assert warm.stdout == cold.stdout == "--add-host=warm:host-gateway\n"
    assert "hostreach.cli" in cold.stderr
    assert "hostreach.cli" not in warm.stderr  # replayed by entry and cache alone


@pytest.mark.engine
def test_route_replays_in_a_later_process_without_probing(
    rootful: Engine, cache_home: Path
) -> None:
    code = (
        "import sys, hostreach\n"
        "r = hostreach.route('db')\n"
        "print(r.flags, r.runtime, 'hostreach.probe' in sys.modules)"
    )
    env = env_for(rootful, cache_home)
    first = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    again = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert first.stdout == "['--add-host=db:host-gateway'] docker-engine True\n"
    assert again.stdout == "['--add-host=db:host-gateway'] docker-engine False\n"


def test_a_changed_module_makes_every_stored_answer_stale() -> None:
    # An upgrade, a reinstall or an edit in a checkout: the old answers may be wrong now.
    package = Path(cache.__file__).parent
    module = package / "resolve.py"
    before = cache.cli_key(["flags"])
    stat = module.stat()
    # Later than every module of the package, whichever was edited last in this checkout.
    newest = max(path.stat().st_mtime_ns for path in package.rglob("*.py"))
    try:
        os.utime(module, ns=(stat.st_atime_ns, newest + 10**9 * 3600))
        assert cache.cli_key(["flags"]) != before
    finally:
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.cli_key(["flags"]) == before


def test_the_engine_is_asked_once_whoever_sends_the_request(
    fake_engine: FakeEngine, cache_home: Path, tmp_path: Path
) -> None:
    # A cold `flags` sends the engine's GETs before its command line loads (prefetch); the
    # probe takes them: three requests, not six. With --timeout (another deadline), --facts
    # (no engine at all) or a stored engine answer, nothing is sent ahead.
    env = env_for(fake_engine, cache_home)
    cli("flags", "--alias", "a", env=env, check=True)
    assert sorted(fake_engine.requests) == ["/info", "/networks/bridge", "/version"]
    cli("flags", "--alias", "b", env=env, check=True)  # the engine's answers are stored
    assert len(fake_engine.requests) == 3
    cli("flags", "--alias", "c", "--timeout", "3", "--no-cache", env=env, check=True)
    assert len(fake_engine.requests) == 6
    cli("flags", "--alias", "d", "--facts", str(ROOTLESS), env=env, check=True)
    assert len(fake_engine.requests) == 6
    elsewhere = {**env, "XDG_CACHE_HOME": str(tmp_path / "other-cache")}
    cli("flags", "--alias", "e", "--no-cache", env=elsewhere, check=True)
    assert len(fake_engine.requests) == 9  # sent ahead, and taken: three


def test_context_flag_answers_for_that_context_as_the_docker_cli_would(
    fake_engine: FakeEngine, cache_home: Path, tmp_path: Path
) -> None:
    # `--context NAME` wins over DOCKER_HOST and DOCKER_CONTEXT, as `docker --context` does
    # (issue 27: the engine the caller names); `--context default` is DOCKER_HOST's.
    other = FakeEngine(tmp_path / "other.sock", ROOTLESS)
    try:
        config = tmp_path / "docker-config"
        meta = config / "contexts" / "meta" / hashlib.sha256(b"lab").hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(
            json.dumps({"Name": "lab", "Endpoints": {"docker": {"Host": other.docker_host}}})
        )
        env = {**env_for(fake_engine, cache_home), "DOCKER_CONFIG": str(config)}
        env["DOCKER_CONTEXT"] = "nonexistent"  # the flag wins over it too

        def endpoint(*args: str) -> object:
            done = cli("facts", *args, env=env, check=True)
            return json.loads(done.stdout)["client"]["endpoint"]

        assert endpoint("--context", "lab") == other.docker_host
        assert endpoint("--context", "default") == fake_engine.docker_host
        elsewhere = len(fake_engine.requests)
        # (`facts` asks afresh, and keeps nothing: a snapshot says the engine as it is now.)
        asked = len(other.requests)
        route = json.loads(cli("flags", "--context", "lab", "--format", "json", env=env).stdout)
        assert (route["engine"], route["rootless"]) == (other.docker_host, True)
        assert len(other.requests) == asked + 3  # that engine was asked
        assert len(fake_engine.requests) == elsewhere  # and DOCKER_HOST's was not
        flags = cli("flags", "--context", "lab", env=env, check=True).stdout
        assert len(other.requests) == asked + 3  # once: its answers are kept
        assert flags != "--add-host=host.docker.internal:host-gateway\n"  # not DOCKER_HOST's
        assert cli("flags", "--context", "lab", env=env, check=True).stdout == flags
        assert cli("flags", "--context", "a b", env=env).returncode == 2
    finally:
        other.close()
