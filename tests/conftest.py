"""Shared fixtures: real engines (skip locally without one, fail under CI=true) and host servers."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

import hostreach
from hostreach.probe import client as probe_client

# Every child these tests start (python -m hostreach, python -c ...) imports the hostreach the
# tests import, installed or not: from a checkout, a child run with cwd=tmp_path would not find
# it (issue 21: four CLI tests passed only with the package installed).
_SOURCE = str(Path(hostreach.__file__).resolve().parent.parent)
if _SOURCE not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    import site

    if _SOURCE not in site.getsitepackages():  # installed: children find it as it is
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [_SOURCE, os.environ.get("PYTHONPATH")])
        )

FIXTURES = Path(__file__).parent / "fixtures"
LIVE = FIXTURES / "live"
PUBLISHED = FIXTURES / "published"
ROOTFUL = LIVE / "debian12-docker-20.10-rootful.json"
ROOTLESS = LIVE / "debian12-docker-20.10-rootless.json"
ROOTLESS_LOOPBACK = LIVE / "debian12-docker-20.10-rootless-host-loopback.json"
PODMAN = LIVE / "debian12-podman-4.3.1-rootful.json"
PODMAN_ROOTLESS = LIVE / "debian12-podman-4.3.1-rootless.json"
DESKTOP = PUBLISHED / "docker-desktop-mac-20.10.17.json"
UFW = FIXTURES / "iptables" / "ufw-0.36.2-allow-22.rules"
FIREWALLD = FIXTURES / "nftables" / "firewalld-shaped.nft"
IMAGE = "localhost/hostreach-test:busybox"
TCPSVD_IMAGE = "localhost/hostreach-test:busybox-tcpsvd"
"""busybox with tcpsvd, as Docker Hub's busybox has it (.ci/busybox.sh); IMAGE has only nc."""
BUSYBOX = Path("/bin/busybox")
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(message: str) -> NoReturn:
    """Skip the test with ``message``, or fail it under CI=true, where every need is met."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Engine:
    """A real engine reachable from the tests."""

    name: str
    docker_host: str

    def env(self, **extra: str) -> dict[str, str]:
        """The environment in which the docker CLI and hostreach talk to this engine."""
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT",)}
        env["DOCKER_HOST"] = self.docker_host
        env.update(extra)
        return env

    def docker(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """Run the docker CLI against this engine; return stdout."""
        done = subprocess.run(
            ["docker", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout


def _socket_candidates(name: str) -> list[str]:
    override = os.environ.get(f"HOSTREACH_TEST_{name.upper()}_SOCKET")
    if override:
        return [override]
    if name == "rootful":
        return ["/var/run/docker.sock"]
    if name == "rootless":
        return sorted(glob.glob("/run/user/*/docker.sock"))
    if name == "podman_rootless":
        return sorted(glob.glob("/run/user/*/podman/podman.sock"))
    if (
        name == "rootless_loopback"
    ):  # .ci/engines.sh 2b: RootlessKit without --disable-host-loopback
        return sorted(glob.glob("/run/user/*/hl/docker.sock"))
    return ["/run/podman/podman.sock"]


def _reachable(path: str) -> str | None:
    """Return why the engine socket cannot be used, or None if it answers /_ping."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(3)
    try:
        sock.connect(path)
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        answer = sock.recv(64)
    except OSError as exc:
        return f"{path}: {exc}"
    finally:
        sock.close()
    return None if b" 200 " in answer else f"{path}: answered {answer!r}"


def _ensure_image(engine: Engine) -> None:
    if engine.docker("images", "-q", IMAGE).strip():
        return
    if shutil.which("docker") is None or not BUSYBOX.exists():
        pytest.fail(f"test image {IMAGE} is missing and /bin/busybox is not there to build it")
    # A root filesystem of one static busybox, imported: no registry and no builder needed.
    rootfs = Path(f"/tmp/hostreach-busybox-{os.getpid()}.tar")
    with tarfile.open(rootfs, "w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in (
            "sh",
            "nc",
            "cat",
            "echo",
            "sleep",
            "timeout",
            "wget",
            "ip",
            "grep",
            "nslookup",
        ):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    try:
        engine.docker("import", str(rootfs), IMAGE, timeout=120)
    finally:
        rootfs.unlink()


def _engine(name: str) -> Engine:
    candidates = _socket_candidates(name)
    reasons = [r for r in (_reachable(p) for p in candidates) if r is not None]
    usable = [p for p in candidates if _reachable(p) is None]
    if not usable:
        why = "; ".join(reasons) or "no socket found"
        message = f"no {name} engine reachable ({why}); `.ci/run` starts one"
        skip_or_fail(message)
    engine = Engine(name=name, docker_host=f"unix://{usable[0]}")
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed")
    _ensure_image(engine)
    return engine


