"""The package's layering: the method (top level, methods/, data/) imports neither the experiment
machinery nor the book; experiments never import the book; no module imports another's private
name; and there are no import cycles between modules."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "selecmix"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) of every import in ``path``, wherever it stands."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, [alias.name for alias in node.names]))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> int:
    if module.startswith("selecmix.book"):
        return 2
    if module.startswith("selecmix.experiments"):
        return 1
    return 0


def test_imports_only_point_down():
    wrong = []
    for name, path in _modules().items():
        if name == "selecmix.__main__":        # the `python -m selecmix` shim hands over to the CLI
            continue
        for target, _ in _imports(path):
            if target.startswith("selecmix") and _layer(target) > _layer(name):
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_module_imports_a_private_name_of_another():
    wrong = [f"{name} imports {target}.{item}" for name, path in _modules().items()
             for target, items in _imports(path) if target.startswith("selecmix") and target != name
             for item in items if item.startswith("_") and not item.startswith("__")]
    assert not wrong, wrong


def test_no_import_cycles():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target, items in _imports(path):
            for candidate in [f"{target}.{item}" for item in items] + [target]:
                if candidate in modules and candidate != name:
                    targets.add(candidate)
                    break
        graph[name] = targets
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
