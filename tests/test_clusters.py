"""A pod's route (issue 25): the cluster registry against published kubectl outputs, the
hostAliases renderers, and the kubectl probe against fakes at its boundary (a script named
kubectl that answers, hangs, floods or fails). No cluster runs on these machines."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, LIVE, cli

from hostreach import clusters, vantage
from hostreach.errors import FactsError, NoRouteError, UsageError
from hostreach.facts import Facts, from_json, load, to_json
from hostreach.probe import kube
from hostreach.render import render
from hostreach.resolve import resolve
from hostreach.routes import Request

KUBE = sorted((FIXTURES / "kube").glob("*.json"))
POD = Request(purpose="pod")


def _data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _with_caller(facts: Facts, address: str) -> Facts:
    """The facts as the probe gives them here: each node with this machine's address toward it."""
    assert facts.cluster is not None
    nodes = tuple(n._replace(caller_address=address) for n in facts.cluster.nodes)
    return facts._replace(cluster=facts.cluster._replace(nodes=nodes))


@pytest.mark.parametrize("path", KUBE, ids=lambda p: p.stem)
def test_every_cluster_fixture_names_its_source_and_kind(path: Path) -> None:
    data = _data(path)
    assert data["source"].startswith("https://")
    facts = load(path)
    assert facts.cluster is not None
    row = clusters.identify(facts.cluster, facts.client.os)
    assert (row.id if row else None) == data["expect"]["cluster"]


@pytest.mark.parametrize("path", KUBE, ids=lambda p: p.stem)
def test_a_published_cluster_gives_its_route(path: Path) -> None:
    expect = _data(path)["expect"]
    facts = load(path)
    for name in expect.get("native", ()):
        route = resolve(facts, Request(aliases=(name,), purpose="pod"))
        assert route.hosts == {name: "native"}
        assert render(route, "k8s") == ""  # nothing to add: the pods resolve it
        assert render(route, "k8s-patch") == ""
    if "no_route" in expect:
        with pytest.raises(NoRouteError, match=expect["no_route"]):
            resolve(facts, POD)


def test_a_kind_cluster_on_linux_gets_the_callers_address_toward_its_nodes() -> None:
    facts = _with_caller(load(FIXTURES / "kube" / "kind-ha-nodes.json"), "172.19.0.1")
    route = resolve(facts, Request(aliases=("host.docker.internal", "db.local"), purpose="pod"))
    assert route.hosts == {"host.docker.internal": "172.19.0.1", "db.local": "172.19.0.1"}
    assert render(route, "k8s").splitlines()[1:] == [
        "hostAliases:",
        "- ip: 172.19.0.1",
        "  hostnames:",
        "  - host.docker.internal",
        "  - db.local",
    ]
    patch = json.loads(render(route, "k8s-patch"))
    assert patch == {
        "spec": {
            "template": {
                "spec": {
                    "hostAliases": [
                        {"ip": "172.19.0.1", "hostnames": ["host.docker.internal", "db.local"]}
                    ]
                }
            }
        }
    }
    # Nodes that see this machine at different addresses: no one entry serves every pod.
    assert facts.cluster is not None
    split = facts.cluster.nodes[0]._replace(caller_address="10.0.0.1")
    mixed = facts._replace(cluster=facts.cluster._replace(nodes=(split, *facts.cluster.nodes[1:])))
    with pytest.raises(NoRouteError, match="different addresses"):
        resolve(mixed, POD)


def test_the_same_kind_cluster_from_a_mac_uses_desktops_name() -> None:
    facts = load(FIXTURES / "kube" / "kind-ha-nodes.json")
    mac = facts._replace(client=facts.client._replace(os="darwin"))
    assert mac.cluster is not None
    row = clusters.identify(mac.cluster, "darwin")
    assert row is not None
    assert row.id == "kind-desktop"
    assert resolve(mac, POD).hosts == {"host.docker.internal": "native"}
    with pytest.raises(NoRouteError, match="use that name"):
        resolve(mac, Request(aliases=("db.local",), purpose="pod"))


def test_k3d_and_minikube_get_an_address_for_other_names_and_their_own_natively() -> None:
    for stem, own in (("k3d-default-nodes", "host.k3d.internal"), ("minikube-node-labels", "host.minikube.internal")):  # fmt: skip
        facts = _with_caller(load(FIXTURES / "kube" / f"{stem}.json"), "192.168.49.1")
        route = resolve(facts, Request(aliases=(own, "host.docker.internal"), purpose="pod"))
        assert route.hosts == {own: "native", "host.docker.internal": "192.168.49.1"}
        assert "hostnames:\n  - host.docker.internal\n" in render(route, "k8s")
        assert f"- {own}" not in render(route, "k8s")


