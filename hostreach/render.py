"""render: Route -> text, one renderer per output format."""

from __future__ import annotations

import json
from collections.abc import Callable

from hostreach.resolve import Route


def shell(route: Route) -> str:
    """One flag per line: safe unquoted in bash and zsh, one argument each in fish and PowerShell."""
    return "".join(f"{flag}\n" for flag in route.flags)


def as_json(route: Route) -> str:
    """The route as one JSON object."""
    return json.dumps(route.to_json(), indent=2) + "\n"


RENDERERS: dict[str, Callable[[Route], str]] = {
    "shell": shell,
    "json": as_json,
}
"""Output formats for ``flags --format``, by name."""


def render(route: Route, fmt: str = "shell") -> str:
    """Return the route in the named format."""
    return RENDERERS[fmt](route)
