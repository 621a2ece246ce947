"""Build notebooks/*.ipynb from their jupytext sources, executed against the emulator.

Why this shape:

* The sources are `scripts/notebooks/NN_*.py` in jupytext's *percent* format: plain Python that
  ruff lints and formats, reviews and merges like code, with markdown cells as comments.
* The notebooks are committed **executed** against the local emulator, so plots, tables and
  players are visible on GitHub and before anything runs, and nbval compares a fresh run with
  them (`scripts/notebooks/sanitize.cfg` masks times, ids and ports).
* They are executed exactly as the lab runs them: one emulator process at real time (the one
  `python3 dev.py lab` starts), no API keys, the lab's working directory.

    .venv/bin/python scripts/build_notebooks.py              # rebuild and execute every notebook
    .venv/bin/python scripts/build_notebooks.py 02 07        # only these
    .venv/bin/python scripts/build_notebooks.py --check      # fail if a notebook's cells differ
                                                             # from its source (no execution)

Edit the `.py` source, never the `.ipynb`; `tests/test_notebooks_source.py` fails on a stale
notebook.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "notebooks"
OUT = ROOT / "notebooks"
#: How long one cell may run while building (the notebooks aim for seconds, not minutes).
CELL_TIMEOUT_S = 120


def sources(selected: Sequence[str] = ()) -> list[Path]:
    """The notebook sources, optionally only those whose name starts with one of `selected`."""
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if selected:
        found = [p for p in found if any(p.stem.startswith(s) for s in selected)]
    return found


def read_source(source: Path) -> Any:
    """The notebook a source describes (no outputs), with stable cell ids and metadata."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    for index, cell in enumerate(nb.cells):
        cell["id"] = hashlib.sha1(f"{source.stem}:{index}".encode()).hexdigest()[:12]
        tags = cell.metadata.get("tags")
        cell["metadata"] = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def cell_signature(nb: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """What must agree between a source and its notebook: kind, text and tags of every cell."""
    return [
        (c["cell_type"], c["source"], tuple(c.get("metadata", {}).get("tags", ())))
        for c in nb["cells"]
    ]


def stale(source: Path) -> str | None:
    """Why the committed notebook of `source` is out of date, or None when it is not."""
    import nbformat

    target = OUT / f"{source.stem}.ipynb"
    if not target.exists():
        return f"{target.name} does not exist"
    committed = nbformat.read(target, as_version=4)
    want, have = cell_signature(read_source(source)), cell_signature(committed)
    if want != have:
        for i, (a, b) in enumerate(zip(want, have, strict=False)):
            if a != b:
                return f"{target.name}: cell {i} differs from {source.name}"
        return f"{target.name}: {len(have)} cells, {source.name} has {len(want)}"
    return None


@contextmanager
def lab_emulator() -> Iterator[str]:
    """The emulator the notebooks run against: the lab's (`dev.py`), at real time."""
    sys.path.insert(0, str(ROOT))
    import dev  # the one definition of how the lab starts its emulator

    url = os.environ.get("REALTIMELAB_EMULATOR_URL")
    if url:
        yield url
        return
    proc, url = dev.start_emulator()
    try:
        yield url
    finally:
        dev.stop_emulator(proc)


def execute(source: Path, emulator_url: str) -> tuple[Any, float]:
    """Run the notebook of `source` the way the lab does; return it with its outputs."""
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT))
    import dev

    nb = read_source(source)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(dev.notebook_env(saved, emulator_url))
    try:
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(OUT)}},
            record_timing=False,
            store_widget_state=True,
        )
        start = time.monotonic()
        client.execute()
        elapsed = time.monotonic() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook prefixes, e.g. 02 07 (default: all)")
    parser.add_argument("--check", action="store_true", help="fail if a notebook is stale")
    args = parser.parse_args(argv)
    chosen = sources(args.only)
    if args.check:
        problems = [p for p in map(stale, chosen) if p]
        for problem in problems:
            print(f"out of date: {problem} (run scripts/build_notebooks.py)", file=sys.stderr)
        return 1 if problems else 0
    import nbformat

    with lab_emulator() as url:
        for source in chosen:
            nb, elapsed = execute(source, url)
            nbformat.write(nb, OUT / f"{source.stem}.ipynb")
            print(f"wrote notebooks/{source.stem}.ipynb (executed in {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
