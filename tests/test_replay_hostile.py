"""Hostile logs: `replay` and the log readers give a clear per-line error and a non-zero exit,
never a traceback, and read large logs as a stream."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from support.mutate import Mutator, deep_nesting

from realtimelab.metrics import turn_metrics
from realtimelab.replay import METRIC_KEYS, LogProblem, iter_log, load_log
from realtimelab.replay import main as replay

GOOD: list[dict[str, Any]] = [
    {"t_ms": 0.0, "dir": "event", "type": "SessionStarted", "provider": "openai", "model": "m"},
    {"t_ms": 10.0, "dir": "trace", "type": "user_end", "how": "text", "provider": "openai"},
    {"t_ms": 300.0, "dir": "event", "type": "AudioChunk", "provider": "openai", "audio_ms": 100},
    {
        "t_ms": 400.0,
        "dir": "event",
        "type": "TurnComplete",
        "provider": "openai",
        "status": "completed",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    },
]

HOSTILE_LINES = {
    "deep nesting": deep_nesting(),
    "t_ms 10**400": '{"t_ms": ' + "9" * 400 + ', "dir": "event", "type": "AudioChunk"}',
    "t_ms NaN": '{"t_ms": NaN, "dir": "event", "type": "AudioChunk"}',
    "usage as a string": '{"t_ms": 1, "dir": "event", "type": "TurnComplete", "usage": "lots"}',
    "usage NaN": '{"t_ms": 1, "dir": "event", "type": "TurnComplete", '
    '"usage": {"input_tokens": NaN}}',
    "huge usage": '{"t_ms": 1, "dir": "event", "type": "TurnComplete", '
    '"usage": {"input_tokens": 1e300}}',
    "marker as a list": '{"t_ms": 1, "dir": "trace", "type": "user_end", "how": ["text"]}',
}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_each_hand_made_hostile_line_is_a_clear_error_not_a_traceback(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [json.dumps(line) for line in GOOD]
    path = write(tmp_path / "log.jsonl", [*good[:2], HOSTILE_LINES[name], *good[2:]])
    out = io.StringIO()
    assert replay([str(path)], out=out) == 1  # printed, but a line was bad
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and "Traceback" not in err
    assert "turn" in out.getvalue()


def test_seeded_mutations_of_log_lines_never_raise(tmp_path: Path) -> None:
    mutator = Mutator(seed=7)
    tried = bad = 0
    for mutation in mutator.mutations(GOOD, 3000):
        tried += 1
        path = write(tmp_path / "m.jsonl", [json.dumps(GOOD[0]), mutation.text])
        contents = load_log(path, keys=METRIC_KEYS)
        bad += bool(contents.problems)
        try:
            turn_metrics(contents.lines)
        except Exception as e:  # pragma: no cover - the failure message names the mutation
            raise AssertionError(
                f"mutation {mutation.index} ({mutation.description}): {e!r}"
            ) from e
    print(f"\nlog fuzz: {tried} mutated lines, {bad} refused with a line error, 0 escapes")


def test_a_large_log_is_read_as_a_stream(tmp_path: Path) -> None:
    frame = {"type": "response.output_audio.delta", "delta": "<audio 960 B>", "x": "y" * 2000}
    line = json.dumps({"t_ms": 1.0, "dir": "in", "type": "x", "provider": "openai", "frame": frame})
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for _ in range(10_000):  # ~21 MB of frames
            fh.write(line + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(
            1 for item in iter_log(path, keys=METRIC_KEYS) if not isinstance(item, LogProblem)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 10_000
    assert peak < size / 4, f"peak {peak:,} B for a {size:,} B log"
