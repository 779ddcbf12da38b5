"""The package's import graph: no cycle between modules, and no private name shared across sub-packages.

The graph is read statically from every ``import`` statement of every module of
``keras_classics`` (those inside functions included, relative imports resolved),
as ``lint-imports`` reads it: an import of ``a.b.c`` is an edge to the module
``a.b.c``; ``from a.b import c`` is an edge to ``a.b.c`` when that is a module,
else to ``a.b``. The layer order itself is the import-linter contract in
setup.cfg (``lint-imports``, run by CI).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_classics"

def _modules() -> dict[str, tuple[Path, bool]]:
    """``{module name: (file, is a package)}`` of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _containing_module(name: str) -> str:
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports() -> list[tuple[str, str, str | None, int]]:
    """``(importer, imported module, imported name or None, line)`` of every import of the package."""
    found = []
    for importer, (path, is_package) in MODULES.items():
        package = importer if is_package else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "keras_classics":
                        found.append((importer, _containing_module(alias.name), None, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module
                if source.split(".")[0] != "keras_classics":
                    continue
                for alias in node.names:
                    if f"{source}.{alias.name}" in MODULES:
                        found.append((importer, f"{source}.{alias.name}", None, node.lineno))
                    else:
                        found.append((importer, _containing_module(source), alias.name, node.lineno))
    return found


def graph(imports_) -> dict[str, set[str]]:
    edges = {module: set() for module in MODULES}
    for importer, imported, _, _ in imports_:
        if imported != importer:
            edges[importer].add(imported)
    return edges


def cycles(edges) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _owner(module: str) -> str:
    """Where the private names of ``module`` may be used: in its parent package; in the package
    itself for a package; in the module itself at the top of ``keras_classics`` (``predict``)."""
    parent = module.rpartition(".")[0]
    return module if MODULES[module][1] or parent == "keras_classics" else parent


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def private_imports(imports_) -> list[tuple[str, str, int]]:
    """``(importer, what, line)`` of each import of a private module or name from outside its owner.

    A private module (``models._layers``) belongs to its parent package; ``keras_classics._startup``
    and the other private modules at the top serve the whole package. A private name belongs to
    its module's package (to the module itself at the top of the package).
    """
    found = []
    for importer, imported, name, line in imports_:
        parts = imported.split(".")
        for i, part in enumerate(parts[1:], start=1):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                if not _inside(importer, owner):
                    found.append((importer, imported, line))
                break
        else:
            if name and name.startswith("_") and not name.startswith("__"):
                if not _inside(importer, _owner(imported)):
                    found.append((importer, f"{imported}.{name}", line))
    return found


def test_the_graph_sees_every_kind_of_import():
    found = {(a, b, n) for a, b, n, _ in imports()}
    # Function-level, `from package import module` and relative forms all count.
    assert ("keras_classics.cli", "keras_classics._startup", "quiet_tensorflow") in found
    assert ("keras_classics.models.vgg", "keras_classics.models._layers", None) in found
    assert ("keras_classics.models.resnet", "keras_classics.registry", "register_model") in found


def test_no_import_cycle():
    imports_ = imports()
    edges = graph(imports_)
    found = cycles(edges)
    where = {(a, b): line for a, b, _, line in imports_}
    detail = []
    for component in found:
        links = [f"{a} -> {b} (line {where[a, b]})" for a in component for b in sorted(edges[a]) if b in component]
        detail.append("modules " + ", ".join(component) + "\n    " + "; ".join(links))
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_no_private_name_crosses_a_package():
    found = private_imports(imports())
    wrong = [f"{importer} line {line}: {what}" for importer, what, line in found]
    assert not wrong, "private names imported from another package:\n" + "\n".join(wrong)


@pytest.mark.parametrize("edges,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycles_are_found(edges, expected):
    assert cycles(edges) == expected


def test_one_lazy_import_helper():
    # Every package __init__ that defers imports does it through keras_classics/_lazy.py.
    own = [name for name, (path, _) in MODULES.items() if name != "keras_classics._lazy"
           and any(isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
                   for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert not own, f"modules with a __getattr__ of their own (use keras_classics._lazy.lazy_exports): {own}"
    import keras_classics.inspect
    import keras_classics.inspect.summary  # noqa: F401  (the module of the same name as the function)

    assert callable(keras_classics.inspect.summary) and keras_classics.inspect.summary.__name__ == "summary"
