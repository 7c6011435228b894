"""The folders' import layering, read from the source with ``ast`` (module-level and
function-level imports alike, so a lazy import cannot hide an upward edge).

core ``postbay/`` ← ``processors/`` ← ``timeline/`` ← ``daemon/`` ← ``bridge/`` ← the shell
(``postbay/cli.py``, ``postbay/__main__.py``): each layer imports only the layers to its left.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Folder → package, as pyproject.toml's package-dir maps them.
FOLDERS = {"postbay": "postbay", "processors": "postbay.processors", "timeline": "postbay.timeline",
           "daemon": "postbay.daemon", "bridge": "postbay.bridge"}
SHELL = {"postbay.cli", "postbay.__main__"}
LAYERS = ["core", "processors", "timeline", "daemon", "bridge", "shell"]

#: The one documented upward edge: the registry loads the built-in processors on first use
#: (``default_registry()`` imports ``postbay.processors`` lazily, which registers them).
ALLOWED = {("postbay.registry", "postbay.processors")}


def _modules() -> Iterator[tuple[str, Path]]:
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "resolve" in path.relative_to(ROOT / folder).parts:
                continue  # Resolve's scripts run inside Resolve, not as part of the package
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            yield ".".join([package, *parts]), path


def _imports(module: str, path: Path) -> set[str]:
    """Every postbay module ``module`` imports, wherever in the file the import stands."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "postbay" or name.startswith("postbay.")}


def _layer(module: str) -> str:
    if module in SHELL:
        return "shell"
    for layer in ("processors", "timeline", "daemon", "bridge"):
        if module == f"postbay.{layer}" or module.startswith(f"postbay.{layer}."):
            return layer
    return "core"


def _known(name: str, modules: set[str]) -> str | None:
    """The module ``name`` is (``postbay.x.f`` from ``from postbay.x import f`` is ``postbay.x``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    sources = dict(_modules())
    names = set(sources)
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        targets = {_known(name, names) for name in _imports(module, path)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def test_each_folder_imports_only_the_layers_below_it():
    upward = sorted((module, target) for module, targets in _graph().items() for target in targets
                    if LAYERS.index(_layer(target)) > LAYERS.index(_layer(module)) and (module, target) not in ALLOWED
                    and not (_layer(module) == "core" and target == "postbay"))
    assert not upward, "imports against the layering (core ← processors ← timeline ← daemon ← bridge ← shell):\n" + \
        "\n".join(f"  {m} imports {t}" for m, t in upward)


def test_no_import_cycle_among_the_core_modules():
    graph = _graph()
    core = {m: {t for t in ts if _layer(t) in ("core", "shell") and t != "postbay"} for m, ts in graph.items()
            if _layer(m) in ("core", "shell") and m != "postbay"}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(core.get(node, ())):
            if nxt == trail[0]:
                cycles.append([*trail, nxt])
            elif nxt not in trail and nxt > trail[0]:  # each cycle once, from its smallest module
                visit(nxt, [*trail, nxt])

    for start in sorted(core):
        visit(start, [start])
    assert not cycles, "import cycles in the core:\n" + "\n".join("  " + " → ".join(c) for c in cycles)


def test_the_reader_finds_lazy_and_relative_imports():
    """The test above cannot pass by reading nothing: known edges, one lazy, one relative."""
    graph = _graph()
    assert "postbay.processors" in graph["postbay.registry"]  # inside default_registry()
    assert "postbay.daemon.settings" in graph["postbay.daemon.cli"]  # ``from .settings import``
    assert "postbay.bridge.api" in graph["postbay.cli"]  # the shell hands the API to the daemon