def test_kind_on_another_vm_of_a_mac_is_not_desktops() -> None:
    # Nodes that say their kernel, and it is not linuxkit's: Colima's or OrbStack's VM, say.
    facts = _with_caller(load(FIXTURES / "kube" / "kind-ha-nodes.json"), "192.168.1.20")
    assert facts.cluster is not None
    nodes = tuple(n._replace(kernel="6.8.0-50-generic") for n in facts.cluster.nodes)
    mac = facts._replace(
        client=facts.client._replace(os="darwin"),
        cluster=facts.cluster._replace(nodes=nodes),
    )
    row = clusters.identify(mac.cluster, "darwin")  # type: ignore[arg-type]
    assert row is not None
    assert row.id == "kind"
    route = resolve(mac, POD)
    assert route.hosts == {"host.docker.internal": "192.168.1.20"}
    assert [n.id for n in route.notes] == ["cluster-vm"]


def test_no_pod_route_from_inside_a_container() -> None:
    nested = json.loads((LIVE / "debian12-docker-20.10-rootful.json").read_text("utf-8"))
    nested["client"] = {
        **nested["client"],
        "in_container": True,
        "container_markers": ["/.dockerenv"],
        "hostname": "3f2a9c1d0b7e",  # a container's own, not the engine's
    }
    nested["network"] = {
        "interfaces": {"eth0": ["172.17.0.5"]},
        "default_gateway": {"ip": "172.17.0.1", "interface": "eth0"},
    }
    facts = _with_caller(load(FIXTURES / "kube" / "kind-ha-nodes.json"), "172.17.0.5")
    inside = from_json(nested)._replace(cluster=facts.cluster)
    assert vantage.of(inside).nested
    with pytest.raises(NoRouteError, match="runs in a container"):
        resolve(inside, POD)
    assert resolve(facts, POD).hosts == {"host.docker.internal": "172.17.0.5"}  # the control


def test_nodes_on_desktops_kernel_never_get_their_gateway() -> None:
    # minikube's docker driver on Docker Desktop, say: its nodes on linuxkit's kernel.
    facts = _with_caller(load(FIXTURES / "kube" / "minikube-node-labels.json"), "192.168.49.1")
    assert facts.cluster is not None
    nodes = tuple(n._replace(kernel="4.19.76-linuxkit") for n in facts.cluster.nodes)
    desktop = facts._replace(cluster=facts.cluster._replace(nodes=nodes))
    with pytest.raises(NoRouteError, match="Docker Desktop's VM"):
        resolve(desktop, POD)
    own = Request(aliases=("host.minikube.internal",), purpose="pod")
    assert resolve(desktop, own).hosts == {"host.minikube.internal": "native"}


def test_an_unknown_cluster_is_said_and_refused_from_a_vm_os() -> None:
    facts = _with_caller(load(FIXTURES / "kube" / "k3s-on-debian-nodes.json"), "10.67.34.1")
    route = resolve(facts, POD)
    assert [n.id for n in route.notes] == ["cluster-unknown"]
    mac = facts._replace(client=facts.client._replace(os="darwin"))
    with pytest.raises(NoRouteError, match="VM"):
        resolve(mac, POD)


def test_no_cluster_read_says_why() -> None:
    facts = from_json({"issues": [{"source": "cluster", "detail": "kubectl is not installed"}]})
    with pytest.raises(NoRouteError, match="kubectl is not installed"):
        resolve(facts, POD)
    with pytest.raises(UsageError):
        resolve(load(KUBE[0]), Request(purpose="pod", strategy="host-gateway"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a b"),
        ("name", "$(reboot)"),
        ("internal_ip", "10.0.0.1; reboot"),
        ("kernel", "x\x1b[2J"),
        ("caller_address", "::1%eth0 x"),
    ],
)
def test_a_planted_node_is_refused(field: str, value: str) -> None:
    data = _data(FIXTURES / "kube" / "kind-ha-nodes.json")
    data["cluster"]["nodes"][0][field] = value
    with pytest.raises(FactsError, match=rf"facts\.cluster\.nodes\[0\]\.{field}"):
        from_json(data)


def test_the_cluster_round_trips_through_json() -> None:
    facts = load(FIXTURES / "kube" / "minikube-node-labels.json")
    assert from_json(json.loads(json.dumps(to_json(facts)))).cluster == facts.cluster


# `kubectl get no kube-1-worker-1 -o yaml` as digitalocean-cloud-controller-manager#126 shows it
# (https://github.com/digitalocean/digitalocean-cloud-controller-manager/issues/126), as JSON.
DO_126 = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "labels": {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/hostname": "kube-1-worker-1",
        },
        "name": "kube-1-worker-1",
    },
    "spec": {"podCIDR": "192.168.3.0/24"},
    "status": {
        "addresses": [
            {"address": "kube-1-worker-1", "type": "Hostname"},
            {"address": "10.130.13.103", "type": "InternalIP"},
            {"address": "<HIDDEN>", "type": "ExternalIP"},
        ]
    },
}


