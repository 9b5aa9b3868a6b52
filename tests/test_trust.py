"""Trust (issue 22): a stored answer, a state file or a setting never speaks for someone else.

Each case is planted by a second, real user (the rootless engine's user, which .ci/engines.sh
creates) with `runuser`, and root runs hostreach: the outcome is asserted (not cached, one
warning line, the right flags, no file outside hostreach's own touched).
"""

from __future__ import annotations

import ast
import json
import os
import pwd
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOTFUL, FakeEngine, cli, skip_or_fail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostreach import cache, entry, owned
from hostreach.checks import emitted_flag
from hostreach.facts import Tunnel, tunnel_json
from hostreach.processes import alive
from hostreach.tunnels import state
from hostreach.tunnels.sidecar import LABEL, owner

PLANTER = os.environ.get("HOSTREACH_ROOTLESS_USER", "hostreach-ci")
HOSTILE = "--add-host=host.docker.internal:host-gateway\n-v=/:/host\n--pid=host\n"
PLANTED = "--add-host=host.docker.internal:203.0.113.66\n"
"""A flag hostreach could print, so that only the owner check stops it (the replay check would
stop HOSTILE anyway): an address of the planter's choosing."""


def _hand_to_root(folder: Path) -> None:
    """Make a planted folder and its entries root's own, as hostreach would have written them."""
    for path in (folder, *folder.iterdir()):
        os.chown(path, 0, 0)
        path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.fixture
def planter() -> pwd.struct_passwd:
    """The second user, who plants; the tests run as root, who is fooled or not."""
    if os.geteuid() != 0:
        skip_or_fail("the trust tests run hostreach as root beside a second user")
    try:
        return pwd.getpwnam(PLANTER)
    except KeyError:
        skip_or_fail(f"no user {PLANTER} (.ci/engines.sh creates it)")


