"""The output formats and the commands' input checks, replayed from captured facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import DESKTOP, ROOTFUL, ROOTLESS, cli

from hostreach.cli import FLAG_FORMATS, split_run
from hostreach.facts import Listener, Listening, dumps, load
from hostreach.render import RENDERERS
from hostreach.resolve import resolve
from hostreach.routes import Request


def test_the_cli_offers_exactly_the_renderers() -> None:
    assert set(FLAG_FORMATS) == set(RENDERERS)


def test_args_is_one_flag_per_line() -> None:
    done = cli("flags", "--facts", ROOTFUL, "--format", "args", "--alias", "a", "--alias", "b")
    assert done.stdout.splitlines() == ["--add-host=a:host-gateway", "--add-host=b:host-gateway"]


def test_env_names_the_host_and_a_fixed_address() -> None:
    lines = cli("flags", "--facts", ROOTLESS, "--format", "env").stdout.splitlines()
    assert lines == [
        "HOSTREACH_HOST=host.docker.internal",
        "HOSTREACH_ADDRESS=192.0.2.2",
        "HOSTREACH_RUNTIME=docker-engine",
        "HOSTREACH_STRATEGY=lan-ip",
    ]
    native = cli("flags", "--facts", DESKTOP, "--format", "env").stdout
    assert "HOSTREACH_ADDRESS=\n" in native  # the runtime resolves the name: no fixed address


@pytest.mark.parametrize("strategy", ["auto", "host-network"])
def test_compose_fragment_is_the_routes_compose_dict(strategy: str) -> None:
    done = cli("flags", "--facts", ROOTFUL, "--format", "compose", "--strategy", strategy)
    route = resolve(load(ROOTFUL), Request(strategy=strategy))  # type: ignore[arg-type]
    assert yaml.safe_load(done.stdout) == route.compose()
    assert ("network_mode" in route.compose()) is (strategy == "host-network")


def test_compose_with_services_is_an_override_file() -> None:
    done = cli("flags", "--facts", ROOTFUL, "--format", "compose", "--service", "web",
               "--service", "on")  # fmt: skip
    data = yaml.safe_load(done.stdout)
    assert data == {
        "services": {
            "web": {"extra_hosts": ["host.docker.internal:host-gateway"]},
            "on": {"extra_hosts": ["host.docker.internal:host-gateway"]},  # quoted: not True
        }
    }


def test_docker_sdk_kwargs() -> None:
    route = resolve(load(ROOTLESS), Request(aliases=("local", "host.docker.internal")))
    assert route.docker_run_kwargs() == {
        "extra_hosts": {"local": "192.0.2.2", "host.docker.internal": "192.0.2.2"}
    }
    assert resolve(load(ROOTFUL), Request(strategy="host-network")).docker_run_kwargs() == {
        "extra_hosts": {"host.docker.internal": "127.0.0.1"},
        "network_mode": "host",
    }


def test_compose_override_covers_every_service(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  api: {image: x}\n  worker: {image: x}\n  "
        "sidecar: {image: x, network_mode: 'container:api'}\n",
        encoding="utf-8",
    )
    done = cli("compose-override", "--facts", ROOTFUL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(yaml.safe_load(done.stdout)["services"]) == {"api", "worker"}
    assert "sidecar" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no compose file here"),
        ("services: [", "not valid YAML"),
        ("version: '3'\n", "has no services"),
    ],
)
def test_compose_override_bad_input_exits_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "compose.yaml").write_text(content, encoding="utf-8")
    done = cli("compose-override", "--facts", ROOTFUL, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--port", "0"],
        ["doctor", "--port", "65536"],
        ["doctor", "--port", "http"],
        ["check", "--port", "-1"],
        ["check"],
        ["relay", "--port", "5432", "--backend", "db.example:5432"],
        ["relay", "--port", "5432", "--backend", "127.0.0.1:99999"],
        ["relay", "--port", "5432", "--target", "127.0.0.1:99999"],  # its name before 0.3
        ["doctor", "--port", "\u0665\u0664\u0663\u0662"],  # Arabic-Indic digits: not a port
        ["doctor", "--port", "8_0"],
        ["doctor", "--port", " +80 "],
        ["endpoint", "web;reboot", "80"],
        ["endpoint", "web", "80/icmp"],
        ["network", "$(id)"],
        ["flags", "--service", "web"],
        ["flags", "--format", "compose", "--service", "bad name"],
        ["run"],
    ],
)
def test_bad_input_to_the_commands_exits_2(args: list[str]) -> None:
    done = cli(*args, "--facts", ROOTFUL) if args[0] != "run" else cli(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


@pytest.mark.parametrize(
    ("argv", "own", "engine"),
    [
        (["--alias", "db", "-it", "img", "sh"], ["--alias", "db"], ["-it", "img", "sh"]),
        (["--alias=db", "--no-cache", "img"], ["--alias=db", "--no-cache"], ["img"]),
        (["--", "--alias", "img"], [], ["--alias", "img"]),  # after --, all the engine's
        (["--rm", "img", "--alias", "x"], [], ["--rm", "img", "--alias", "x"]),
    ],
)
def test_run_splits_its_own_options_from_the_engines(
    argv: list[str], own: list[str], engine: list[str]
) -> None:
    assert split_run(argv) == (own, engine)


def test_doctor_replays_from_facts_without_probing(tmp_path: Path) -> None:
    facts = load(ROOTFUL)
    path = tmp_path / "facts.json"
    path.write_text(
        dumps(facts._replace(listening=Listening((5432,), (Listener(5432, "127.0.0.1"),)))),
        encoding="utf-8",
    )
    done = cli("doctor", "--port", "5432", "--facts", str(path))
    assert done.returncode == 1
    assert "[error] loopback-only" in done.stdout
    assert "172.17.0.1:5432" in done.stdout
