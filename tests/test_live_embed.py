"""Embedding on a real engine: `hostreach run` keeps the container's exit code, and the compose
override reaches the host through docker compose itself (or is at least valid YAML)."""

from __future__ import annotations

import shutil
import subprocess
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


COMPOSES = {"v1": ["docker-compose"], "v2": ["docker", "compose"]}
"""bookworm's docker-compose 1.29 and forky's Compose v2 plugin (.ci/engines.sh installs both)."""


def _compose(version: str) -> list[str]:
    command = COMPOSES[version]
    if shutil.which(command[0]) is None:
        skip_or_fail(f"{command[0]} is not installed (.ci/engines.sh installs it)")
    probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0 or ("version 1." in probe.stdout) != (version == "v1"):
        skip_or_fail(f"Compose {version} is not installed: {probe.stdout.strip()[:80]}")
    return command


@pytest.mark.parametrize("version", sorted(COMPOSES))
@pytest.mark.parametrize("engine_name", ["rootful", "rootless", "podman"])
def test_compose_override_reaches_the_host(
    request: pytest.FixtureRequest,
    engine_name: str,
    version: str,
    server: HostServer,
    tmp_path: Path,
) -> None:
    """`up` with the override reaches the caller's token: every file read (the service is in
    the second), interpolation, and (v2) a base file's own host-gateway entry replaced."""
    engine: Engine = request.getfixturevalue(engine_name)
    # Found by this test on Podman 4.3: its default network's gateway (10.88.0.1, flags' route)
    # is refused from compose's project network while no container holds podman0 up.
    compose = _compose(version)
    clash = "    extra_hosts: ['host.docker.internal:host-gateway']\n" if version == "v2" else ""
    (tmp_path / "compose.yml").write_text(
        f"services:\n  sidecar:\n    image: {IMAGE}\n    network_mode: ${{SHARE:-service:web}}\n",
        encoding="utf-8",
    )
    (tmp_path / "web.yml").write_text(
        "services:\n"
        "  web:\n"
        f"    image: {IMAGE}\n"
        f'    command: ["sh", "-c", "nc -w 3 host.docker.internal {server.port} </dev/null"]\n'
        + clash,
        encoding="utf-8",
    )
    files = ["-f", "compose.yml", "-f", "web.yml"]
    override = cli("compose-override", *files, env=engine.env(), cwd=tmp_path, check=True)
    data = yaml.safe_load(override.stdout.replace("!override", ""))
    assert list(data["services"]) == ["web"]  # sidecar shares web's network: no extra_hosts
    assert "sidecar uses network_mode service:web" in override.stderr
    (tmp_path / "override.yml").write_text(override.stdout, encoding="utf-8")
    project = ["-p", f"hr{uuid.uuid4().hex[:8]}", *files, "-f", "override.yml"]
    env = engine.env()
    try:
        up = subprocess.run(
            [*compose, *project, "run", "--rm", "web"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
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
