"""The modern-engines lab (.ci/lab.sh, issue 23): Debian trixie and forky hosts, each a container
of this machine's rootful engine with its own engines inside, driven through ``docker exec``."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
"""This checkout."""
SUITES = ("trixie", "forky")
IMAGE = "localhost/hostreach-test:busybox"
OUTSIDE = "10.251.0.1"
"""This machine, as the labs see it: the gateway of their network (.ci/lab.sh)."""


@dataclass(frozen=True)
class Mode:
    """One engine in a lab host: who runs it and where its socket is."""

    name: str
    user: str
    uid: int
    socket: str

    @property
    def rootless(self) -> bool:
        """Whether a user's engine (its containers live in that user's namespaces)."""
        return self.uid != 0


MODES = {
    m.name: m
    for m in (
        Mode("rootful", "root", 0, "/var/run/docker.sock"),
        Mode("podman", "root", 0, "/run/podman/podman.sock"),
        Mode("rootless", "hr", 1000, "/run/user/1000/docker.sock"),
        Mode("podman_rootless", "hr", 1000, "/run/user/1000/podman/podman.sock"),
        Mode("rootless_pasta", "hrpasta", 1001, "/run/user/1001/docker.sock"),
        Mode("rootless_loopback", "hrloop", 1002, "/run/user/1002/docker.sock"),
    )
}
DOCKER_MODES = ("rootful", "rootless", "rootless_pasta", "rootless_loopback")
"""Docker Engine's modes, whose rootless ones run in RootlessKit's namespace."""

SERVE = """
import socket, sys
ipv6 = ":" in sys.argv[1]
server = socket.create_server(
    (sys.argv[1], int(sys.argv[2])),
    family=socket.AF_INET6 if ipv6 else socket.AF_INET,
    reuse_port=True,
    dualstack_ipv6=sys.argv[1] == "::",
)
open(sys.argv[4], "w").close()
while True:
    conn, _ = server.accept()
    conn.sendall(sys.argv[3].encode() + b"\\n")
    conn.close()
"""
"""A service answering every connection with a token; it says it listens by creating a file."""


@dataclass(frozen=True)
class Lab:
    """A running lab host."""

    suite: str

    @property
    def container(self) -> str:
        """The lab's container on this machine's rootful engine."""
        return f"hr-lab-{self.suite}"

    def run(
        self, mode: Mode, command: str, *, timeout: float = 120, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command in the lab as the mode's user, its engine in DOCKER_HOST."""
        env = [
            f"DOCKER_HOST=unix://{mode.socket}",
            f"XDG_RUNTIME_DIR=/run/user/{mode.uid}",
            f"HOME={'/root' if mode.uid == 0 else f'/home/{mode.user}'}",
            "PATH=/opt/hr/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        args = ["docker", "exec", "-i", "-u", mode.user, "-w", "/tmp"]
        args += [part for item in env for part in ("-e", item)]
        return subprocess.run(
            [*args, self.container, "sh", "-c", command],
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, mode: Mode, command: str, *, timeout: float = 120) -> str:
        """Run a command that must succeed; return its stdout."""
        done = self.run(mode, command, timeout=timeout)
        if done.returncode != 0:
            pytest.fail(
                f"{self.suite}/{mode.name}: {command!r} exited {done.returncode}: "
                f"{done.stderr[-2000:]}"
            )
        return done.stdout

    def hostreach(self, mode: Mode, args: str) -> subprocess.CompletedProcess[str]:
        """``python -m hostreach ARGS`` in the lab, as the mode's user against its engine."""
        return self.run(mode, f"python -m hostreach {args}")

    def reach(self, mode: Mode, flags: str, port: int, name: str = "host.docker.internal") -> str:
        """What a container started with ``flags`` reads from NAME:PORT (stdout and stderr)."""
        done = self.run(
            mode,
            f"docker run --rm {flags} {IMAGE} nc -w 10 {name} {port} </dev/null",
        )
        return done.stdout + done.stderr

    def version(self, mode: Mode) -> str:
        """The engine's version, as its API says."""
        return self.must(mode, "docker version --format '{{.Server.Version}}'").strip()

    @contextlib.contextmanager
    def serving(
        self, mode: Mode, address: str, port: int, token: str, *, netns_of: str | None = None
    ) -> Iterator[None]:
        """A service on ADDRESS:PORT answering ``token``, in the lab host's network (or in the
        network namespace of the process whose pid file is ``netns_of``) until the block ends."""
        ready = f"/tmp/hr-serve-{port}-{abs(hash((address, netns_of)))}"
        enter = f"nsenter -U --preserve-credentials -n -t $(cat {netns_of}) " if netns_of else ""
        script = SERVE.replace("'", "'\"'\"'")
        self.must(
            mode,
            f"rm -f {ready}; ({enter}python3 -c '{script}' {address} {port} {token} {ready}"
            f" >/dev/null 2>{ready}.err & echo $! > {ready}.pid)",
        )
        try:
            self.must(  # until it listens, or says why it could not
                mode,
                f"for i in $(seq 1 600); do [ -e {ready} ] && exit 0;"
                f" kill -0 $(cat {ready}.pid) 2>/dev/null || break; sleep 0.1; done;"
                f" tail -n 3 {ready}.err >&2; exit 1",
            )
            yield
        finally:
            self.run(mode, f"kill $(cat {ready}.pid) 2>/dev/null; rm -f {ready} {ready}.*")


_WHEEL: list[Path] = []
"""This checkout's wheel, built once a session."""


def _wheel() -> Path:
    """Build this checkout as a wheel, as a user's pip would, once a session."""
    if not _WHEEL:
        out = Path(tempfile.mkdtemp(prefix="hostreach-lab-wheel-"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        wheels = sorted(out.glob("hostreach-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            pytest.fail(f"building this checkout's wheel: {done.stderr[-1000:]}")
        _WHEEL.append(wheels[0])
    return _WHEEL[0]


def install_checkout(lab: Lab) -> None:
    """Install this checkout's wheel into the lab's venv (the dependencies are there, from the
    wheelhouse .ci/lab.sh built: the lab needs no network), replacing the last one."""
    wheel = _wheel()
    copied = subprocess.run(
        ["docker", "cp", str(wheel), f"{lab.container}:/tmp/{wheel.name}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if copied.returncode != 0:
        pytest.fail(f"copying the wheel into {lab.container}: {copied.stderr[-500:]}")
    lab.must(
        MODES["rootful"],
        f"/opt/hr/bin/pip install -q --no-index --no-deps --force-reinstall /tmp/{wheel.name}"
        " && hostreach --version",
    )


def open_lab(suite: str) -> Lab:
    """The running lab for ``suite`` with this checkout in it, or skip (fail under CI=true)."""
    lab = Lab(suite)
    done = subprocess.run(
        ["docker", "exec", lab.container, "cat", "/run/hr-lab/ready"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        skip_or_fail(
            f"no {suite} lab ({done.stderr.strip()[:200]}); `.ci/lab.sh build && .ci/lab.sh start`"
        )
    install_checkout(lab)
    return lab


def route_json(lab: Lab, mode: Mode, args: str = "") -> dict[str, object]:
    """`flags --format json` in the lab, which must answer."""
    out = lab.must(mode, f"python -m hostreach flags --format json --no-cache {args}")
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def route_flags(lab: Lab, mode: Mode, args: str = "") -> str:
    """The route's `docker run` flags, quoted for the lab's shell."""
    flags = route_json(lab, mode, args)["flags"]
    assert isinstance(flags, list), flags
    return " ".join(shlex.quote(str(flag)) for flag in flags)
