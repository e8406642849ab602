"""The import graph of gradtx: no cycles, and no imports below other code.

Every module of the package is parsed with ``ast`` (nothing is executed) and its imports of
gradtx modules become edges of a graph:

* ``import gradtx.a.b`` and ``from gradtx.a import b`` (``b`` a submodule) are edges to
  ``gradtx.a.b``; ``from gradtx.a import name`` (``name`` not a submodule) is an edge to the
  package ``gradtx.a`` (its ``__init__``). So a package's ``__init__`` importing its own
  submodules is an edge package -> submodule, and a submodule importing names from its parent
  package is an edge back to the ``__init__``: a cycle.
* Relative imports are resolved against the importing module's package.
* The ancestors' ``__init__`` that Python runs before a submodule are not edges:
  ``from gradtx import tree`` inside ``gradtx/linesearch/zoom.py`` is an edge to
  ``gradtx.tree`` only (otherwise every module would depend on ``gradtx/__init__``, which
  imports everything).
* Every import statement counts, wherever it is (module level, class bodies, and function
  bodies too: a deferred import is a dependency, and the usual way of hiding a cycle), except
  those under ``if TYPE_CHECKING:``, which never run.

A second check: at module level, once a statement other than the docstring, an import,
``__all__`` (``=`` or ``+=``) or an ``if TYPE_CHECKING:`` block has run, no import may follow
(no "imports at the bottom", the other way of hiding a cycle).
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import pkgutil

import pytest

import gradtx

Graph = dict[str, set[str]]


def _modules(package: str) -> dict[str, pathlib.Path]:
    """Every module of ``package`` (itself included) and its source file."""
    root = importlib.util.find_spec(package)
    assert root is not None and root.origin is not None and root.submodule_search_locations
    found = {package: pathlib.Path(root.origin)}
    paths = root.submodule_search_locations

    def fail(name: str) -> None:  # walk_packages would skip a package that does not import
        raise ImportError(f"cannot import {name}")

    for info in pkgutil.walk_packages(paths, prefix=package + ".", onerror=fail):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        found[info.name] = pathlib.Path(spec.origin)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            assert isinstance(node, ast.If)
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _package_of(module: str, path: pathlib.Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, path: pathlib.Path, modules: set[str]
) -> set[str]:
    """The gradtx modules an import statement depends on."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        package = _package_of(module, path)
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    if base not in modules:
        return set()
    targets = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        targets.add(submodule if submodule in modules else base)
    return targets


def import_graph(files: dict[str, pathlib.Path]) -> Graph:
    """Module -> the gradtx modules it imports, for the modules and files given."""
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = set()
        for node in _import_nodes(tree):
            graph[module] |= _targets(node, module, path, set(files))
        graph[module].discard(module)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` of ``graph``, or ``None`` (depth-first search)."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _is_header(node: ast.stmt, first: bool) -> bool:
    """Whether ``node`` may come before imports: the docstring, ``__all__``, TYPE_CHECKING."""
    if first and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return isinstance(node.target, ast.Name) and node.target.id == "__all__"
    return _is_type_checking(node)


def late_imports(path: pathlib.Path) -> list[str]:
    """``file:line`` of each module-level import that follows other code."""
    tree = ast.parse(path.read_text(), str(path))
    code_seen = False
    late = []
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if code_seen:
                late.append(f"{path}:{node.lineno}")
        elif not _is_header(node, first=i == 0):
            code_seen = True
    return late


MODULES = _modules("gradtx")
PACKAGES = sorted(m for m, path in MODULES.items() if path.name == "__init__.py")


def test_walk_finds_the_packages():
    assert MODULES["gradtx"].name == "__init__.py"
    for name in ("gradtx.base", "gradtx.linesearch", "gradtx.second_order", "gradtx.tree"):
        assert name in MODULES


def test_no_import_cycles():
    cycle = find_cycle(import_graph(MODULES))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_no_submodule_is_shadowed_by_a_reexport(package):
    # ``from gradtx.pkg.newton import newton`` in gradtx/pkg/__init__.py makes
    # ``gradtx.pkg.newton`` the function at run time but the module for static tools (griffe,
    # and so the API pages, render ``::: gradtx.newton`` as the module).
    module = importlib.import_module(package)
    shadowed = [
        name
        for name in getattr(module, "__all__", ())
        if f"{package}.{name}" in MODULES
        and getattr(module, name) is not importlib.import_module(f"{package}.{name}")
    ]
    assert not shadowed, f"{package} re-exports names that are also its submodules: {shadowed}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_imports_after_code(module):
    late = late_imports(MODULES[module])
    assert not late, f"imports below other code (move them to the top): {late}"


# --- the checks themselves, on small synthetic packages ----------------------------------------


def _package(tmp_path: pathlib.Path, files: dict[str, str]) -> dict[str, pathlib.Path]:
    found = {}
    for name, source in files.items():
        parts = name.split(".")
        is_package = any(other.startswith(name + ".") for other in files)
        path = tmp_path.joinpath(*parts, "__init__.py") if is_package else None
        path = path or tmp_path.joinpath(*parts[:-1], parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        found[name] = path
    return found


def test_cycle_through_a_package_init_is_found(tmp_path):
    # The old layout: gradtx/linesearch.py re-exported zoom at its bottom, zoom imported it.
    files = _package(
        tmp_path,
        {
            "gradtx": "from gradtx import ls\n",
            "gradtx.tree": "",
            "gradtx.ls": "from gradtx import tree as _tree\nfrom gradtx.ls.zoom import z\n",
            "gradtx.ls.zoom": "from gradtx.ls import helper\nz = 1\n",
        },
    )
    graph = import_graph(files)
    assert graph["gradtx.ls.zoom"] == {"gradtx.ls"}
    assert graph["gradtx.ls"] == {"gradtx.tree", "gradtx.ls.zoom"}
    assert find_cycle(graph) == ["gradtx.ls", "gradtx.ls.zoom", "gradtx.ls"]


def test_submodule_edges_relative_imports_and_type_checking(tmp_path):
    files = _package(
        tmp_path,
        {
            "gradtx": "",
            "gradtx.tree": "",
            "gradtx.a": "from . import b\nfrom .b import thing\n",
            "gradtx.a.b": (
                "from typing import TYPE_CHECKING\nfrom .. import tree\n"
                "if TYPE_CHECKING:\n    from gradtx.a import thing\n"
                "def f():\n    import gradtx.a.c\n"
            ),
            "gradtx.a.c": "from gradtx import tree as _tree\n",
        },
    )
    graph = import_graph(files)
    assert graph["gradtx.a"] == {"gradtx.a.b"}
    assert graph["gradtx.a.b"] == {"gradtx.tree", "gradtx.a.c"}
    assert graph["gradtx.a.c"] == {"gradtx.tree"}
    assert find_cycle(graph) is None


def test_imports_at_the_bottom_are_found(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        '"""Doc."""\nfrom __future__ import annotations\n__all__ = ["f"]\nimport os\n'
        "def f():\n    import sys\n\n__all__ += ['g']\nfrom os import path  # noqa: E402\n"
    )
    assert late_imports(path) == [f"{path}:9"]


def test_the_package_is_importable():
    assert gradtx.linesearch.__all__ and gradtx.second_order.__all__
