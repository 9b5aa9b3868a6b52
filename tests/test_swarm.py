"""A Swarm service's route, replayed (issue 25): the nodes a manager lists, where each node's
tasks reach the caller, and the one address all of them reach. The live twin is
tests/test_live_swarm.py; these replay its captures and published node listings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LIVE, ROOTFUL, cli

from hostreach import swarm
from hostreach.engine import views
from hostreach.errors import EngineError, FactsError, NoRouteError, UsageError
from hostreach.facts import Facts, SwarmNode, from_json, load, to_json
from hostreach.operations import probe_service
from hostreach.resolve import resolve
from hostreach.routes import Request, Route

MANAGER = LIVE / "debian12-docker-20.10-swarm-manager.json"
WORKER = LIVE / "debian12-docker-20.10-swarm-worker.json"
SERVICE = Request(purpose="service")


def _manager() -> Facts:
    return load(MANAGER)


def _with_nodes(*changes: dict[str, Any]) -> Facts:
    """The manager's capture with its nodes changed, one change per node (by index)."""
    facts = _manager()
    nodes = [node._replace(**change) for node, change in zip(facts.swarm, changes, strict=False)]
    return facts._replace(swarm=tuple(nodes) + facts.swarm[len(nodes) :])


def test_the_captured_manager_gives_the_callers_address_toward_both_nodes() -> None:
    expect = json.loads(MANAGER.read_text(encoding="utf-8"))["expect"]
    route = resolve(_manager(), SERVICE)
    assert route.flags == expect["service_flags"]
    assert (route.strategy, route.purpose) == ("caller-ip", "service")
    assert "10.250.0.2" in route.reason
    assert "worker" in route.reason
    # A stack's override takes the same entry, in compose's form.
    stack = resolve(_manager(), Request(purpose="stack"))
    assert stack.compose() == {"extra_hosts": ["host.docker.internal:10.250.0.1"]}
    # The route for a plain container on the same engine is unchanged.
    assert resolve(_manager()).flags == ["--add-host=host.docker.internal:host-gateway"]


def test_the_route_round_trips_through_json_with_its_purpose() -> None:
    route = resolve(_manager(), SERVICE)
    again = Route.from_json(json.loads(json.dumps(route.to_json())))
    assert again == route
    assert again.flags == route.flags
    with pytest.raises(ValueError, match="purpose"):
        Route.from_json({**route.to_json(), "purpose": "reboot"})


@pytest.mark.parametrize(
    ("path", "message"),
    [(WORKER, "swarm worker"), (ROOTFUL, "not in a swarm")],
    ids=["worker", "no-swarm"],
)
def test_an_engine_that_cannot_list_the_nodes_gives_no_service_route(
    path: Path, message: str
) -> None:
    with pytest.raises(NoRouteError, match=message):
        resolve(load(path), SERVICE)


def test_a_manager_whose_nodes_were_not_read_gives_no_route() -> None:
    with pytest.raises(NoRouteError, match="no swarm nodes"):
        resolve(_manager()._replace(swarm=()), SERVICE)


def test_a_node_this_machine_has_no_route_to_is_named() -> None:
    facts = _with_nodes({}, {"caller_address": None})
    with pytest.raises(NoRouteError, match=r"no route to the swarm's node vm \(10\.250\.0\.2"):
        resolve(facts, SERVICE)


def test_nodes_reached_at_different_addresses_get_no_one_address() -> None:
    # A third node, on another network of this machine's: no single address serves all.
    third = (
        _manager()
        .swarm[1]
        ._replace(id="x1", address="192.0.2.9", caller_address="192.0.2.2", hostname="far")
    )
    facts = _manager()._replace(swarm=(*_manager().swarm, third))
    with pytest.raises(NoRouteError, match="no one address") as raised:
        resolve(facts, SERVICE)
    assert "10.250.0.1" in str(raised.value)
    assert "192.0.2.2" in str(raised.value)
    assert "--constraint node.id==" in str(raised.value)
    # Drained, that node runs no task: the route stands for the others.
    drained = facts._replace(swarm=(*facts.swarm[:2], third._replace(availability="drain")))
    assert resolve(drained, SERVICE).hosts == {"host.docker.internal": "10.250.0.1"}


