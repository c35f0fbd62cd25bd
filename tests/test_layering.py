"""The package's layering, read from its source: every import (at module level or inside a
function) goes down the layers below or stays in its layer, no modules import each other in a
circle, and no module imports another's private ``_name``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

import spleeter_paddle

PACKAGE = Path(spleeter_paddle.__file__).parent
# Lowest first; a module belongs to the layer of its longest listed prefix. A module may import
# its own layer and the layers before it, never one after it.
LAYERS: List[Tuple[str, ...]] = [
    ("errors", "vocab", "types", "logs", "environment", "runtime", "devices", "options", "files",
     "sigsep", "configuration", "launch"),
    ("audio",),
    ("ownership",),  # the files a folder holds and may replace (stem tags read with audio.io)
    ("model",),
    ("pretrained",),
    ("graph",),
    ("separation",),
    ("data",),
    ("training",),
    ("evaluation",),
    ("web",),
    ("commands",),
    # The front doors (the package, the command line) and Spleeter's own names, over the rest.
    ("__init__", "cli", "__main__", "separator", "utils", "model.provider", "audio.ffmpeg",
     "launched"),
]  # fmt: skip


def module_name(path: Path) -> str:
    """``graph.cache`` for ``graph/cache.py``, ``graph`` for ``graph/__init__.py``; the package's
    own ``__init__.py`` is ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module`` (a name below the package)."""
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise AssertionError(f"spleeter_paddle.{module} has no layer: add it to LAYERS")
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def imports(path: Path, module: str, modules: Set[str]) -> List[Tuple[str, str, int]]:
    """``(imported module, imported name, line)`` of every import of the package in ``path``,
    wherever it stands (``if TYPE_CHECKING:`` blocks aside: they never run)."""
    if module == "__init__":
        package = ""
    else:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found, tree = [], ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _type_checking(node)
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("spleeter_paddle."):
                    found.append((resolve(alias.name[16:]), "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("spleeter_paddle"):
                target = node.module[16:]
            else:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                imported = submodule if submodule in modules else resolve(target)
                found.append((imported or "__init__", alias.name, node.lineno))
    return found


def import_graph() -> Dict[str, List[Tuple[str, str, int]]]:
    paths = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    modules = set(paths)
    return {module: imports(path, module, modules) for module, path in paths.items()}


def test_imports_go_down_the_layers():
    upward = [
        f"spleeter_paddle.{module}:{line} imports {target} (layer {layer_of(target)} > "
        f"{layer_of(module)})"
        for module, found in import_graph().items()
        for target, _, line in found
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_circles():
    graph = {
        module: {target for target, _, _ in found if target != module}
        for module, found in import_graph().items()
    }
    circles, state = [], {}

    def visit(module: str, path: List[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target) :] + [module, target]))
            elif target not in state:
                visit(target, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert circles == []


def test_no_private_names_imported_from_another_module():
    private = [
        f"spleeter_paddle.{module}:{line} imports {name} from {target}"
        for module, found in import_graph().items()
        for target, name, line in found
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert private == []


@pytest.mark.parametrize(
    "module, expected",
    [("graph.cache", "graph"), ("model.provider.github", "__init__"), ("model.unet", "model")],
)
def test_modules_take_the_layer_of_their_longest_prefix(module, expected):
    assert LAYERS[layer_of(module)] == next(layer for layer in LAYERS if expected in layer)
    with pytest.raises(AssertionError, match="has no layer"):
        layer_of("nowhere")
