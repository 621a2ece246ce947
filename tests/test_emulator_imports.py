"""The emulator's import graph: no cycles (hidden or not), dialects never import the server.

Every import counts, including the ones inside functions: a lazy import that closes a cycle is
still a cycle, only a hidden one. The graph is read from the source with `ast`, so nothing is
imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support.import_graph import strongly_connected

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "realtimelab" / "emulator"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, each as a sorted list."""
    return [sorted(component) for component in strongly_connected(edges)]


def test_the_emulator_has_no_import_cycles() -> None:
    edges = graph()
    assert "realtimelab.emulator.dialects.gemini.protocol" in edges  # the walk found the tree
    assert cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_dialects_import_the_contract_never_the_server() -> None:
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("realtimelab.emulator.dialects"):
            assert "realtimelab.emulator.server" not in targets, name
            assert "realtimelab.emulator.channel" not in targets, name
    server = (PACKAGE / "server.py").read_text()
    assert "importlib" not in server


def test_the_emulator_keeps_its_own_readings_of_the_wire() -> None:
    """Client mappings (schema conversion, VAD sensitivity tables) are never borrowed."""
    for path in (PACKAGE / "dialects").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in (
                "realtimelab.schema",
                "realtimelab.vad",
            ):
                names = {a.name for a in node.names}
                assert node.module != "realtimelab.schema", path
                assert names <= {"VadParams", "StreamingVad"}, (path, names)