def test_a_node_that_is_down_is_said() -> None:
    facts = _with_nodes({}, {"state": "down"})
    route = resolve(facts, SERVICE)
    assert route.hosts == {"host.docker.internal": "10.250.0.1"}
    assert [n.id for n in route.notes] == ["swarm-node-down"]


def test_every_node_on_this_machine_takes_its_own_address() -> None:
    manager = _manager().swarm[0]
    route = resolve(_manager()._replace(swarm=(manager,)), SERVICE)
    assert route.hosts == {"host.docker.internal": manager.address}
    # From inside a container (nested), this machine's addresses are not the caller's: the
    # node is reached at the caller's address toward it, as any other.
    # From inside a container (nested) the only address toward the nodes is the container's
    # own, which no other node reaches (another machine's bridge may hold it): no route.
    facts = _manager()._replace(swarm=(manager._replace(caller_address="172.17.0.5"),))
    with pytest.raises(NoRouteError, match="runs in a container"):
        swarm.plan(facts, SERVICE, nested=True, builtin=frozenset())
    named = facts._replace(client=facts.client._replace(host_override="10.9.8.7"))
    assert swarm.plan(named, SERVICE, nested=True, builtin=frozenset())[1] == {
        "host.docker.internal": "10.9.8.7"
    }
    found = swarm.reaches(facts)
    assert [(r.address, r.here) for r in found] == [("172.17.0.5", True)]  # 10.250.0.1 is ours


def test_host_gateway_for_a_service_is_given_with_its_warning() -> None:
    route = resolve(_manager(), Request(purpose="service", strategy="host-gateway"))
    assert route.flags == ["--host=host.docker.internal:host-gateway"]
    assert [n.id for n in route.notes] == ["swarm-node-local"]


@pytest.mark.parametrize(
    "request_",
    [
        Request(purpose="service", strategy="gateway-ip"),
        Request(purpose="service", strategy="lan-ip"),
        Request(purpose="stack", target="engine-host"),
    ],
    ids=["gateway-ip", "lan-ip", "engine-host"],
)
def test_other_strategies_and_targets_are_refused_for_a_service(request_: Request) -> None:
    with pytest.raises(UsageError):
        resolve(_manager(), request_)


def test_the_users_address_wins() -> None:
    facts = _manager()._replace(client=_manager().client._replace(host_override="10.9.8.7"))
    route = resolve(facts, SERVICE)
    assert route.hosts == {"host.docker.internal": "10.9.8.7"}
    assert route.strategy == "override"


# Published node listings (each as its URL shows it; the fields hostreach reads).
DOCKER_PY_1520 = {
    # https://github.com/docker/docker-py/issues/1520: a manager without Status.Addr
    "ID": "0t0yjrdgwbj71b8upebni9tvz",
    "Description": {"Hostname": "offline"},
    "ManagerStatus": {"Addr": "101.200.217.122:2377", "Leader": True, "Reachability": "reachable"},
    "Spec": {"Availability": "active", "Role": "manager"},
    "Status": {"State": "ready"},
}
MOBY_30119 = {
    # https://github.com/moby/moby/issues/30119: a manager whose Status.Addr says 127.0.0.1
    # (`docker node inspect ... | grep Addr`, and `docker node ls`: Ready, Active, Leader)
    "ID": "p6t1u93s1dj4s9d3d2gs5thvf",
    "Description": {"Hostname": "dce-dev-1"},
    "ManagerStatus": {"Addr": "10.211.55.12:2377", "Leader": True},
    "Spec": {"Availability": "active", "Role": "manager"},
    "Status": {"State": "ready", "Addr": "127.0.0.1"},
}


def test_a_managers_address_is_its_manager_address() -> None:
    nodes = views.swarm_nodes([DOCKER_PY_1520, MOBY_30119])
    assert [(n["hostname"], n["address"]) for n in nodes] == [
        ("offline", "101.200.217.122"),
        ("dce-dev-1", "10.211.55.12"),
    ]


def test_the_captured_node_list_reads_as_the_probe_read_it() -> None:
    raw = json.loads(MANAGER.read_text(encoding="utf-8"))["swarm"]
    assert {(n["role"], n["address"]) for n in raw} == {
        ("manager", "10.250.0.1"),
        ("worker", "10.250.0.2"),
    }


