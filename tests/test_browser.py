"""A real-browser check: JupyterLab headless on loopback, the VAD notebook run in Chromium.

It proves what nbval cannot: that the widgets render in a real front end and that moving a
slider re-computes and re-draws the segment plot. Skipped (with the reason) where Chromium or
Playwright is missing; `.ci/run` installs Chromium so CI runs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03_vad_tuning.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    workdir = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", workdir / "notebooks")
    shutil.copytree(ROOT / "data", workdir / "data")
    port = _free_port()
    token = "realtimelab-browser-check"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(workdir / "cfg"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    # Start the notebook's kernel without asking (JupyterLab otherwise sometimes shows a
    # "Select Kernel" dialog when the kernelspecs arrive after the notebook opens).
    settings = workdir / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # ... and render every cell (no virtualised scrolling), so locators see the whole notebook.
    (settings / "tracker.jupyterlab-settings").write_text(
        '{"autoStartDefaultKernel": true, "windowingMode": "none"}'
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(workdir / "lab-settings")
    env.setdefault("REALTIMELAB_EMULATOR_SPEED", "8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={workdir / 'notebooks'}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError as exc:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"JupyterLab exited: {err}") from exc
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("JupyterLab did not start within 60 s")
    try:
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_vad_slider_redraws_segments(lab: str) -> None:
    """Two attempts, each in a fresh page: JupyterLab's start-up occasionally loses a "Run All"
    sent while it is still wiring the kernel (about 1 run in 8 on this 2-core machine); a
    second, independent attempt tells that race from a real regression, which fails both."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            try:
                _run_and_move_slider(browser, lab, attempt=1)
            except Exception:
                _run_and_move_slider(browser, lab, attempt=2)
        finally:
            browser.close()


def _run_and_move_slider(browser: Any, lab: str, attempt: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # JupyterLab sometimes asks which kernel to start (when the kernelspecs arrive after the
    # notebook opens); whenever that dialog blocks a click, accept its preselected Python 3.
    page.add_locator_handler(
        page.locator(".jp-Dialog").get_by_role("button", name="Select"),
        lambda button: button.click(),
    )
    try:
        page.goto(lab, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        # Wait for the kernel to be idle before running everything.
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000, state="attached"
        )
        # "Run All" sent while the kernel session is still being wired up can be dropped
        # silently (seen: every prompt still blank, kernel idle), so check that execution
        # really started and ask again if not.
        started = (
            "() => [...document.querySelectorAll('.jp-InputPrompt')]"
            ".some(p => /\\[\\d+\\]/.test(p.textContent))"
        )
        for _attempt in range(4):
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=10_000)
            page.get_by_text("Run All Cells", exact=True).click(timeout=10_000)
            try:
                page.wait_for_function(started, timeout=40_000)
                break
            except PlaywrightTimeout:
                continue
        else:
            raise AssertionError("JupyterLab never started executing the notebook")
        # JupyterLab virtualises long notebooks: cells out of view are not displayed, so
        # wait for the widgets to exist, then scroll them into view before touching them.
        plot = page.locator("img.vad-plot").first
        plot.wait_for(state="attached", timeout=120_000)
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
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"vad_failure_{attempt}.png"), full_page=True)
        raise
    finally:
        page.close()
