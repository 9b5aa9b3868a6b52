"""report: the doctor's report as text for people, or as JSON for tools."""

from __future__ import annotations

import json
import textwrap

from hostreach.checks import one_line
from hostreach.diagnose import Report, severity_order
from hostreach.facts import Listener


def _listener(s: Listener) -> str:
    # A process names itself: shown escaped, so it cannot write control sequences to a terminal.
    name = (s.process or "process").encode("unicode_escape").decode("ascii")[:60]
    who = f" ({name} {s.pid})" if s.pid is not None else ""
    return f"{s.address}{who}"


def text(report: Report, ports: tuple[int, ...] = ()) -> str:
    """The doctor's report for a person: the route, what listens, then each finding and its fix."""
    lines = []
    route = report.route
    if route is not None:
        names = ", ".join(route.hosts)
        lines.append(f"Containers reach this machine as {names}. {route.reason}")
        command = "docker service create" if route.purpose == "service" else "docker run"
        lines.append(f"  {command} flags: {' '.join(route.flags) or '(none needed)'}")
    for port in ports:
        sockets = [s for s in report.listeners if s.port == port]
        if sockets:
            lines.append(f"Port {port}: listening on {', '.join(map(_listener, sockets))}")
    for probe in report.probes:
        via = f" ({probe.resolved})" if probe.resolved else ""
        where = f"a task on node {probe.node}" if probe.node else "a container"
        lines.append(f"From {where}: {probe.alias}{via} port {probe.port}: {probe.outcome}")
    lines.append("")
    if not report.findings:
        lines.append("No problem found.")
    for finding in sorted(report.findings, key=severity_order):
        lines.append(f"[{finding.severity}] {finding.id}")
        lines.extend(f"    {line}" for line in textwrap.wrap(finding.message, 88))
        if finding.fix:  # not wrapped: a command must stay copyable
            lines.append(f"    fix: {finding.fix}")
    return "\n".join(map(one_line, lines)) + "\n"


def as_json(report: Report) -> str:
    """The doctor's report as one JSON object: route, listeners, probes, findings."""
    return json.dumps(report.to_json(), indent=2) + "\n"
