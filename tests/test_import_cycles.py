"""No module of promptlift imports in a circle (imports under ``if TYPE_CHECKING:`` aside).

Lazy imports inside functions count: they still tie the two modules together. The graph is
read from the source with ``ast``, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import promptlift

ROOT = Path(promptlift.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names) of every import not guarded by ``if TYPE_CHECKING:``."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in runtime_imports(ast.parse(path.read_text())):
            if not target.startswith("promptlift"):
                continue
            submodules = {f"{target}.{n}" for n in names} & modules.keys()
            edges = submodules or ({target} if target in modules else set())
            graph[name] |= edges - {name}
    return graph


def test_the_import_graph_is_read_from_the_source():
    graph = import_graph()
    assert "promptlift.tasks.fields" in graph["promptlift.tasks.direct"]
    assert "promptlift.tasks.base" not in graph["promptlift.tasks.render"]  # a typing-only import


def test_no_module_imports_in_a_circle():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as err:
        raise AssertionError(f"an import circle: {' -> '.join(err.args[1])}") from None