def as_planter(user: pwd.struct_passwd, script: str) -> None:
    """Run ``script`` (sh) as the second user, as that user would."""
    subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "sh", "-euc", script],
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache home every user may write to (a shared XDG_CACHE_HOME, or sudo -E's HOME)."""
    base = Path("/tmp") / f"hostreach-shared-{os.getpid()}-{tmp_path.name}"
    base.mkdir(mode=0o777)
    base.chmod(0o1777)  # like /tmp: anyone creates, only owners rename
    monkeypatch.setenv("XDG_CACHE_HOME", str(base))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    yield base
    subprocess.run(["rm", "-rf", str(base)], check=False)


def env_for(engine: FakeEngine, base: Path) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": engine.docker_host, "XDG_CACHE_HOME": str(base)}


def key_in_a_child(env: dict[str, str], expression: str) -> tuple[str, str]:
    """The cache key (and its file name) that ``expression`` gives in a child like the ones
    `cli` starts: the same hostreach, the same working directory (a key holds the identity of
    hostreach's own files, so the test's own import, installed elsewhere, may differ)."""
    code = (
        "from hostreach import answers, cache\nfrom hostreach.routes import Request\n"
        f"key = {expression}\n"
        "print(cache._file_name(key)); print(repr(key))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    name, key = done.stdout.splitlines()
    return ast.literal_eval(key), name


def _entry_text(cache_key: str, engine: FakeEngine, payload: str) -> str:
    """A whole, well-formed entry, as hostreach writes one, holding ``payload``."""
    dependency = cache.socket_dependency(str(engine.path))
    assert dependency is not None
    return "\n".join([cache._MAGIC, cache_key, "1", dependency, f"{len(payload)}\n{payload}"])


def test_another_users_cache_folder_is_not_used(
    planter: pwd.struct_passwd, shared: Path, fake_engine: FakeEngine
) -> None:
    env = env_for(fake_engine, shared)
    key, name = key_in_a_child(env, "cache.cli_key(['flags'])")
    text = _entry_text(key, fake_engine, PLANTED)
    as_planter(
        planter,
        f"mkdir -p {shared}/hostreach && printf %s {shlex.quote(text)} > {shared}/hostreach/{name}",
    )
    planted = shared / "hostreach" / name
    assert planted.stat().st_uid == planter.pw_uid  # the control: the entry is there, theirs
    before = {p.name: p.read_bytes() for p in (shared / "hostreach").iterdir()}
    done = cli("flags", env=env)
    assert (done.returncode, done.stdout) == (0, "--add-host=host.docker.internal:host-gateway\n")
    assert "--pid=host" not in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "not using" in line]
    assert len(warnings) == 1, done.stderr
    assert f"{shared}/hostreach" in warnings[0]
    assert f"owned by user {planter.pw_uid}" in warnings[0]
    assert len(fake_engine.requests) == 3  # not cached: the full path ran, and asked
    after = {p.name: p.read_bytes() for p in (shared / "hostreach").iterdir()}
    assert after == before  # nothing written there
    # The control: the very entry, were it root's own, is the answer (the key is the CLI's).
    _hand_to_root(shared / "hostreach")
    assert cli("flags", env=env, check=True).stdout == PLANTED


def test_a_library_answer_planted_by_another_user_is_not_replayed(
    planter: pwd.struct_passwd,
    shared: Path,
    fake_engine: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = env_for(fake_engine, shared)
    # Root's key is no secret (the version, uid 0, the environment): take it as known.
    key, name = key_in_a_child(env, "answers.route_key(Request().check())")
    planted = {
        "runtime": "docker-engine",
        "rootless": False,
        "remote": False,
        "strategy": "gateway-ip",
        "hosts": {"host.docker.internal": "203.0.113.66"},
        "reason": "planted",
        "notes": [],
        "network_mode": None,
        "target": "caller",
        "topology": "local",
    }
    dependency = cache.socket_dependency(str(fake_engine.path))
    text = "\n".join([cache._MAGIC, key, "1", str(dependency), json.dumps(planted)])
    as_planter(
        planter,
        f"mkdir -p {shared}/hostreach && printf %s {shlex.quote(text)} > {shared}/hostreach/{name}",
    )
    code = "import hostreach, json; print(json.dumps(hostreach.route().to_json()))"

    def route() -> tuple[dict[str, object], str]:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(done.stdout), done.stderr

    answer, said = route()
    assert answer["hosts"] == {"host.docker.internal": "host-gateway"}
    assert "owned by user" in said
    # The control: were the entry root's own, route() would answer it (the key is route()'s).
    _hand_to_root(shared / "hostreach")
    assert route()[0]["hosts"] == {"host.docker.internal": "203.0.113.66"}


def test_a_world_writable_cache_folder_of_roots_is_not_used_nor_written_through(
    planter: pwd.struct_passwd, shared: Path, fake_engine: FakeEngine
) -> None:
    folder = shared / "hostreach"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)  # root's, but a sloppy mode: anyone can plant in it
    victim = shared / "victim"
    victim.write_text("root's own file\n")
    victim.chmod(0o644)
    # Symlinks at every name a write could use: the old temporary name and the entry's own.
    as_planter(
        planter,
        f"cd {folder} && for n in $(seq 1 400); do ln -s {victim} x$n.tmp; done; ln -s {victim} e",
    )
    done = cli("flags", env=env_for(fake_engine, shared))
    assert done.returncode == 0
    assert done.stdout == "--add-host=host.docker.internal:host-gateway\n"
    assert "writable by group or others" in done.stderr
    assert victim.read_text() == "root's own file\n"
    assert not [p for p in folder.iterdir() if not p.is_symlink()]  # nothing of root's in it


def test_a_cache_folder_that_is_a_link_is_not_followed(
    planter: pwd.struct_passwd, shared: Path, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    victim = tmp_path / "root-dir"
    victim.mkdir(mode=0o700)
    (victim / "keep.json").write_text("{}")
    as_planter(planter, f"ln -s {victim} {shared}/hostreach")
    done = cli("flags", env=env_for(fake_engine, shared))
    assert done.returncode == 0
    assert "not using" in done.stderr
    assert sorted(p.name for p in victim.iterdir()) == ["keep.json"]


def test_tunnel_state_under_a_linked_folder_is_neither_read_nor_pruned(
    planter: pwd.struct_passwd, shared: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "elsewhere"
    victim.mkdir(mode=0o700)
    for name in ("a.json", "b.json"):
        (victim / name).write_text("{not a tunnel")
    (shared / "hostreach").mkdir(mode=0o700)  # root's own cache folder...
    os.chown(shared / "hostreach", planter.pw_uid, planter.pw_gid)  # ...handed over, as by sudo
    as_planter(planter, f"ln -s {victim} {shared}/hostreach/tunnels")
    state.prune()
    assert state.recorded("unix:///var/run/docker.sock") == []
    with pytest.raises(OSError, match="not this user's own"):
        state.write_state(Tunnel("ab" * 32, "172.17.0.9", "bridge", (5432,), os.getpid()))
    assert sorted(p.name for p in victim.iterdir()) == ["a.json", "b.json"]


def test_a_planted_state_file_naming_pid_1_is_not_believed(
    planter: pwd.struct_passwd, shared: Path
) -> None:
    record = Tunnel("ab" * 32, "203.0.113.66", "bridge", (5432,), 1)
    text = json.dumps(tunnel_json(record))
    as_planter(
        planter,
        f"mkdir -p {shared}/hostreach/tunnels && printf %s {shlex.quote(text)}"
        f" > {shared}/hostreach/tunnels/abababababab.json",
    )
    asked: list[str] = []

    def engine(path: str) -> object:
        asked.append(path)
        return {"State": {"Running": True}, "Config": {"Labels": {}}}

    assert state.running("unix:///var/run/docker.sock", engine) == ([], [])
    assert asked == []  # not even looked up: the file is not root's own


def test_the_engine_must_confirm_a_tunnel_with_its_labels_and_owner() -> None:
    record = Tunnel("ab" * 32, "172.17.0.9", "bridge", (5432,), os.getpid())
    me = owner()
    labels = {LABEL: "1", f"{LABEL}.owner": me, f"{LABEL}.pid": str(os.getpid())}
    running = {"State": {"Running": True}, "Config": {"Labels": labels}}
    assert state.confirmed(running, record, me)
    for changed in (
        {LABEL: "0"},
        {f"{LABEL}.owner": "someone-else-0"},
        {f"{LABEL}.pid": "1"},
    ):
        other = {**running, "Config": {"Labels": {**labels, **changed}}}
        assert not state.confirmed(other, record, me), changed
    assert not state.confirmed({**running, "State": {"Running": False}}, record, me)
    assert not state.confirmed({"State": {"Running": True}}, record, me)  # no labels at all


def test_a_state_file_of_another_users_process_is_not_believed(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root owns pid 1: a process of someone else's is needed, so start one as the planter
        try:
            user = pwd.getpwnam(PLANTER)
        except KeyError:
            skip_or_fail(f"no user {PLANTER} (.ci/engines.sh creates it)")
        proc = subprocess.Popen(["runuser", "-u", user.pw_name, "--", "sleep", "30"])
        try:
            child = _child_of(proc.pid)
            assert alive(child)
            assert not state.ours(child)
        finally:
            proc.kill()
            proc.wait()
    assert state.ours(os.getpid())


def _child_of(pid: int) -> int:
    """The sleep that runuser started (its only child), once it runs."""
    for _ in range(200):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        subprocess.run(["sleep", "0.05"], check=False)
    pytest.fail("runuser started no process")


def test_ssh_control_folders_of_others_are_left_alone(
    planter: pwd.struct_passwd, tmp_path: Path
) -> None:
    prefix = f"hostreach-test-ssh-{os.getpid()}-"
    theirs = Path("/tmp") / f"{prefix}99999999-x"
    link = Path("/tmp") / f"{prefix}99999998-y"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    as_planter(planter, f"mkdir -m 700 {theirs} && ln -s {victim} {link}")
    ours = Path("/tmp") / f"{prefix}99999997-z"
    ours.mkdir(mode=0o700)
    try:
        state.remove_control_leftovers(prefix)
        assert theirs.is_dir()  # another user's: not hostreach's to remove
        assert link.is_symlink()
        assert (victim / "keep").exists()
        assert not ours.exists()  # this user's own, its process gone: removed
    finally:
        subprocess.run(["rm", "-rf", str(theirs), str(link), str(ours)], check=False)


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
    ],
)
def test_a_host_address_that_cannot_work_from_a_container_is_refused(value: str, why: str) -> None:
    done = cli("flags", "--facts", ROOTFUL, env={**os.environ, "HOSTREACH_HOST_ADDRESS": value})
    # --facts replays the snapshot; the live probe would refuse the same value: see below
    assert done.returncode == 0
    live = cli(
        "flags", env={**os.environ, "HOSTREACH_HOST_ADDRESS": value, "DOCKER_HOST": "unix:///x"}
    )
    assert live.returncode == 2, live.stderr
    assert why in live.stderr
    assert "cannot reach the host from a container" in live.stderr
    assert len(live.stderr.splitlines()) == 1
    assert live.stdout == ""


def test_a_snapshot_with_such_a_host_address_is_refused(tmp_path: Path) -> None:
    data = json.loads(ROOTFUL.read_text())
    data["client"]["host_override"] = "127.0.0.1"
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    done = cli("flags", "--facts", path)
    assert done.returncode == 2
    assert "host_override" in done.stderr


def test_a_wslconfig_outside_the_users_profile_is_not_read(tmp_path: Path) -> None:
    from hostreach.probe.client import wslconfig  # noqa: PLC0415

    users = tmp_path / "mnt" / "c" / "Users"
    (users / "Public").mkdir(parents=True)
    (users / "Public" / ".wslconfig").write_text("[wsl2]\nnetworkingMode=mirrored\n")
    assert wslconfig(tmp_path, {}) is None  # Public is every local user's, not a profile
    (users / "me").mkdir()
    (users / "me" / ".wslconfig").write_text("[wsl2]\nnetworkingMode=nat\n")
    assert wslconfig(tmp_path, {}) == "[wsl2]\nnetworkingMode=nat\n"
    # Where WSLENV passes USERPROFILE in, that folder alone is the user's.
    (users / "other").mkdir()
    (users / "other" / ".wslconfig").write_text("[wsl2]\n")
    assert wslconfig(tmp_path, {}) is None  # two profiles: not guessed
    assert wslconfig(tmp_path, {"USERPROFILE": "/mnt/c/Users/me"}) == (
        "[wsl2]\nnetworkingMode=nat\n"
    )
    assert wslconfig(tmp_path, {"USERPROFILE": "/mnt/c/Users/nobody"}) is None


@pytest.mark.parametrize(
    "image", ["Busybox", "a..b", "a:b:c", "a//b", "busybox:-x", "-busybox", "a@sha256:12", "a b"]
)
def test_an_image_name_outside_the_reference_grammar_is_refused_by_the_parser(
    image: str,
) -> None:
    done = cli("check", "--port", "80", f"--image={image}", env={"DOCKER_HOST": "unix:///none"})
    assert done.returncode == 2
    assert "not an image name" in done.stderr


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "localhost/hostreach-test:busybox",
        "registry:5000/a/b_c:1.0",
        "a@sha256:" + "0" * 64,
    ],
)
def test_an_image_reference_is_taken(image: str) -> None:
    from hostreach.checks import check_image  # noqa: PLC0415

    assert check_image(image) == image


