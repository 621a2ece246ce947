"""Seeded fuzzing of both client codecs (Autobahn-style): thousands of mutated server frames
from recorded real sessions, plus hand-made hostile ones. `decode` must never raise, must keep
every event well typed (a list where a string belongs must not reach history code), and must
report what it refused as `Error(code="malformed_frame")` with the frame kept for the log."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from support.mutate import RAW_HOSTILE, Mutator, deep_nesting

from realtimelab import events as ev
from realtimelab.conversation import Conversation
from realtimelab.providers import make_codec

FRAMES = Path(__file__).parent / "frames"
MUTATIONS = 4000


def server_frames(provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FRAMES.glob(f"{provider}_*.json")):
        data = json.loads(path.read_text())
        frames = data if isinstance(data, list) else data.get("frames", [])
        for f in frames:
            frame = f.get("frame", f) if isinstance(f, dict) and "dir" in f else f
            if isinstance(f, dict) and f.get("dir") in ("out", "send"):
                continue
            if isinstance(frame, dict):
                out.append(frame)
    assert out, f"no recorded {provider} frames"
    return out


def check_types(event: ev.Event) -> None:
    """Every field holds the type its annotation promises (the ones history code relies on)."""
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name in {"text", "message", "name", "call_id", "arguments_json", "reason"}:
            assert value is None or isinstance(value, str), (type(event).__name__, f.name)
        if f.name in {"item_id", "response_id", "session_id", "model", "code", "handle"}:
            assert value is None or isinstance(value, str), (type(event).__name__, f.name)
        if f.name == "pcm":
            assert isinstance(value, bytes) and len(value) % 2 == 0
        if f.name == "rate":
            assert isinstance(value, int) and 8000 <= value <= 192_000


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_mutated_server_frames_never_escape_decode(provider: str) -> None:
    frames = server_frames(provider)
    codec = make_codec(provider)
    conv = Conversation(codec.capabilities)
    outcomes = {"events": 0, "malformed": 0, "ignored": 0}
    for mutation in Mutator(seed=2026).mutations(frames, MUTATIONS):
        try:
            events = codec.decode(mutation.text, 1.0)
        except Exception as e:  # pragma: no cover - the message names the mutation
            raise AssertionError(f"{mutation.index} {mutation.description}: {e!r}") from e
        if not events:
            outcomes["ignored"] += 1
        for event in events:
            check_types(event)
            if isinstance(event, ev.Error) and event.code == "malformed_frame":
                outcomes["malformed"] += 1
            else:
                outcomes["events"] += 1
            conv.observe(event)  # and the conversation core takes whatever decode let through
        codec.take_outgoing()
    print(f"\n{provider} codec fuzz: {MUTATIONS} mutated frames -> {outcomes}, 0 escapes")


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("raw", RAW_HOSTILE, ids=lambda r: repr(r)[:20])
def test_hostile_raw_frames_are_one_error_each(provider: str, raw: str | bytes) -> None:
    events = make_codec(provider).decode(raw, 1.0)
    assert all(isinstance(e, ev.Error) for e in events)


@pytest.mark.parametrize(
    ("provider", "frame"),
    [
        (
            "openai",
            {
                "type": "response.done",
                "response": {"id": "r", "usage": {"input_tokens": float("inf")}},
            },
        ),
        (
            "gemini",
            {
                "serverContent": {"turnComplete": True},
                "usageMetadata": {"promptTokenCount": float("inf")},
            },
        ),
        (
            "gemini",
            {
                "serverContent": {
                    "modelTurn": {
                        "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=0", "data": "AAAA"}}]
                    }
                }
            },
        ),
        ("openai", {"type": "response.output_audio_transcript.done", "transcript": ["a"]}),
        ("gemini", {"serverContent": {"outputTranscription": {"text": {"x": 1}}}}),
    ],
    ids=[
        "openai-inf-usage",
        "gemini-inf-usage",
        "gemini-rate-0",
        "openai-list-transcript",
        "gemini-dict-transcript",
    ],
)
def test_the_reported_findings_are_malformed_frame_errors(
    provider: str, frame: dict[str, Any]
) -> None:
    text = json.dumps(frame)  # Infinity is written as the JSON extension Python reads back
    [error] = make_codec(provider).decode(text, 1.0)
    assert isinstance(error, ev.Error) and error.code == "malformed_frame"
    assert error.raw  # the frame is kept for the log


def test_deep_nesting_is_an_error_not_a_recursion_error() -> None:
    for provider in ("openai", "gemini"):
        [error] = make_codec(provider).decode(deep_nesting(), 1.0)
        assert isinstance(error, ev.Error)
