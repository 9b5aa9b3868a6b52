"""Hostile class 2: every read is bounded in size and in time.

A snapshot, a compose file, the Docker CLI's configuration or an engine may be /dev/zero, a FIFO
nobody writes to, or gigabytes: each ends within the timeout with one clear line, or is ignored
where the CLI would ignore it, and never costs memory in proportion to what was offered.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOTFUL, FakeEngine, cli

from hostreach.probe import collect


def one_clean_line(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def held_fifo(fifo: Path) -> Iterator[Path]:
    """A FIFO whose writer holds it open and never writes."""
    fd: list[int] = []

    def hold() -> None:
        fd.append(os.open(fifo, os.O_WRONLY))  # blocks until the reader opens it

    writer = threading.Thread(target=hold, daemon=True)
    writer.start()
    yield fifo
    writer.join(5)
    for descriptor in fd:
        os.close(descriptor)


def timed(
    *args: str | Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = cli(*args, env=env, timeout=30)
    return time.monotonic() - start, done


def test_facts_from_dev_zero_is_refused_at_once() -> None:
    took, done = timed("flags", "--facts", "/dev/zero")
    one_clean_line(done, 2, "is not a regular file")
    assert took < 5


def test_facts_from_a_fifo_nobody_writes_is_refused(fifo: Path) -> None:
    took, done = timed("flags", "--facts", str(fifo))
    one_clean_line(done, 2, "facts")
    assert took < 5


def test_facts_from_a_pipe_that_never_ends_stops_at_the_timeout(held_fifo: Path) -> None:
    took, done = timed("flags", "--facts", str(held_fifo), "--timeout", "1")
    one_clean_line(done, 2, "gave no end of data within 1 s")
    assert took < 5


def test_facts_from_a_pipe_the_user_named_are_read() -> None:
    # bash process substitution: --facts <(cat snapshot) is a pipe, and a deliberate one
    script = f"{sys.executable} -m hostreach flags --facts <(cat {ROOTFUL})"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout) == (0, "--add-host=host.docker.internal:host-gateway\n")


def test_a_huge_facts_file_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(200 << 20)  # sparse: 200 MiB of zeros, costs no disk
    took, done = timed("flags", "--facts", str(huge))
    one_clean_line(done, 2, "is larger than 16 MiB")
    assert took < 5


def test_a_fifo_as_the_docker_config_is_ignored(fifo: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    os.mkfifo(config / "config.json")
    env = {**os.environ, "DOCKER_CONFIG": str(config), "XDG_CACHE_HOME": str(tmp_path / "c")}
    env.pop("DOCKER_HOST", None)
    took, done = timed("facts", env=env)
    assert took < 10
    assert done.returncode == 0, done.stderr  # the default context, as the CLI would use
    assert json.loads(done.stdout)["client"]["context"] is None


def test_a_fifo_as_a_contexts_meta_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    os.mkfifo(meta / "meta.json")
    env = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "remote"}
    env.pop("DOCKER_HOST", None)
    took, done = timed("flags", env=env)
    one_clean_line(done, 2, "docker context 'remote' not found or unreadable")
    assert took < 5


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge"])
def test_a_compose_file_that_is_not_one_is_refused(kind: str, fifo: Path, tmp_path: Path) -> None:
    path = {"fifo": fifo, "zero": Path("/dev/zero"), "huge": tmp_path / "compose.yaml"}[kind]
    if kind == "huge":
        with path.open("wb") as f:
            f.truncate(100 << 20)
    took, done = timed(
        "compose-override", "-f", str(path), "--facts", str(ROOTFUL), "--timeout", "1"
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "compose file" in done.stderr
    assert "Traceback" not in done.stderr
    assert took < 5


def test_an_engine_answering_gigabytes_costs_at_most_the_cap(
    fake_engine: FakeEngine, tmp_path: Path
) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[")
        block = b"1," * 32768
        try:
            for _ in range(100_000):  # up to 6.5 GB, unless the client stops reading
                conn.sendall(block)
        except OSError:
            return

    fake_engine.answers["/info"] = endless
    # The peak of this process's own memory (VmHWM): ru_maxrss would count the parent's too,
    # when the child was started with vfork.
    code = (
        "import sys\nfrom hostreach.probe import collect\n"
        f"f = collect(environ={{'DOCKER_HOST': {fake_engine.docker_host!r}}}, cache=False, timeout=20)\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
        "print([i.detail for i in f.issues if i.source == 'engine'])"
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    took = time.monotonic() - start
    peak_kib, issues = done.stdout.splitlines()
    assert "answered more than 4 MiB" in issues
    assert int(peak_kib) < 150_000  # a few answers' worth, not gigabytes
    assert took < 20


def test_an_engine_that_never_answers_costs_the_timeout(fake_engine: FakeEngine) -> None:
    release = threading.Event()
    fake_engine.answers["/info"] = lambda conn: release.wait(30)
    start = time.monotonic()
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False, timeout=1)
    release.set()
    assert time.monotonic() - start < 3
    assert facts.daemon is None
    assert any("did not answer within 1 s" in i.detail for i in facts.issues)


def test_a_slowloris_engine_costs_the_timeout(fake_engine: FakeEngine) -> None:
    def slow(conn: socket.socket) -> None:
        reply = b"HTTP/1.0 200 OK\r\n\r\n" + json.dumps({"a": "b" * 200}).encode()
        for byte in reply:  # one byte every 50 ms: 12 s in all
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(0.05)

    fake_engine.answers["/version"] = slow
    start = time.monotonic()
    facts = collect(environ={"DOCKER_HOST": fake_engine.docker_host}, cache=False, timeout=1)
    assert time.monotonic() - start < 3
    assert facts.daemon is None
