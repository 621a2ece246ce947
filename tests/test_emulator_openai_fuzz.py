"""Hostile clients against the OpenAI dialect: seeded mutations of real client frames.

The seeds are the client frames of every OpenAI fixture (tests/frames/*openai*.json and the
third-party recordings), plus a few frames for the newer features (images, item audio,
out-of-band responses, G.711, MCP). `tests/support/mutate.py` changes one thing per frame (a
wrong type, a null, a huge or deeply nested value, a missing or unknown key). Every mutated
frame must be answered as the real service answers a bad frame, an `error` event of type
`invalid_request_error`, or accepted; never an internal error: no exception out of the
protocol, no `server_error`, no response that fails, no close 1011. Every server frame must
still validate against the openai SDK's types.

Two layers: thousands of frames through the sans-IO protocol (responses are run synchronously
with the real brain and a fake voice), then a few hundred end to end through a real emulator
socket. The figures are printed (`pytest -s`); a failure names the seed and index, so
`Mutator(SEED).mutate(frame, index)` replays it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.conformance.openai import validate_server_event
from support.fakes import scripted_components
from support.mutate import RAW_HOSTILE, Mutator
from support.openai_protocol import make_proto
from support.openai_sdk import WEATHER_TOOL
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtimelab.emulator.brain import Brain
from realtimelab.emulator.dialects.openai.protocol import (
    CLIENT_EVENTS,
    Action,
    CancelResponse,
    Close,
    Hear,
    Judge,
    Send,
    StartResponse,
)
from realtimelab.emulator.engine import Heard, OutputPiece
from realtimelab.emulator.model import PlannedCall

SEED = 20261130
SANS_IO_COUNT = 6000
SOCKET_COUNT = 1000
FRAMES = Path(__file__).parent / "frames"
SILENCE_B64 = base64.b64encode(bytes(960)).decode()  # 20 ms at 24 kHz


def _tiny_png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), (220, 30, 30), np.uint8)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _extra_frames() -> list[dict[str, Any]]:
    return [
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "tools": [WEATHER_TOOL, {"type": "mcp", "server_label": "docs", "server_url": "x"}],
                "tool_choice": "required",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
                        "noise_reduction": {"type": "near_field"},
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    },
                    "output": {"format": {"type": "audio/pcma"}, "speed": 1.2},
                },
            },
        },
        {
            "type": "conversation.item.create",
            "previous_item_id": "root",
            "item": {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {"type": "input_image", "image_url": _tiny_png(), "detail": "low"},
                    {"type": "input_audio", "audio": SILENCE_B64},
                ],
            },
        },
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "metadata": {"topic": "x"},
                "output_modalities": ["text"],
                "instructions": None,
                "tool_choice": {"type": "function", "name": "get_weather"},
                "input": [
                    {"type": "item_reference", "id": "item_missing"},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "weather in Rome?"}],
                    },
                ],
            },
        },
        {"type": "conversation.item.retrieve", "item_id": "item_missing"},
        {"type": "conversation.item.delete", "item_id": "item_missing"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_missing",
            "content_index": 0,
            "audio_end_ms": 100,
        },
        {"type": "input_audio_buffer.append", "audio": SILENCE_B64},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {"type": "response.cancel", "response_id": "resp_missing"},
    ]


def seed_frames() -> list[dict[str, Any]]:
    """Valid client frames: recorded fixtures (audio made valid again) plus `_extra_frames`."""
    frames: list[dict[str, Any]] = []
    for path in sorted(FRAMES.glob("*openai*.json")) + sorted(
        (FRAMES / "third_party").glob("*openai*.json")
    ):
        data = json.loads(path.read_text())
        for entry in data["frames"]:
            frame = entry.get("frame", entry) if isinstance(entry, dict) else entry
            if not isinstance(frame, dict) or frame.get("type") not in CLIENT_EVENTS:
                continue
            if entry.get("dir", "in") != "in":
                continue
            if frame["type"] == "input_audio_buffer.append":
                frame = {**frame, "audio": SILENCE_B64}
            frames.append(frame)
    unique = list({json.dumps(f, sort_keys=True): f for f in frames}.values())
    return unique + _extra_frames()


class Outcomes:
    """What happened to each mutated frame, and every sign of an internal failure."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.internal: list[str] = []
        self.invalid_server_frames: list[str] = []
        self.tried = 0

    def record(self, what: str, events: list[dict[str, Any]]) -> None:
        errors = [e["error"] for e in events if e["type"] == "error"]
        for event in events:
            try:
                _, extras = validate_server_event(event)
            except Exception as exc:
                self.invalid_server_frames.append(f"{what}: {event['type']}: {exc}"[:300])
                continue
            if extras:
                self.invalid_server_frames.append(f"{what}: {event['type']} extras {extras}")
            if event["type"] == "response.done" and event["response"]["status"] == "failed":
                self.internal.append(f"{what}: failed response {event['response']}"[:300])
        for error in errors:
            if error["type"] != "invalid_request_error":
                self.internal.append(f"{what}: {error}"[:300])
        if errors:
            self.kinds[f"error {errors[0]['code']}"] += 1
        else:
            self.kinds["accepted"] += 1

    def report(self, title: str, seconds: float) -> str:
        lines = [f"{title}: {self.tried} mutated frames in {seconds:.1f}s"]
        total = sum(self.kinds.values()) or 1
        for kind, n in self.kinds.most_common(12):
            lines.append(f"  {kind:<48} {n:5d}  {100 * n / total:5.1f}%")
        rest = sum(n for _, n in self.kinds.most_common()[12:])
        if rest:
            lines.append(f"  {'(other error codes)':<48} {rest:5d}")
        lines.append(
            f"  internal errors: {len(self.internal)}, invalid server frames: "
            f"{len(self.invalid_server_frames)}"
        )
        return "\n".join(lines)