def test_outside_text_in_a_note_reaches_the_terminal_as_one_printable_line(
    tmp_path: Path,
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        'services:\n  web:\n    image: x\n    network_mode: "service:vpn\\n\\u001b[2Jfake line"\n'
    )
    done = cli("compose-override", "-f", compose, "--facts", ROOTFUL)
    assert "\x1b" not in done.stderr
    for line in done.stderr.splitlines():
        assert line.isprintable()
        assert line.startswith("hostreach: "), done.stderr


# --- replayed entries ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    | st.lists(
        st.sampled_from(
            [
                "--add-host=host.docker.internal:host-gateway",
                "--add-host=db:172.17.0.1",
                "--network=host",
                "-v=/:/host",
                "--pid=host",
                "--privileged",
                "--add-host=a:1.2.3.4 --pid=host",
                "--add-host=a:01.2.3.4",
                "--add-host=a:fe80::1%eth0",
                "--add-host=-x:1.2.3.4",
                "--add-host=a:$(id)",
                "--network=$(id)",
                "--cap-add=ALL",
                "",
            ]
        ),
        max_size=5,
    ).map(lambda flags: "".join(f"{f}\n" for f in flags))
)
def test_a_replayed_answer_holds_only_flags_hostreach_emits(answer: str) -> None:
    if entry._replayable(answer):
        for flag in answer.splitlines():
            assert flag.startswith(("--add-host=", "--network="))
            assert emitted_flag(flag)
            assert " " not in flag
            assert "$" not in flag


