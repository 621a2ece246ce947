"""Time and connection lifecycle with the official SDKs: what a client of the real services sees.

* openai: a reply's audio arrives faster than real time and `response.done` comes before its
  playback would end; a server-VAD barge-in cancels a response still being generated, and a
  truncate at 200 ms then succeeds (bounds follow what was *sent*); after `response.done`,
  speech is just `speech_started`; the voice is locked once the model has spoken; unknown
  voices and models are refused.
* google-genai: `generationComplete` precedes `turnComplete` (which waits for the assumed
  playback), speech during that playback interrupts; resuming a session whose old connection is
  still open is refused; retired models are refused.

Time is compressed by `speed` (SPEED): every bound is relative to the audio's own duration at
that speed, never a fixed wall-clock figure. Measured numbers are printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from support.conformance.openai import FrameRecorder
from support.emulator_fakes import silence, tone, trust_emulator_tls
from support.fakes import QueuedHearing, scripted_components
from support.openai_sdk import append_audio, client, events_until, say

from realtimelab.emulator.dialects.gemini import DIALECT as GEMINI
from realtimelab.emulator.server import Emulator, EmulatorConfig

SPEED = 5.0
MODEL = "gpt-realtime-2"
#: A realtime session whose turns server VAD ends after 300 ms of silence.
SERVER_VAD = {
    "type": "realtime",
    "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}},
}


@pytest.fixture
def recorder() -> FrameRecorder:
    return FrameRecorder(check_client=True)


@pytest.fixture
async def emu(
    make_emulator: Any, fake_components: Any, recorder: FrameRecorder
) -> AsyncIterator[Emulator]:
    emulator = await make_emulator(speed=SPEED, frame_tap=recorder, components=fake_components)
    yield emulator
    assert recorder.invalid == [], recorder.invalid  # every frame passes the SDK oracle


async def speak_over(conn: Any) -> None:
    """600 ms of loud tone then silence at 24 kHz: server VAD hears the user talk."""
    await append_audio(conn, tone(600, rate=24000) + silence(700, rate=24000))


def audio_ms(events: list[Any]) -> float:
    return sum(
        len(base64.b64decode(e.delta)) / 48
        for e in events
        if e.type == "response.output_audio.delta"
    )


# ------------------------------------------------------------------------------------------
# OpenAI
# ------------------------------------------------------------------------------------------


async def test_openai_audio_is_generated_faster_than_real_time(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model=MODEL) as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        )
        await say(conn, "please read me this rather long sentence about the weather", respond=True)
        first = done = None
        total = 0.0
        async with asyncio.timeout(20):
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    first = first or time.monotonic()
                    total += len(base64.b64decode(event.delta)) / 48
                elif event.type == "response.done":
                    done = time.monotonic()
                    break
    assert first is not None and done is not None
    playback_s = total / 1000 / SPEED  # how long the reply plays (at the same compression)
    arrival_s = done - first
    print(
        f"\nopenai: {total:.0f} ms of audio (plays {playback_s * 1000:.0f} ms at speed "
        f"{SPEED:g}) arrived in {arrival_s * 1000:.0f} ms; response.done "
        f"{(playback_s - arrival_s) * 1000:.0f} ms before playback would end"
    )
    assert total > 3000
    assert arrival_s < 0.5 * playback_s  # 4x by default: about a quarter
    assert done < first + playback_s  # response.done while the listener still hears it


async def test_openai_barge_in_cancels_generation_and_truncate_at_200ms_succeeds(
    emu: Emulator,
) -> None:
    async with client(emu).realtime.connect(model=MODEL) as conn:
        await conn.session.update(session=SERVER_VAD)
        await say(conn, "tell me a long story " + "about dragons and castles " * 8, respond=True)
        item_id = ""
        received = 0.0
        async with asyncio.timeout(20):
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    item_id = event.item_id
                    received += len(base64.b64decode(event.delta)) / 48
                    break
        await asyncio.sleep(0.5 / SPEED)  # the client has played ~0.5 s of the story
        await speak_over(conn)
        events = await events_until(conn, "response.done")
        received += audio_ms(events)
        kinds = [e.type for e in events]
        cancelled = events[-1].response
        assert cancelled.status == "cancelled"
        assert cancelled.status_details.reason == "turn_detected"
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
        print(f"\nopenai barge-in ~0.5 s into playback: {received:.0f} ms of audio already sent")
        assert received >= 1000  # generated well ahead of the 0.5 s played
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=200)
        rest = await events_until(conn, "conversation.item.truncated")
        assert not [e for e in rest if e.type == "error"], [e for e in rest if e.type == "error"]
        assert rest[-1].audio_end_ms == 200
        await conn.conversation.item.retrieve(item_id=item_id)
        retrieved = (await events_until(conn, "conversation.item.retrieved"))[-1].item
    heard = retrieved.content[0].transcript
    assert heard and len(heard) < 20  # 200 ms of a 60 ms-per-character voice: a few words


async def test_openai_speech_after_response_done_is_only_speech_started(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model=MODEL) as conn:
        await conn.session.update(session=SERVER_VAD)
        await say(conn, "hi there", respond=True)
        first = await events_until(conn, "response.done")
        assert first[-1].response.status == "completed"
        item_id = next(e.item_id for e in first if e.type == "response.output_audio.delta")
        await speak_over(conn)  # still "playing" on the client: its job to stop and truncate
        events = await events_until(conn, "response.created")
        kinds = [e.type for e in events]
        assert "input_audio_buffer.speech_started" in kinds
        assert "response.done" not in kinds  # nothing to cancel on the server
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=200)
        rest = await events_until(conn, "conversation.item.truncated")
        assert not [e for e in rest if e.type == "error"]


async def test_openai_voice_rules(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model=MODEL) as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "onyx"}}}
        )
        error = (await events_until(conn, "error"))[-1].error
        assert (error.code, error.param) == ("invalid_value", "session.audio.output.voice")
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "marin"}}}
        )
        await events_until(conn, "session.updated")
        await say(conn, "hello", respond=True)
        await events_until(conn, "response.done")
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
        )
        error = (await events_until(conn, "error"))[-1].error
    assert error.code == "cannot_update_voice"
    assert error.message == "Cannot update a conversation's voice if assistant audio is present."


async def test_openai_unknown_model_is_refused(emu: Emulator) -> None:
    async with client(emu).realtime.connect(model="gpt-realtime-banana") as conn:
        first = await conn.recv()
        assert first.type == "error" and first.error.code == "model_not_found"
        assert "gpt-realtime-banana" in first.error.message
        with pytest.raises(websockets.ConnectionClosedError) as info:
            async with asyncio.timeout(5):
                await conn.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


# ------------------------------------------------------------------------------------------
# Gemini (google-genai over TLS)
# ------------------------------------------------------------------------------------------

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402
from support.conformance.gemini import FrameRecorder as GeminiRecorder  # noqa: E402
from support.conformance.gemini import tap_sdk  # noqa: E402

GEMINI_MODEL = "gemini-3.8-live"


@pytest.fixture
async def gemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(speed=SPEED, tls=True, cert_dir=str(tmp_path))
    components = scripted_components(QueuedHearing())
    async with Emulator(config, dialects=[GEMINI], components=components) as e:
        trust_emulator_tls(monkeypatch, e.cert_path)
        yield e


@pytest.fixture
def taps() -> Any:
    rec = GeminiRecorder()
    with tap_sdk(rec):
        yield rec
    rec.assert_ok()  # every frame, both ways, passes the SDK oracle


def gclient(emu: Emulator) -> Any:
    return genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=emu.http_url, api_version="v1beta")
    )


AUDIO = types.LiveConnectConfig(
    response_modalities=["AUDIO"],
    realtime_input_config={"automatic_activity_detection": {"silence_duration_ms": 200}},
)


async def timed_turn(session: Any) -> list[tuple[float, Any]]:
    out = []
    async with asyncio.timeout(15):
        async for msg in session.receive():
            out.append((time.monotonic(), msg))
    return out


async def test_gemini_generation_complete_precedes_turn_complete(gemu: Emulator, taps: Any) -> None:
    async with gclient(gemu).aio.live.connect(model=GEMINI_MODEL, config=AUDIO) as session:
        # ScriptedBrain echoes: 33 words x 60 ms = ~2 s of audio
        await session.send_realtime_input(text=" ".join(["word"] * 30) + " ok")
        msgs = await timed_turn(session)
    audio_at = [t for t, m in msgs if m.server_content and m.server_content.model_turn]
    total_ms = sum(
        len(p.inline_data.data) / 48
        for _, m in msgs
        if m.server_content and m.server_content.model_turn
        for p in m.server_content.model_turn.parts or []
        if p.inline_data
    )
    gen = next(t for t, m in msgs if m.server_content and m.server_content.generation_complete)
    done = next(t for t, m in msgs if m.server_content and m.server_content.turn_complete)
    playback_s = total_ms / 1000 / SPEED
    print(
        f"\ngemini: {total_ms:.0f} ms of audio (plays {playback_s * 1000:.0f} ms at speed "
        f"{SPEED:g}) arrived in {(audio_at[-1] - audio_at[0]) * 1000:.0f} ms; "
        f"generationComplete {(gen - audio_at[0]) * 1000:.0f} ms and turnComplete "
        f"{(done - audio_at[0]) * 1000:.0f} ms after the first audio"
    )
    assert 1900 <= total_ms <= 2100
    assert audio_at[-1] - audio_at[0] < 0.5 * playback_s  # 3x by default: about a third
    assert gen < done
    assert done - audio_at[0] >= 0.9 * playback_s  # turnComplete waits for the playback


async def test_gemini_speech_during_the_assumed_playback_interrupts(
    gemu: Emulator, taps: Any
) -> None:
    async with gclient(gemu).aio.live.connect(model=GEMINI_MODEL, config=AUDIO) as session:
        await session.send_realtime_input(text="something long")  # 80 words: 4.8 s of audio
        seen: list[str] = []
        async with asyncio.timeout(15):
            async for msg in session.receive():
                content = msg.server_content
                if content and content.generation_complete:
                    seen.append("generationComplete")
                    await session.send_realtime_input(
                        audio=types.Blob(
                            data=tone(300) + silence(300), mime_type="audio/pcm;rate=16000"
                        )
                    )
                elif content and content.interrupted:
                    seen.append("interrupted")
                elif content and content.turn_complete:
                    seen.append("turnComplete")
    assert seen == ["generationComplete", "interrupted", "turnComplete"]


async def test_gemini_resuming_while_the_old_connection_is_open_is_refused(
    gemu: Emulator, taps: Any
) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"], session_resumption=types.SessionResumptionConfig()
    )
    client = gclient(gemu)
    async with client.aio.live.connect(model=GEMINI_MODEL, config=config) as old:
        handle = None
        async with asyncio.timeout(5):
            async for msg in old.receive():
                upd = msg.session_resumption_update
                if upd and upd.resumable:
                    handle = upd.new_handle
                    break
        assert handle
        resume = types.LiveConnectConfig(
            response_modalities=["AUDIO"],
            session_resumption=types.SessionResumptionConfig(handle=handle),
        )
        with pytest.raises(errors.APIError) as info:
            async with client.aio.live.connect(model=GEMINI_MODEL, config=resume) as second:
                await second.send_realtime_input(text="hi")
                async for _ in second.receive():
                    pass
        assert info.value.code == 1011
    # the old socket is closed now: the same handle resumes
    async with client.aio.live.connect(model=GEMINI_MODEL, config=resume) as again:
        await again.send_realtime_input(text="hi")
        async with asyncio.timeout(5):
            assert [m async for m in again.receive()]


@pytest.mark.parametrize("model", ["gemini-2.0-flash-live-001", "gemini-live-2.5-flash-preview"])
async def test_gemini_retired_model_is_refused(gemu: Emulator, model: str) -> None:
    with pytest.raises(errors.APIError) as info:
        async with gclient(gemu).aio.live.connect(
            model=model, config=types.LiveConnectConfig(response_modalities=["TEXT"])
        ) as session:
            async for _ in session.receive():
                pass
    assert info.value.code == 1008
    assert f"models/{model} is not found for API version v1beta" in str(info.value)