class Driver:
    """A sans-IO protocol plus a synchronous stand-in for the shell's runners."""

    def __init__(self) -> None:
        self.proto = make_proto(seed=7, session_id="sess_fuzz")
        self.brain = Brain()
        self.events: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.run(self.proto.open())

    def feed(self, text: str | bytes) -> list[dict[str, Any]]:
        self.events = []
        self.run(self.proto.receive(text))
        return self.events

    def run(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.events.append(action.event)
            elif isinstance(action, Close):
                self.closed = action.code
            elif isinstance(action, Hear):
                self.run(self.proto.heard(action.item_id, Heard("hello", True, 1.0), action.source))
            elif isinstance(action, Judge):
                self.run(self.proto.judged(action.turn, Heard("hello umm", False, 0.0)))
            elif isinstance(action, StartResponse):
                self.respond(action.response_id)
            elif (
                isinstance(action, CancelResponse)
                and self.proto.responses[action.response_id].status == "in_progress"
            ):
                self.run(self.proto.response_cancelled(action.response_id, action.reason))

    def respond(self, response_id: str) -> None:
        proto = self.proto
        plan = proto.plan(response_id)
        reply = proto.settle(
            plan,
            self.brain.respond(
                plan.history, tools=plan.tools, instructions=plan.instructions, facts=plan.facts
            ),
        )
        spoken = proto.limit_text(response_id, reply.preamble if reply.tool_calls else reply.text)
        if spoken:
            self.run(proto.open_message(response_id))
            if plan.modality == "audio":
                self.run(proto.piece(response_id, OutputPiece("transcript", 0.0, text=spoken)))
                chunk = bytes(1920)
                self.run(
                    proto.piece(response_id, OutputPiece("audio", 0.0, audio=chunk, audio_ms=40))
                )
            else:
                self.run(proto.piece(response_id, OutputPiece("text", 0.0, text=spoken)))
            self.run(proto.close_message(response_id))
        for call in reply.tool_calls:
            self.run(proto.function_call(response_id, PlannedCall(call.name, call.arguments)))
        self.run(proto.finish_response(response_id))


def _mutations(count: int) -> Iterator[tuple[str, str | bytes]]:
    frames = seed_frames()
    for raw in RAW_HOSTILE:
        yield "raw hostile", raw
    for m in Mutator(SEED).mutations(frames, count):
        yield f"seed {SEED} index {m.index}: {m.description}", m.text


def test_sans_io_protocol_survives_thousands_of_mutated_frames(capsys: Any) -> None:
    frames = seed_frames()
    started = time.perf_counter()
    outcomes = Outcomes()
    driver = Driver()
    for i, (what, text) in enumerate(_mutations(SANS_IO_COUNT)):
        if i % 60 == 0 or driver.closed is not None:  # fresh sessions now and then
            driver = Driver()
            for frame in frames[:3]:
                driver.feed(json.dumps(frame))
        outcomes.tried += 1
        try:
            events = driver.feed(text)
        except Exception as exc:  # the protocol must never raise
            outcomes.internal.append(f"{what}: raised {type(exc).__name__}: {exc}"[:300])
            driver = Driver()
            continue
        outcomes.record(what, events)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print("\n" + outcomes.report("OpenAI sans-IO fuzz", elapsed))
    assert outcomes.internal == []
    assert outcomes.invalid_server_frames == []
    assert outcomes.tried >= SANS_IO_COUNT


def test_seed_frames_are_valid_and_accepted() -> None:
    """The seeds themselves must be good frames, or the mutations prove little."""
    driver = Driver()
    for frame in seed_frames():
        events = driver.feed(json.dumps(frame))
        for event in events:
            validate_server_event(event)
    assert driver.closed is None


async def test_socket_end_to_end_mutated_frames(make_emulator: Any, capsys: Any) -> None:
    emu = await make_emulator(components=scripted_components(), speed=50.0)
    url = f"{emu.openai_ws_base}/realtime?model=gpt-realtime-2"
    headers = {"Authorization": "Bearer sk-test"}
    started = time.perf_counter()
    outcomes = Outcomes()
    closes: Counter[str] = Counter()
    items = list(_mutations(SOCKET_COUNT))
    batch = 50
    for start in range(0, len(items), batch):
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.recv()  # session.created
            for what, text in items[start : start + batch]:
                outcomes.tried += 1
                await ws.send(text)
                marker = f"fuzz_marker_{outcomes.tried}"
                # a frame that always fails, to know the mutated one was handled
                await ws.send(
                    json.dumps(
                        {"type": "conversation.item.delete", "item_id": marker, "event_id": marker}
                    )
                )
                events: list[dict[str, Any]] = []
                try:
                    async with asyncio.timeout(10):
                        while True:
                            event = json.loads(await ws.recv())
                            if event.get("error", {}).get("event_id") == marker:
                                break
                            events.append(event)
                except ConnectionClosed as exc:
                    closes[str(exc.rcvd.code if exc.rcvd else "none")] += 1
                    outcomes.record(what, events)
                    if exc.rcvd is None or exc.rcvd.code == 1011:
                        outcomes.internal.append(f"{what}: closed {exc.rcvd}")
                    break
                outcomes.record(what, events)
            if ws.close_code is None:
                await ws.close()
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print("\n" + outcomes.report("OpenAI socket fuzz", elapsed))
        print(f"  closes by the server: {dict(closes) or 'none'}")
    assert outcomes.internal == []
    assert outcomes.invalid_server_frames == []


@pytest.mark.parametrize(
    ("frame", "param"),
    [
        (
            {"type": "conversation.item.create", "previous_item_id": [1], "item": {}},
            "previous_item_id",
        ),
        (
            {"type": "conversation.item.create", "item": {"id": {"a": 1}, "type": "message"}},
            "item.id",
        ),
        (
            {"type": "response.create", "response": {"audio": {"output": "x"}}},
            "response.audio.output",
        ),
        ({"type": "response.create", "response": {"audio": {"output": {"voice": 3}}}}, None),
        ({"type": "response.create", "response": {"instructions": 7}}, "response.instructions"),
        ({"type": "response.create", "response": {"tools": [{"type": "function"}]}}, None),
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "tools": [{"type": "function"}]},
            },
            None,
        ),
        ({"type": "session.update", "session": {"type": "realtime", "instructions": ["x"]}}, None),
    ],
)
def test_the_reported_crashes_are_invalid_request_errors(
    frame: dict[str, Any], param: str | None
) -> None:
    """The frames of the hostile-input issue: each an `invalid_request_error` with a param."""
    driver = Driver()
    (event,) = driver.feed(json.dumps(frame))
    error = event["error"]
    assert event["type"] == "error" and error["type"] == "invalid_request_error", event
    assert error["param"], error
    if param is not None:
        assert error["param"] == param
    # and the session goes on
    assert driver.feed(json.dumps({"type": "input_audio_buffer.clear"}))[0]["type"] == (
        "input_audio_buffer.cleared"
    )
