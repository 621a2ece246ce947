"""The client side of the features beyond a plain voice turn, end to end against the emulator
with its real brain, voice and ears (no official SDK: our own sessions drive it).

* Telephone audio, the issue's acceptance: 8 kHz G.711 speech sent as `audio/pcmu` and as
  `audio/pcma` is heard and answered in G.711 that decodes to speech, on both providers
  (OpenAI natively, Gemini through the session's transcoding), on both session classes.
* Pictures: the model describes what it was shown; a rotation replays a picture as its
  placeholder and does not bring back items the user deleted.
* Gemini per model: input transcription partials (2.5) vs one piece (3.x), both ending in one
  final; thinking tokens in usage.
* OpenAI: MCP listing reported as events and an error; a transcription session's final
  transcript carries the transcription model's usage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import session_helpers
from support.fakes import FakeHearing
from support.media import SPEECH, phone_speech, png
from support.session_helpers import of, open_session
from support.tool_samples import city_tool

from realtimelab import events as ev
from realtimelab import g711
from realtimelab.audio import read_wav
from realtimelab.config import SessionConfig, Vad
from realtimelab.contract import BaseSession
from realtimelab.emulator.server import Emulator
from realtimelab.providers.base import UserImage, UserText, image_placeholder
from realtimelab.resilience import ResilientSession, RotationPolicy
from realtimelab.session import connect

pytestmark = pytest.mark.timeout(120)
WEATHER = city_tool("get_weather", "Get the weather for a city.")
MODEL_25 = "gemini-2.5-flash-native-audio-preview-12-2025"


async def until(session: BaseSession, done: Callable[[ev.Event], bool]) -> list[ev.Event]:
    """Events up to `done`; no fatal error on the way (the real brain takes its time)."""
    return await session_helpers.until(session, done, timeout=60, fatal_ok=False)


def answer_done(event: ev.Event) -> bool:
    return isinstance(event, ev.TurnComplete) and event.reason != "tool_calls"


@pytest.fixture
async def emu(make_emulator: Any) -> Emulator:
    return await make_emulator(speed=20.0)  # the real brain, voice and ears


# ------------------------------------------------------------------------------ telephone


@pytest.mark.parametrize("kind", ["single", "resilient"])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("law", ["pcmu", "pcma"])
async def test_g711_speech_is_heard_and_answered_in_g711_that_decodes_to_speech(
    kind: str, provider: str, law: str, emu: Emulator
) -> None:
    config = SessionConfig(
        instructions="Be brief.",
        tools=(WEATHER,),
        vad=Vad(silence_duration_ms=500),
        input_transcription=True,
        input_format=law,
        output_format=law,
    )
    phone = phone_speech("weather_paris", law)
    async with open_session(kind, provider, emu, config) as s:
        for i in range(0, len(phone), 160):  # 20 ms of G.711, as a SIP bridge forwards it
            await s.send_g711(phone[i : i + 160])
        events = await until(s, lambda e: isinstance(e, ev.ToolCall))
        heard = [e.text for e in of(events, ev.InputTranscript) if e.final]
        [call] = of(events, ev.ToolCall)
        assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
        await s.send_tool_response(call.call_id, {"temperature_c": 21, "conditions": "sunny"})
        events = await until(s, answer_done)
        heard += [e.text for e in of(events, ev.InputTranscript) if e.final]
    assert heard == ["what is the weather in paris"]
    said = " ".join(e.text for e in of(events, ev.OutputTranscript) if e.final)
    assert "21" in said
    chunks = of(events, ev.AudioChunk)
    assert chunks and {(c.rate, c.encoding) for c in chunks} == {(8000, law)}
    wire = b"".join(c.g711 or b"" for c in chunks)
    assert 1.0 < len(wire) / 8000 < 8.0  # one byte a sample at 8 kHz: the reply's length
    speech = np.frombuffer(g711.to_pcm16(wire, law, 8000), dtype="<i2").astype(np.float64)
    assert np.sqrt(np.mean(speech**2)) > 500  # a voice, not the noise floor
    assert np.mean(np.abs(speech) > 30000) < 0.01  # nor clipped garbage
    assert b"".join(c.pcm for c in chunks) == g711.decode(wire, law) or provider == "gemini"


# ------------------------------------------------------------------------------ pictures


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_the_model_describes_the_picture_it_was_shown(provider: str, emu: Emulator) -> None:
    async with connect(provider, SessionConfig(output="audio"), url=emu.url) as s:
        await s.send_image(png(64, 64, (255, 0, 0)), "image/png")
        await s.send_text("What do you see?")
        events = await until(s, answer_done)
    said = " ".join(e.text for e in of(events, ev.OutputTranscript) if e.final).lower()
    assert "64 by 64" in said and "red" in said


async def test_a_rotation_replays_pictures_as_placeholders_and_not_deleted_items(
    make_emulator: Any, fake_components: Any
) -> None:
    emu = await make_emulator(speed=40.0, components=fake_components)
    sent: list[dict[str, Any]] = []

    def tap(direction: str, frame: dict[str, Any], t: float) -> None:
        if direction == "send":
            sent.append(frame)

    picture = png()
    session = ResilientSession(
        "openai",
        SessionConfig(),
        url=emu.url,
        rotation=RotationPolicy(enabled=False),
        frame_tap=tap,
    )
    async with session as s:
        await s.send_text("forget this")
        events = await until(s, answer_done)
        [typed] = [e for e in of(events, ev.ItemAdded) if e.role == "user"]
        await s.send_image(picture, "image/png")
        await s.delete_item(typed.item_id)
        await until(s, lambda e: isinstance(e, ev.ItemDeleted))
        assert s.history[0] != UserText("forget this")
        sent.clear()
        assert await s.rotate()
        replayed = [
            part["text"]
            for f in sent
            if f.get("type") == "conversation.item.create"
            for part in f["item"].get("content", [])
            if "text" in part
        ]
    assert image_placeholder(UserImage("image/png", len(picture))) in replayed
    assert "forget this" not in replayed
    assert not any("input_image" in json.dumps(f) for f in sent)  # no bytes are kept


# ------------------------------------------------------------------------------ Gemini per model


@pytest.mark.parametrize(("model", "pieces"), [(MODEL_25, 3), (None, 1)])
async def test_gemini_input_transcripts_partials_per_model(
    make_emulator: Any, fake_components: Any, model: str | None, pieces: int
) -> None:
    """2.5 models stream the user's words in pieces, 3.x models send them in one; either way
    the pieces add up to the one final transcript, and only the final enters history."""
    emu = await make_emulator(speed=40.0, components=fake_components)
    FakeHearing.text = "what is the weather in paris"
    try:
        config = SessionConfig(input_transcription=True, vad=Vad(mode="manual"), model=model)
        async with connect("gemini", config, url=emu.url) as s:
            await s.send_audio(b"\x10\x00" * 16000, 16000)
            await s.commit()
            events = await until(s, answer_done)
            history = s.history
    finally:
        FakeHearing.text = "hello"
    partial = [e.text for e in of(events, ev.InputTranscript) if not e.final]
    final = [e.text for e in of(events, ev.InputTranscript) if e.final]
    assert len(partial) == pieces and "".join(partial) == final[0]
    assert final == ["what is the weather in paris"]
    assert history[0] == UserText("what is the weather in paris", spoken=True)


async def test_gemini_thinking_tokens_are_reported(emu: Emulator) -> None:
    config = SessionConfig(model="gemini-3.8-live-extended-thinking")
    async with connect("gemini", config, url=emu.url) as s:
        await s.send_text("hello there")
        [done] = of(await until(s, answer_done), ev.TurnComplete)
    assert done.usage is not None and done.usage.thoughts_tokens > 0
    assert done.usage.total_tokens >= (
        done.usage.input_tokens + done.usage.output_tokens + done.usage.thoughts_tokens
    )


# ------------------------------------------------------------------------------ OpenAI


async def test_mcp_listing_is_reported_and_fails_offline(emu: Emulator) -> None:
    mcp = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com"}
    config = SessionConfig(extra={"openai": {"tools": [mcp]}})
    async with connect("openai", config, url=emu.url) as s:
        events = await until(s, lambda e: isinstance(e, ev.Error))
        await s.send_text("hello there")  # the session goes on
        await until(s, answer_done)
    assert [e.status for e in of(events, ev.McpListTools)] == ["in_progress", "failed"]
    [error] = of(events, ev.Error)
    assert error.code == "mcp_list_tools_failed" and not error.fatal and "docs" in error.message


async def test_a_transcription_session_reports_the_transcription_usage(emu: Emulator) -> None:
    pcm, fmt = read_wav(SPEECH / "hello_16k.wav")
    config = SessionConfig(mode="transcription", vad=Vad(mode="manual"))
    async with connect("openai", config, url=emu.url) as s:
        await s.send_audio(pcm, fmt.rate)
        await s.commit()
        events = await until(s, lambda e: isinstance(e, ev.InputTranscript) and e.final)
    final = events[-1]
    assert isinstance(final, ev.InputTranscript) and final.text == "hello there"
    assert final.usage is not None and final.usage.input_audio_tokens > 0
    assert "".join(e.text for e in of(events, ev.InputTranscript) if not e.final) == final.text
