"""--strategy discover (issue 24): what one container tries, how its report is read, and the
choice among what answered; replayed from snapshots, so resolve stays pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LIVE, PODMAN, ROOTFUL, ROOTLESS, cli

from hostreach import discovery
from hostreach.diagnose import Finding
from hostreach.errors import EngineError, FactsError, NoRouteError
from hostreach.facts import Candidate, Facts, Listener, Listening, dumps, from_json, load
from hostreach.resolve import resolve
from hostreach.routes import Request

VM_SOCKET = LIVE / "debian12-docker-20.10-qemu-vm-socket.json"
DISCOVER = Request(strategy="discover")

# What the discovery container printed in the VM lab (.ci/vm.sh) through the forwarded socket.
VM_REPORT = """\
hostreach-discover host-gateway 172.17.0.1 silent
hostreach-discover gateway 172.17.0.1 silent
hostreach-discover fixed 10.0.2.2 silent
hostreach-discover fixed 192.168.127.254 silent
hostreach-discover fixed 192.168.65.254 silent
hostreach-discover caller 10.250.0.1 answered
hostreach-discover fixed 192.168.5.2 answered
hostreach-discover caller 192.0.2.2 answered
hostreach-discover done
"""


def with_discovery(path: Path, report: str) -> Facts:
    return load(path)._replace(discovered=discovery.parse(report, "busybox"))


def test_the_vm_labs_report_gives_limas_address() -> None:
    facts = with_discovery(VM_SOCKET, VM_REPORT)
    route = resolve(facts, DISCOVER)
    assert route.flags == ["--add-host=host.docker.internal:192.168.5.2"]
    assert route.strategy == "discover"
    assert "answered at fixed (192.168.5.2)" in route.reason
    assert "3 of 8 candidates" in route.reason
    # 192.168.5.2 forwards to this machine's loopback: nothing to say about where to listen.
    assert route.warnings == ()


def test_preference_host_gateway_before_the_callers_own_address() -> None:
    report = (
        "hostreach-discover caller 192.0.2.2 answered\n"
        "hostreach-discover gateway 172.17.0.1 answered\n"
        "hostreach-discover host-gateway 172.17.0.1 answered\n"
        "hostreach-discover done\n"
    )
    route = resolve(with_discovery(ROOTFUL, report), DISCOVER)
    assert route.flags == ["--add-host=host.docker.internal:host-gateway"]
    only_caller = "hostreach-discover caller 192.0.2.2 answered\nhostreach-discover done\n"
    route = resolve(with_discovery(ROOTLESS, only_caller), DISCOVER)
    assert route.flags == ["--add-host=host.docker.internal:192.0.2.2"]
    assert any("listen on 192.0.2.2" in w for w in route.warnings)


def test_a_name_the_runtime_resolves_needs_nothing_for_that_name() -> None:
    report = (
        "hostreach-discover host.containers.internal 10.88.0.1 answered\n"
        "hostreach-discover gateway 10.88.0.1 answered\n"
        "hostreach-discover done\n"
    )
    facts = with_discovery(PODMAN, report)
    both = Request(aliases=("host.containers.internal", "db"), strategy="discover")
    route = resolve(facts, both)
    assert dict(route.hosts) == {"host.containers.internal": "native", "db": "10.88.0.1"}


def test_nothing_answered_is_no_route_with_what_was_tried() -> None:
    report = "hostreach-discover fixed 10.0.2.2 silent\nhostreach-discover done\n"
    with pytest.raises(NoRouteError, match=r"\(fixed 10\.0\.2\.2\).*tunnel --port PORT"):
        resolve(with_discovery(ROOTFUL, report), DISCOVER)


def test_facts_without_a_discovery_say_how_to_record_one() -> None:
    with pytest.raises(NoRouteError, match="facts --discover"):
        resolve(load(ROOTFUL), DISCOVER)


@pytest.mark.parametrize(
    ("report", "why"),
    [
        ("hostreach-discover no-nc\n", "has no `nc`"),
        ("hostreach-discover caller 192.0.2.2 answered\n", "did not finish its tries"),
        ("", "did not finish its tries"),
    ],
)
def test_a_container_that_could_not_try_is_one_line(report: str, why: str) -> None:
    with pytest.raises(EngineError, match=why):
        discovery.parse(report, "busybox")


@pytest.mark.parametrize(
    "line",
    [
        "hostreach-discover caller 192.0.2.2;reboot answered",  # not an address
        "hostreach-discover $(reboot) 192.0.2.2 answered",  # not a name or a kind
        "hostreach-discover caller 192.0.2.2 answered extra",  # not four words
        "hostreach-discover fixed 999.1.1.1 answered",
        "hostreach-discover -rf 192.0.2.2 answered",
    ],
)
def test_hostile_lines_are_never_candidates(line: str) -> None:
    # The image is the user's, but what it prints reaches a flag that is executed.
    assert discovery.parse(f"{line}\nhostreach-discover done\n", "img") == ()


def test_an_answer_is_not_lost_to_a_silent_duplicate() -> None:
    report = (
        "hostreach-discover caller 192.0.2.2 answered\n"
        "hostreach-discover caller 192.0.2.2 silent\n"
        "hostreach-discover done\n"
    )
    assert discovery.parse(report, "img") == (Candidate("caller", "192.0.2.2", answered=True),)


def test_a_discovery_round_trips_through_a_snapshot() -> None:
    facts = with_discovery(VM_SOCKET, VM_REPORT)
    again = from_json(json.loads(dumps(facts)))
    assert again.discovered == facts.discovered
    bad = json.loads(dumps(facts))
    bad["discovered"][0]["address"] = "172.17.0.1 --privileged"
    with pytest.raises(FactsError, match=r"discovered\[0\]\.address must be an IP address"):
        from_json(bad)


def test_the_plan_tries_every_kind_and_the_callers_main_address_first() -> None:
    tried = discovery.plan(load(VM_SOCKET))
    assert tried.caller[0] == "192.0.2.2"  # the default route's address before a lab veth
    assert "192.168.5.2" in tried.fixed
    assert {"host.docker.internal", "host.lima.internal", "gateway.docker.internal"} <= set(
        tried.names
    )
    assert tried.host_gateway  # Engine 20.10 takes it
    podman = discovery.plan(load(PODMAN))
    assert not podman.host_gateway  # Podman 4.3 writes it literally: not tried


def test_a_replayed_discovery_answers_through_the_cli(tmp_path: Path) -> None:
    snapshot = tmp_path / "facts.json"
    snapshot.write_text(dumps(with_discovery(VM_SOCKET, VM_REPORT)), encoding="utf-8")
    done = cli("flags", "--strategy", "discover", "--facts", str(snapshot), check=True)
    assert done.stdout.split() == ["--add-host=host.docker.internal:192.168.5.2"]
    without = tmp_path / "plain.json"
    without.write_text(dumps(load(VM_SOCKET)), encoding="utf-8")
    refused = cli("flags", "--strategy", "discover", "--facts", str(without))
    assert refused.returncode == 1
    assert "facts --discover" in refused.stderr


def test_candidates_of_one_kind_keep_the_plans_order_whatever_order_they_reported_in() -> None:
    # The tries run at once: the lab veth's address answered first, the main one is chosen.
    facts = load(ROOTLESS)
    report = (
        "hostreach-discover caller 10.250.0.1 answered\n"
        "hostreach-discover caller 192.0.2.2 answered\n"
        "hostreach-discover done\n"
    )
    found = discovery.parse(report, "img", discovery.plan(facts))
    assert [c.address for c in found] == ["192.0.2.2", "10.250.0.1"]
    route = resolve(facts._replace(discovered=found), DISCOVER)
    assert route.flags == ["--add-host=host.docker.internal:192.0.2.2"]


def test_the_vms_own_gateway_comes_before_the_callers_address() -> None:
    # The passt guest of the VM lab: 10.77.0.1 reaches this machine's loopback, 192.0.2.2 its
    # main address only.
    report = (
        "hostreach-discover caller 192.0.2.2 answered\n"
        "hostreach-discover vm-gateway 10.77.0.1 answered\n"
        "hostreach-discover done\n"
    )
    route = resolve(with_discovery(VM_SOCKET, report), DISCOVER)
    assert route.flags == ["--add-host=host.docker.internal:10.77.0.1"]
    assert route.warnings == ()


def _doctor(path: Path, report: str, address: str) -> dict[str, Finding]:
    from hostreach.diagnose import diagnose  # noqa: PLC0415

    socket = Listener(port=5432, address=address, pid=None)
    facts = with_discovery(path, report)._replace(
        listening=Listening(ports=(5432,), sockets=(socket,))
    )
    found = diagnose(facts, resolve(facts, DISCOVER), (5432,)).findings
    return {f.id: f for f in found}


def test_the_doctor_judges_a_discovered_route_where_it_lands() -> None:
    # This machine's own address: a 127.0.0.1-only service is not reached there.
    mine = "hostreach-discover caller 192.0.2.2 answered\nhostreach-discover done\n"
    found = _doctor(ROOTLESS, mine, "127.0.0.1")
    assert found["loopback-only"].severity == "error"
    assert "192.0.2.2:5432" in found["loopback-only"].fix
    assert _doctor(ROOTLESS, mine, "0.0.0.0") == {}
    # A user-mode network's address forwards to the loopback (the VM lab): no false error.
    assert _doctor(VM_SOCKET, VM_REPORT, "127.0.0.1") == {}


def test_a_finished_probe_container_is_left_behind_only_once_its_run_is_over() -> None:
    # Issue 24, found by CI: a discovery's two containers, or two checks at once, removed each
    # other's finished container before it was read ("can not get logs from container").
    import os  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    from hostreach.engine.containers import PROBE_RUN, left_behind, probe_labels  # noqa: PLC0415

    now = time.time()
    mine = probe_labels(5, now)
    assert not left_behind(mine, None, now)  # this run's own, being read
    assert left_behind(mine, None, now + 200)  # its time is over
    here = socket.gethostname()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    killed = {**mine, PROBE_RUN: f"{here}/{gone.stdout.strip()}"}
    assert left_behind(killed, None, now)  # a run here that ended: removed at once
    running = {**mine, PROBE_RUN: f"{here}/{os.getppid()}"}
    assert not left_behind(running, None, now + 200)  # a run here that still runs: never
    elsewhere = {**mine, PROBE_RUN: "another-machine/1"}
    assert not left_behind(elsewhere, None, now)
    assert left_behind(elsewhere, None, now + 200)
    assert left_behind({"hostreach.probe": "1"}, int(now) - 7200, now)  # an older version's
    assert not left_behind({"hostreach.probe": "1"}, int(now) - 60, now)