ENGINE_FIXTURES = frozenset(
    {
        "rootful",
        "rootless",
        "rootless_loopback",
        "podman",
        "podman_rootless",
        "remote",
        "remote_ssh",
        "vm",
        "vm_ssh",
        "vm2",
        "vm2_ssh",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses a real engine carries the engine mark (so `-m "not engine"` holds)."""
    unmarked = [
        item.nodeid
        for item in items
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("engine") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests using an engine without @pytest.mark.engine: {unmarked}")


@pytest.fixture(scope="session")
def rootful() -> Engine:
    """The rootful Docker Engine."""
    return _engine("rootful")


@pytest.fixture(scope="session")
def rootless() -> Engine:
    """The rootless Docker Engine."""
    return _engine("rootless")


@pytest.fixture(scope="session")
def rootless_loopback() -> Engine:
    """A rootless Docker Engine whose RootlessKit lets containers reach the host's loopback."""
    return _engine("rootless_loopback")


@pytest.fixture(scope="session")
def podman() -> Engine:
    """Podman's Docker-compatible API service."""
    return _engine("podman")


@pytest.fixture(scope="session")
def podman_rootless() -> Engine:
    """Podman's Docker-compatible API service, run by an unprivileged user."""
    return _engine("podman_rootless")


class FakeEngine:
    """An Engine API on a unix socket answering one snapshot's JSON, counting what it is asked.

    A fake at the probe boundary, for what a real engine cannot be made to do on demand: be
    restarted between two calls, or be counted.
    """

    def __init__(self, path: Path, snapshot: Path = ROOTFUL) -> None:
        daemon = load_fixture(snapshot)["daemon"]
        assert isinstance(daemon, dict)
        bridge = {
            "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": daemon["bridge_gateway"]}]},
            "Options": {"com.docker.network.bridge.name": daemon["bridge_interface"]},
        }
        # The recorded engine stands in for this machine's own: its kernel and memory are this
        # machine's, or hostreach rightly takes it for an engine in a VM (issue 24).
        info = {**daemon["info"], "KernelVersion": os.uname().release}
        if (memory := probe_client.mem_total("/")) is not None:
            info["MemTotal"] = memory
        self.answers: dict[str, Any] = {
            "/version": {**daemon["version"], "KernelVersion": os.uname().release},
            "/info": info,
            "/networks/bridge": bridge,
        }
        self.path = path
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._server = self._listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _listen(self) -> socket.socket:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(self.path))
        server.listen(16)
        server.settimeout(0.1)
        return server

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._server.accept()[0]
            except OSError:  # a time-out, or the socket closed by restart(): look again
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        """JSON for a path; bytes are sent as the whole reply; a callable does as it likes."""
        with conn:
            try:
                path = conn.recv(65536).split(b" ")[1].decode()
            except (IndexError, OSError):
                return
            self.requests.append(path)
            answer = self.answers.get(path)
            if callable(answer):
                answer(conn)
                return
            if not isinstance(answer, bytes):
                body = json.dumps(answer).encode()
                answer = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
            with contextlib.suppress(OSError):
                conn.sendall(answer)

    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for this engine."""
        return f"unix://{self.path}"

    def restart(self) -> None:
        """What an engine restart does to its socket: a new file at the same path."""
        old = self._server
        self.path.unlink()
        self._server = self._listen()
        old.close()

    def close(self) -> None:
        """Stop answering."""
        self._stop.set()
        self._thread.join(2)
        self._server.close()


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[FakeEngine]:
    """A counted engine on a unix socket, answering the captured rootful Docker Engine."""
    engine = FakeEngine(tmp_path / "engine.sock")
    yield engine
    engine.close()


REMOTE_NS = "hr-remote"
REMOTE_HOST = "tcp://10.250.0.2:2375"
CALLER_ADDRESS = "10.250.0.1"
"""The remote engine's machine is a network namespace (.ci/engines.sh); this one is the caller."""


@pytest.fixture(scope="session")
def remote() -> Engine:
    """A Docker Engine on another machine (its own network namespace), over tcp://."""
    try:
        with socket.create_connection(("10.250.0.2", 2375), timeout=3) as sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answered = sock.recv(64)
    except OSError as exc:
        answered = str(exc).encode()
    if b" 200 " not in answered:
        message = f"no remote engine at {REMOTE_HOST} ({answered!r}); `.ci/engines.sh` starts one"
        skip_or_fail(message)
    engine = Engine(name="remote", docker_host=REMOTE_HOST)
    _ensure_image(engine)
    return engine