def test_the_warm_path_refuses_a_stored_answer_with_a_foreign_flag(
    fake_engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root's own, well-formed entry (as if damaged), holding flags hostreach never prints.
    base = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(base))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKER_HOST", fake_engine.docker_host)
    env = env_for(fake_engine, base)
    assert cli("flags", env=env, check=True).stdout  # the real one is stored
    key, name = key_in_a_child(env, "cache.cli_key(['flags'])")
    stored = base / "hostreach" / name
    assert stored.exists()
    for payload in (HOSTILE, "--add-host=db:172.17.0.1\n--privileged\n", "-v=/:/host\n"):
        stored.write_text(_entry_text(key, fake_engine, payload))
        stored.chmod(0o600)
        done = cli("flags", env=env, check=True)
        assert done.stdout == "--add-host=host.docker.internal:host-gateway\n"
    # and a stored answer of flags hostreach does print is replayed (the control)
    stored.write_text(_entry_text(key, fake_engine, "--add-host=host.docker.internal:10.9.9.9\n"))
    stored.chmod(0o600)
    assert cli("flags", env=env, check=True).stdout == "--add-host=host.docker.internal:10.9.9.9\n"


def test_what_hostreach_writes_is_its_users_own_and_no_one_elses(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    base = tmp_path / "cache"
    cli("flags", env=env_for(fake_engine, base), check=True)
    folder = base / "hostreach"
    entries = list(folder.iterdir())
    assert len(entries) == 2  # the engine's answers, and the flags
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in entries:
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600, path
        assert owned.problem(path.lstat(), folder=False) is None


def test_a_fifo_at_an_entrys_name_is_no_entry_and_no_hang(tmp_path: Path) -> None:
    # Every read is bounded in time: a FIFO would block open() until a writer came.
    folder = tmp_path / "store"
    folder.mkdir(mode=0o700)
    os.mkfifo(folder / "entry", 0o600)
    code = (
        "from hostreach import owned\n"
        f"f = owned.folder({str(folder)!r}, create=False)\n"
        "assert f is not None\n"
        "print(f.read('entry', 100))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert done.stdout.strip() == "None"
    assert "not a regular file" in done.stderr