@pytest.mark.parametrize(
    "change",
    [
        {"ID": "$(reboot)"},
        {"ID": "ABC"},
        {"Description": {"Hostname": "a b"}},
        {"Description": {"Hostname": "`id`"}},
        {"Spec": {"Availability": "active", "Role": "root"}},
        {"Spec": {"Availability": "gone", "Role": "manager"}},
    ],
)
def test_a_hostile_node_is_left_out(change: dict[str, Any]) -> None:
    assert views.swarm_nodes([{**MOBY_30119, **change}]) == []


@pytest.mark.parametrize("addr", ["10.0.0.1;reboot", "0.0.0.0", "::", "127.0.0.1", "x" * 300])
def test_a_node_address_that_is_not_one_is_none(addr: str) -> None:
    node = {**DOCKER_PY_1520, "ManagerStatus": {"Addr": f"{addr}:2377"}}
    assert views.swarm_nodes([node])[0]["address"] is None


def test_a_node_list_is_bounded_and_not_a_list_is_empty() -> None:
    assert len(views.swarm_nodes([MOBY_30119] * (views.MAX_NODES + 5))) == views.MAX_NODES
    assert views.swarm_nodes({"message": "This node is not a swarm manager."}) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("hostname", "a;b"), ("id", "../x"), ("role", "root"), ("address", "10.0.0.1 x")],
)
def test_a_planted_snapshot_node_is_refused(field: str, value: str) -> None:
    data = to_json(_manager())
    data["swarm"][0][field] = value
    with pytest.raises(FactsError, match=f"facts.swarm\\[0\\].{field}"):
        from_json(data)


def test_nodes_round_trip_and_old_snapshots_have_none() -> None:
    facts = _manager()
    assert from_json(json.loads(json.dumps(to_json(facts)))).swarm == facts.swarm
    assert isinstance(facts.swarm[0], SwarmNode)
    assert load(ROOTFUL).swarm == ()


def test_the_cli_prints_service_flags_and_a_stack_override(tmp_path: Path) -> None:
    done = cli("flags", "--for", "service", "--facts", MANAGER, check=True)
    assert done.stdout == "--host=host.docker.internal:10.250.0.1\n"
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "version: '3.8'\nservices:\n  app:\n    image: busybox\n  db:\n    image: busybox\n",
        encoding="utf-8",
    )
    override = cli("compose-override", "--for", "stack", "-f", stack, "--facts", MANAGER)
    assert override.returncode == 0, override.stderr
    assert "version: '3.8'\n" in override.stdout
    assert override.stdout.count("- host.docker.internal:10.250.0.1") == 2
    # A service that pins the name itself: stack deploy would keep its entry first.
    stack.write_text(
        "version: '3.8'\nservices:\n  app:\n    image: busybox\n    extra_hosts:\n"
        "      - host.docker.internal:1.2.3.4\n",
        encoding="utf-8",
    )
    refused = cli("compose-override", "--for", "stack", "-f", stack, "--facts", MANAGER)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "remove it from the file" in refused.stderr
    # Refused before anything is probed or run (discover would start containers first).
    for asked in (("--strategy", "discover"), ("--target", "engine-host")):
        early = cli("flags", "--for", "service", *asked, "--facts", MANAGER)
        assert early.returncode == 2
        assert "--for service" in early.stderr
    # --for stack is compose-override's, --for service the flags'.
    assert cli("flags", "--for", "stack", "--facts", MANAGER).returncode == 2
    worker = cli("flags", "--for", "service", "--facts", WORKER)
    assert worker.returncode == 1
    assert "swarm worker" in worker.stderr


def test_check_for_a_service_refuses_an_engine_it_cannot_speak_to() -> None:
    facts = _manager()
    tls = facts._replace(
        client=facts.client._replace(
            docker_host="tcp://10.250.0.1:2376", endpoint="tcp://10.250.0.1:2376", tls=True
        )
    )
    with pytest.raises(EngineError, match="without TLS"):
        probe_service(tls, hosts={}, alias="host.docker.internal", port=80, image="x", timeout=1)
    drained = facts._replace(swarm=tuple(n._replace(availability="drain") for n in facts.swarm))
    with pytest.raises(EngineError, match="no node of the swarm is ready"):
        probe_service(
            drained, hosts={}, alias="host.docker.internal", port=80, image="x", timeout=1
        )
