"""Notebooks are built from jupytext sources and committed executed; this keeps the two in step.

* A notebook whose cells differ from its `scripts/notebooks/NN_*.py` source is stale (someone
  edited one side only): `scripts/build_notebooks.py` rebuilds it.
* Every committed notebook carries the outputs of a full run against the emulator (readers see
  plots and tables before running anything; nbval compares a fresh run with them), and no
  error output: a committed notebook never shows a traceback.
* The lessons assert their claims with `lab.check` / `lab.expect_error`; none catches
  exceptions it does not name, and the nbval comment marker (visible to readers) is not used.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "scripts" / "notebooks").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", ROOT / "scripts" / "build_notebooks.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_notebooks", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_source(source: Path) -> None:
    pytest.importorskip("jupytext")
    problem = _builder().stale(source)
    assert problem is None, (
        f"{problem}: run .venv/bin/python scripts/build_notebooks.py {source.stem[:2]}"
    )


def test_every_notebook_has_a_source() -> None:
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in SOURCES}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_executed_and_clean(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: not executed (build it)"
    assert counts == sorted(counts), f"{path.name}: cells were run out of order"
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"{path.name}: committed with an error output"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr" or "WARNING" not in out["text"], (
                    f"{path.name}: a warning box is committed: {out['text'][:200]}"
                )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_cells_catch_only_exceptions_they_name(source: Path) -> None:
    """No bare `except:`, no `except Exception`, no nbval comment markers in lesson code."""
    text = source.read_text()
    assert "NBVAL_" not in text, f"{source.name}: use a cell tag, not a visible NBVAL comment"
    assert "quiet_errors" not in text, f"{source.name}: use lab.expect_error(SomeError)"
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # cells await at top level
    tree = compile(text, str(source), "exec", flags=flags)
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            names = (
                {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if node.type is not None
                else {"<bare>"}
            )
            assert not names & {"<bare>", "Exception", "BaseException"}, (
                f"{source.name}:{node.lineno}: catches {names}; name the exception you expect"
            )


def test_the_lessons_exist() -> None:
    prefixes = {p.name[:2] for p in NOTEBOOKS}
    lessons = {f"{n:02}" for n in range(11)}  # 00 to 10
    assert prefixes >= lessons, sorted(lessons - prefixes)
