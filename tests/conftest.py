"""Shared fixtures: real engines (skip locally without one, fail under CI=true) and host servers."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
IMAGE = "localhost/hostreach-test:busybox"
BUSYBOX = Path("/bin/busybox")
IN_CI = os.environ.get("CI", "").lower() == "true"


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
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    engine = Engine(name=name, docker_host=f"unix://{usable[0]}")
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed")
    _ensure_image(engine)
    return engine


@pytest.fixture(scope="session")
def rootful() -> Engine:
    """The rootful Docker Engine."""
    return _engine("rootful")


@pytest.fixture(scope="session")
def rootless() -> Engine:
    """The rootless Docker Engine."""
    return _engine("rootless")


@pytest.fixture(scope="session")
def podman() -> Engine:
    """Podman's Docker-compatible API service."""
    return _engine("podman")


@pytest.fixture(scope="session")
def podman_rootless() -> Engine:
    """Podman's Docker-compatible API service, run by an unprivileged user."""
    return _engine("podman_rootless")


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
def server() -> Iterator[HostServer]:
    """A host service listening on all interfaces (0.0.0.0)."""
    yield from _serve("0.0.0.0", f"hostreach-{os.getpid()}-{threading.get_ident()}")


@pytest.fixture
def loopback_server() -> Iterator[HostServer]:
    """A host service listening on 127.0.0.1 only."""
    yield from _serve("127.0.0.1", f"loopback-{os.getpid()}")


def hostreach(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run ``python -m hostreach ARGS`` as a user would; return stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "hostreach", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(f"hostreach {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


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
    script = f"nc -w 3 {alias} {port} </dev/null"
    return subprocess.run(
        ["docker", "run", "--rm", *flags, IMAGE, "sh", "-c", script],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
