"""The architecture, checked: provider knowledge lives in `providers/` (and the emulator's own
readings in `emulator/`), modules import each other without cycles, and the public names each
module exports exist.

These read the source with `ast`, so they cost milliseconds and fail with the file and line
that broke the rule.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.import_graph import strongly_connected

import realtimelab

ROOT = Path(realtimelab.__file__).parent
PROVIDER_NAMES = {"openai", "gemini"}
#: Where provider knowledge belongs: each provider's folder, the registry beside them, and the
#: emulator (which keeps its own reading of each wire format).
PROVIDER_HOMES = ("providers/", "emulator/")


def package_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        yield rel, path


def module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["realtimelab", *parts])


def test_no_provider_name_conditionals_or_functions_outside_the_provider_homes() -> None:
    problems: list[str] = []
    for rel, path in package_files():
        if rel.startswith(PROVIDER_HOMES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if any(p in node.name.lower() for p in PROVIDER_NAMES):
                    problems.append(f"{rel}:{node.lineno} defines {node.name}")
            elif isinstance(node, ast.Compare | ast.Match):
                for const in ast.walk(node):
                    if isinstance(const, ast.Constant) and const.value in PROVIDER_NAMES:
                        problems.append(f"{rel}:{node.lineno} compares with {const.value!r}")
    assert not problems, "provider knowledge outside providers/:\n" + "\n".join(problems)


def _imports(rel: str, path: Path, known: set[str]) -> Iterator[str]:
    """Modules of the package that `path` imports at run time (function-level imports
    included: a lazy import that hides a cycle is still a cycle; `TYPE_CHECKING` blocks are
    not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(rel)
    package = here if rel.endswith("__init__.py") else here.rsplit(".", 1)[0]

    def skip(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name | ast.Attribute)
            and "TYPE_CHECKING" in ast.unparse(node.test)
        )

    def walk(node: ast.AST) -> Iterator[ast.AST]:
        for child in ast.iter_child_nodes(node):
            if skip(child):
                continue
            yield child
            yield from walk(child)

    for node in walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("realtimelab"):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            if not base.startswith("realtimelab"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def test_the_package_has_no_import_cycles() -> None:
    files = dict(package_files())
    known = {module_name(rel) for rel in files}
    graph = {
        module_name(rel): {m for m in _imports(rel, path, known) if m in known}
        for rel, path in files.items()
    }
    # the package's own __init__ only re-exports lazily; importing it is not a dependency
    for deps in graph.values():
        deps.discard("realtimelab")
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(sorted(c)) for c in cycles)


def _public_modules() -> Iterator[str]:
    for info in pkgutil.walk_packages(realtimelab.__path__, "realtimelab."):
        if ".emulator.dialects." in info.name or info.name.endswith("__main__"):
            continue
        yield info.name


@pytest.mark.parametrize("name", sorted(_public_modules()))
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", ())
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"


def test_the_top_level_exports_resolve_lazily() -> None:
    for name in realtimelab.__all__:
        assert getattr(realtimelab, name) is not None, name


#: Flags that only describe a provider (shown in docs/capabilities.md), read by no code yet.
#: They predate the rule; a new flag must be read by the code that depends on it.
DESCRIPTIVE_FLAGS = {
    "provider": "the registry key, not a feature",
    "server_vad": "both providers have server VAD; nothing branches on it",
    "semantic_vad": "Vad(mode='semantic') is approximated where it is missing (session_config)",
}


def test_every_capability_flag_is_read_by_the_code_that_depends_on_it() -> None:
    """A flag nobody reads documents a behaviour nothing enforces. Reads are attribute reads
    (`caps.image_input`) or the verb guard `self._require("image_input", ...)`, anywhere in
    the package but the flag's own declaration (`providers/base.py`) and the providers'
    `CAPABILITIES` values (keyword arguments, which are not reads)."""
    from dataclasses import fields

    from realtimelab.providers.base import Capabilities

    flags = {f.name for f in fields(Capabilities)} - set(DESCRIPTIVE_FLAGS)
    read: set[str] = set()
    for rel, path in package_files():
        if rel == "providers/base.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in flags:
                read.add(node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_require"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                read.add(str(node.args[0].value))
    assert flags <= read, f"capability flags nobody reads: {sorted(flags - read)}"