@pytest.fixture(scope="session")
def remote_ssh(remote: Engine) -> Engine:
    """The same remote engine over ssh:// (root's ssh config names it hr-remote-ssh)."""
    engine = Engine(name="remote_ssh", docker_host="ssh://hr-remote-ssh")
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        message = f"no engine at ssh://hr-remote-ssh ({done.stderr.strip()}); `.ci/engines.sh`"
        skip_or_fail(message)
    return engine


VM_SOCKET = "/run/hostreach-vm/docker.sock"
VM_SSH = "ssh://hr-vm-ssh"
VM_HOST = "192.168.5.2"
"""The VM lab (.ci/vm.sh): Docker Engine in a QEMU guest laid out like Lima, whose user-mode
network forwards 192.168.5.2 to this machine's loopback; its socket forwarded over ssh -L."""


@pytest.fixture(scope="session")
def vm() -> Engine:
    """The engine in the VM lab, through its socket forwarded to this machine (as Lima does)."""
    why = _reachable(VM_SOCKET)
    if why is not None:
        skip_or_fail(f"no VM lab engine ({why}); `.ci/vm.sh` boots one")
    engine = Engine(name="vm", docker_host=f"unix://{VM_SOCKET}")
    _ensure_image(engine)
    return engine


@pytest.fixture(scope="session")
def vm_ssh(vm: Engine) -> Engine:
    """The same engine in the VM over ssh:// (root's ssh config names the guest hr-vm-ssh)."""
    return Engine(name="vm_ssh", docker_host=VM_SSH)


VM2_SOCKET = "/run/hostreach-vm2/docker.sock"
VM2_HOST = "10.77.0.1"
"""The VM lab's second guest: passt on 10.77.0.0/24, its gateway mapped to this machine's
loopback, a subnet no rule knows."""


@pytest.fixture(scope="session")
def vm2() -> Engine:
    """The VM lab's second engine (passt), through its forwarded socket."""
    why = _reachable(VM2_SOCKET)
    if why is not None:
        skip_or_fail(f"no VM lab engine ({why}); `.ci/vm.sh` boots one")
    engine = Engine(name="vm2", docker_host=f"unix://{VM2_SOCKET}")
    _ensure_image(engine)
    return engine


@pytest.fixture(scope="session")
def vm2_ssh(vm2: Engine) -> Engine:
    """The same engine over ssh:// (hr-vm2-ssh)."""
    return Engine(name="vm2_ssh", docker_host="ssh://hr-vm2-ssh")


@contextlib.contextmanager
def decoy_in_the_vm(port: int, guest: str = "hr-vm-ssh") -> Iterator[str]:
    """A service in a VM lab guest, on the caller's port, answering "decoy"."""
    said = "decoy in the VM"
    start = (
        f"printf '#!/bin/sh\\necho {said}\\n' >/tmp/hr-decoy && chmod +x /tmp/hr-decoy &&"
        f" (busybox nc -ll -p {port} -e /tmp/hr-decoy >/dev/null 2>&1 & echo $!)"
    )
    pid = _guest(guest, start).strip()
    try:
        for _ in range(100):  # until it answers in the guest, however loaded this machine is
            if said in _guest(guest, f"busybox nc -w 2 127.0.0.1 {port} </dev/null || true"):
                break
        else:
            pytest.fail("the decoy in the VM did not start")
        yield said
    finally:
        _guest(guest, f"kill {pid} 2>/dev/null || true")


def _guest(guest: str, command: str) -> str:
    done = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", guest, command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"ssh {guest} {command!r}: {done.stderr}")
    return done.stdout


DECOY = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])), reuse_port=True)
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"decoy on the engine's machine\\n")
    conn.close()
"""


@contextlib.contextmanager
def decoy_on_the_engines_machine(port: int) -> Iterator[str]:
    """A service on the remote engine's machine, on the caller's port, answering "decoy"."""
    with decoy(port, ["nsenter", f"--net=/run/netns/{REMOTE_NS}"]) as said:
        yield said


@contextlib.contextmanager
def decoy(port: int, prefix: list[str] | None = None) -> Iterator[str]:
    """A service answering "decoy" on 0.0.0.0:PORT, where ``prefix`` runs it (here: none)."""
    proc = subprocess.Popen(
        [*(prefix or []), sys.executable, "-c", DECOY, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", "the decoy did not start"
        yield "decoy on the engine's machine"
    finally:
        proc.kill()
        proc.wait(10)


@dataclass
class RunningRelay:
    """A `hostreach relay` started for a test: its status line, then its log and exit code."""

    status: str
    log: str = ""
    exit_code: int | None = None


@contextlib.contextmanager
def relay_running(engine: Engine, port: int) -> Iterator[RunningRelay]:
    """Run `python -m hostreach relay --port PORT` against the engine until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hostreach", "relay", "--port", str(port), "--no-cache"],
        env=engine.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    running = RunningRelay(status=proc.stdout.readline())
    try:
        assert running.status.startswith("relay: "), running.status
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        _, running.log = proc.communicate(timeout=30)
        running.exit_code = proc.returncode


