"""The official openai SDK against the emulator: every server frame must validate with the SDK's
own types and the event orders must match the documented sequences."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from support.conformance.openai import FrameRecorder, is_subsequence
from support.openai_sdk import (
    WEATHER_TOOL,
    append_audio,
    client,
    events_until,
    say,
    send_tool_output,
)

from realtimelab.emulator.brain import _STORIES
from realtimelab.emulator.server import Emulator
from realtimelab.emulator.voice import Voice

RESPONSE_TAIL = [
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "rate_limits.updated",
]


def speech(text: str, *, lead_ms: int = 300, tail_ms: int = 900) -> bytes:
    """The user's voice (a different voice from the model's), padded with silence."""
    pcm = Voice().synthesize(text, voice="echo", rate=24000)
    return bytes(48 * lead_ms) + pcm + bytes(48 * tail_ms)


@pytest.fixture
def recorder() -> FrameRecorder:
    return FrameRecorder(check_client=True)


@pytest.fixture
async def emu(make_emulator: Any, recorder: FrameRecorder) -> AsyncIterator[Emulator]:
    emulator = await make_emulator(frame_tap=recorder)
    yield emulator
    assert recorder.invalid == [], recorder.invalid  # zero invalid frames, both directions


async def test_text_turn(emu: Emulator, recorder: FrameRecorder) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await say(conn, "Hi", respond=True)
        events = await events_until(conn, "response.done")
    types = [e.type for e in events if not e.type.endswith(".delta")]
    assert types == [
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1].response
    assert done.status == "completed" and done.output[0].content[0].text == text
    assert text  # the brain greeted back
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert recorder.types()[-1] == "rate_limits.updated"


async def test_audio_turn_with_server_vad_is_heard_and_answered_with_audio(
    emu: Emulator, recorder: FrameRecorder
) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        await append_audio(conn, speech("What voice are you using?"))
        events = await events_until(conn, "response.done")
        stopped_at = next(
            i for i, e in enumerate(events) if e.type == "input_audio_buffer.speech_stopped"
        )
        types = [e.type for e in events]
        assert types.count("input_audio_buffer.speech_started") == 1
        assert is_subsequence(
            [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added",
                "response.output_audio_transcript.delta",
                "response.output_audio.delta",
                "response.output_audio.done",
                "response.output_audio_transcript.done",
                "response.content_part.done",
                *RESPONSE_TAIL[:-1],
            ],
            types[stopped_at - 1 :],
        )
        completed = next(
            e for e in events if e.type == "conversation.item.input_audio_transcription.completed"
        )
        assert completed.transcript.lower() == "what voice are you using"
        audio = b"".join(
            base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
        )
        transcript = next(
            e.transcript for e in events if e.type == "response.output_audio_transcript.done"
        )
        assert len(audio) > 48 * 500 and len(audio) % 2 == 0 and transcript
        assert (
            "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
            == transcript
        )
        # the committed item and the assistant item are linked
        committed = next(e for e in events if e.type == "input_audio_buffer.committed")
        assistant_added = [e for e in events if e.type == "conversation.item.added"][-1]
        assert assistant_added.previous_item_id == committed.item_id
        assert events[-1].response.usage.input_token_details.audio_tokens > 0


async def test_tool_round_trip_from_speech(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "tools": [WEATHER_TOOL],
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
                },
            }
        )
        await append_audio(conn, speech("What is the weather in Paris?"))
        events = await events_until(conn, "response.done")
        first = events[events.index(next(e for e in events if e.type == "response.created")) :]
        kinds = [e.type for e in first if e.type != "response.function_call_arguments.delta"]
        assert kinds == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
        await send_tool_output(conn, call.call_id, {"temp_c": 21, "sky": "sunny"})
        answer = await events_until(conn, "response.done")
    transcript = next(
        e.transcript for e in answer if e.type == "response.output_audio_transcript.done"
    )
    assert "21" in transcript and "Paris" in transcript
    assert answer[-1].response.status == "completed"


async def test_barge_in_cancels_and_truncate_removes_unheard_words(
    make_emulator: Any, recorder: FrameRecorder
) -> None:
    # speed 5 rather than 20: at 4x generation the story still plays out in wall time long
    # enough for the interruption to arrive while it is being generated, even on a busy machine
    emu = await make_emulator(frame_tap=recorder, speed=5.0)
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
                },
            }
        )
        await say(conn, "Tell me a story")
        # synthesised before the reply starts: the model generates 4x faster than real time
        # (80x at this test's speed), so the interruption must not wait for the synthesiser
        interruption = speech("Which model are you?")
        await conn.response.create()
        received_ms, item_id = 0.0, ""
        async with asyncio.timeout(20):
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    received_ms += len(base64.b64decode(event.delta)) / 48
                    item_id = event.item_id
                    if received_ms >= 1000:
                        break
        await append_audio(conn, interruption)  # the user talks over
        events = await events_until(conn, "response.done")
        received_ms += sum(
            len(base64.b64decode(e.delta)) / 48
            for e in events
            if e.type == "response.output_audio.delta"
        )
        cancelled = events[-1].response
        assert cancelled.status == "cancelled"
        assert cancelled.status_details.reason == "turn_detected"
        assert cancelled.output[0].status == "incomplete"
        types = [e.type for e in events]
        assert types.index("input_audio_buffer.speech_started") < types.index(
            "response.output_audio.done"
        )
        played = int(received_ms * 0.5)  # the client only played half of what it received
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=played)
        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=int(received_ms) + 5000
        )
        rest = await events_until(conn, "response.done")
    truncated = next(e for e in rest if e.type == "conversation.item.truncated")
    assert truncated.audio_end_ms == played and truncated.item_id == item_id
    error = next(e for e in rest if e.type == "error")
    assert error.error.param == "audio_end_ms"
    assert rest[-1].response.status == "completed"  # the new turn was answered
    full = next(e.transcript for e in events if e.type == "response.output_audio_transcript.done")
    # the story was cut short: the transcript is a strict prefix of one of the brain's stories
    # (how much went out before the cancel depends on timing: generation runs 4x ahead)
    assert any(s.startswith(full.strip()) and len(full.strip()) < len(s) for s in _STORIES), full
    assert recorder.invalid == [], recorder.invalid


async def test_session_expiry_sends_session_expired_then_closes(
    make_emulator: Any, recorder: FrameRecorder
) -> None:
    emu = await make_emulator(openai_max_session_s=0.5, frame_tap=recorder)
    t0 = time.monotonic()
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        created = await conn.recv()
        assert created.session.expires_at - int(time.time()) <= 1
        events = []
        with pytest.raises(websockets.ConnectionClosedOK):
            async with asyncio.timeout(5):
                while True:
                    events.append(await conn.recv())
    assert [e.type for e in events] == ["error"]
    assert events[0].error.code == "session_expired"
    assert "0.5 seconds" in events[0].error.message
    assert 0.5 <= time.monotonic() - t0 < 3
    assert recorder.invalid == []


async def test_client_secret_mints_an_ephemeral_key(emu: Emulator) -> None:
    secret = await client(emu).realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={
            "type": "realtime",
            "instructions": "You are a pirate.",
            "output_modalities": ["text"],
        },
    )
    assert secret.value.startswith("ek_") and secret.expires_at > time.time()
    assert secret.session.instructions == "You are a pirate."
    async with client(emu, secret.value).realtime.connect(model="gpt-realtime-2") as conn:
        created = await conn.recv()
        assert created.session.instructions == "You are a pirate."
        assert created.session.output_modalities == ["text"]
    emu.state["openai"]["ephemeral"][secret.value]["expires_at"] = time.time() - 1
    with pytest.raises(websockets.InvalidStatus) as info:
        async with client(emu, secret.value).realtime.connect(model="gpt-realtime-2") as conn:
            await conn.recv()
    assert info.value.response.status_code == 401
    assert json.loads(info.value.response.body)["error"]["code"] == "invalid_api_key"


async def test_beta_header_is_refused_with_4000(emu: Emulator) -> None:
    async with client(emu).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        with pytest.raises(websockets.ConnectionClosedError) as info:
            async with asyncio.timeout(5):
                first = await conn.recv()
                assert first.type == "error" and first.error.code == "beta_api_shape_disabled"
                await conn.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4000


async def test_parallel_calls_with_a_spoken_acknowledgement(emu: Emulator) -> None:
    time_tool = {**WEATHER_TOOL, "name": "get_time", "description": "Get the time in a city"}
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [WEATHER_TOOL, time_tool],
                "instructions": "Acknowledge briefly before calling tools.",
            }
        )
        await say(conn, "What is the weather in Paris and the time in Tokyo?", respond=True)
        events = await events_until(conn, "response.done")
    output = events[-1].response.output
    assert [item.type for item in output] == ["message", "function_call", "function_call"]
    assert output[0].content[0].text  # the acknowledgement comes first
    assert [(i.name, json.loads(i.arguments)) for i in output[1:]] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Tokyo"}),
    ]
    added = [e.output_index for e in events if e.type == "response.output_item.added"]
    assert added == [0, 1, 2]
