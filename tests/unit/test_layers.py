"""The house rules of ``src/handful`` (STYLE.md), read from the source with ``ast``: data flows one way.

- a module imports only from its own layer or lower ones (data -> augment -> backbones -> learners -> selection ->
  evaluation -> artifacts -> report -> classifier -> serve -> cli);
- nothing inside imports the package face (``handful/__init__.py``);
- no import circle between modules, counting imports inside functions too (a lazy import hides a circle, it does
  not remove it), and counting the package ``__init__`` that importing a sub-module runs;
- no module over 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "handful"
MAX_LINES = 500

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("handful._version", "handful._progress", "handful._timing", "handful._lists", "handful._memory",
     "handful.examples"),  # leaves
    ("handful.data",),
    ("handful.augment",),
    ("handful.backbones",),
    # Metrics are plain functions of numpy arrays that selection scores folds with, below selection: they live
    # in evaluation/ beside the rest of the measuring, but import nothing above learners.
    ("handful.learners", "handful.evaluation.metrics"),
    ("handful.config",),
    ("handful.selection",),
    ("handful.evaluation",),
    ("handful.artifacts",),
    ("handful.report",),
    ("handful.classifier", "handful.versions", "handful.export"),
    ("handful.serve",),
    ("handful.cli", "handful.__main__"),
]
FACE = "handful"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise AssertionError(f"{module} has no layer: add it to LAYERS in {Path(__file__).name}")
    return found


def imports(module: str) -> set[str]:
    """The handful modules that ``module`` imports, anywhere in it, as Python resolves them."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(above + ([base] if base else []))
            # "from a.b import c" imports a.b.c when c is a module, else a name of a.b
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            names = subs + ([base] if len(subs) < len(node.names) else [])
        else:
            continue
        for name in names:
            if name != FACE and not name.startswith(FACE + "."):
                continue
            found.add(name)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports(module) for module in MODULES}


def runs(module: str, target: str) -> set[str]:
    """What importing ``target`` from ``module`` runs: ``target`` and each package ``__init__`` above it that is not
    already being imported (the importer's own packages are)."""
    parts = target.split(".")
    ran = {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    own = {".".join(module.split(".")[:i]) for i in range(1, len(module.split(".")) + 1)}
    return {name for name in ran if name in MODULES and name not in own}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != FACE:
            layer(module)


def test_nothing_inside_imports_the_package_face() -> None:
    offenders = sorted(m for m, targets in GRAPH.items() if FACE in targets and m != FACE)
    assert offenders == [], f"these import the package face `handful`; import from the module instead: {offenders}"


def test_no_import_from_a_higher_layer() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if module not in (FACE, "handful.__main__")
        for target in targets if target != FACE and layer(target) > layer(module)
    )
    assert upward == [], "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_circle() -> None:
    edges = {m: set().union(*(runs(m, t) for t in targets)) if targets else set() for m, targets in GRAPH.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert circles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_no_module_over_500_lines() -> None:
    long = {str(path.relative_to(SRC)): n for path in MODULES.values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split them by concern): {long}"
