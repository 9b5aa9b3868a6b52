"""compose-override reads the project as compose reads it (issue 27, item 1).

Each expectation here was measured with Compose v2.40.3 (forky's docker-compose) and, where v1
reads the construct, 1.29.2; the live tests below check the override with the CLI installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOTFUL, ROOTLESS, cli, skip_or_fail

from hostreach.composition import interpolate, parse_dotenv
from hostreach.errors import UsageError

RANCHER = ROOTFUL.parent.parent / "published" / "rancher-desktop-name-only.json"
ENV = {"SET": "host", "EMPTY": "", "B": "host"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "host"),
        ("$SET", "host"),
        ("${UNSET}", ""),  # compose warns and uses a blank string
        ("${UNSET:-none}", "none"),
        ("${EMPTY:-none}", "none"),
        ("${EMPTY-none}", ""),
        ("${UNSET-none}", "none"),
        ("${SET:+service:a}", "service:a"),
        ("${EMPTY:+service:a}", ""),
        ("${EMPTY+service:a}", "service:a"),
        ("${UNSET:-${B:-none}}", "host"),  # nested default, as v2 reads it
        ("$$SET", "$SET"),
        ("service:${SET}", "service:host"),
    ],
)
def test_interpolation_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, ENV, where="x") == expected


@pytest.mark.parametrize("text", ["${UNSET:?say why}", "${EMPTY:?say why}", "${UNSET?say why}"])
def test_a_required_variable_fails_with_its_message(text: str) -> None:
    with pytest.raises(UsageError, match=r"required variable .* missing a value: say why"):
        interpolate(text, ENV, where="services.b.network_mode")


def test_an_unclosed_expression_is_refused() -> None:
    with pytest.raises(UsageError, match="invalid interpolation format"):
        interpolate("${SET", ENV, where="x")


def test_dotenv_reads_quotes_export_and_comments() -> None:
    text = "# c\nexport A=1\nB='two words'\nC=\"x\" \nD=v # note\n\nnot a line\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x", "D": "v"}


def _override(tmp_path: Path, *args: str, facts: Path = ROOTFUL, **env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    done = cli("compose-override", "--facts", str(facts), *args, cwd=tmp_path, env=environ | env)
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout.replace("!override", ""))
    services: dict[str, object] = data["services"]
    return services


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_file_is_read_in_order(tmp_path: Path) -> None:
    _write(tmp_path / "base.yml", "services:\n  web: {image: x}\n  db: {image: x}\n")
    _write(tmp_path / "dev.yml", "services:\n  db: {network_mode: host}\n  tool: {image: x}\n")
    assert set(_override(tmp_path, "-f", "base.yml", "-f", "dev.yml")) == {"web", "tool"}


def test_compose_file_and_its_separator_are_read(tmp_path: Path) -> None:
    _write(tmp_path / "a.yml", "services:\n  web: {image: x}\n")
    _write(tmp_path / "b.yml", "services:\n  worker: {image: x}\n")
    found = _override(tmp_path, COMPOSE_FILE="a.yml;b.yml", COMPOSE_PATH_SEPARATOR=";")
    assert set(found) == {"web", "worker"}


def test_compose_file_may_come_from_dotenv(tmp_path: Path) -> None:
    _write(tmp_path / "a.yml", "services:\n  web: {image: x}\n")
    _write(tmp_path / "b.yml", "services:\n  worker: {image: x}\n")
    _write(tmp_path / ".env", "COMPOSE_FILE=a.yml:b.yml\n")
    assert set(_override(tmp_path)) == {"web", "worker"}


def test_dotenv_beside_the_first_file_decides_network_mode(tmp_path: Path) -> None:
    _write(tmp_path / "p" / "compose.yaml", "services:\n  a: {image: x, network_mode: '${NM}'}\n")
    _write(tmp_path / "p" / ".env", "NM=host\n")
    _write(tmp_path / ".env", "NM=bridge\n")  # the working directory's: not the project's
    done = cli("compose-override", "--facts", str(ROOTFUL), "-f", "p/compose.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["services"] == {}
    assert "a uses network_mode host" in done.stderr


def test_the_environment_wins_over_dotenv(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "services:\n  a: {image: x, network_mode: '${NM}'}\n")
    _write(tmp_path / ".env", "NM=host\n")
    assert set(_override(tmp_path, NM="bridge")) == {"a"}


def test_an_interpolated_service_network_is_left_out(tmp_path: Path) -> None:
    _write(
        tmp_path / "compose.yaml",
        "services:\n  vpn: {image: x}\n  app: {image: x, network_mode: '${VPN:-service:vpn}'}\n",
    )
    assert set(_override(tmp_path)) == {"vpn"}


def test_the_users_override_file_is_read_but_not_an_empty_or_our_own(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "services:\n  web: {image: x}\n")
    override = _write(tmp_path / "compose.override.yaml", "")  # `> file` has just emptied it
    assert set(_override(tmp_path)) == {"web"}
    override.write_text("services:\n  extra: {image: x}\n", encoding="utf-8")
    assert set(_override(tmp_path)) == {"web", "extra"}
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    override.write_text(done.stdout, encoding="utf-8")
    assert set(_override(tmp_path)) == {"web"}


def test_extends_brings_the_base_network_mode(tmp_path: Path) -> None:
    _write(tmp_path / "lib" / "base.yml", "services:\n  b: {image: x, network_mode: none}\n")
    _write(
        tmp_path / "compose.yaml",
        "services:\n  h: {image: x, network_mode: host}\n  c1: {extends: h}\n"
        "  c2:\n    extends: {file: lib/base.yml, service: b}\n  c3: {extends: c1}\n  ok: {image: x}\n",
    )
    assert set(_override(tmp_path)) == {"ok"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  a: {image: x}\n  a: {image: y}\n", "mapping key 'a' already defined"),
        ("services:\n  1: {image: x}\n", "service name 1 must be a quoted string"),
        ("services:\n  a: {extends: a}\n", "a circle of extends"),
        ("services:\n  a: {extends: nowhere}\n", "service 'nowhere' not found"),
        ("include: other.yml\n", "include must be a list"),
        ("include: [other.yml]\n", "compose file not found: ./other.yml"),
        ("include: [{path: compose.yaml}]\n", "include cycle detected at ./compose.yaml"),
        ("services:\n  a: {image: x, network_mode: '${NM:?set NM}'}\n", "set NM"),
    ],
)
def test_what_compose_refuses_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    _write(tmp_path / "compose.yaml", text)
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


# include: as Docker's reference shows it (https://docs.docker.com/reference/compose-file/include/):
# the short form with the included service used as if declared here, and the long form with
# project_directory and env_file. Each rule below was measured with Compose v2.40.3.
DOCS_INCLUDE = (
    "include:\n  - my-compose-include.yaml  #with serviceB declared\n"
    "services:\n  serviceA:\n    build: .\n    depends_on:\n      - serviceB\n"
)


def test_included_services_get_the_route(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", DOCS_INCLUDE)
    _write(tmp_path / "my-compose-include.yaml", "services:\n  serviceB: {image: x}\n")
    assert set(_override(tmp_path)) == {"serviceA", "serviceB"}


def _include_project(root: Path) -> None:
    """A project that uses each include rule; what compose makes of it is in the comments."""
    _write(
        root / "compose.yaml",
        "include:\n  - sub/compose.yaml\n"
        "  - path: [other/c.yaml, other/c.override.yaml]\n    env_file: [other/a.env, other/b.env]\n"
        "  - ${NESTED:-nested/compose.yaml}\n"
        "services:\n  web: {image: x}\n",
    )
    # sub's own .env decides its network mode; extends.file is relative to its directory
    _write(
        root / "sub" / "compose.yaml", "services:\n  db: {extends: {file: base.yml, service: b}}\n"
    )
    _write(root / "sub" / "base.yml", "services:\n  b: {image: x, network_mode: '${DBMODE}'}\n")
    _write(root / "sub" / ".env", "DBMODE=host\n")
    _write(root / "sub" / "compose.override.yaml", "services:\n  db: {network_mode: bridge}\n")
    # env files in order, the later winning; the including project's variables win over both
    _write(root / "other" / "c.yaml", "services:\n  cache: {image: x, network_mode: '${CM}'}\n")
    _write(
        root / "other" / "c.override.yaml",
        "services:\n  worker: {image: x, network_mode: '${WM}'}\n",
    )
    _write(root / "other" / "a.env", "CM=host\nWM=host\n")
    _write(root / "other" / "b.env", "CM=none\n")
    _write(root / ".env", "WM=bridge\n")
    # an include of an include
    _write(root / "nested" / "compose.yaml", "include: [deeper.yml]\n")
    _write(root / "nested" / "deeper.yml", "services:\n  tool: {image: x}\n")


def test_include_reads_each_project_as_compose_does(tmp_path: Path) -> None:
    _include_project(tmp_path)
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(yaml.safe_load(done.stdout)["services"]) == {"web", "worker", "tool"}
    assert "db uses network_mode host" in done.stderr  # sub/.env, not the override beside it
    assert "cache uses network_mode none" in done.stderr  # b.env over a.env


def test_include_is_read_as_compose_v2_reads_it(tmp_path: Path) -> None:
    """The same project through Compose v2's own `config`: the same services left out."""
    _include_project(tmp_path)
    config = subprocess.run(
        [*_compose_v2(), "config", "--format", "json"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert config.returncode == 0, config.stderr
    modes = {
        name: service.get("network_mode")
        for name, service in json.loads(config.stdout)["services"].items()
    }
    assert modes == {"web": None, "worker": "bridge", "tool": None, "db": "host", "cache": "none"}


def test_a_service_may_not_redefine_an_included_one_but_a_later_file_may(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "include: [inc.yml]\nservices:\n  db: {image: y}\n")
    _write(tmp_path / "inc.yml", "services:\n  db: {image: x}\n")
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    assert done.returncode == 2
    assert "services.db conflicts with imported resource" in done.stderr
    _write(tmp_path / "main.yml", "include: [inc.yml]\n")
    _write(tmp_path / "later.yml", "services:\n  db: {network_mode: host}\n")
    found = _override(tmp_path, "-f", "main.yml", "-f", "later.yml")
    assert found == {}


def test_an_include_named_twice_is_one_project(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "include: [inc.yml, inc.yml]\n")
    _write(tmp_path / "inc.yml", "services:\n  db: {image: x}\n")
    assert set(_override(tmp_path)) == {"db"}


def test_two_includes_defining_one_service_differently_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "include: [a.yml, b.yml]\n")
    _write(tmp_path / "a.yml", "services:\n  db: {image: x}\n")
    _write(tmp_path / "b.yml", "services:\n  db: {image: y}\n")
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    assert done.returncode == 2
    assert "defines conflicting service db" in done.stderr


def test_an_included_project_directory_anchors_its_paths(tmp_path: Path) -> None:
    _write(
        tmp_path / "compose.yaml",
        "include:\n  - path: sub/compose.yml\n    project_directory: lib\n",
    )
    _write(
        tmp_path / "sub" / "compose.yml",
        "services:\n  a: {extends: {file: base.yml, service: b}}\n",
    )
    _write(tmp_path / "lib" / "base.yml", "services:\n  b: {image: x, network_mode: '${M}'}\n")
    _write(tmp_path / "lib" / ".env", "M=host\n")
    assert _override(tmp_path) == {}


def test_an_include_fan_out_is_bounded(tmp_path: Path) -> None:
    # Each file includes the next one twice: 2**30 projects to read, were nothing to stop it.
    for level in range(30):
        _write(tmp_path / f"f{level}.yml", f"include: [f{level + 1}.yml, f{level + 1}.yml]\n")
    _write(tmp_path / "f30.yml", "services:\n  a: {image: x}\n")
    done = cli("compose-override", "--facts", str(ROOTFUL), "-f", "f0.yml", cwd=tmp_path)
    assert done.returncode == 2
    assert "include or extend more than 1000 files" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_named_env_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", "include:\n  - path: inc.yml\n    env_file: none.env\n")
    _write(tmp_path / "inc.yml", "services:\n  db: {image: x}\n")
    done = cli("compose-override", "--facts", str(ROOTFUL), cwd=tmp_path)
    assert done.returncode == 2
    assert "env file not found: ./none.env" in done.stderr


PODMAN = ROOTFUL.parent / "debian12-podman-4.3.1-rootful.json"


def test_a_project_network_is_not_given_the_default_networks_gateway(tmp_path: Path) -> None:
    """Podman 4.3's route is 10.88.0.1, which exists only while a container is on its default
    network: compose's project network gets this machine's main address instead."""
    _write(tmp_path / "compose.yaml", "services:\n  web: {image: x}\n")
    done = cli("compose-override", "--facts", str(PODMAN), cwd=tmp_path, check=True)
    assert yaml.safe_load(done.stdout)["services"]["web"] == {
        "extra_hosts": ["host.docker.internal:192.0.2.2"]
    }
    assert "cannot reach Podman's default gateway" in done.stderr
    flags = cli("flags", "--facts", str(PODMAN), check=True)  # docker run: the default network
    assert flags.stdout == "--add-host=host.docker.internal:10.88.0.1\n"


SAIL = (  # Laravel Sail's stub: https://github.com/laravel/sail/blob/1.x/stubs/docker-compose.stub
    "services:\n"
    "  laravel.test:\n"
    "    image: x\n"
    "    extra_hosts:\n"
    "      - 'host.docker.internal:host-gateway'\n"
    "      - 'db.local:192.0.2.9'\n"
)


def test_a_base_entry_for_the_alias_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", SAIL)
    done = cli("compose-override", "--facts", str(ROOTLESS), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "extra_hosts: !override" in done.stdout
    entries = yaml.safe_load(done.stdout.replace("!override", ""))["services"]["laravel.test"]
    assert entries["extra_hosts"] == ["host.docker.internal:192.0.2.2", "db.local:192.0.2.9"]
    assert "laravel.test sets host.docker.internal in its own extra_hosts" in done.stderr


def test_a_base_entry_is_dropped_where_the_runtime_resolves_the_name(tmp_path: Path) -> None:
    _write(tmp_path / "compose.yaml", SAIL)
    done = cli("compose-override", "--facts", str(RANCHER), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "extra_hosts: !override" in done.stdout
    entries = yaml.safe_load(done.stdout.replace("!override", ""))["services"]["laravel.test"]
    assert entries["extra_hosts"] == ["db.local:192.0.2.9"]


def test_reset_and_override_tags_are_read(tmp_path: Path) -> None:
    _write(tmp_path / "a.yml", "services:\n  a: {image: x, network_mode: host}\n  b: {image: x}\n")
    _write(tmp_path / "b.yml", "services:\n  a:\n    network_mode: !reset null\n  b: !reset\n")
    assert set(_override(tmp_path, "-f", "a.yml", "-f", "b.yml")) == {"a"}


def test_a_hostile_kept_entry_is_refused(tmp_path: Path) -> None:
    _write(
        tmp_path / "compose.yaml",
        "services:\n  a:\n    image: x\n    extra_hosts:\n"
        "      - 'host.docker.internal:host-gateway'\n      - 'x:192.0.2.7 --privileged'\n",
    )
    done = cli("compose-override", "--facts", str(ROOTLESS), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "extra_hosts entry 'x'" in done.stderr


def _compose_v2() -> list[str]:
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if shutil.which("docker") is None or probe.returncode != 0:
        skip_or_fail("Compose v2 is not installed (.ci/engines.sh installs forky's)")
    return ["docker", "compose"]


def test_compose_v2_resolves_the_alias_to_the_route_first(tmp_path: Path) -> None:
    """The override, read by Compose v2 itself, gives the route's address and keeps the rest."""
    _write(tmp_path / "compose.yaml", SAIL)
    done = cli("compose-override", "--facts", str(ROOTLESS), cwd=tmp_path)
    _write(tmp_path / "override.yml", done.stdout)
    config = subprocess.run(
        [*_compose_v2(), "-f", "compose.yaml", "-f", "override.yml", "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert config.returncode == 0, config.stderr
    hosts = json.loads(config.stdout)["services"]["laravel.test"]["extra_hosts"]
    assert sorted(hosts) == ["db.local=192.0.2.9", "host.docker.internal=192.0.2.2"]
