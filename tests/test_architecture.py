"""The package's shape: no import circles (imports inside functions count too), every arrow
between the parts pointing the way the parts' docstrings say, and Ray only in the execution
layer. Read from the source with ``ast``; nothing is imported."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrator", "workers")
#: The only code that may import Ray: the execution layer and the worker actor.
RAY_PARTS = ("orchestrator.execution", "workers.actor")
#: What each part may import besides itself (a part is a subpackage or a top-level module).
#: The entry points (``orchestrator`` itself, ``api``, ``runs``, ``cli``) may import any part.
CONTRACT = "workers.evaluate"  # the worker's row contract: column names and statuses
MAY_IMPORT = {
    "orchestrator.errors": set(),
    "orchestrator.redact": set(),
    "orchestrator.faults": set(),
    "orchestrator.checks": {"orchestrator.errors"},
    "orchestrator.search": {"orchestrator.errors", "orchestrator.checks", CONTRACT},
    "orchestrator.data": {
        "orchestrator.search",
        "orchestrator.errors",
        "orchestrator.faults",
        "orchestrator.redact",
        CONTRACT,
    },
    "orchestrator.loop": {
        "orchestrator.search",
        "orchestrator.data",
        "orchestrator.errors",
        "orchestrator.checks",
        CONTRACT,
    },
    "orchestrator.execution": {
        "orchestrator.loop",
        "orchestrator.data",
        "orchestrator.errors",
        "orchestrator.checks",
        "orchestrator.redact",
        "workers",
    },
    "orchestrator.sklearn": {
        "orchestrator.api",
        "orchestrator.search",
        "orchestrator.data",
        "orchestrator.errors",
        "orchestrator.checks",
        "orchestrator.faults",
        "workers.estimator",
        CONTRACT,  # metric column names (multimetric scoring's extra columns)
    },
    "orchestrator.config": {
        "orchestrator.search",
        "orchestrator.data",
        "orchestrator.sklearn",
        "orchestrator.errors",
        "orchestrator.checks",
        "orchestrator.redact",
    },
    "orchestrator.export": {
        "orchestrator.data",
        "orchestrator.search",
        "orchestrator.errors",
        "orchestrator.redact",
        CONTRACT,
    },
    "orchestrator.dashboard": {
        "orchestrator.data",
        "orchestrator.search",
        "orchestrator.errors",
        "orchestrator.redact",
        CONTRACT,
    },
    "workers": {"workers"},
}
#: The entry points, which may import any part; nothing but the CLI itself imports the CLI.
ENTRY_POINTS = {"orchestrator", "orchestrator.api", "orchestrator.runs", "orchestrator.cli"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, anywhere in it (absolute names; relative resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = node.module or ""
            if node.level:
                target = f"{base}.{target}" if target else base
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # submodules
    return found


def graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in (root / pkg).rglob("*.py")]
    modules = {module_name(p, root): p for p in files}
    return {
        name: {m for m in imports_of(path, root) if m in modules and m != name}
        for name, path in modules.items()
    }


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_a_circle_closed_by_an_import_inside_a_function_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import g\n")
    (pkg / "b.py").write_text("from . import c\n\ndef g():\n    return c\n")
    (pkg / "c.py").write_text("def h():\n    from .a import g  # hidden in a function\n")
    (pkg / "d.py").write_text("from pkg.a import g\n")
    assert circles(graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b", "pkg.c"]]
    (pkg / "c.py").write_text("def h():\n    return 1\n")
    assert circles(graph(tmp_path, ("pkg",))) == []


def test_no_import_circles():
    found = circles(graph())
    assert not found, f"modules that import each other in a loop: {found}"


def within(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


def part_of(module: str) -> str:
    """``orchestrator.search.samplers.gp`` -> ``orchestrator.search``; ``workers.x`` ->
    ``workers``; the package's own ``__init__`` is ``orchestrator``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "orchestrator" else parts[0]


def wrong_arrows(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(edges.items()):
        part = part_of(module)
        if part not in MAY_IMPORT and part not in ENTRY_POINTS:
            found.append(f"{module}: part {part} has no import rule")
            continue
        for target in sorted(targets):
            if within(target, part):
                continue
            if within(target, "orchestrator.cli"):
                found.append(f"{module} -> {target}")  # nothing imports the command line
            elif part in MAY_IMPORT and not any(within(target, a) for a in MAY_IMPORT[part]):
                found.append(f"{module} -> {target}")
    return found


def test_the_rules_catch_an_arrow_pointing_up(tmp_path):
    edges = {
        "orchestrator.search.space": {"orchestrator.data.trials", "orchestrator.errors"},
        "orchestrator.data.trials": {"orchestrator.search.space"},
        "orchestrator.cli.commands": {"orchestrator.execution.jobs"},
        "orchestrator.runs": {"orchestrator.cli.text", "orchestrator.api"},
        "orchestrator.newpart.x": {"orchestrator.errors"},
        "workers.evaluate": {"orchestrator.errors"},
    }
    assert wrong_arrows(edges) == [
        "orchestrator.newpart.x: part orchestrator.newpart has no import rule",
        "orchestrator.runs -> orchestrator.cli.text",
        "orchestrator.search.space -> orchestrator.data.trials",
        "workers.evaluate -> orchestrator.errors",
    ]


def test_every_arrow_between_parts_points_the_allowed_way():
    found = wrong_arrows(graph())
    assert not found, f"imports the parts' rules forbid: {found}"


def test_search_imports_neither_data_nor_execution():
    search = {m: t for m, t in graph().items() if within(m, "orchestrator.search")}
    assert search, "no search package found"
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in search.items()
        for t in targets
        if any(
            within(t, p)
            for p in ("orchestrator.data", "orchestrator.execution", "orchestrator.loop")
        )
    )
    assert not bad, bad


def _named_in(doc: str, part: str) -> bool:
    """Whether a part's docstring names ``part`` (``search/``, ``orchestrator.errors``, ...)."""
    short = part.removeprefix("orchestrator.")
    return f"``{short}/``" in doc or part in doc


def test_every_part_says_what_it_owns_and_may_import():
    for init in sorted((ROOT / "orchestrator").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "May import" in doc, f"{init.parent.name}/__init__.py needs its docstring"
        allowed = MAY_IMPORT.get(f"orchestrator.{init.parent.name}")
        if allowed is None:
            continue
        rule = doc.split("May import", 1)[1]
        unnamed = sorted(a for a in allowed if not _named_in(rule, a))
        assert not unnamed, f"{init.parent.name}/ may import {unnamed}; its docstring must say so"


def test_no_sampler_imports_the_registry():
    registry = "orchestrator.search.samplers.registry"
    users = sorted(
        m for m, t in graph().items() if registry in t and within(m, "orchestrator.search")
    )
    assert users == [], f"samplers must not import their registry: {users}"


def test_search_never_touches_a_filesystem():
    edges = graph(ROOT, ("orchestrator",))
    found = set()
    for path in (ROOT / "orchestrator" / "search").rglob("*.py"):
        imported = imports_of(path)
        found |= {m for m in imported if m.startswith(("pyarrow.fs", "pyarrow.parquet"))}
    assert not found and edges, f"search/ reads tables in memory only: {sorted(found)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_only_the_execution_layer_imports_ray(package):
    offenders = sorted(
        module_name(p)
        for p in (ROOT / package).rglob("*.py")
        if not any(within(module_name(p), part) for part in RAY_PARTS)
        and any(m == "ray" or m.startswith("ray.") for m in imports_of(p))
    )
    assert not offenders, f"these import Ray outside the execution layer: {offenders}"
