"""The house keeps its rules: no import circle among the package's modules, no module over 500
lines and no function over 80 without the reason written at its top (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "workflow" / "hipseg"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
LONG_MODULE = "Why this module is long:"
LONG_FUNCTION = "Why this function is long:"


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement of ``module`` loads (every statement: at the top,
    inside functions, under TYPE_CHECKING)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    if node.level:
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in MODULES:
            found.append(sub)
        elif target in MODULES:
            found.append(target)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_resolve(module, node))
        graph[module] = targets - {module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_walk_finds_a_circle_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    node = ast.parse("from . import content\nfrom ..errors import HipsegError").body
    assert _resolve("hipseg.gate", node[0]) == ["hipseg.gate.content"]
    assert _resolve("hipseg.gate.header", node[1]) == ["hipseg.errors"]


def test_no_import_circle_among_the_package_modules():
    graph = import_graph()
    assert graph["hipseg.segment.run"], "the walk found no imports: it is broken"
    assert circles(graph) == []


def test_no_import_circle_among_the_subpackages():
    """One direction between the package's parts too (hipseg.segment uses hipseg.clinical's
    builders; the node, hipseg.node, uses both)."""
    parts: dict[str, set[str]] = {}
    for a, targets in import_graph().items():
        top = ".".join(a.split(".")[:2])
        parts.setdefault(top, set()).update(
            ".".join(b.split(".")[:2]) for b in targets if not b.startswith(top + ".")
            and b != top
        )  # fmt: skip
    assert circles(parts) == []


def _lines(node) -> int:
    return node.end_lineno - node.lineno + 1


def test_long_modules_and_functions_say_why():
    long_modules, long_functions = [], []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if len(text.splitlines()) > MAX_MODULE_LINES and LONG_MODULE not in (
            ast.get_docstring(tree) or ""
        ):
            long_modules.append(f"{module} ({len(text.splitlines())} lines)")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _lines(node) > MAX_FUNCTION_LINES and LONG_FUNCTION not in (
                    ast.get_docstring(node) or ""
                ):
                    long_functions.append(f"{module}.{node.name} ({_lines(node)} lines)")
    assert long_modules == [], f"over {MAX_MODULE_LINES} lines without '{LONG_MODULE}'"
    assert long_functions == [], f"over {MAX_FUNCTION_LINES} lines without '{LONG_FUNCTION}'"
