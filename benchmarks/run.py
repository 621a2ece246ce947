"""Run the benchmarks: `.venv/bin/python -m benchmarks.run [--quick] [--only NAME ...]`.

Prints one table per benchmark. A full run (no `--quick`, no `--only`) also writes
`benchmarks/results.json` (gitignored: raw runs and machine facts) and `benchmarks/RESULTS.md`
(tables + machine), so a smoke run never overwrites the recorded results. Hand-written
commentary in RESULTS.md below the `<!-- commentary -->` marker is kept across runs.

`--quick` (~30-40 s) is a smoke run: less audio, fewer rounds, fewer turns, scale levels 1-2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import browser_audio, emulator_bench, recv_path, resample, send_path
from benchmarks.common import dump_json, machine_info, markdown_table, progress

HERE = Path(__file__).resolve().parent
MARKER = "<!-- commentary -->"
NAMES = ("send", "recv", "resample", "emulator", "browser")

Table = tuple[list[str], list[list[Any]]]


async def _run(name: str, quick: bool) -> Any:
    if name == "send":
        return await send_path.run(quick=quick)
    if name == "recv":
        return await recv_path.run(quick=quick)
    if name == "resample":
        return resample.run(quick=quick)
    if name == "browser":
        return await asyncio.to_thread(browser_audio.run, quick=quick)
    return await emulator_bench.run(quick=quick)


def _tables(name: str, res: Any) -> list[tuple[str, Table]]:
    makers: dict[str, list[tuple[str, Callable[[Any], Table]]]] = {
        "send": [
            (
                "Send path: client CPU per 20 ms chunk (60 s of audio at the provider rate)",
                send_path.table,
            )
        ],
        "recv": [
            (
                "Receive path: CPU per output audio frame, wire → PCM (24 kHz, 20–40 ms)",
                recv_path.table,
            )
        ],
        "resample": [("Resampling 16k↔24k (PCM16, HQ)", resample.table)],
        "browser": [
            (
                "Browser audio: latency added by BrowserAudio, kernel CPU per stream",
                browser_audio.table,
            )
        ],
        "emulator": [
            (
                "Emulator latency: end of speech → first audio delta − silence_duration_ms",
                emulator_bench.latency_table,
            ),
            (
                "Emulator scale: concurrent 1×-paced sessions (pass: p99 frame lateness < 20 ms)",
                emulator_bench.scale_table,
            ),
        ],
    }
    return [(title, maker(res)) for title, maker in makers[name]]


def _machine_md(m: dict[str, Any]) -> str:
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return (
        f"- CPU: {m['cpu']}, {m['cores']} cores; load average at start "
        f"{' / '.join(str(x) for x in m['load_avg_at_start'])} (shared machine)\n"
        f"- Python {m['python']} on {m['platform']}\n- Packages: {pk}\n"
        f"- Date: {m['date_utc']}; commit {m['git_commit'] or '?'} (plus uncommitted work)"
    )


def _write_md(results: dict[str, Any], sections: list[tuple[str, str]]) -> Path:
    path = HERE / "RESULTS.md"
    commentary = ""
    if path.exists():
        old = path.read_text()
        if MARKER in old:
            commentary = old.split(MARKER, 1)[1].strip("\n")
    mode = "quick (smoke run: fewer, shorter rounds)" if results["quick"] else "full"
    parts = [
        "# Benchmark results",
        "",
        f"Written by `.venv/bin/python -m benchmarks.run` ({mode}) in "
        f"{results['elapsed_s']:.0f} s. Medians of interleaved repetitions; CPU is "
        "`time.process_time` of the measuring process. Method: `benchmarks/README.md`.",
        "",
        "## Machine",
        "",
        _machine_md(results["machine"]),
        "",
    ]
    for title, table_md in sections:
        parts += [f"## {title}", "", table_md, ""]
    parts += [MARKER, "", commentary or "_(no commentary yet)_", ""]
    path.write_text("\n".join(parts))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (~30-40 s)")
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; do not write results.json / RESULTS.md"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    names = args.only or list(NAMES)
    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick, "machine": machine_info(), "results": {}}
    sections: list[tuple[str, str]] = []
    for name in names:
        progress(f"== {name} ==")
        res = asyncio.run(_run(name, args.quick))
        results["results"][name] = res
        for title, (headers, rows) in _tables(name, res):
            table_md = markdown_table(headers, rows)
            sections.append((title, table_md))
            print(f"\n## {title}\n\n{table_md}\n", flush=True)
    results["elapsed_s"] = time.monotonic() - started
    if args.quick or args.only:
        progress("quick/partial run: RESULTS.md and results.json are only written by a full run")
    elif not args.no_write:
        dump_json(HERE / "results.json", results)
        md = _write_md(results, sections)
        progress(f"wrote {HERE / 'results.json'} and {md}")
    progress(f"done in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
