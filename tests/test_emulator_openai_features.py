"""OpenAI Realtime features the emulator used to skip, each checked with the official SDK.

tool_choice required / forced function, MCP tools (listing fails honestly, offline), input
images (seen and billed), input_audio items (heard, echoed without audio, retrieved with it),
usage (documented audio rates, earlier output re-read, prompt cache), telephone audio (G.711
µ-law and A-law in and out), transcription-only sessions, out-of-band responses, delete /
retrieve / clear, client secrets reused until they expire, and optional fields sent as null.
Every server frame is validated against the SDK's types by the recorder.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from support.conformance.openai import FrameRecorder
from support.openai_sdk import WEATHER_TOOL, client, events_until, say, send_tool_output

from realtimelab import g711
from realtimelab.audio import read_wav
from realtimelab.emulator.server import Emulator
from realtimelab.emulator.voice import Voice

TIME = {**WEATHER_TOOL, "name": "get_time", "description": "Get the local time in a city."}
SPEECH = "data/speech/{}_24k.wav"


@pytest.fixture
def recorder() -> FrameRecorder:
    return FrameRecorder(check_client=True)


@pytest.fixture
async def emu(make_emulator: Any, recorder: FrameRecorder) -> AsyncIterator[Emulator]:
    emulator = await make_emulator(frame_tap=recorder, speed=20.0)
    yield emulator
    assert recorder.invalid == [], recorder.invalid[:3]


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), rgb, np.uint8)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def calls(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.name, json.loads(e.arguments))
        for e in events
        if e.type == "response.function_call_arguments.done"
    ]


def text_of(events: list[Any]) -> str:
    done = events[-1]
    assert done.type == "response.done"
    parts = [c for item in done.response.output if item.type == "message" for c in item.content]
    return " ".join((p.text or p.transcript or "") for p in parts)


# ------------------------------------------------------------------------------ tool_choice


async def test_tool_choice_required_and_forced_function_are_enforced(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "tools": [WEATHER_TOOL, TIME],
                "tool_choice": "required",
            }
        )
        await say(
            conn, "Hello there", respond=True
        )  # names no tool: the model must call one anyway
        events = await events_until(conn, "response.done")
        assert calls(events) == [("get_weather", {"city": ""})]
        await say(conn, "What is the weather in Paris?")
        await conn.response.create(
            response={"tool_choice": {"type": "function", "name": "get_time"}}
        )
        events = await events_until(conn, "response.done")
        assert calls(events) == [("get_time", {"city": "Paris"})]


async def test_mcp_tools_fail_to_list_offline_with_a_clear_error(emu: Emulator) -> None:
    mcp = {"type": "mcp", "server_label": "docs", "server_url": "https://example.invalid/mcp"}
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL, mcp]})
        events = await events_until(conn, "error")
    types = [e.type for e in events]
    assert types == [
        "session.created",
        "session.updated",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.failed",
        "error",
    ]
    assert events[2].item_id == events[3].item_id
    error = events[-1].error
    assert (error.code, error.param) == ("mcp_list_tools_failed", "session.tools[1]")
    assert "offline" in error.message


# ------------------------------------------------------------------------------ images, audio


async def test_input_image_is_seen_and_billed(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image_url": png((220, 30, 30))}],
            }
        )
        await conn.response.create()
        events = await events_until(conn, "response.done")
    assert text_of(events) == "I see a 64 by 64 image, mostly red."
    usage = events[-1].response.usage
    assert usage.input_token_details.image_tokens == 85 + 170  # one 512-pixel tile


async def test_input_audio_items_are_heard_echoed_without_audio_and_retrieved(
    emu: Emulator,
) -> None:
    pcm = Voice().synthesize("what is the weather in paris", voice="echo", rate=24000)
    audio = base64.b64encode(bytes(48 * 300) + pcm + bytes(48 * 300)).decode()
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "audio": audio}],
            }
        )
        added = await events_until(conn, "conversation.item.done")
        item = added[-1].item
        assert item.content[0].type == "input_audio" and item.content[0].audio is None
        await conn.response.create()
        events = await events_until(conn, "response.done")
        assert calls(events) == [("get_weather", {"city": "Paris"})]
        await conn.conversation.item.retrieve(item_id=item.id)
        (retrieved,) = [e for e in await events_until(conn, "conversation.item.retrieved")][-1:]
    assert retrieved.item.content[0].audio == audio
    assert retrieved.item.content[0].transcript == "what is the weather in paris"


# ------------------------------------------------------------------------------ usage


async def test_usage_rereads_earlier_output_and_caches_the_repeated_prefix(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await say(conn, "hello", respond=True)
        first = (await events_until(conn, "response.done"))[-1].response
        await say(conn, "tell me a story", respond=True)
        second = (await events_until(conn, "response.done"))[-1].response
    u1, u2 = first.usage, second.usage
    reply_tokens = math.ceil(len(first.output[0].content[0].text) / 4)
    # the second turn re-reads the first reply (and its own new question) as input text
    assert u2.input_token_details.text_tokens >= u1.input_token_details.text_tokens + reply_tokens
    assert u1.input_token_details.cached_tokens == 0  # nothing before the first response
    cached = u2.input_token_details.cached_tokens
    assert cached > 0 and cached % 64 == 0
    assert (
        cached <= u1.input_tokens
        and cached == u2.input_token_details.cached_tokens_details.text_tokens
    )


async def test_audio_is_billed_at_10_tokens_a_second_in_and_20_out(emu: Emulator) -> None:
    pcm, _ = read_wav(SPEECH.format("hello"))
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        )
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        events = await events_until(conn, "response.done")
    usage = events[-1].response.usage
    out_bytes = sum(
        len(base64.b64decode(e.delta)) for e in events if e.type == "response.output_audio.delta"
    )
    assert usage.input_token_details.audio_tokens == math.ceil(len(pcm) / 48 / 100)
    assert usage.output_token_details.audio_tokens == math.ceil(out_bytes / 48 * 20 / 1000)


# ------------------------------------------------------------------------------ telephone audio


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
async def test_g711_speech_is_heard_and_answered_in_g711(emu: Emulator, codec: str) -> None:
    pcm, _ = read_wav(SPEECH.format("weather_paris"))
    phone = g711.from_pcm16(pcm + bytes(48 * 1500), 24000, codec)  # 8 kHz, one byte a sample
    fmt = {"type": f"audio/{codec}"}
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "tools": [WEATHER_TOOL],
                "audio": {
                    "input": {
                        "format": fmt,
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    },
                    "output": {"format": fmt},
                },
            }
        )
        for i in range(0, len(phone), 160):  # 20 ms of G.711
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(phone[i : i + 160]).decode()
            )
        events = await events_until(conn, "response.done", timeout=60)
        heard = [
            e for e in events if e.type == "conversation.item.input_audio_transcription.completed"
        ]
        assert heard and heard[0].transcript == "what is the weather in paris"
        assert calls(events) == [("get_weather", {"city": "Paris"})]
        (call,) = [e for e in events if e.type == "response.function_call_arguments.done"]
        await send_tool_output(conn, call.call_id, {"temperature_c": 21, "conditions": "sunny"})
        events = await events_until(conn, "response.done", timeout=60)
    assert events[-1].response.audio.output.format.type == f"audio/{codec}"
    wire = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    transcript = text_of(events)
    assert "21 degrees" in transcript
    # G.711 at 8 kHz: one byte per sample, as long as the reply's speech
    seconds = len(wire) / 8000
    assert 1.0 < seconds < 6.0
    speech = np.frombuffer(g711.to_pcm16(wire, codec, 8000), dtype="<i2").astype(np.float64)
    rms = np.sqrt(np.mean(speech**2))
    assert rms > 500  # it decodes to a voice, not to noise floor or clipped garbage
    assert np.mean(np.abs(speech) > 30000) < 0.01
    # the same speech as PCM: the G.711 answer matches its length within the resampler's tail
    voice = Voice().synthesize(transcript, voice="alloy", rate=8000)
    assert abs(seconds - len(voice) / 16000) < 0.25


# ------------------------------------------------------------------------------ session kinds


async def test_transcription_session_transcribes_and_never_responds(emu: Emulator) -> None:
    pcm, _ = read_wav(SPEECH.format("hello"))
    conn_manager = client(emu).realtime.connect(
        model="gpt-realtime-2", extra_query={"intent": "transcription"}
    )
    async with conn_manager as conn:
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": None,
                    }
                },
            }
        )
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        await conn.input_audio_buffer.commit()
        events = await events_until(conn, "conversation.item.input_audio_transcription.completed")
        assert events[0].session.type == "transcription"
        assert events[-1].transcript == "hello there"
        await conn.response.create()
        error = (await events_until(conn, "error"))[-1].error
    assert error.type == "invalid_request_error" and error.param == "type"


async def test_out_of_band_response_with_metadata_and_custom_input(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await say(conn, "hello")
        await events_until(conn, "conversation.item.done")
        await conn.response.create(
            response={
                "conversation": "none",
                "metadata": {"purpose": "classification"},
                "input": [  # (the SDK 3.57 types have no `item_reference` entries)
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "tell me a story"}],
                    },
                ],
            }
        )
        events = await events_until(conn, "response.done")
    done = events[-1].response
    assert done.conversation_id is None and done.metadata == {"purpose": "classification"}
    assert "conversation.item.added" not in [e.type for e in events]
    assert len(text_of(events).split()) > 60  # answered the custom input, not the conversation


async def test_delete_retrieve_and_clear(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        await say(conn, "hello")
        item = (await events_until(conn, "conversation.item.done"))[-1].item
        await conn.conversation.item.retrieve(item_id=item.id)
        assert (await events_until(conn, "conversation.item.retrieved"))[-1].item.id == item.id
        await conn.conversation.item.delete(item_id=item.id)
        assert (await events_until(conn, "conversation.item.deleted"))[-1].item_id == item.id
        await conn.conversation.item.retrieve(item_id=item.id)
        error = (await events_until(conn, "error"))[-1].error
        assert (error.code, error.param) == ("item_not_found", "item_id")
        await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(4800)).decode())
        await conn.input_audio_buffer.clear()
        await events_until(conn, "input_audio_buffer.cleared")
        await conn.input_audio_buffer.commit()
        error = (await events_until(conn, "error"))[-1].error
        assert error.code == "input_audio_buffer_commit_empty"


async def test_client_secret_can_open_several_sessions_until_it_expires(emu: Emulator) -> None:
    """ "A secret can be used to create multiple sessions until it expires" (SDK docstring of
    `client_secrets.create`): reuse is allowed, so the emulator allows it."""
    secret = await client(emu).realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "Be brief."}
    )
    assert secret.value.startswith("ek_")
    ephemeral = client(emu, secret.value)
    for _ in range(2):
        async with ephemeral.realtime.connect(model="gpt-realtime-2") as conn:
            created = (await events_until(conn, "session.created"))[-1]
            assert created.session.instructions == "Be brief."


async def test_null_optional_fields_mean_not_set(emu: Emulator, recorder: FrameRecorder) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-2") as conn:
        # raw frames: the SDK's own types would drop some of these nulls
        await conn.send(
            {  # type: ignore[arg-type]
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": None,
                    "tools": None,
                    "output_modalities": ["text"],
                    "max_output_tokens": None,
                    "audio": {"output": {"voice": None, "speed": None}},
                },
            }
        )
        session = (await events_until(conn, "session.updated"))[-1].session
        assert session.instructions and session.tools == [] and session.max_output_tokens == "inf"
        await say(conn, "hello")
        await conn.send(
            {  # type: ignore[arg-type]
                "type": "response.create",
                "response": {
                    "instructions": None,
                    "tools": None,
                    "tool_choice": None,
                    "output_modalities": None,
                    "conversation": None,
                    "input": None,
                    "metadata": None,
                    "max_output_tokens": None,
                    "audio": None,
                },
            }
        )
        events = await events_until(conn, "response.done")
    assert events[-1].response.status == "completed" and text_of(events)
