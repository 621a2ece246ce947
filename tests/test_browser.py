"""Every notebook as a learner runs it: Run All in JupyterLab, in Chromium, to the last cell.

What nbval cannot see: that each notebook runs to its end *in the front end learners use*,
with the lab's own settings (`dev.LAB_SETTINGS`, `dev.LAB_SERVER_ARGS`), against the lab's
emulator at real time, on copies of `notebooks/` (as `python3 dev.py lab` serves them), with
widgets rendered by a real browser. One JupyterLab server and one Chromium serve every
notebook in `notebooks/` (whatever exists when the tests are collected); each notebook gets a
fresh page and workspace, its outputs are cleared, "Run All Cells" runs it, and once nothing is
queued the page saves it and the saved file must show every code cell executed and no error
output. Two notebooks run at a time (:data:`PARALLEL`; those in :data:`SOLO` alone), and each
kernel is shut down as soon as its notebook is checked. Chromium gets a fake microphone playing
a spoken fixture, as a learner's laptop would have a real one.

Notebook 03 is also driven: moving its threshold slider must re-draw the segment plot (the
widgets live in the page, not in the saved file).

Per-notebook wall times go to `test-artifacts/browser_times.json`; a failure leaves a
screenshot there. Skipped (with the reason) where Chromium or Playwright is missing;
`.ci/run` installs Chromium so CI runs it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import lab_env

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"
TIMES = ARTIFACTS / "browser_times.json"
MIC = json.loads((ROOT / "data" / "talk" / "story_then_thanks.json").read_text())
MIC_WAV = ROOT / "data" / "talk" / MIC["file"]
#: A notebook aims at under 30 s in the lab; this leaves room for a loaded machine.
NOTEBOOK_TIMEOUT_S = 180

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab_emulator() -> Iterator[str]:
    """The lab's emulator: the test command's (`REALTIMELAB_LAB_EMULATOR_URL`), else our own."""
    yield from lab_env.lab_emulator_url()


@pytest.fixture(scope="module")
def lab_browser(tmp_path_factory: pytest.TempPathFactory, lab_emulator: str) -> Iterator[Any]:
    """(JupyterLab serving copies of notebooks/ with the lab's settings, Chromium)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.browser_lab import audio_args, jupyter_lab, launch_chromium, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    dev = lab_env.dev()
    base = tmp_path_factory.mktemp("browser_lab")
    workdir = base / "my-notebooks"
    dev.sync_workdir(workdir)  # the copies `dev.py lab` works on
    env = dev.notebook_env(dict(os.environ), lab_emulator)  # no keys, real time, the lab's emulator
    env["JUPYTERLAB_SETTINGS_DIR"] = str(dev.write_lab_settings(base / "lab-settings"))
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "workspaces")
    with (
        jupyter_lab(workdir, env=env, server_args=dev.LAB_SERVER_ARGS) as lab,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw, audio_args(MIC_WAV))
        try:
            yield lab, browser
        finally:
            browser.close()


#: Notebooks run this many at a time (each in its own page and kernel). They mostly wait on
#: real-time audio, so two share the two cores without breaking each other's timing claims,
#: and the whole check takes a good deal less than one after the other.
PARALLEL = 2
#: Notebooks that get the machine to themselves, as under nbval (`dev.SOLO_NOTEBOOKS` says why).
SOLO = set(lab_env.dev().SOLO_NOTEBOOKS)


@dataclass
class Outcome:
    """How one notebook's Run All went."""

    seconds: float | None = None  # page opened -> nothing queued
    problems: list[str] = field(default_factory=list)  # from the saved file
    error: BaseException | None = None  # the page could not be driven


@dataclass
class _Run:
    notebook: Path
    page: Any
    attempt: int
    start: float
    console: list[str]


