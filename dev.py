#!/usr/bin/env python3
"""Set up realtimelab in its own virtual environment and run the lab or the tests.

    python3 dev.py lab     # JupyterLab on notebooks/, with a local emulator as the backend
    python3 dev.py test    # ruff + mypy + pytest (unit tests, notebooks via nbval, browser check)

Only the standard library is used here, so this works on a fresh machine with Python 3.11+.
The environment lives in .venv/ and is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
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


def lab(args: list[str]) -> None:
    ensure_env("dev")
    env = dict(os.environ)
    emulator = None
    if "REALTIMELAB_EMULATOR_URL" not in env:
        # One emulator for the whole lab, so every notebook talks to the same local server.
        emulator = subprocess.Popen(
            [str(PY), "-m", "realtimelab", "emulator", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert emulator.stdout is not None
        line = emulator.stdout.readline()
        url = next((w for w in line.split() if w.startswith("ws://")), None)
        if url is None:
            emulator.kill()
            sys.exit(f"the emulator did not start: {line!r}")
        env["REALTIMELAB_EMULATOR_URL"] = url
        _say(f"emulator listening on {url}")
    try:
        subprocess.run(
            [
                str(BIN / "jupyter"),
                "lab",
                "--notebook-dir",
                str(ROOT / "notebooks"),
                "--ServerApp.ip=127.0.0.1",
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
            emulator.send_signal(signal.SIGINT)
            emulator.wait(timeout=10)


def test(args: list[str]) -> None:
    ensure_env("dev")
    _say("ruff")
    sources = ["realtimelab", "tests", "scripts", "benchmarks", "dev.py"]
    run([str(BIN / "ruff"), "check", *sources])
    run([str(BIN / "ruff"), "format", "--check", *sources])
    _say("mypy")
    run([str(BIN / "mypy")])
    _say("pytest: unit tests, notebooks (nbval), browser check")
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env.setdefault("REALTIMELAB_EMULATOR_SPEED", "8")  # notebooks under nbval: paced 8x
    # pytest exits 5 when it collects nothing: run() turns that into a failure too.
    run(
        [
            str(BIN / "pytest"),
            "tests",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-cell-timeout=120",
            "notebooks",
            *args,
        ],
        env=env,
    )


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on any python3 to say so
        sys.exit(f"realtimelab needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if len(sys.argv) < 2 or sys.argv[1] not in {"lab", "test"}:
        sys.exit(__doc__)
    {"lab": lab, "test": test}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
