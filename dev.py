#!/usr/bin/env python3
"""Set up realtimelab in its own virtual environment and run the lab or the tests.

    python3 dev.py lab     # JupyterLab on copies of notebooks/ (my-notebooks/), local emulator
    python3 dev.py test    # ruff + mypy + pytest (unit, browser check) + nbval on every notebook

Extra arguments to `test` go to the unit-test pytest run (e.g. `-k resampler`).

Only the standard library is used here, so this works on a fresh machine with Python 3.11+.
The environment lives in .venv/ and is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def ensure_env(extras: str) -> None:
    """Create .venv and install the project with `extras`, skipping work already done."""
    if not PY.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    _say(f"installing realtimelab[{extras}] (first run takes a minute or two)")
    run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(PY), "-m", "pip", "install", "-q", "-e", f".[{extras}]"])
    stamp.write_text(digest)


def run(cmd: list[str], **kw: object) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.exit(proc.returncode)


#: JupyterLab settings shared by `dev.py lab` and the browser check (tests/test_browser.py), so
#: the check sees the lab learners get: the notebook's kernel starts without a "Select Kernel"
#: dialog, no news toast or update check, and every cell is rendered (no virtual scrolling).
LAB_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
#: Server options both use (no news feed, no update check).
LAB_SERVER_ARGS = [
    "--ServerApp.ip=127.0.0.1",
    "--LabApp.news_url=",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
#: Where `dev.py lab` works: copies of notebooks/, so JupyterLab's autosave never writes
#: outputs into the tracked notebooks (which the test command compares against).
WORKDIR = ROOT / "my-notebooks"
#: Provider keys: kept in the lab (they switch notebooks to the real services), removed when
#: the notebooks are built or tested (those always run against the emulator).
KEY_VARS = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def write_lab_settings(settings_dir: Path, *, overwrite: bool = True) -> Path:
    """Write :data:`LAB_SETTINGS` under `settings_dir` (a JUPYTERLAB_SETTINGS_DIR)."""
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        if path.exists() and not overwrite:
            continue  # the learner's own choices win
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1) + "\n")
    return settings_dir


def start_emulator(
    python: str | os.PathLike[str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start the lab's emulator (real time, any free port); return the process and its URL."""
    proc = subprocess.Popen(
        [str(python or PY), "-m", "realtimelab", "emulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next((w for w in line.split() if w.startswith("ws://")), None)
    if url is None:
        proc.kill()
        sys.exit(f"the emulator did not start: {line!r}")
    return proc, url


def stop_emulator(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def notebook_env(base: dict[str, str], emulator_url: str, *, keys: bool = False) -> dict[str, str]:
    """The environment a notebook kernel runs in: the lab's emulator at real time, inline
    plots; without `keys`, no provider key (built and tested notebooks use the emulator)."""
    env = {k: v for k, v in base.items() if keys or k not in KEY_VARS}
    env.pop("REALTIMELAB_EMULATOR_SPEED", None)  # the lab's speed: real time
    env["REALTIMELAB_EMULATOR_URL"] = emulator_url
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _sources_hash(path: Path) -> str:
    """A notebook's cell sources only: running cells (outputs) does not change it."""
    try:
        cells = json.loads(path.read_text()).get("cells", [])
    except (OSError, ValueError):
        return ""
    text = json.dumps([["".join(c.get("source", "")), c.get("cell_type")] for c in cells])
    return hashlib.sha256(text.encode()).hexdigest()


def sync_workdir(workdir: Path = WORKDIR) -> None:
    """Copy notebooks/ into `workdir`. A copy whose cells the learner has not edited (running
    them is not editing) is refreshed when the tracked notebook changed; an edited copy is
    kept, and we say how to get the current version."""
    workdir.mkdir(exist_ok=True)
    record = workdir / ".copied-from.json"
    try:
        copied: dict[str, str] = json.loads(record.read_text())
    except (OSError, ValueError):
        copied = {}
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = workdir / source.name
        current = _sources_hash(source)
        if target.exists():
            mine = _sources_hash(target)
            if mine == current:
                copied[source.name] = current
                continue
            if mine != copied.get(source.name):
                _say(f"kept your edited {target.name} (delete it to get the current version)")
                continue
        shutil.copyfile(source, target)
        copied[source.name] = current
    record.write_text(json.dumps(copied, indent=1) + "\n")


def lab(args: list[str]) -> None:
    ensure_env("dev")
    sync_workdir()
    env = dict(os.environ)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(
        write_lab_settings(WORKDIR / ".jupyter" / "lab-settings", overwrite=False)
    )
    emulator = None
    url = env.get("REALTIMELAB_EMULATOR_URL")
    if url is None:
        # One emulator for the whole lab, so every notebook talks to the same local server.
        emulator, url = start_emulator()
        _say(f"emulator listening on {url}")
    env = notebook_env(env, url, keys=True)
    _say(f"notebooks: {WORKDIR.relative_to(ROOT)}/ (copies: the tracked notebooks/ stay clean)")
    try:
        subprocess.run(
            [
                str(BIN / "jupyter"),
                "lab",
                "--notebook-dir",
                str(WORKDIR),
                *LAB_SERVER_ARGS,
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                *args,
            ],
            cwd=ROOT,
            env=env,
        )
    except KeyboardInterrupt:
        pass
    finally:
        if emulator is not None:
            stop_emulator(emulator)


def test(args: list[str]) -> None:
    ensure_env("dev")
    _say("ruff")
    sources = ["realtimelab", "tests", "scripts", "benchmarks", "dev.py"]
    run([str(BIN / "ruff"), "check", *sources])
    run([str(BIN / "ruff"), "format", "--check", *sources])
    _say("mypy")
    run([str(BIN / "mypy")])
    # The notebooks run as learners run them: against one emulator started like the lab's, at
    # real time, with the lab's settings (the browser check and the mutation check use it too).
    emulator, url = start_emulator()
    try:
        _say("pytest: unit tests, notebook mutations, browser check")
        env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
        env["REALTIMELAB_LAB_EMULATOR_URL"] = url
        # pytest exits 5 when it collects nothing: run() turns that into a failure too.
        run([str(BIN / "pytest"), "tests", *args], env=env)
        _say("nbval: every notebook at the lab's speed, outputs compared with the committed ones")
        nbval(notebook_env(dict(os.environ), url))
    finally:
        stop_emulator(emulator)


#: nbval runs the notebooks in this many pytest processes at once: a notebook mostly waits on
#: real-time audio, so two share two cores and the notebooks take about half as long.
NBVAL_PROCESSES = 2
#: Notebooks that run with nothing beside them (here and in the browser check): 04 runs eight
#: emulators in its kernel and injects a drop "mid-turn" at the first audio it sees; beside
#: another notebook on a loaded machine the drop once landed after the whole answer.
SOLO_NOTEBOOKS = ("04_reconnection_and_rotation.ipynb",)


def nbval(env: dict[str, str]) -> None:
    """nbval on every notebook in notebooks/, split over :data:`NBVAL_PROCESSES` processes
    (each line of their output prefixed with its group), then :data:`SOLO_NOTEBOOKS` on their
    own; fails if any run fails."""
    found = sorted((ROOT / "notebooks").glob("*.ipynb"))
    shared = [str(p.relative_to(ROOT)) for p in found if p.name not in SOLO_NOTEBOOKS]
    solo = [str(p.relative_to(ROOT)) for p in found if p.name in SOLO_NOTEBOOKS]
    groups = [g for g in (shared[i::NBVAL_PROCESSES] for i in range(NBVAL_PROCESSES)) if g]
    _nbval_at_once(groups, env)
    if solo:
        _nbval_at_once([solo], env)


def _nbval_at_once(groups: list[list[str]], env: dict[str, str]) -> None:
    """One nbval process per group of notebooks, all at once; exit if any fails."""
    command = [
        str(BIN / "pytest"),
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        "scripts/notebooks/sanitize.cfg",
        "--nbval-cell-timeout=60",
        "-p",
        "no:cacheprovider",
    ]
    procs = [
        subprocess.Popen(
            [*command, *group],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for group in groups
    ]

    def relay(n: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"[nbval {n}] {line}", end="", flush=True)

    relays = [threading.Thread(target=relay, args=(n, p)) for n, p in enumerate(procs, 1)]
    for thread in relays:
        thread.start()
    codes = [proc.wait() for proc in procs]
    for thread in relays:
        thread.join()
    failed = next((code for code in codes if code != 0), 0)
    if failed:
        sys.exit(failed)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on any python3 to say so
        sys.exit(f"realtimelab needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if len(sys.argv) < 2 or sys.argv[1] not in {"lab", "test"}:
        sys.exit(__doc__)
    {"lab": lab, "test": test}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
