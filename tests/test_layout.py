"""The house: the import graph has no circle, lazy imports included, and each room keeps to its
floor (issue 21). Read from the source with ast, so a lazy import counts like any other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hostreach"
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(node: ast.AST, package: str) -> list[str]:
    """The hostreach modules one import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        up = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*up, *([node.module] if node.module else [])])
    subs = [f"{base}.{alias.name}" for alias in node.names]
    found = [t for t in subs if t in MODULES]
    return found if len(found) == len(subs) else [*found, base]  # base: a name of its own


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every hostreach module ``name`` imports, at the top or inside a function (TYPE_CHECKING
    blocks aside: they never run), and the subpackage each of those runs first."""
    tree = ast.parse(path.read_text())
    checking = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    skipped = {id(n) for block in checking for n in ast.walk(block) if n is not block}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        for target in _targets(node, package) if id(node) not in skipped else ():
            if target not in MODULES or target == name:
                continue
            yield target
            # Importing a.b.c runs a.b first (the root aside: it is the facade, checked below).
            parent = target.rpartition(".")[0]
            while parent not in ("", "hostreach"):
                if parent != name:
                    yield parent
                parent = parent.rpartition(".")[0]


EDGES = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _circles() -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in EDGES[node]:
            if other not in index:
                visit(other)
            if other in stack:
                low[node] = min(low[node], low[other])
        if low[node] == index[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for name in MODULES:
        if name not in index:
            visit(name)
    return circles


def _reached(start: str) -> set[str]:
    """Every module ``start`` imports, directly or not, lazy imports included."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in EDGES.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def test_the_graph_is_read() -> None:
    # The control: the reader sees real edges, lazy ones included.
    assert "hostreach.cli" in EDGES["hostreach.entry"]  # lazy: only on a miss
    assert "hostreach.engine.sdk" in EDGES["hostreach.engine.client"]  # lazy: imports docker
    assert "hostreach.tunnels" in EDGES["hostreach.probe"]  # the parent of tunnels.state


def test_no_import_circle_lazy_imports_included() -> None:
    assert _circles() == []


def test_only_entry_imports_cli() -> None:
    assert sorted(n for n, edges in EDGES.items() if "hostreach.cli" in edges) == [
        "hostreach.entry"
    ]


def test_nothing_imports_the_package_root() -> None:
    # The harnesses are clients of the public API, as a user's test suite is: above the root.
    # Nothing the root reaches may import it (issue 21: tunnels did, to call forget()).
    importers = sorted(n for n, edges in EDGES.items() if "hostreach" in edges)
    assert importers == ["hostreach.harness.pytest_plugin", "hostreach.harness.testcontainers"]
    assert not any(n.startswith("hostreach.harness") for n in _reached("hostreach"))


@pytest.mark.parametrize("room", ["hostreach.engine", "hostreach.tunnels"])
def test_a_rooms_index_imports_nothing(room: str) -> None:
    # Importing engine.address or tunnels.state runs these first: they must stay free.
    assert EDGES[room] == set()
    tree = ast.parse(MODULES[room].read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("hostreach.cache", "anything of hostreach but its version and owned.py"),
        ("hostreach.engine.address", "the errors only"),
        ("hostreach.owned", "nothing of hostreach"),
        ("hostreach.entry", "the store, the checks of what it replays; on a miss prefetch, cli"),
        ("hostreach.checks", "the errors only: the warm path loads it"),
    ],
)
def test_the_low_floors_stay_low(low: str, high: str) -> None:
    allowed = {
        "hostreach.cache": {"hostreach.version", "hostreach.owned"},
        "hostreach.engine.address": {"hostreach.errors"},
        "hostreach.owned": set(),
        "hostreach.entry": {
            "hostreach.cache",
            "hostreach.checks",
            "hostreach.cli",
            "hostreach.prefetch",
        },
        "hostreach.checks": {"hostreach.errors"},
    }[low]
    assert EDGES[low] <= allowed, high


def _functions() -> Iterator[tuple[str, int]]:
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{name}.{node.name}:{node.lineno}", node.end_lineno - node.lineno + 1


def test_no_function_over_sixty_lines() -> None:
    lengths = dict(_functions())
    assert lengths["hostreach.probe.collect:" + str(_line("hostreach.probe", "collect"))] > 10
    assert {f: n for f, n in lengths.items() if n > MAX_FUNCTION_LINES} == {}


def _line(module: str, function: str) -> int:
    tree = ast.parse(MODULES[module].read_text())
    return next(
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function
    )


def test_no_module_hides_a_public_name() -> None:
    # Importing hostreach.X sets the attribute X on the package: a submodule named like a
    # public function would replace it (a tunnel/ package once replaced hostreach.tunnel).
    import importlib  # noqa: PLC0415

    import hostreach  # noqa: PLC0415

    for name in MODULES:
        if not name.endswith(("__main__", ".entry")):
            importlib.import_module(name)
    for name in hostreach.__all__:
        assert name == "__version__" or callable(getattr(hostreach, name)), name