class BrowserRunner:
    """Keeps :data:`PARALLEL` notebooks running (each in its own page and kernel), starting
    the next as one finishes; a notebook's test waits for its outcome meanwhile."""

    def __init__(self, lab: Any, browser: Any, selected: list[Path]) -> None:
        self.lab, self.browser = lab, browser
        self.queue = [(n, 1) for n in selected]
        self.active: list[_Run] = []
        self.done: dict[str, Outcome] = {}
        self.times: dict[str, float] = {}

    def outcome(self, notebook: Path, attempt: int = 1) -> Outcome:
        """Run `notebook` (if this attempt has not run yet) and return how it went."""
        if (notebook, attempt) not in self.queue and not any(
            r.notebook == notebook and r.attempt == attempt for r in self.active
        ):
            if attempt == 1 and notebook.name in self.done:
                return self.done[notebook.name]
            self.queue.insert(0, (notebook, attempt))
            self.done.pop(notebook.name, None)
        elif (notebook, attempt) in self.queue:  # the one asked for goes next
            self.queue.remove((notebook, attempt))
            self.queue.insert(0, (notebook, attempt))
        while notebook.name not in self.done:
            self._pump()
        return self.done[notebook.name]

    def _pump(self) -> None:
        while self.queue and len(self.active) < PARALLEL:
            solo = self.queue[0][0].name in SOLO
            if any(r.notebook.name in SOLO for r in self.active) or (solo and self.active):
                break  # a solo notebook runs alone: wait for the machine to be free
            notebook, attempt = self.queue.pop(0)
            run = self._open(notebook, attempt)
            try:
                _start(run.page, self._url(notebook, attempt))
                self.active.append(run)
            except Exception as exc:
                self._finish(run, Outcome(error=exc))
        for run in list(self.active):
            try:
                finished = run.page.evaluate(_FINISHED)
            except Exception as exc:
                self.active.remove(run)
                self._finish(run, Outcome(error=exc))
                continue
            elapsed = time.monotonic() - run.start
            if finished:
                self.active.remove(run)
                self._finish(run, self._check(run, elapsed))
            elif elapsed > NOTEBOOK_TIMEOUT_S:
                self.active.remove(run)
                timeout = TimeoutError(f"still running after {NOTEBOOK_TIMEOUT_S} s")
                self._finish(run, Outcome(error=timeout))
        time.sleep(0.3)

    def close(self) -> None:
        for run in self.active:
            run.page.close()
            _shut_down_kernels(self.lab, run.notebook.name)
        self.active = []

    def _url(self, notebook: Path, attempt: int) -> str:
        # a workspace of its own: only this notebook opens (and starts a kernel)
        where = f"workspaces/{notebook.stem}-{attempt}/tree/{notebook.name}"
        return f"{self.lab.base}/lab/{where}?token={self.lab.token}"

    def _open(self, notebook: Path, attempt: int) -> _Run:
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        console: list[str] = []
        page.on("console", lambda m, log=console: log.append(f"{m.type}: {m.text}"))
        return _Run(notebook, page, attempt, time.monotonic(), console)

    def _check(self, run: _Run, seconds: float) -> Outcome:
        outcome = Outcome(seconds=round(seconds, 1))
        try:
            outcome.problems = _saved_problems(run.page, self.lab.root / run.notebook.name)
            after = AFTER_RUN.get(run.notebook.name)
            if after is not None and not outcome.problems:
                after(run.page)
        except Exception as exc:
            outcome.error = exc
        return outcome

    def _finish(self, run: _Run, outcome: Outcome) -> None:
        name = run.notebook.name
        try:
            if outcome.error is not None or outcome.problems:
                ARTIFACTS.mkdir(exist_ok=True)
                stem = f"browser_{run.notebook.stem}_{run.attempt}"
                run.page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
                (ARTIFACTS / f"{stem}.log").write_text("\n".join(run.console))
        finally:
            run.page.close()
            _shut_down_kernels(self.lab, name)
        self.done[name] = outcome
        if outcome.seconds is not None:
            self.times[run.notebook.stem] = outcome.seconds


