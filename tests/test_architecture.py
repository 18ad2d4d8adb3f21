"""The package's shape: no import circles (imports inside functions count too), and Ray only
where the execution layer is. Read from the source with ``ast``; nothing is imported."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrator", "workers")
#: The only modules that may import Ray: the execution layer and the worker actor.
RAY_MODULES = {"orchestrator.execution", "orchestrator.round_runner", "orchestrator.jobs",
               "workers.actor"}


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
    return {name: {m for m in imports_of(path, root) if m in modules and m != name}
            for name, path in modules.items()}


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


@pytest.mark.parametrize("package", PACKAGES)
def test_only_the_execution_layer_imports_ray(package):
    offenders = sorted(
        module_name(p) for p in (ROOT / package).rglob("*.py")
        if module_name(p) not in RAY_MODULES
        and any(m == "ray" or m.startswith("ray.") for m in imports_of(p))
    )
    assert not offenders, f"these import Ray outside the execution layer: {offenders}"