@dataclass
class HostServer:
    """A TCP server on the host that answers every connection with ``token``."""

    port: int
    token: str
    address: str


def _serve(address: str, token: str) -> Iterator[HostServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(token.encode() + b"\n")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield HostServer(port=sock.getsockname()[1], token=token, address=address)
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[HostServer]:
    """A host service listening on all interfaces (0.0.0.0)."""
    yield from _serve("0.0.0.0", f"hostreach-{os.getpid()}-{threading.get_ident()}")


@pytest.fixture
def loopback_server() -> Iterator[HostServer]:
    """A host service listening on 127.0.0.1 only."""
    yield from _serve("127.0.0.1", f"loopback-{os.getpid()}")


def cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hostreach ARGS`` as a user would; ``check``: fail the test unless it exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "hostreach", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(f"hostreach {' '.join(map(str, args))} exited {done.returncode}: {done.stderr}")
    return done


def load_fixture(path: Path) -> dict[str, object]:
    """Return a JSON fixture file's content."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


REPO = Path(__file__).resolve().parent.parent


def run_inside(
    engine: Engine, flags: list[str], *args: str, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hostreach ARGS` (or a sh ``script`` using $HOSTREACH) in a busybox container.

    This interpreter, its libraries and the checkout are mounted read-only: no image to build.
    """
    mounts = {sys.base_prefix, sys.prefix, str(REPO), "/usr", "/lib", "/lib64", "/etc/ssl"}
    volumes = [f"--volume={m}:{m}:ro" for m in sorted(mounts) if Path(m).exists()]
    hostreach_cmd = f"{sys.executable} -m hostreach"
    command = (
        ["sh", "-c", script] if script is not None else [sys.executable, "-m", "hostreach", *args]
    )
    return subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            *flags,
            *volumes,
            f"--env=PYTHONPATH={REPO}",
            f"--env=HOSTREACH={hostreach_cmd}",
            IMAGE,
            *command,
        ],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def reach(
    engine: Engine, flags: list[str], alias: str, port: int
) -> subprocess.CompletedProcess[str]:
    """Run a throwaway container with the flags; it prints what ALIAS:PORT answers."""
    # busybox-static's nc has no -z; read the banner instead (and wget -T segfaults there).
    # The last line says the container ran and how nc ended (Podman 4.3's compat API reports
    # exit 0 for such a container through the docker CLI).
    script = f"nc -w 3 {alias} {port} </dev/null; echo nc-exit=$?"
    return in_container(engine, flags, script, timeout=60)


def in_container(
    engine: Engine, flags: list[str], script: str, *, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a sh ``script`` in a throwaway test container with the flags; return what it said."""
    return subprocess.run(
        ["docker", "run", "--rm", *flags, IMAGE, "sh", "-c", script],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_not_reached(done: subprocess.CompletedProcess[str], token: str, because: str) -> None:
    """A negative control: the container ran (no engine or image error) and nc failed, ``because``.

    busybox nc says "bad address 'NAME'" for a name that does not resolve and "Connection
    refused" for a closed port; docker's own errors (no image, no engine) never count as either.
    """
    assert token not in done.stdout
    assert "nc-exit=1" in done.stdout, f"the container did not run: {done.stderr}"
    assert because in done.stderr, done.stderr


NO_NC_IMAGE = "localhost/hostreach-test:dash"


@pytest.fixture
def no_nc_image(rootful: Engine, tmp_path: Path) -> str:
    """An image with a shell (Debian's dash and the libraries it loads) but no nc."""
    if rootful.docker("images", "-q", NO_NC_IMAGE).strip():
        return NO_NC_IMAGE
    dash = Path("/bin/dash")
    libs = re.findall(r"(/\S+\.so[.\d]*) ", subprocess.check_output(["ldd", str(dash)], text=True))
    tar = tmp_path / "dash.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(dash, arcname="bin/sh")
        for lib in libs:
            archive.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
    rootful.docker("import", str(tar), NO_NC_IMAGE)
    return NO_NC_IMAGE
