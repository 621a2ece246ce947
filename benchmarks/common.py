"""Shared helpers: statistics, progress lines, test audio, child processes, machine facts.

Why interleaving and medians everywhere: other engineers share this 2-core machine, so a
single run can be slowed by a neighbour at any moment. Running every variant once per round,
in a rotated order, and taking the median per variant spreads that noise evenly over the
variants, which keeps the *ratios* meaningful even when absolute numbers drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
_T0 = time.monotonic()


def progress(message: str) -> None:
    """One timestamped progress line on stderr (stdout stays for the tables)."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no data."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def rotated(items: Sequence[str], round_index: int) -> list[str]:
    """`items` rotated by `round_index`: each variant takes every position across rounds, so
    a slow patch of the machine does not always hit the same variant."""
    k = round_index % len(items) if items else 0
    return [*items[k:], *items[:k]]


def test_tone(seconds: float, rate: int, seed: int = 0) -> bytes:
    """PCM16 mono: an FM tone plus a little noise (the reference's soxr test signal), so
    resamplers and base64 see realistic, incompressible data."""
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    carrier = 0.3 * np.sin(2 * np.pi * (440 * t + 30 * np.sin(2 * np.pi * 3 * t)))
    noise = np.random.default_rng(seed).normal(0.0, 0.02, n)
    return (np.clip(carrier + noise, -1, 1) * 32767).astype("<i2").tobytes()


def chunks(pcm: bytes, rate: int, ms: float) -> list[bytes]:
    """Split PCM16 into `ms`-long chunks (the last one may be shorter)."""
    step = round(rate * ms / 1000) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


# ------------------------------------------------------------------------------------------
# child processes (the sink and the emulator run apart so their CPU is not counted)
# ------------------------------------------------------------------------------------------


@dataclass
class Child:
    """A child process we started, with the first line it printed (its URL)."""

    proc: asyncio.subprocess.Process
    first_line: str

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.asynccontextmanager
async def child_process(
    args: Sequence[str], *, ready_timeout: float = 60.0
) -> AsyncIterator[Child]:
    """Start `python <args>`, wait for its first stdout line, stop it (SIGTERM, then SIGKILL)
    on exit. Only this child is ever signalled, by its own pid."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout)
        if not line:
            raise RuntimeError(f"child {' '.join(args)} exited before it was ready")
        yield Child(proc, line.decode().strip())
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` from /proc (Linux); 0 where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of `pid` from /proc/<pid>/stat (Linux); 0 where missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# ------------------------------------------------------------------------------------------
# machine facts
# ------------------------------------------------------------------------------------------

_PACKAGES = (
    "realtimelab",
    "websockets",
    "numpy",
    "soxr",
    "scipy",
    "openai",
    "google-genai",
    "pydantic",
    "pocketsphinx",
    "espeakng-loader",
)


def machine_info() -> dict[str, Any]:
    """Where the numbers came from: CPU, cores, load, Python and package versions."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    """The checked-out commit (read-only `git rev-parse`); '' outside a repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# ------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (also readable as plain text on a terminal)."""
    cells = [[str(h) for h in headers], *[[fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def dump_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
