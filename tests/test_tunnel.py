"""The tunnel's route, records and state files, without an engine (tests/test_live_tunnel.py
runs real tunnels)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import cast

import pytest
from conftest import PODMAN, PODMAN_ROOTLESS, ROOTFUL, cli, load_fixture

from hostreach import answers, cache
from hostreach.diagnose import FINDINGS, diagnose
from hostreach.engine.aio import Stream
from hostreach.errors import EngineError, FactsError, TunnelError
from hostreach.facts import Listener, Listening, Tunnel, from_json, load, to_json, tunnel_json
from hostreach.pump import Activity, Limits
from hostreach.resolve import resolve
from hostreach.routes import Request
from hostreach.tunnels import state as tunnel_state
from hostreach.tunnels.plan import plan_for
from hostreach.tunnels.session import TunnelSession, proc_net_peer

TUNNEL = Tunnel(
    container="0123456789ab" * 5 + "cdef",
    address="172.17.0.9",
    network="bridge",
    ports=(5432, 6379),
    pid=4242,
    endpoint="unix:///var/run/docker.sock",
)


def test_a_running_tunnel_is_the_route_to_the_caller_for_its_ports() -> None:
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL,))
    route = resolve(facts, Request(aliases=("host.docker.internal", "db.local"), ports=(5432,)))
    assert route.strategy == "tunnel"
    assert route.flags == [
        "--add-host=host.docker.internal:172.17.0.9",
        "--add-host=db.local:172.17.0.9",
    ]
    assert "ports 5432, 6379 reach this machine" in route.warnings[0]
    # Without it, the same facts give the engine's own route.
    assert resolve(load(ROOTFUL)).strategy == "host-gateway"
    both = resolve(facts, Request(ports=(6379, 5432)))
    assert (both.strategy, both.flags) == ("tunnel", ["--add-host=host.docker.internal:172.17.0.9"])


@pytest.mark.parametrize(
    ("ports", "says"),
    [
        ((), "carries ports 5432, 6379 only: this is the direct route"),
        ((8000,), "not every port asked for (8000)"),
        ((5432, 8000), "not every port asked for (5432, 8000)"),
    ],
)
def test_a_tunnel_changes_the_answer_only_for_the_ports_it_carries(
    ports: tuple[int, ...], says: str
) -> None:
    # issue 26: a tunnel for 5432 gave every port its address, so port 8000 was refused.
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL,))
    route = resolve(facts, Request(ports=ports))
    assert route.strategy == "host-gateway"
    assert route.flags == ["--add-host=host.docker.internal:host-gateway"]
    (aside,) = [n for n in route.notes if n.id == "tunnel-ports"]
    assert says in aside.message
    assert "--port 5432 --port 6379" in aside.fix
    assert any(says in w for w in route.warnings)


def test_of_two_tunnels_the_one_that_carries_the_ports_is_the_route() -> None:
    other = TUNNEL._replace(container="fe" * 32, address="172.17.0.10", ports=(8000,), pid=4343)
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL, other))
    assert resolve(facts, Request(ports=(8000,))).hosts["host.docker.internal"] == "172.17.0.10"
    assert resolve(facts, Request(ports=(5432,))).hosts["host.docker.internal"] == "172.17.0.9"
    assert resolve(facts, Request(ports=(5432, 8000))).strategy == "host-gateway"  # no one has both


def test_a_tunnel_is_not_the_route_to_the_engines_machine_or_a_strategy_asked_for() -> None:
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL,))
    assert resolve(facts, Request(target="engine-host")).strategy == "host-gateway"
    assert resolve(facts, Request(strategy="gateway-ip")).strategy == "gateway-ip"


def test_a_tunnel_on_a_network_of_its_own_makes_containers_join_it() -> None:
    facts = load(PODMAN_ROOTLESS)._replace(
        tunnels=(TUNNEL._replace(network="podman", network_mode="podman"),)
    )
    route = resolve(facts, Request(ports=(5432,)))
    assert route.flags[0] == "--network=podman"
    assert route.docker_run_kwargs()["network_mode"] == "podman"
    assert route.compose()["network_mode"] == "podman"


def test_a_tunnel_answer_is_never_kept() -> None:
    facts = load(ROOTFUL)
    assert answers.dependencies(facts, resolve(facts)) is not None  # the same facts, no tunnel
    with_one = facts._replace(tunnels=(TUNNEL,))
    assert answers.dependencies(with_one, resolve(with_one, Request(ports=(5432,)))) is None


def test_a_snapshot_keeps_its_tunnel_and_an_old_one_has_none() -> None:
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL,))
    assert from_json(json.loads(json.dumps(to_json(facts)))).tunnels == (TUNNEL,)
    data = load_fixture(ROOTFUL)
    assert "tunnels" not in data  # recorded before tunnels existed: replays as it did
    assert from_json(data).tunnels == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "172.17.0.9 --privileged"),
        ("address", "$(reboot)"),
        ("network", "br x"),
        ("network_mode", "--pid=host"),
        ("container", "../../etc"),
        ("ports", [0]),
        ("ports", []),
        ("pid", None),
    ],
)
def test_a_snapshot_with_a_hostile_tunnel_record_is_refused(
    field: str, value: object, tmp_path: Path
) -> None:
    record = {**tunnel_json(TUNNEL), field: value}
    data = {**load_fixture(ROOTFUL), "tunnels": [record]}
    with pytest.raises(FactsError):
        from_json(data)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    done = cli("flags", "--facts", path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_the_doctor_knows_what_a_tunnel_carries() -> None:
    listening = Listening(ports=(5432, 8080), sockets=(Listener(5432, "127.0.0.1"),))
    facts = load(ROOTFUL)._replace(tunnels=(TUNNEL,), listening=listening)
    report = diagnose(facts, resolve(facts, Request(ports=(5432, 8080))), (5432, 8080))
    found = {f.id: f for f in report.findings}
    assert set(found) <= set(FINDINGS)
    assert report.route is not None
    assert report.route.strategy == "host-gateway"  # 8080 is not carried: the direct route
    # 5432 is the tunnel's: its own connections come from this process, so a loopback-only
    # service is fine there, and it is no firewall's doing.
    assert "loopback-only" not in found
    assert "firewall" not in found
    assert "--port 5432 --port 6379" in found["tunnel-ports"].fix
    assert "8080" in found["not-listening"].message
    # Asked about 5432 alone, the tunnel is the route.
    alone = diagnose(facts, resolve(facts, Request(ports=(5432,))), (5432,))
    assert alone.route is not None
    assert alone.route.strategy == "tunnel"
    assert not [f for f in alone.findings if f.severity == "error"]


def test_plans_name_the_network_a_plain_run_does_not_join() -> None:
    ports = {5432: ("127.0.0.1", 5432)}
    assert plan_for(load(ROOTFUL), ports).network_mode is None
    assert plan_for(load(ROOTFUL), ports).network == "bridge"
    assert plan_for(load(PODMAN), ports).network_mode is None
    # Rootless Podman gives each container its own slirp4netns/pasta network.
    rootless = plan_for(load(PODMAN_ROOTLESS), ports)
    assert (rootless.network, rootless.network_mode) == ("podman", "podman")
    assert plan_for(load(ROOTFUL), ports, network="tests").network_mode == "tests"


def test_no_plan_without_the_engines_answer() -> None:
    facts = load(ROOTFUL)._replace(daemon=None)
    with pytest.raises(TunnelError, match="needs the engine"):
        plan_for(facts, {5432: ("127.0.0.1", 5432)})


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "hostreach" / "tunnels"


def test_state_files_count_only_while_their_process_lives(state_home: Path) -> None:
    dead = TUNNEL._replace(container="ab" * 32, pid=_dead_pid())
    mine = TUNNEL._replace(pid=os.getpid())
    elsewhere = TUNNEL._replace(container="cd" * 32, pid=os.getpid(), endpoint="tcp://x:2375")
    for record in (dead, mine, elsewhere):
        tunnel_state.write_state(record)
    (state_home / "damaged.json").write_text("{not json")
    found = tunnel_state.recorded("unix:///var/run/docker.sock")
    assert [record for _, record in found] == [mine]
    tunnel_state.prune()
    left = sorted(p.name for p in state_home.iterdir())
    assert left == sorted([f"{mine.container[:12]}.json", f"{elsewhere.container[:12]}.json"])


def test_a_tunnel_that_starts_or_ends_makes_stored_answers_stale(state_home: Path) -> None:
    before = cache.key("cli", "flags")
    path = tunnel_state.write_state(TUNNEL._replace(pid=os.getpid()))
    started = cache.key("cli", "flags")
    tunnel_state.remove_state(path)
    ended = cache.key("cli", "flags")
    assert len({before, started, ended}) == 3


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "at least one --port"),
        (["--port", "5432", "--port", "5432"], "once"),
        (["--port", "1", "--backend", "127.0.0.1:2", "--backend", "127.0.0.1:3"], "more --backend"),
        # --target, the option's name before 0.3, still means the same
        (["--port", "1", "--target", "127.0.0.1:2", "--backend", "127.0.0.1:3"], "more --backend"),
        (["--port", "1", "--image=-v"], "not an image name"),
        (["--port", "1", "--network", "a b"], "invalid network name"),
        (["--port", "1", "--max-connections", "0"], "from 1 to 65536"),
    ],
)
def test_bad_tunnel_arguments_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = cli("tunnel", *args)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def _stream(data: bytes) -> Stream:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return Stream(reader, cast("asyncio.StreamWriter", None))


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    async def read() -> list[tuple[int, bytes]]:
        stream, found = _stream(data), []
        while (frame := await stream.frame()) is not None:
            found.append(frame)
        return found

    return asyncio.run(read())


def test_a_stream_that_ends_between_frames_has_ended() -> None:
    assert _frames(b"\x01\0\0\0\0\0\0\x02hi\x02\0\0\0\0\0\0\x01!") == [(1, b"hi"), (2, b"!")]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x01\0\0\0\0\0\0\x05hi", "mid-frame"),  # five bytes announced, two came
        (b"\x01\0\0", "mid-frame"),  # a header cut short
        (b"\x01\0\0\0\xff\xff\xff\xff", "frame of 4294967295 bytes"),  # never buffered
    ],
)
def test_a_broken_stream_is_not_taken_for_an_ended_one(data: bytes, says: str) -> None:
    with pytest.raises(EngineError, match=says):
        _frames(data)


def test_a_snapshot_with_a_hostile_rootlesskit_driver_is_refused() -> None:
    data = {**load_fixture(ROOTFUL), "rootlesskit": {"net": "$(reboot)", "host_loopback": True}}
    with pytest.raises(FactsError, match="network driver name"):
        from_json(data)


@pytest.mark.parametrize(
    ("field", "big_endian", "peer"),
    [
        # as Linux writes them (little-endian words): a v4-mapped peer of a dual-stack listener
        ("0000000000000000FFFF00000300580A:9606", False, "10.88.0.3"),
        ("030011AC:1F90", False, "172.17.0.3"),
        ("AC110003:1F90", True, "172.17.0.3"),  # s390x writes the words as they are
        ("B80D0120000000000000000001000000:0050", False, "2001:db8::1"),
        ("-", False, None),  # the handler found no line: no cap per peer, the total still holds
        ("030011AC", False, None),
        ("ZZ0011AC:1F90", False, None),
        ("030011AC:1F90 --privileged", False, None),
    ],
)
def test_a_peer_is_read_as_the_kernel_wrote_it(
    field: str, big_endian: bool, peer: str | None
) -> None:
    assert proc_net_peer(field, big_endian=big_endian) == peer


def test_the_caps_refuse_per_peer_and_in_total() -> None:
    plan = plan_for(load(ROOTFUL), {5432: ("127.0.0.1", 5432)})
    session = TunnelSession(plan._replace(limits=Limits(connections=3, per_peer=2)), print)
    session.peers = {"10.0.0.2": 2}
    assert "cap per peer" in session._over_cap(5432, "10.0.0.2")
    assert session._over_cap(5432, "10.0.0.3") == ""
    assert session._over_cap(5432, None) == ""  # peer unknown: only the total applies
    session.active = cast("set[asyncio.Task[None]]", {object(), object(), object()})
    assert "3 already open (the cap)" in session._over_cap(5432, "10.0.0.3")


def _stdout_frame(data: bytes) -> bytes:
    return b"\x01\0\0\0" + len(data).to_bytes(4, "big") + data


async def _upward_beside(counts: list[str], chunks: list[bytes]) -> tuple[bool, bytes]:
    """Run one connection's upward direction over socket pairs (the up exec's stream, the
    service's socket); the exec sends ``chunks`` and never ends, the sidecar's ``upeof``
    counts come between them. Whether it ended, and what the service got before its EOF."""
    plan = plan_for(load(ROOTFUL), {5432: ("127.0.0.1", 5432)})
    session = TunnelSession(plan, print)
    sent = session.sent["42"] = asyncio.get_running_loop().create_future()
    exec_far, exec_near = socket.socketpair()
    service_far, service_near = socket.socketpair()
    up = Stream(*await asyncio.open_connection(sock=exec_near))
    _, writer = await asyncio.open_connection(sock=service_near)
    upward = asyncio.create_task(session._upward(up, writer, Activity(), [0, 0], sent))
    loop = asyncio.get_running_loop()
    service_far.setblocking(False)
    got = b""
    for chunk, count in itertools.zip_longest(chunks, counts):
        if chunk is not None:
            exec_far.sendall(_stdout_frame(chunk))
            while not got.endswith(chunk):  # carried to the service
                got += await asyncio.wait_for(loop.sock_recv(service_far, 1 << 16), 5)
        if count is not None:
            session._client_ended("42", count)
        for _ in range(50):
            await asyncio.sleep(0)
    ended = upward.done()
    if ended:
        assert await asyncio.wait_for(loop.sock_recv(service_far, 1 << 16), 5) == b""  # EOF
        upward.result()
    upward.cancel()
    for sock in (exec_far, service_far):
        sock.close()
    writer.close()
    up.close()
    return ended, got


def test_the_clients_count_ends_its_direction_before_the_up_exec_ends() -> None:
    # The engine reports an exec's end late when many start and end at once (a burst of 50:
    # their data carried within 0.6 s, their ends seen 6-8 s later): the sidecar's count of the
    # client's bytes ends the direction instead, once that many are carried (issue 26).
    assert asyncio.run(_upward_beside([], [b"hello"])) == (False, b"hello")  # no count: waits
    assert asyncio.run(_upward_beside(["5"], [b"hello"])) == (True, b"hello")
    assert asyncio.run(_upward_beside(["0"], [])) == (True, b"")  # sent nothing, half-closed


def test_a_count_that_comes_before_the_bytes_waits_for_them() -> None:
    # The count comes on the sidecar's control stream, the bytes on the exec's: either may be
    # first. Two frames of five, the count of ten after the first.
    assert asyncio.run(_upward_beside(["10"], [b"hello", b"world"])) == (True, b"helloworld")
    assert asyncio.run(_upward_beside(["10"], [b"hello"])) == (False, b"hello")


@pytest.mark.parametrize("count", ["-1", "1e3", "9" * 19, "", "\u0665", "5 6"])
def test_a_count_that_is_no_count_ends_nothing(count: str) -> None:
    assert asyncio.run(_upward_beside([count], [b"hello"])) == (False, b"hello")
