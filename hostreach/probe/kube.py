"""Kubernetes probe: the cluster the current kubeconfig context names, read through ``kubectl``
(issue 25): ``kubectl config view --minify -o json`` (the context and its server; no call to
the cluster) and ``kubectl get nodes -o json`` (the nodes, their addresses and labels).

No client library: kubectl already reads every kubeconfig form (exec plugins, OIDC, merged
files) the way the user's own commands do. Each run is bounded in time and size, with no
terminal and stdin from /dev/null, so an exec plugin cannot prompt; a cluster that does not
answer is an Issue, never a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from typing import Any

from hostreach.checks import check_address, check_hostname, one_line
from hostreach.engine.client import source_toward
from hostreach.errors import InputError
from hostreach.files import MIB, read_pipe

LIMIT = 16 * MIB
"""The most output read from one kubectl run (a thousand nodes' JSON is about 10 MiB)."""
LABELS = ("minikube.k8s.io/name", "node.kubernetes.io/instance-type", "kubernetes.io/hostname")
"""The node labels the cluster rules read (:mod:`hostreach.clusters`); no other is kept."""
MAX_NODES = 1000
KUBELET_PORT = 10250


def _kubectl(args: list[str], environ: Mapping[str, str], timeout: float) -> tuple[Any, str]:
    """Run kubectl; return its JSON answer and "", or None and why not."""
    command = shutil.which("kubectl", path=environ.get("PATH"))
    if command is None:
        return None, "kubectl is not installed"
    try:
        code, out, err = _run([command, *args], environ, timeout)
    except OSError as exc:
        return None, f"kubectl could not run: {exc.strerror}"
    except (InputError, subprocess.TimeoutExpired):
        return None, f"kubectl gave no answer within {timeout:g} s"
    return _decoded(args[0], code, out, err)


def _run(argv: list[str], environ: Mapping[str, str], timeout: float) -> tuple[int, bytes, bytes]:
    """Its exit code, output and errors, read within ``timeout`` seconds; it (and whatever it
    started: an exec plugin) is killed when the time is over."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(environ),
        start_new_session=True,  # no terminal: an exec plugin cannot ask for anything
    )
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None  # noqa: S101 - a pipe was asked for
    assert stderr is not None  # noqa: S101 - a pipe was asked for
    try:
        out = read_pipe(stdout.fileno(), LIMIT + 1, timeout, what="kubectl", shown="output")
        err = read_pipe(stderr.fileno(), 64 * 1024, 1.0, what="kubectl", shown="errors")
        return proc.wait(timeout=1.0), out, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stdout.close()
        stderr.close()


def _decoded(command: str, code: int, out: bytes, err: bytes) -> tuple[Any, str]:
    if code != 0:
        said = err.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        return None, f"kubectl {command}: {one_line(said[-1][:200])}"
    if len(out) > LIMIT:
        return None, f"kubectl's answer is larger than {LIMIT // MIB} MiB"
    try:
        return json.loads(out), ""
    except (ValueError, RecursionError):
        return None, "kubectl's answer is not JSON"


def context_fields(config: object) -> dict[str, Any]:
    """The current context's name and its cluster's server, from ``config view --minify``."""
    data = config if isinstance(config, Mapping) else {}
    name = data.get("current-context")
    clusters = data.get("clusters")
    first = clusters[0] if isinstance(clusters, list) and clusters else {}
    cluster = first.get("cluster") if isinstance(first, Mapping) else None
    server = cluster.get("server") if isinstance(cluster, Mapping) else None
    return {
        "context": name if isinstance(name, str) else "",
        "server": server if isinstance(server, str) else None,
    }


def _internal_ip(status: Mapping[str, Any]) -> str | None:
    for entry in status.get("addresses") or ():
        if isinstance(entry, Mapping) and entry.get("type") == "InternalIP":
            try:
                return check_address(entry.get("address"))
            except ValueError:
                return None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def node_fields(node: object) -> dict[str, Any] | None:
    """One node of ``kubectl get nodes -o json`` as the facts keep it; None where its name does
    not parse (the facts reader checks the rest)."""
    meta, spec, status = (_mapping(_mapping(node).get(k)) for k in ("metadata", "spec", "status"))
    info, labels = _mapping(status.get("nodeInfo")), _mapping(meta.get("labels"))
    try:
        name = check_hostname(str(meta.get("name")))
    except ValueError:
        return None

    def text(data: Mapping[str, Any], key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    return {
        "name": name,
        "internal_ip": _internal_ip(status),
        "provider_id": text(spec, "providerID"),
        "os_image": text(info, "osImage"),
        "kernel": text(info, "kernelVersion"),
        "labels": {k: labels[k] for k in LABELS if isinstance(labels.get(k), str)},
    }


def read_cluster(
    environ: Mapping[str, str], *, timeout: float
) -> tuple[dict[str, Any] | None, str]:
    """Return the ``cluster`` fields of the facts and "", or what was read and why not all."""
    config, why = _kubectl(["config", "view", "--minify", "-o", "json"], environ, timeout)
    if config is None:
        return None, why
    fields = context_fields(config)
    if not fields["context"]:
        return None, "the kubeconfig names no current context"
    wait = f"--request-timeout={max(int(timeout), 1)}s"
    answer, why = _kubectl(["get", "nodes", "-o", "json", wait], environ, timeout)
    if answer is None:
        return {**fields, "nodes": []}, why
    items = _mapping(answer).get("items")
    listed = items[:MAX_NODES] if isinstance(items, list) else []
    nodes = [n for n in map(node_fields, listed) if n is not None]
    for node in nodes:
        ip = node["internal_ip"]
        node["caller_address"] = source_toward(ip, KUBELET_PORT) if ip else None
    return {**fields, "nodes": nodes}, ""
