"""Generate the runtime and troubleshooting pages from the code, so the docs cannot drift.

One page per row of ``hostreach.runtimes.RUNTIMES``, each with the routes hostreach gives for
the replay fixtures of that runtime (real published or captured outputs); the troubleshooting
page from ``hostreach.diagnose.FINDINGS``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

from hostreach.diagnose import FINDINGS
from hostreach.errors import HostreachError
from hostreach.facts import load
from hostreach.resolve import resolve
from hostreach.runtimes import RUNTIMES, Runtime

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _title(text: str, mark: str) -> str:
    return f"{text}\n{mark * len(text)}\n"


def _fixture_rows(row: Runtime) -> list[str]:
    lines = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("expect", {}).get("runtime") != row.id:
            continue
        facts = load(path)
        try:
            route = resolve(facts)
            answer = f"``{route.strategy}``", " ".join(f"``{f}``" for f in route.flags) or "none"
        except HostreachError as exc:
            answer = "no route", str(exc).replace("*", "\\*")
        source = data["source"]
        origin = f"`{path.stem} <{source}>`__" if source.startswith("https://") else path.stem
        version = facts.daemon.info.get("ServerVersion", "") if facts.daemon else ""
        lines += [
            f"   * - {origin}",
            f"     - {version or 'n/a'}",
            f"     - {answer[0]}",
            f"     - {answer[1]}",
        ]
    return lines


def _runtime_page(row: Runtime) -> str:
    out = [
        _title(row.title if row.id != "unknown" else "Unrecognised runtimes", "="),
        f"``--runtime {row.id}`` · engine command line: ``{row.cli}``\n",
        row.summary + "\n",
    ]
    rows = _fixture_rows(row)
    if rows:
        out += [
            _title("Replayed outputs", "-"),
            "What hostreach answers, today, for each real output of this runtime in the test"
            " suite (``flags --facts FILE``):\n",
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - snapshot",
            "     - engine",
            "     - strategy",
            "     - flags",
            *rows,
            "",
        ]
    if row.sockets:
        out += [
            _title("Socket paths", "-"),
            "Where the engine cannot be asked, or says too little to tell, an engine socket at"
            " one of these paths names this runtime (a guess, which the route says):\n",
            *(f"- ``{pattern}``" for pattern in row.sockets),
            "",
        ]
    if row.sources:
        out += [_title("Sources", "-")]
        for source in row.sources:
            out.append(f"- {source}" if not source.startswith("https://") else f"- {source}")
        out.append("")
    return "\n".join(out)


def _clusters_page() -> str:
    """The Kubernetes cluster registry (hostreach/clusters.py), each row with its fixtures."""
    from hostreach import clusters  # noqa: PLC0415

    out = [
        _title("Kubernetes clusters", "="),
        "One row per kind of local cluster (``hostreach/clusters.py``), first match wins, for"
        " ``flags --format k8s``. Each replayed output below is a published ``kubectl`` output.\n",
    ]
    fixtures = sorted((FIXTURES / "kube").glob("*.json"))
    for row in clusters.CLUSTERS:
        names = ", ".join(f"``{n}``" for n in row.names) or "none of its own"
        other = "the caller's address toward the nodes" if row.node_gateway else "no address"
        out += [
            _title(row.title, "-"),
            f"Its pods resolve: {names}. Another name gets: {other}.\n",
        ]
        for path in fixtures:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if data["expect"]["cluster"] == row.id:
                out.append(f"- replayed: `{path.stem} <{data['source']}>`__")
        out += [f"- source: {source}" for source in row.sources]
        out.append("")
    return "\n".join(out)


def generate(app: Sphinx) -> None:
    """Write the generated pages under docs/generated/ before Sphinx reads the sources."""
    target = Path(app.srcdir) / "generated"
    (target / "runtimes").mkdir(parents=True, exist_ok=True)
    index = [
        _title("Runtimes", "="),
        "One page per row of the runtime registry (``hostreach/runtimes.py``), first match wins.\n",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    for row in RUNTIMES:
        (target / "runtimes" / f"{row.id}.rst").write_text(_runtime_page(row), encoding="utf-8")
        index.append(f"   runtimes/{row.id}")
    (target / "runtimes.rst").write_text("\n".join(index) + "\n", encoding="utf-8")
    trouble = [
        _title("Troubleshooting", "="),
        "``python -m hostreach doctor --port N`` reports findings by id; ``check --port N``"
        " adds a real connection from a container. Each id below is one kind of failure; the"
        " doctor's message says the details and its ``fix`` the command to run.\n",
    ]
    for finding, meaning in FINDINGS.items():
        trouble += [_title(finding, "-"), meaning + "\n"]
    (target / "troubleshooting.rst").write_text("\n".join(trouble), encoding="utf-8")
    (target / "clusters.rst").write_text(_clusters_page(), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the generator."""
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
