"""Notebooks are generated from scripts/notebooks/*.py; a stale notebook is a bug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_match_their_sources() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/build_notebooks.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_committed_notebooks_carry_no_outputs() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name}: outputs must be stripped"
                assert cell["execution_count"] is None, path.name


def test_every_design_notebook_exists() -> None:
    names = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    prefixes = {n[:2] for n in names}
    assert prefixes >= {"00", "01", "02", "03", "04", "05", "06"}, names
