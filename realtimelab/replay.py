"""Read event logs back, and `python -m realtimelab replay LOG.jsonl`: per-turn metrics.

A log is data from the past, maybe from another version, maybe truncated by a crash, maybe
edited by hand: reading it must never end in a traceback. Every line is checked on its own;
a bad one (not JSON, nested too deeply, a time that is not a finite number, a usage count
that is text) is reported by its line number and skipped, and the command exits non-zero.

Logs can be large (a long session's frames add up), so they are read as a stream:
`iter_log` yields one line at a time, and `read_log(..., keys=...)` keeps only the fields
asked for (metrics need a dozen small ones, never the frames), so a 160 MB log does not
become gigabytes of dicts.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import warnings
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from realtimelab.errors import RealtimeLabWarning

__all__ = [
    "METRIC_KEYS",
    "LogContents",
    "LogProblem",
    "LogReadWarning",
    "iter_log",
    "load_log",
    "main",
    "read_log",
]

Line = dict[str, Any]

#: The fields `realtimelab.metrics.turn_metrics` reads; everything else can be dropped.
METRIC_KEYS: Final = frozenset(
    {
        "t_ms",
        "dir",
        "type",
        "provider",
        "model",
        "usage",
        "status",
        "audio_ms",
        "how",
        "reason",
        "heard_ms",
    }
)
#: Times beyond a year of milliseconds are not from a session.
_MAX_T_MS: Final = 365 * 24 * 3600 * 1000.0
#: Longer lines are not read (a log line carries one elided frame: kilobytes, not megabytes).
MAX_LINE_BYTES: Final = 16 * 2**20


class LogReadWarning(RealtimeLabWarning):
    """A line of a JSONL log could not be read (the others were)."""


@dataclass(frozen=True)
class LogProblem:
    """A line that could not be used: where, and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class LogContents:
    """What :func:`load_log` found: the good lines and a message per bad one."""

    lines: list[Line]
    problems: tuple[str, ...]


def iter_log(
    path: str | os.PathLike[str], *, keys: Collection[str] | None = None
) -> Iterator[Line | LogProblem]:
    """The lines of a JSONL log, one at a time, each checked: a `dict` (with only `keys`,
    when given) or a `LogProblem`. Raises `FileNotFoundError`/`IsADirectoryError` naming the
    path; never anything else."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such log file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory, not a JSONL log")
    with p.open("rb") as fh:
        for n, raw in enumerate(_lines(fh), start=1):
            if raw is None:
                yield LogProblem(str(p), n, f"line longer than {MAX_LINE_BYTES:,} bytes")
                continue
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as e:
                why = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:80]
                yield LogProblem(str(p), n, f"bad JSON ({why})")
                continue
            if not isinstance(obj, dict):
                yield LogProblem(str(p), n, f"expected a JSON object, got {type(obj).__name__}")
                continue
            problem = _check(obj)
            if problem is not None:
                yield LogProblem(str(p), n, problem)
                continue
            yield obj if keys is None else {k: obj[k] for k in keys if k in obj}


def _lines(fh: IO[bytes]) -> Iterator[bytes | None]:
    """Lines of `fh` without ever holding more than `MAX_LINE_BYTES` of one (None: too long)."""
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the monster line
                raw = fh.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield raw


def _check(line: Line) -> str | None:
    """Why a decoded line cannot be a log line, or None. Only what readers rely on."""
    t = line.get("t_ms")
    if isinstance(t, bool) or not isinstance(t, int | float):
        return f"t_ms must be a number, got {type(t).__name__}"
    try:
        finite = math.isfinite(t) and abs(t) <= _MAX_T_MS
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        return "t_ms is not a plausible time"
    for key in ("dir", "type"):
        if not isinstance(line.get(key), str):
            return f"{key} must be a string"
    for key in ("provider", "model", "status", "how", "reason"):
        value = line.get(key)
        if value is not None and not isinstance(value, str):
            return f"{key} must be a string or absent"
    for key in ("audio_ms", "heard_ms"):
        value = line.get(key)
        if value is not None and not _finite_number(value):
            return f"{key} must be a finite number"
    usage = line.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            return "usage must be an object"
        for key, value in usage.items():
            if not isinstance(key, str) or not _count(value):
                return f"usage.{key} must be a whole number of tokens"
    return None


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _count(value: Any) -> bool:
    return value is None or (
        _finite_number(value) and value >= 0 and float(value).is_integer() and value < 2**53
    )


def load_log(path: str | os.PathLike[str], *, keys: Collection[str] | None = None) -> LogContents:
    """Read a JSONL log, keeping every usable line and describing every bad one by number."""
    lines: list[Line] = []
    problems: list[str] = []
    for item in iter_log(path, keys=keys):
        if isinstance(item, LogProblem):
            problems.append(str(item))
        else:
            lines.append(item)
    return LogContents(lines, tuple(problems))


def read_log(
    path: str | os.PathLike[str], *, strict: bool = False, keys: Collection[str] | None = None
) -> list[Line]:
    """The lines of a JSONL event log. Bad lines are skipped with a :class:`LogReadWarning`
    naming their line number, or raise ValueError with ``strict=True``."""
    contents = load_log(path, keys=keys)
    if contents.problems and strict:
        raise ValueError("; ".join(contents.problems[:20]))
    for problem in contents.problems:
        warnings.warn(problem, LogReadWarning, stacklevel=2)
    return contents.lines


# --------------------------------------------------------------------------------------------
# CLI: python -m realtimelab replay LOG.jsonl [--plot out.png]
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m realtimelab replay",
        description="Per-turn latency/cost table (and optional waterfall) from a JSONL log.",
    )
    parser.add_argument("log", help="JSONL event log written by realtimelab.observe.EventLog")
    parser.add_argument("--plot", metavar="PNG", help="save the waterfall timeline here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None) -> int:
    """Exit codes: 0 all good; 1 printed, but some lines were unreadable; 2 no usable log."""
    from realtimelab import metrics

    stdout = out if out is not None else sys.stdout
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        contents = load_log(args.log, keys=METRIC_KEYS)
    except OSError as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    for problem in contents.problems[:50]:
        print(f"replay: {problem} (skipped)", file=sys.stderr)
    if len(contents.problems) > 50:
        print(f"replay: ... and {len(contents.problems) - 50} more bad lines", file=sys.stderr)
    if not contents.lines:
        print(f"replay: {args.log}: no readable lines", file=sys.stderr)
        return 2
    turns = metrics.turn_metrics(contents.lines)
    buf = io.StringIO()
    print(metrics.format_table(turns), file=buf)
    summary = metrics.summarize(turns)
    print("", file=buf)
    if args.json:
        print(json.dumps(summary, indent=2), file=buf)
    else:
        print(metrics.format_summary(summary), file=buf)
    stdout.write(buf.getvalue())
    if args.plot:
        fig = metrics.waterfall(contents.lines)
        fig.savefig(args.plot, dpi=110, bbox_inches="tight")
        print(f"waterfall saved to {args.plot}", file=stdout)
    return 1 if contents.problems else 0
