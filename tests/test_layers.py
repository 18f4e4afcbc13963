"""The package's import graph: layers point one way, no circles, light imports stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stemscan

PACKAGE = Path(stemscan.__file__).resolve().parent

#: Layer of each top-level part; a module may import only its own layer or lower ones.
LAYERS = {
    "validation": 0,
    "atomic": 0,
    "safejson": 0,
    "cli_types": 0,
    "scenes": 1,
    "envs": 2,
    "agents": 3,
    "benchmarks": 4,
    "cli": 5,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Every ``stemscan`` module and the ``stemscan`` modules it imports (at any depth of the file)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stemscan"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("stemscan"))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_layers_import_only_downwards() -> None:
    upward = [
        (a, b)
        for a, targets in import_graph().items()
        for b in targets
        if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)
    ]
    assert not upward, upward


def test_no_import_circles() -> None:
    graph = import_graph()
    # A package's __init__ importing its own sub-modules is not a circle of meaning; leave those edges out.
    edges = {a: {b for b in t if not b.startswith(a + ".")} for a, t in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_importing_scenes_does_not_load_the_env_or_torch() -> None:
    code = (
        "import sys, stemscan.scenes; "
        "print(sorted(m for m in ('numba', 'torch', 'stemscan.envs.stem_scan_env') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_benchmark_does_not_load_torch() -> None:
    code = "import sys, stemscan.benchmarks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_features_are_torch_free() -> None:
    """``stemscan.agents.features`` (classical descriptors) and the validation helpers import no torch."""
    modules = sorted(p.stem for p in (PACKAGE / "agents" / "features").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('stemscan.agents.features.' + name)\n"
        "import stemscan.validation\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_package_directory_is_a_regular_package() -> None:
    """Every directory of Python modules has an ``__init__.py`` (``packages = find:`` ships only those)."""
    missing = [
        str(d.relative_to(PACKAGE))
        for d in PACKAGE.rglob("*")
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").is_file()
    ]
    assert not missing, missing