def test_a_published_node_reads_as_the_facts_keep_it() -> None:
    assert kube.node_fields(DO_126) == {
        "name": "kube-1-worker-1",
        "internal_ip": "10.130.13.103",
        "provider_id": "",
        "os_image": "",
        "kernel": "",
        "labels": {"kubernetes.io/hostname": "kube-1-worker-1"},  # only the labels rules read
    }
    assert kube.node_fields({**DO_126, "metadata": {"name": "`id`"}}) is None


FAKE = """#!{python}
import sys, time
mode = {mode!r}
if sys.argv[1:3] == ["config", "view"]:
    if mode == "no-context":
        print('{{"clusters": []}}'); sys.exit(0)
    print('{{"current-context": "kind-dev", "clusters": [{{"cluster": {{"server": "https://127.0.0.1:6443"}}}}]}}')
    sys.exit(0)
if mode == "hang":
    sys.stdout.write('{{"items": [')
    sys.stdout.flush()
    time.sleep(600)
if mode == "flood":
    while True:
        sys.stdout.write("x" * 65536)
if mode == "fail":
    sys.stderr.write("error: You must be logged in to the server (Unauthorized)\\n"); sys.exit(1)
print({nodes!r})
"""


def _fake_kubectl(tmp_path: Path, mode: str) -> dict[str, str]:
    nodes = json.dumps({"items": [DO_126]})
    script = tmp_path / "kubectl"
    script.write_text(FAKE.format(python=sys.executable, mode=mode, nodes=nodes), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


def test_the_probe_reads_the_context_and_the_nodes_through_kubectl(tmp_path: Path) -> None:
    fields, why = kube.read_cluster(_fake_kubectl(tmp_path, "answer"), timeout=5)
    assert why == ""
    assert fields is not None
    assert (fields["context"], fields["server"]) == ("kind-dev", "https://127.0.0.1:6443")
    assert [n["internal_ip"] for n in fields["nodes"]] == ["10.130.13.103"]
    assert fields["nodes"][0]["caller_address"]  # this machine's source address toward it


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("hang", "no answer within 1 s"),
        ("flood", "larger than 16 MiB|no answer within"),
        ("fail", "Unauthorized"),
    ],
)
def test_a_kubectl_that_hangs_floods_or_fails_is_one_line_in_time(
    tmp_path: Path, mode: str, why: str
) -> None:
    started = time.monotonic()
    fields, said = kube.read_cluster(_fake_kubectl(tmp_path, mode), timeout=1)
    assert time.monotonic() - started < 10  # bounded by the timeout, and what kills it
    assert fields is not None
    assert fields["nodes"] == []
    assert said
    assert __import__("re").search(why, said), said


def test_no_kubectl_or_no_context_is_said(tmp_path: Path) -> None:
    assert kube.read_cluster({"PATH": str(tmp_path)}, timeout=1) == (
        None,
        "kubectl is not installed",
    )
    assert kube.read_cluster(_fake_kubectl(tmp_path, "no-context"), timeout=1)[1] == (
        "the kubeconfig names no current context"
    )


def test_the_cli_prints_host_aliases_from_a_snapshot(tmp_path: Path) -> None:
    facts = _with_caller(load(FIXTURES / "kube" / "kind-ha-nodes.json"), "172.19.0.1")
    snapshot = tmp_path / "facts.json"
    snapshot.write_text(json.dumps(to_json(facts)), encoding="utf-8")
    done = cli("flags", "--format", "k8s", "--facts", snapshot, check=True)
    assert "- ip: 172.19.0.1\n" in done.stdout
    native = cli("flags", "--format", "k8s", "--facts", FIXTURES / "kube" / "k3d-default-nodes.json", "--alias", "host.k3d.internal")  # fmt: skip
    assert native.returncode == 0
    assert native.stdout == ""
    assert "resolve host.k3d.internal themselves" in native.stderr
    refused = cli("flags", "--format", "k8s", "--for", "build", "--facts", snapshot)
    assert refused.returncode == 2
    early = cli("flags", "--format", "k8s", "--strategy", "discover")  # refused before probing
    assert early.returncode == 2
    assert "--format k8s chooses its own route" in early.stderr
    # Live: the probe reads kubectl's answer through the same path.
    live = cli("flags", "--format", "k8s-patch", env={**os.environ, **_fake_kubectl(tmp_path, "answer")})  # fmt: skip
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout)["spec"]["template"]["spec"]["hostAliases"][0]["ip"]
