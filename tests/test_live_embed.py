"""Embedding on a real engine: `hostreach run` keeps the container's exit code, and the compose
override reaches the host through docker compose itself (or is at least valid YAML)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import IMAGE, Engine, HostServer, cli, skip_or_fail

pytestmark = pytest.mark.engine


def test_run_inserts_the_flags_and_keeps_the_exit_code(rootful: Engine, server: HostServer) -> None:
    script = f"nc -w 3 local {server.port} </dev/null; exit 7"
    done = cli("run", "--alias", "local", "--rm", IMAGE, "sh", "-c", script, env=rootful.env())
    assert done.returncode == 7, done.stderr
    assert server.token in done.stdout


def test_run_on_podman_reaches_the_host(podman: Engine, server: HostServer) -> None:
    script = f"nc -w 3 host.docker.internal {server.port} </dev/null"
    done = cli("run", "--", "--rm", IMAGE, "sh", "-c", script, env=podman.env())
    assert done.returncode == 0, done.stderr
    assert server.token in done.stdout


def _compose() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if probe.returncode == 0 else None


def test_compose_override_reaches_the_host(
    rootful: Engine, server: HostServer, tmp_path: Path
) -> None:
    base = tmp_path / "compose.yml"
    base.write_text(
        "services:\n"
        "  web:\n"
        f"    image: {IMAGE}\n"
        f'    command: ["sh", "-c", "nc -w 3 host.docker.internal {server.port} </dev/null"]\n'
        "  sidecar:\n"
        f"    image: {IMAGE}\n"
        '    network_mode: "service:web"\n',
        encoding="utf-8",
    )
    override = subprocess.run(
        [sys.executable, "-m", "hostreach", "compose-override", "-f", str(base)],
        env=rootful.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    data = yaml.safe_load(override.stdout)
    assert list(data["services"]) == ["web"]  # sidecar shares web's network: no extra_hosts
    assert "sidecar uses network_mode service:web" in override.stderr
    (tmp_path / "override.yml").write_text(override.stdout, encoding="utf-8")
    compose = _compose()
    if compose is None:
        skip_or_fail("docker compose is not installed (.ci/engines.sh installs docker-compose)")
    project = ["-p", f"hr{uuid.uuid4().hex[:8]}", "-f", "compose.yml", "-f", "override.yml"]
    env = rootful.env()
    config = subprocess.run(
        [*compose, *project, "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.returncode == 0, config.stderr
    try:
        up = subprocess.run(
            [*compose, *project, "run", "--rm", "web"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert server.token in up.stdout, up.stderr
    finally:
        subprocess.run(
            [*compose, *project, "down"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
            check=False,
        )
