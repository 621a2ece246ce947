"""JupyterLab headless on loopback, driven by Debian's Chromium through Playwright.

Shared by the real-browser tests and `benchmarks/browser_audio.py`. Why it looks like this:

* Chromium is Debian's (`apt-get install chromium`), never a Playwright download: this
  machine's network reaches only the package registries. The background-networking flags keep
  Chromium from dialling out (those connections are refused here and slow start-up).
* The notebook is opened and run in the page like a learner would, but the test then talks to
  *the same kernel* directly through `jupyter_client` (:class:`KernelDriver`), so it can poll
  widget state and run small snippets without scraping the DOM. The kernel's connection file is
  found through a private `JUPYTER_RUNTIME_DIR`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def audio_args(
    capture_wav: str | os.PathLike[str] | None = None, *, fake_ui: bool = True
) -> list[str]:
    """Flags for headless audio: a fake microphone that plays `capture_wav` in a loop, sound
    allowed without a click, and (`fake_ui`) every microphone prompt accepted.

    `--use-fake-ui-for-media-stream` accepts even where the site's permission is "denied"; a
    test of the denied path passes `fake_ui=False` and grants the microphone per browser
    context instead (Playwright's `permissions=["microphone"]`), so it can take it back.
    """
    args = [
        *(["--use-fake-ui-for-media-stream"] if fake_ui else []),
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if capture_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={capture_wav}")
    return args


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Why a real-browser test cannot run here, or None when it can."""
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


#: Server options by default; the lab's own (`dev.LAB_SERVER_ARGS`) can be passed instead.
LAB_ARGS = (
    "--ServerApp.ip=127.0.0.1",
    "--LabApp.news_url=",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """A minimal nbformat-4 notebook with one code cell per source string."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


@dataclass
class Lab:
    """A running JupyterLab server (see :func:`jupyter_lab`)."""

    base: str
    token: str
    root: Path
    runtime_dir: Path
    proc: subprocess.Popen[bytes]

    def url(self, notebook: str, host: str | None = None) -> str:
        base = self.base if host is None else self.base.replace("127.0.0.1", host)
        return f"{base}/lab/tree/{notebook}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def kernel_id(self, notebook: str, timeout: float = 60.0) -> str:
        """The kernel the page started for `notebook` (waits for its session to exist)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("/api/sessions"):
                if session.get("path", "").endswith(notebook) and session.get("kernel"):
                    return str(session["kernel"]["id"])
            time.sleep(0.3)
        raise TimeoutError(f"no kernel session for {notebook} within {timeout:.0f} s")

    def kernel(self, notebook: str, timeout: float = 60.0) -> KernelDriver:
        kid = self.kernel_id(notebook, timeout)
        conn = self.runtime_dir / f"kernel-{kid}.json"
        deadline = time.monotonic() + timeout
        while not conn.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection file {conn}")
            time.sleep(0.2)
        return KernelDriver(conn)

    def server_pid(self) -> int:
        return self.proc.pid


@contextmanager
def jupyter_lab(
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    server_args: Sequence[str] = LAB_ARGS,
) -> Iterator[Lab]:
    """Start JupyterLab on 127.0.0.1 serving `workdir`, stop it on exit.

    Settings make the page start the notebook's kernel without a dialog and render every cell;
    `extra_args` go to the server (e.g. `--ServerApp.allow_remote_access=True` to serve a
    non-localhost host name); `server_args` replace the loopback / no-news / no-update-check
    defaults (`dev.LAB_SERVER_ARGS`, to serve exactly as `dev.py lab` does).
    """
    port = free_port()
    token = "realtimelab-browser-lab"
    state = workdir.parent / f"{workdir.name}-jupyter"
    settings = state / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(
        '{"autoStartDefaultKernel": true, "windowingMode": "none"}'
    )
    runtime = state / "runtime"
    runtime.mkdir(exist_ok=True)
    full_env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(state / "cfg"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "lab-settings"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    log = open(state / "server.log", "wb")  # noqa: SIM115 - closed below, after the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={workdir}",
            *server_args,
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            *extra_args,
        ],
        cwd=workdir,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, workdir, runtime, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab.api("/api/status")
                break
            except OSError as exc:
                if proc.poll() is not None:
                    tail = (state / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"JupyterLab exited: {tail}") from exc
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start within 60 s") from exc
                time.sleep(0.3)
        yield lab
    finally:
        # Shut the kernels down first (quick, and no orphaned kernel if the server is killed).
        try:
            for kernel in lab.api("/api/kernels"):
                lab.api(f"/api/kernels/{kernel['id']}", "DELETE")
        except OSError:
            pass
        proc.terminate()
        try:
            # A server whose kernel was just restarted can hang on shutdown (jupyter_client's
            # "Exception is not set"); its kernels exit by themselves when it is gone.
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def launch_chromium(pw: Any, extra_args: Sequence[str] = ()) -> Any:
    """Debian's Chromium, headless, with this machine's network-quiet flags plus `extra_args`."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    return pw.chromium.launch(executable_path=path, args=[*CHROMIUM_ARGS, *extra_args])


def run_all_cells(page: Any, url: str, *, timeout_ms: int = 60_000) -> None:
    """Open `url` (a notebook), wait for its kernel, and run every cell from the Run menu.

    "Run All" sent while JupyterLab is still wiring the kernel can be dropped silently, so this
    checks that an execution prompt appeared and asks again if not (as tests/test_browser.py).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.add_locator_handler(
        page.locator(".jp-Dialog").get_by_role("button", name="Select"),
        lambda button: button.click(),
    )
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout_ms, state="attached"
    )
    # The kernel connection may still be replaced in the next second or so; widgets created
    # before that are lost to the page ("model not found"). 0 failures in 6 loads with this
    # pause against 1 in 6 without, on this machine.
    page.wait_for_timeout(2000)
    # only the notebook in view: a restored workspace may have other notebooks open
    started = (
        "() => [...document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]"
        ".some(p => /\\[[\\d*]+\\]/.test(p.textContent))"
    )
    for _attempt in range(4):
        page.get_by_role("menuitem", name="Run", exact=True).click(timeout=10_000)
        page.get_by_text("Run All Cells", exact=True).click(timeout=10_000)
        try:
            page.wait_for_function(started, timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("JupyterLab never started executing the notebook")


class KernelDriver:
    """A second client of the notebook's kernel: run snippets, read values as JSON.

    The page and this client share one kernel (one namespace), so a widget created by the
    notebook in the page is reachable here by name.
    """

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Execute `code`; return its stdout; raise with the traceback if it failed."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind = msg["header"]["msg_type"]
            content = msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "error":
                text = "\n".join(content.get("traceback", [])) or content.get("evalue", "")
                errors.append(re.sub(r"\x1b\[[0-9;]*m", "", text))  # no terminal colours

        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=hook, store_history=False
        )
        if errors or reply["content"].get("status") != "ok":
            raise RuntimeError(f"kernel error running {code!r}:\n" + "\n".join(errors))
        return "".join(out)

    def value(self, expr: str, timeout: float = 60.0) -> Any:
        """`expr` evaluated in the kernel, returned through JSON."""
        text = self.run(f"import json as _j; print(_j.dumps({expr}))", timeout)
        return json.loads(text.strip().splitlines()[-1])

    def wait_for(self, expr: str, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll `expr` until it is truthy; return its value, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = self.value(expr)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{expr} still {value!r} after {timeout:.0f} s")

    def close(self) -> None:
        self.client.stop_channels()


def open_and_run(
    browser: Any,
    url: str,
    ready_selector: str,
    *,
    attempts: int = 2,
    artifacts: Path | None = None,
    **page_options: Any,
) -> Any:
    """A new page with the notebook at `url` run and `ready_selector` present.

    JupyterLab's start-up sometimes opens a second kernel connection right after the first,
    and a widget created during the switch is then "not found" by that page for good (seen
    about one load in five on a busy 2-core machine; running the cell again in the same page
    does not help). :func:`run_all_cells` waits for the connection to settle, which makes it
    rare; a further attempt uses a fresh page. A failed attempt leaves a screenshot and the
    console in `artifacts`.
    """
    for attempt in range(1, attempts + 1):
        page = browser.new_page(**page_options)
        console: list[str] = []
        page.on("console", lambda m, log=console: log.append(f"{m.type}: {m.text}"))
        try:
            run_all_cells(page, url)
            page.wait_for_selector(ready_selector, timeout=30_000)
            return page
        except Exception:
            if artifacts is not None:
                artifacts.mkdir(exist_ok=True)
                page.screenshot(path=str(artifacts / f"open_attempt_{attempt}.png"))
                (artifacts / f"open_attempt_{attempt}.log").write_text("\n".join(console))
            page.close()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
