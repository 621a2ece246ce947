"""Each notebook must turn red when what it teaches is broken.

A notebook that only runs proves little: with `check_rate` returning instead of raising, an
unchecked notebook 00 still "passes". Here every notebook is run with one deliberate breakage
applied first (`tests/support/notebook_mutations.py`, through an injected setup cell), at the
lab's speed against the lab's emulator, and must stop at a `lab.check` / `lab.expect_error`
claim (`ClaimFailed`), not at some unrelated error. Execution stops at the first failing
claim, so each run costs only the notebook's prefix up to it; two run at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import lab_env  # noqa: E402
from support.notebook_mutations import MUTATIONS  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def lab_emulator() -> Iterator[str]:
    """The lab's emulator: the test command's (`REALTIMELAB_LAB_EMULATOR_URL`), else our own."""
    yield from lab_env.lab_emulator_url()


#: Mutated notebooks run this many at a time, each in its own kernel: they mostly wait on
#: real-time audio, so two share two cores and the check takes about half as long.
PARALLEL = 2


@pytest.fixture(scope="module")
def failures(lab_emulator: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every selected mutation, run :data:`PARALLEL` at a time: prefix -> how its notebook
    stopped (nbclient's `CellExecutionError`), or None when it ran to the end."""
    nbclient = pytest.importorskip("nbclient")
    selected = [
        item.callspec.params["prefix"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_mutation_turns_its_notebook_red"
    ]
    env = lab_env.dev().notebook_env(dict(os.environ), lab_emulator)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernels' environment (the same for every notebook)
    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            runs = {prefix: pool.submit(_run_mutated, prefix) for prefix in selected}
            out: dict[str, Any] = {}
            for prefix, future in runs.items():
                try:
                    future.result()
                    out[prefix] = None
                except nbclient.exceptions.CellExecutionError as failure:
                    out[prefix] = failure
            return out
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run_mutated(prefix: str) -> None:
    """Run notebook `prefix` with its mutation applied first (raises where it stops)."""
    import nbclient
    import nbformat

    path = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    setup = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from support.notebook_mutations import apply\n"
        f"print('mutation:', apply({prefix!r}))"
    )
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()


@pytest.mark.parametrize("prefix", sorted(MUTATIONS), ids=lambda p: f"{p}-{MUTATIONS[p][0]}")
def test_mutation_turns_its_notebook_red(prefix: str, failures: dict[str, Any]) -> None:
    name = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb")).name
    failure = failures[prefix]
    assert failure is not None, f"{name} with '{MUTATIONS[prefix][0]}' still ran to the end"
    assert failure.ename == "ClaimFailed", (
        f"{name} with '{MUTATIONS[prefix][0]}' failed, but not at a claim: "
        f"{failure.ename}: {failure.evalue}"
    )