@pytest.fixture(scope="module")
def runner(lab_browser: Any, request: pytest.FixtureRequest) -> Iterator[BrowserRunner]:
    selected = [
        item.callspec.params["notebook"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_run_all_in_the_browser"
    ]
    runner = BrowserRunner(*lab_browser, selected)
    yield runner
    runner.close()
    if runner.times:
        ARTIFACTS.mkdir(exist_ok=True)
        TIMES.write_text(json.dumps(runner.times, indent=1) + "\n")


@pytest.mark.timeout(2 * NOTEBOOK_TIMEOUT_S + 120)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_in_the_browser(notebook: Path, runner: BrowserRunner) -> None:
    outcome = runner.outcome(notebook)
    if outcome.error is not None and notebook.name in AFTER_RUN:
        # JupyterLab's start-up can lose a widget for good in one page ("model not found",
        # about one load in five on a busy 2-core machine): a fresh page tells that from a
        # real regression, which fails both times
        outcome = runner.outcome(notebook, attempt=2)
    if outcome.error is not None:
        raise outcome.error
    assert not outcome.problems, f"{notebook.name} in the browser: " + "; ".join(outcome.problems)


def _start(page: Any, url: str) -> None:
    """Open the notebook, clear the committed outputs (so a prompt number proves this run),
    and Run All; returns once the run has started."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000, state="attached"
    )
    # The kernel connection may still be replaced in the next second or so (widgets created
    # before that are lost to the page): see support/browser_lab.run_all_cells.
    page.wait_for_timeout(2000)
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(f"() => {_PROMPTS}.every(t => !/\\d/.test(t))", timeout=10_000)
    # "Run All" sent while JupyterLab is still wiring the kernel can be dropped silently: ask
    # again until a prompt shows this run (queued "[*]" or a number).
    for _ in range(4):
        _menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(f"() => {_PROMPTS}.some(t => /[\\d*]/.test(t))", timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("JupyterLab never started executing the notebook")


#: the input prompts of the notebook in view ("[ ]:", "[*]:", "[3]:"), as a JS expression
_PROMPTS = (
    "[...document.querySelectorAll("
    "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
    ".map(p => p.textContent.trim())"
)
#: Run All queues every cell at once ("[*]"), so nothing queued means done: the last cell ran,
#: or a cell failed and the kernel dropped the rest (their prompts are blank again).
_FINISHED = (
    f"() => {{ const p = {_PROMPTS}; return !p.some(t => t.includes('*'))"
    " && p.some(t => /\\d/.test(t)); }"
)


def _menu(page: Any, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click(timeout=10_000)
    page.locator(".lm-Menu").get_by_text(item, exact=True).click(timeout=10_000)


def _saved_problems(page: Any, path: Path) -> list[str]:
    """Save the notebook from the page and read what it holds: unexecuted cells, errors."""
    before = path.stat().st_mtime_ns
    _menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved within 30 s")
        time.sleep(0.2)
    for _ in range(50):  # the server may still be writing it
        try:
            nb = json.loads(path.read_text())
            break
        except ValueError:
            time.sleep(0.1)
    else:
        raise AssertionError(f"{path.name}: the saved file is not JSON")
    problems = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for index, cell in enumerate(code):
        for out in cell["outputs"]:
            if out["output_type"] == "error":
                problems.append(f"code cell {index} raised {out['ename']}: {out['evalue'][:300]}")
    unrun = [i for i, c in enumerate(code) if c["execution_count"] is None]
    if unrun:
        problems.append(f"code cells {unrun} never ran (Run All stopped before them)")
    return problems


def _shut_down_kernels(lab: Any, name: str) -> None:
    """End the notebook's kernel, so the next notebook has the machine to itself."""
    try:
        for session in lab.api("/api/sessions"):
            if session.get("path", "").endswith(name):
                lab.api(f"/api/sessions/{session['id']}", "DELETE")
    except OSError:
        pass


def _vad_slider(page: Any) -> None:
    """03: moving the threshold slider re-computes and re-draws the segment plot."""
    ARTIFACTS.mkdir(exist_ok=True)
    plot = page.locator("img.vad-plot").first
    plot.wait_for(state="attached", timeout=30_000)
    plot.scroll_into_view_if_needed(timeout=30_000)
    slider = page.locator(".widget-slider").first
    slider.scroll_into_view_if_needed(timeout=30_000)
    before = plot.get_attribute("src")
    page.screenshot(path=str(ARTIFACTS / "vad_before.png"))
    slider.locator(".noUi-handle").first.click()
    for _ in range(8):
        page.keyboard.press("ArrowRight")  # threshold 0.50 -> 0.90
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel);"
        " return i && i.getAttribute('src') !== old; }",
        arg=["img.vad-plot", before],
        timeout=60_000,
    )
    page.wait_for_timeout(2000)  # let the last keystrokes' redraws land
    plot.scroll_into_view_if_needed(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "vad_after.png"))
    assert plot.get_attribute("src") != before
    label = page.locator(".widget-readout").first.inner_text()
    assert label.strip() == "0.90", label


#: What to do in the page after a notebook ran, by notebook file name.
AFTER_RUN = {"03_vad_tuning.ipynb": _vad_slider}
