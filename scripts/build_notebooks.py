"""Build notebooks/*.ipynb from the cell lists in scripts/notebooks/*.py.

Why a builder: notebook JSON is hard to review and merge; the cell sources live in plain Python
files (one per notebook, a list of ("md" | "code", text) pairs), and this script writes clean
notebooks with no outputs, a `python3` kernelspec and stable cell ids, so a rebuild of unchanged
sources is byte-identical.

    .venv/bin/python scripts/build_notebooks.py          # rebuild every notebook
    .venv/bin/python scripts/build_notebooks.py --check  # fail if a notebook is out of date

Editing a notebook in JupyterLab is fine for experiments; move the change into its source file
here before committing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "notebooks"
OUT = ROOT / "notebooks"


def _cell(kind: str, text: str, name: str, index: int) -> dict[str, object]:
    text = text.strip("\n")
    cell_id = hashlib.sha1(f"{name}:{index}".encode()).hexdigest()[:12]
    lines = text.splitlines(keepends=True)
    if kind == "md":
        return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": lines}
    if kind == "code":
        return {
            "cell_type": "code",
            "id": cell_id,
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": lines,
        }
    raise ValueError(f"{name}: cell {index} has unknown kind {kind!r} (use 'md' or 'code')")


def build(source: Path) -> tuple[str, str]:
    spec = importlib.util.spec_from_file_location(source.stem, source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cells = [_cell(kind, text, source.stem, i) for i, (kind, text) in enumerate(module.CELLS)]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return f"{source.stem}.ipynb", json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook is stale")
    args = parser.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        name, text = build(source)
        target = OUT / name
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(name)
            continue
        target.write_text(text)
        print(f"wrote notebooks/{name}")
    if stale:
        print("out of date (run scripts/build_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
