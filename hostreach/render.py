"""render: Route -> text, one renderer per output format."""

from __future__ import annotations

from hostreach._jsontext import dumps as _quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and the doctor's types: kept off the `flags` path
    from collections.abc import Callable

    from hostreach.diagnose import Report
    from hostreach.facts import Listener
    from hostreach.resolve import Route


def shell(route: Route) -> str:
    """One flag per line: safe unquoted in bash and zsh, one argument each in fish and PowerShell."""
    return "".join(f"{flag}\n" for flag in route.flags)


def as_json(route: Route) -> str:
    """The route as one JSON object."""
    import json  # noqa: PLC0415 - indented output; the shell format does not need it

    return json.dumps(route.to_json(), indent=2) + "\n"


def args(route: Route) -> str:
    """One flag per line, for ``mapfile -t`` and ``xargs -d '\\n'``: shell's lines, as a contract."""
    return shell(route)


def env(route: Route) -> str:
    """``KEY=VALUE`` lines to hand to the app: HOSTREACH_HOST, HOSTREACH_ADDRESS ..."""
    return "".join(f"{key}={value}\n" for key, value in route.env().items())


_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_REST = _FIRST | frozenset("0123456789.-")
_YAML_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null"}


def _key(text: str) -> str:
    # Plain where YAML reads it back as the same string; quoted otherwise ("on", "1web").
    plain = text[:1] in _FIRST and _REST.issuperset(text) and text.lower() not in _YAML_WORDS
    return text if plain else _quote(text)


def _yaml(value: object, indent: int) -> list[str]:
    """Block YAML for dicts of lists and strings; scalars JSON-quoted (valid YAML, never ambiguous)."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines.append(f"{pad}{_key(str(key))}:")
                lines += _yaml(item, indent + 1)
            else:
                lines.append(f"{pad}{_key(str(key))}: {_quote(item)}")
    elif isinstance(value, list):
        lines += [f"{pad}- {_quote(item)}" for item in value]
    return lines


def compose_file(fragments: dict[str, dict[str, object]], *, comment: str = "") -> str:
    """A compose override file: ``services:`` with one fragment per service."""
    head = [f"# {line}" for line in comment.splitlines()]
    body = _yaml({"services": fragments}, 0) if fragments else ["services: {}"]
    return "\n".join([*head, *body]) + "\n"


def compose(route: Route) -> str:
    """The compose service fragment (extra_hosts, network_mode), to put under a service."""
    lines = _yaml(route.compose(), 0) or ["{}"]
    return f"# {route.reason}\n" + "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Route], str]] = {
    "shell": shell,
    "args": args,
    "json": as_json,
    "compose": compose,
    "env": env,
}
"""Output formats for ``flags --format``, by name."""


def render(route: Route, fmt: str = "shell") -> str:
    """Return the route in the named format."""
    return RENDERERS[fmt](route)


def _listener(s: Listener) -> str:
    who = f" ({s.process or 'process'} {s.pid})" if s.pid is not None else ""
    return f"{s.address}{who}"


def report_text(report: Report, ports: tuple[int, ...] = ()) -> str:
    """The doctor's report for a person: the route, what listens, then each finding and its fix."""
    import textwrap  # noqa: PLC0415

    from hostreach.diagnose import severity_order  # noqa: PLC0415

    lines = []
    route = report.route
    if route is not None:
        names = ", ".join(route.hosts)
        lines.append(f"Containers reach this machine as {names}. {route.reason}")
        lines.append(f"  docker run flags: {' '.join(route.flags) or '(none needed)'}")
    for port in ports:
        sockets = [s for s in report.listeners if s.port == port]
        if sockets:
            lines.append(f"Port {port}: listening on {', '.join(map(_listener, sockets))}")
    for probe in report.probes:
        via = f" ({probe.resolved})" if probe.resolved else ""
        lines.append(f"From a container: {probe.alias}{via} port {probe.port}: {probe.outcome}")
    lines.append("")
    if not report.findings:
        lines.append("No problem found.")
    for finding in sorted(report.findings, key=severity_order):
        lines.append(f"[{finding.severity}] {finding.id}")
        lines.extend(f"    {line}" for line in textwrap.wrap(finding.message, 88))
        if finding.fix:  # not wrapped: a command must stay copyable
            lines.append(f"    fix: {finding.fix}")
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> str:
    """The doctor's report as one JSON object: route, listeners, probes, findings."""
    import json  # noqa: PLC0415

    return json.dumps(report.to_json(), indent=2) + "\n"
