"""pytest plugin: fixtures for the route to this machine and for a tunnel to one of its ports.

Registered as the ``hostreach`` entry point of ``pytest11``: pytest loads every such entry
point of an installed distribution, whatever extras it was installed with (pluggy reads no
extras), so the plugin does nothing until a test asks for one of its fixtures: no hooks, no
import of the probes or of the docker SDK. ``-p no:hostreach`` turns it off.

``--hostreach-engine URL`` (or the ``hostreach_engine`` ini value) names the engine the tests'
containers run on, where it is not the one the environment names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hostreach.routes import Route

ENGINE_HELP = (
    "the engine the tests' containers run on (unix://, tcp://, ssh://); default: as docker"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--hostreach-engine`` and its ini value."""
    group = parser.getgroup("hostreach")
    group.addoption("--hostreach-engine", metavar="URL", default=None, help=ENGINE_HELP)
    parser.addini("hostreach_engine", ENGINE_HELP, default=None)


def _engine(config: pytest.Config) -> str | None:
    """The engine named on the command line, else in the ini file, else None (the environment's)."""
    named = config.getoption("hostreach_engine") or config.getini("hostreach_engine")
    return str(named) if named else None


@pytest.fixture(scope="session")
def hostreach_route(pytestconfig: pytest.Config) -> Route:
    """The route by which containers reach this machine: ``route.docker_run_kwargs()``, ``flags``."""
    import hostreach  # noqa: PLC0415 - only when a test asks

    return hostreach.route(engine=_engine(pytestconfig))


@pytest.fixture
def hostreach_tunnel(pytestconfig: pytest.Config) -> Iterator[Callable[..., Route]]:
    """Open ``hostreach.tunnel(*ports, **options)`` for this test; it closes after the test."""
    import hostreach  # noqa: PLC0415 - only when a test asks

    engine = _engine(pytestconfig)
    with ExitStack() as stack:

        def start(*ports: int, **options: Any) -> Route:
            options.setdefault("engine", engine)
            return stack.enter_context(hostreach.tunnel(*ports, **options))

        yield start
