"""The registry against replayed real outputs: published `docker info` pastes and live captures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, PUBLISHED, ROOTFUL

from hostreach.engine import views
from hostreach.errors import NoRouteError
from hostreach.facts import Facts, load
from hostreach.resolve import resolve
from hostreach.routes import Request
from hostreach.runtimes import RUNTIMES, by_id, host_names, identify, socket_hint

# Engine snapshots; tests/fixtures/kube holds clusters, replayed by tests/test_clusters.py.
ALL = sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name != "kube")
PUBLISHED_FILES = sorted(PUBLISHED.glob("*.json"))


def fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_fixture_names_its_source(path: Path) -> None:
    data = fixture(path)
    assert data["source"].startswith(("https://", "Captured with `python -m hostreach facts`"))
    assert data["expect"]["runtime"] in {r.id for r in RUNTIMES}


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_matches_exactly_its_row(path: Path) -> None:
    expect = fixture(path)["expect"]
    facts = load(path)
    specific = [r.id for r in RUNTIMES if not r.generic and r.detect(facts)]
    if expect.get("hint"):  # named by its socket path alone (the engine said nothing)
        assert specific == []
        hinted = socket_hint(facts)
        assert hinted is not None
        assert hinted.id == expect["runtime"]
    elif by_id(expect["runtime"]).generic:
        assert specific == []
    else:
        assert specific == [expect["runtime"]]


def _no_route_as_expected(expect: dict[str, Any], facts: Facts) -> bool:
    """Check a fixture that expects no route (for its default request); say if it did."""
    if "no_route" in expect:
        with pytest.raises(NoRouteError, match=expect["no_route"]):
            resolve(facts)
        if views.engine_version(facts) is None:  # asked for by hand, with a word of caution
            asked = resolve(facts, Request(strategy="host-gateway"))
            assert [n.id for n in asked.notes][:1] == ["version-unknown"]
        else:
            with pytest.raises(NoRouteError, match="predates host-gateway"):
                resolve(facts, Request(strategy="host-gateway"))
    elif "no_route_for" in expect:
        with pytest.raises(NoRouteError, match="provides no name for the host"):
            resolve(facts, Request(aliases=(expect["no_route_for"],)))
        return True
    elif "no_route_because" in expect:  # a paste without what the route needs
        with pytest.raises(NoRouteError, match=expect["no_route_because"]):
            resolve(facts)
        assert views.rootless(facts) is expect["rootless"]
    elif "no_route_for_engine_host" in expect:
        with pytest.raises(NoRouteError, match=expect["no_route_for_caller"]):
            resolve(facts)
        with pytest.raises(NoRouteError, match=expect["no_route_for_engine_host"]):
            resolve(facts, Request(target="engine-host"))
    else:
        return False
    assert identify(facts).id == expect["runtime"]
    return True


@pytest.mark.parametrize("path", PUBLISHED_FILES, ids=lambda p: p.stem)
def test_published_fixture_gives_its_route(path: Path) -> None:
    expect = fixture(path)["expect"]
    facts = load(path)
    if _no_route_as_expected(expect, facts):
        return
    if "no_route_for_default" in expect:  # e.g. a paste without the network's gateway
        with pytest.raises(NoRouteError, match=expect["no_route_for_default"]):
            resolve(facts)
    if "engine_version" in expect:
        assert views.engine_version(facts) == tuple(expect["engine_version"])
    if "no_route_for_caller" in expect:
        with pytest.raises(NoRouteError, match=expect["no_route_for_caller"]):
            resolve(facts)
    aliases = tuple(expect.get("aliases", ("host.docker.internal",)))
    route = resolve(facts, Request(aliases=aliases, target=expect.get("target", "caller")))
    assert route.runtime == expect["runtime"]
    assert route.rootless is expect["rootless"]
    assert route.strategy == expect["strategy"]
    assert route.remote is expect.get("remote", False)
    if "flags" in expect:
        assert list(route.flags) == expect["flags"]
    if "warning" in expect:
        assert any(expect["warning"] in warning for warning in route.warnings)


def test_desktop_gives_host_gateway_for_other_names() -> None:
    facts = load(PUBLISHED / "docker-desktop-mac-20.10.17.json")
    route = resolve(facts, Request(aliases=("host.docker.internal", "local")))
    assert route.hosts == {"host.docker.internal": "native", "local": "host-gateway"}
    assert route.flags == ["--add-host=local:host-gateway"]


def test_runtime_override_skips_detection() -> None:
    facts = load(ROOTFUL)
    route = resolve(facts, Request(runtime="rancher-desktop"))
    assert route.runtime == "rancher-desktop"
    assert route.strategy == "native"
    other = resolve(facts, Request(runtime="rancher-desktop", aliases=("local",)))
    assert other.flags == ["--add-host=local:192.168.5.2"]  # never host-gateway there


def test_every_row_cites_sources() -> None:
    for row in RUNTIMES:
        assert row.id == "unknown" or row.sources


def test_rancher_desktop_never_gets_host_gateway() -> None:
    # host-gateway would override the working name with the VM's 172.17.0.1 (rancher-desktop#7611).
    facts = load(PUBLISHED / "rancher-desktop-name-only.json")
    route = resolve(facts, Request(aliases=("host.docker.internal", "local")))
    assert route.hosts == {"host.docker.internal": "native", "local": "192.168.5.2"}
    assert "host-gateway" not in " ".join(route.flags)


def test_a_wsl2_kernel_under_docker_desktop_is_docker_desktop() -> None:
    facts = load(PUBLISHED / "docker-desktop-windows-wsl2-20.10.21.json")
    route = resolve(facts)
    assert route.runtime == "docker-desktop"
    assert not any("WSL" in w for w in route.warnings)  # Desktop reaches Windows itself


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_name_a_row_resolves_is_one_address_tries(path: Path) -> None:
    facts = load(path)
    for row in RUNTIMES:
        assert row.builtin_names(facts) <= set(row.provides) <= set(host_names())
