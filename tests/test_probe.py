"""Probes: real sockets and real engines; a failed read becomes an issue, never an exception."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import Engine, FakeEngine

from hostreach.engine import sdk as _docker
from hostreach.engine import sync as _enginehttp
from hostreach.engine.address import parse as split_address
from hostreach.engine.client import ENGINE_PATHS
from hostreach.engine.endpoint import find_endpoint
from hostreach.facts import Facts
from hostreach.probe import collect
from hostreach.probe.client import container_markers


@pytest.fixture
def hung_socket(tmp_path: Path) -> Iterator[str]:
    """A unix socket that accepts connections and never answers."""
    path = str(tmp_path / "hung.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def engine_issue(facts: Facts) -> str:
    return "; ".join(i.detail for i in facts.issues if i.source == "engine")


def test_hung_engine_costs_the_timeout_then_degrades(hung_socket: str) -> None:
    facts = collect(timeout=0.5, environ={"DOCKER_HOST": f"unix://{hung_socket}"})
    assert facts.daemon is None
    assert "did not answer within 0.5 s" in engine_issue(facts)


def test_missing_socket_is_an_issue(tmp_path: Path) -> None:
    facts = collect(environ={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert facts.daemon is None
    assert "no engine socket at" in engine_issue(facts)


def test_permission_denied_says_what_to_do(tmp_path: Path) -> None:
    where = split_address("unix:///var/run/docker.sock")
    message = _enginehttp.describe(PermissionError(13, "denied"), where, 2)
    assert "docker group" in message
    assert "rootless" in message


def test_bad_docker_host_is_an_endpoint_issue() -> None:
    facts = collect(environ={"DOCKER_HOST": "tcp://:99999"})
    assert [i.source for i in facts.issues if i.source == "endpoint"] == ["endpoint"]


def test_context_is_followed(tmp_path: Path) -> None:
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"colima").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "colima", "Endpoints": {"docker": {"Host": "unix:///x/docker.sock"}}})
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    found = find_endpoint(env, tmp_path)
    assert (found.url, found.context) == ("unix:///x/docker.sock", "colima")
    # DOCKER_HOST wins over the context; DOCKER_CONTEXT wins over currentContext.
    assert find_endpoint({**env, "DOCKER_HOST": "tcp://h:1"}, tmp_path).url == "tcp://h:1"
    assert find_endpoint({**env, "DOCKER_CONTEXT": "default"}, tmp_path).context is None
    facts = collect(environ={**env, "DOCKER_CONTEXT": "missing"}, home=tmp_path)
    assert "context 'missing' not found" in facts.issues[0].detail


def test_container_markers(tmp_path: Path) -> None:
    assert container_markers(tmp_path) == ()
    (tmp_path / ".dockerenv").touch()
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(
        "139 121 254:0 /var/lib/docker/containers/d03/hostname /etc/hostname rw - ext4 /dev/vda rw\n"
    )
    found = container_markers(tmp_path)
    assert found[0] == "/.dockerenv"
    assert "/var/lib/docker/containers/d03/hostname" in found[1]


@pytest.mark.engine
def test_sdk_and_stdlib_probes_read_the_same_engine(rootful: Engine) -> None:
    # The docker SDK path (ssh, TLS, npipe) and the stdlib fast path give the same raw JSON.
    found = find_endpoint(rootful.env(), Path.home())
    fast = _enginehttp.fetch(found.address, ENGINE_PATHS, timeout=5)
    sdk = _docker.fetch(found, ENGINE_PATHS, timeout=5)
    assert sdk["/version"] == fast["/version"]
    assert sdk["/networks/bridge"]["Id"] == fast["/networks/bridge"]["Id"]
    assert sdk["/info"]["ID"] == fast["/info"]["ID"]


def test_the_engines_answers_are_kept_while_its_socket_is_the_same(
    fake_engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = {"DOCKER_HOST": fake_engine.docker_host}
    first = collect(environ=env)
    assert first.daemon is not None
    assert len(fake_engine.requests) == 3
    assert collect(environ=env) == first  # kept: not asked again
    assert len(fake_engine.requests) == 3
    assert collect(environ=env, cache=False) == first
    assert len(fake_engine.requests) == 6
    fake_engine.restart()
    assert collect(environ=env) == first
    assert len(fake_engine.requests) == 9  # a new socket: asked again


def engine_name(facts: Facts) -> object:
    assert facts.daemon is not None
    return facts.daemon.info.get("Name")


def test_listeners_are_read_live(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        facts = collect(
            environ={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, ports=(port,), cache=False
        )
    assert facts.listening is not None
    assert facts.listening.ports == (port,)
    assert [(s.port, s.address) for s in facts.listening.sockets] == [(port, "127.0.0.1")]


def test_sockets_that_need_root_become_an_issue_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # macOS without root: psutil raises AccessDenied (psutil docs, net_connections). This machine
    # cannot be a Mac, so the one call is replaced at the probe boundary.
    def denied(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied(pid=None)

    monkeypatch.setattr(psutil, "net_connections", denied)
    facts = collect(environ={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, ports=(5432,))
    assert facts.listening is None
    assert any(i.source == "listeners" and "needs root" in i.detail for i in facts.issues)


@pytest.mark.engine
def test_a_tcp_engine_is_read_by_name(rootful: Engine) -> None:
    # A plain-TCP endpoint (tcp://localhost:PORT) forwarding to the real engine's socket: the
    # name is resolved (getaddrinfo) and its addresses tried in turn, as create_connection does.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    engine_path = rootful.docker_host.removeprefix("unix://")

    def forward_one() -> None:
        conn = listener.accept()[0]
        with conn, socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect(engine_path)
            upstream.sendall(conn.recv(65536))
            while chunk := upstream.recv(65536):
                conn.sendall(chunk)

    threads = [threading.Thread(target=forward_one, daemon=True) for _ in ENGINE_PATHS]
    for thread in threads:
        thread.start()
    try:
        answers = _enginehttp.fetch(
            split_address(f"tcp://localhost:{port}"), ENGINE_PATHS, timeout=5
        )
    finally:
        for thread in threads:
            thread.join(5)
        listener.close()
    direct = _enginehttp.fetch(split_address(rootful.docker_host), ENGINE_PATHS, timeout=5)
    assert answers["/version"] == direct["/version"]
    assert answers["/info"]["ID"] == direct["/info"]["ID"]


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hello</html>",
            "did not answer JSON",
        ),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
    ],
)
def test_something_other_than_an_engine_on_the_socket_is_a_bad_answer(
    tmp_path: Path, reply: bytes, says: str
) -> None:
    # No engine answers like this; a socket taken by another program does.
    path = str(tmp_path / "other.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)

    def answer() -> None:
        for _ in ENGINE_PATHS:
            conn = server.accept()[0]
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        facts = collect(timeout=2, environ={"DOCKER_HOST": f"unix://{path}"}, cache=False)
    finally:
        thread.join(5)
        server.close()
    assert facts.daemon is None
    (issue,) = [i for i in facts.issues if i.source == "engine"]
    assert issue.reason == "bad-answer"
    assert says in issue.detail


def test_answers_kept_alive_on_one_stream_are_split_by_their_lengths() -> None:
    # What one ssh session carries: HTTP/1.1 answers (sized, then chunked), then an HTTP/1.0 one.
    stream = (
        b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a": 1}'
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"b"\r\n4\r\n: 2}\r\n0\r\n\r\n'
        b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no"}'
    )
    found = []
    for path in ("/version", "/info", "/networks/bridge"):
        status, body, stream = _enginehttp._parse(path, stream)
        found.append((status, json.loads(body)))
    assert found == [(200, {"a": 1}), (200, {"b": 2}), (404, {"message": "no"})]


def test_an_engine_the_caller_names_is_read_as_docker_py_keeps_it(tmp_path: Path) -> None:
    # version= given: a client asks nothing until it is used (none of these engines exists)
    import docker  # noqa: PLC0415
    import docker.tls  # noqa: PLC0415

    from hostreach.engine.endpoint import given  # noqa: PLC0415
    from hostreach.errors import EndpointError  # noqa: PLC0415

    assert given("unix:///run/user/1000/docker.sock").url == "unix:///run/user/1000/docker.sock"
    unix = docker.DockerClient(base_url="unix:///run/user/1000/docker.sock", version="1.41")
    assert given(unix).url == "unix:///run/user/1000/docker.sock"
    assert given(unix.api).url == "unix:///run/user/1000/docker.sock"  # an APIClient too
    assert (
        given(docker.DockerClient(base_url="tcp://10.0.0.5:2375", version="1.41")).url
        == "tcp://10.0.0.5:2375"
    )
    assert given("ssh://me@builder").url == "ssh://me@builder"  # (an ssh client needs paramiko)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    tls = docker.tls.TLSConfig(
        client_cert=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")),
        ca_cert=str(tmp_path / "ca.pem"),
        verify=True,
    )
    secure = given(docker.DockerClient(base_url="tcp://10.0.0.5:2376", tls=tls, version="1.41"))
    assert (secure.url, secure.tls, secure.tls_dir, secure.tls_verify) == (
        "tcp://10.0.0.5:2376",
        True,
        str(tmp_path),
        True,
    )
    for bad in (object(), "http://x y", 42):
        with pytest.raises(EndpointError):
            given(bad)


def test_this_machines_memory_is_read_unless_meminfo_is_a_view(tmp_path: Path) -> None:
    from hostreach.probe.client import mem_total  # noqa: PLC0415

    (tmp_path / "proc" / "self").mkdir(parents=True)
    meminfo = tmp_path / "proc" / "meminfo"
    meminfo.write_text("MemTotal:       24683584 kB\nMemFree:  1 kB\n", encoding="ascii")
    mounts = tmp_path / "proc" / "self" / "mountinfo"
    mounts.write_text("22 1 0:21 / /proc rw - proc proc rw\n", encoding="ascii")
    assert mem_total(tmp_path) == 24683584 * 1024
    # lxcfs mounts its own view over /proc/meminfo in a container: not the kernel's memory.
    mounts.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        "41 22 0:45 /proc/meminfo /proc/meminfo rw - fuse.lxcfs lxcfs rw\n",
        encoding="ascii",
    )
    assert mem_total(tmp_path) is None
    meminfo.write_text("MemTotal: lots\n", encoding="ascii")
    mounts.write_text("", encoding="ascii")
    assert mem_total(tmp_path) is None
