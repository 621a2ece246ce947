"""google-genai's own Live client against the emulator over TLS, every frame through the oracle.

The SDK always dials wss:// in API-key mode, so the emulator runs with its self-signed
certificate and the client trusts it through `SSL_CERT_FILE`, set
before `genai.Client(...)` builds its SSL context. `tap_sdk` records every frame both ways.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402
from support.conformance.gemini import (  # noqa: E402
    FrameRecorder,
    tap_sdk,
    validate_client_message,
    validate_server_message,
)
from support.emulator_fakes import silence, tone  # noqa: E402
from support.fakes import QueuedHearing, scripted_components  # noqa: E402
from support.media import png  # noqa: E402

from realtimelab.emulator.dialects.gemini import DIALECT  # noqa: E402
from realtimelab.emulator.server import Emulator, EmulatorConfig  # noqa: E402

MODEL = "gemini-3.8-live"

# ------------------------------------------------------------------------------------------
# the oracle itself (a test that cannot fail is a defect: show it rejects bad frames)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"goaway": {"timeLeft": "1s"}},
        {"setupComplete": {}, "serverContent": {"turnComplete": True}},
        {"serverContent": {"bogusField": 1}},
        {"serverContent": {"turnComplete": "notabool"}},
        {"voiceActivity": {"type": "BOGUS"}},
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "@@@"}}]}}},
        {},
    ],
)
def test_oracle_rejects_bad_server_frames(frame: dict[str, Any]) -> None:
    with pytest.raises((ValueError, Warning)):
        validate_server_message(json.dumps(frame).encode())


@pytest.mark.parametrize(
    "frame",
    [
        {"realtimeInput": {"activityStart": {}, "activityEnd": {}}},
        {"clientContent": {}, "toolResponse": {}},
        {"setup": {"generationConfig": {"responseModality": ["AUDIO"]}}},
        {"setup": {"realtimeInputConfig": {"activityHandling": "BOGUS"}}},
        {"bogus": {}},
    ],
)
def test_oracle_rejects_bad_client_frames(frame: dict[str, Any]) -> None:
    with pytest.raises((ValueError, Warning)):
        validate_client_message(json.dumps(frame))


def test_oracle_accepts_sdk_shapes() -> None:
    validate_client_message(
        {
            "setup": {
                "model": "models/x",
                "realtimeInputConfig": {"automatic_activity_detection": {"disabled": True}},
            }
        }
    )
    validate_client_message(
        {"realtime_input": {"audio": {"data": "AAECAw-_", "mime_type": "audio/pcm;rate=16000"}}}
    )
    msg = validate_server_message({"voiceActivity": {"type": "ACTIVITY_START"}})
    assert msg.voice_activity is not None


# ------------------------------------------------------------------------------------------
# the SDK end to end
# ------------------------------------------------------------------------------------------


@pytest.fixture
def hearing() -> QueuedHearing:
    return QueuedHearing()


@pytest.fixture
async def emu(
    hearing: QueuedHearing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Emulator]:
    options: dict[str, Any] = dict(getattr(request, "param", {}))
    config = EmulatorConfig(speed=40.0, tls=True, cert_dir=str(tmp_path), **options)
    async with Emulator(config, dialects=[DIALECT], components=scripted_components(hearing)) as e:
        assert e.cert_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(e.cert_path))
        for var in (
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield e


@pytest.fixture
def recorder() -> Iterator[FrameRecorder]:
    rec = FrameRecorder()
    with tap_sdk(rec):
        yield rec
    rec.assert_ok()
    assert rec.server() and rec.client(), "the tap saw no traffic"
    assert rec.server()[0] == {"setupComplete": {}}


def client(emu: Emulator, key: str = "test-key", version: str = "v1beta") -> Any:
    return genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=emu.http_url, api_version=version)
    )


async def turn(session: Any) -> list[types.LiveServerMessage]:
    out = []
    async with asyncio.timeout(10):
        async for msg in session.receive():
            out.append(msg)
    return out


async def send_pcm(session: Any, pcm: bytes, mime: str) -> None:
    """16 kHz PCM16 as realtime input, 40 ms a message."""
    for i in range(0, len(pcm), 1280):
        await session.send_realtime_input(audio=types.Blob(data=pcm[i : i + 1280], mime_type=mime))


def said_in(msgs: list[types.LiveServerMessage]) -> str:
    """The model's words, from the output transcription."""
    return "".join(
        m.server_content.output_transcription.text or ""
        for m in msgs
        if m.server_content and m.server_content.output_transcription
    )


def heard_in(msgs: list[types.LiveServerMessage]) -> list[str | None]:
    """The input transcriptions, one per message that carries one."""
    return [
        m.server_content.input_transcription.text
        for m in msgs
        if m.server_content and m.server_content.input_transcription
    ]


def audio_of(msgs: list[types.LiveServerMessage]) -> bytes:
    return b"".join(
        p.inline_data.data
        for m in msgs
        if m.server_content and m.server_content.model_turn
        for p in m.server_content.model_turn.parts or []
        if p.inline_data and p.inline_data.data
    )


async def test_sdk_text_and_audio_turns(
    emu: Emulator, recorder: FrameRecorder, hearing: QueuedHearing
) -> None:
    hearing.queue.append("tell me a joke")
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription={},
        output_audio_transcription={},
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(
                silence_duration_ms=200, start_of_speech_sensitivity="START_SENSITIVITY_LOW"
            )
        ),
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore")
            )
        ),
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="hello")]), turn_complete=True
        )
        msgs = await turn(session)
        assert len(audio_of(msgs)) == 24000 * 2 * 0.06 * 3
        said = said_in(msgs)
        assert said == "You said hello."
        assert msgs[-1].usage_metadata is not None and msgs[-1].usage_metadata.total_token_count

        pcm = silence(200) + tone(600) + silence(400)
        await send_pcm(session, pcm, "audio/pcm;rate=16000")
        msgs = await turn(session)
        heard = heard_in(msgs)
        assert heard == ["tell me a joke"]
        assert audio_of(msgs)
    assert any("realtime_input" in f for f in recorder.client())  # the SDK's snake_case path


async def test_sdk_tools_blocking_and_non_blocking(emu: Emulator, recorder: FrameRecorder) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather",
        behavior=types.Behavior.NON_BLOCKING,
        parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}),
    )
    clock = types.FunctionDeclaration(
        name="get_time",
        description="Time",
        behavior=types.Behavior.BLOCKING,
        parameters_json_schema={"type": "object", "properties": {"tz": {"type": "string"}}},
    )
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription={},
        tools=[types.Tool(function_declarations=[weather, clock])],
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="weather and time")
        calls: list[types.FunctionCall] = []
        async with asyncio.timeout(10):
            async for msg in session.receive():
                if msg.tool_call:
                    calls.extend(msg.tool_call.function_calls or [])
                    blocking = [c for c in calls if c.name == "get_time"]
                    await session.send_tool_response(
                        function_responses=[
                            types.FunctionResponse(
                                id=blocking[0].id, name="get_time", response={"output": "noon"}
                            )
                        ]
                    )
        assert [c.name for c in calls] == ["get_weather", "get_time"]
        assert calls[0].args == {"city": "Paris"}
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(
                    id=calls[0].id,
                    name="get_weather",
                    response={"output": "sunny"},
                    scheduling=types.FunctionResponseScheduling.WHEN_IDLE,
                )
            ]
        )
        msgs = await turn(session)
        said = said_in(msgs)
        assert "sunny" in said


async def test_sdk_barge_in(emu: Emulator, recorder: FrameRecorder) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        realtime_input_config={"automatic_activity_detection": {"silence_duration_ms": 200}},
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="something long")
        interrupted = False
        async with asyncio.timeout(10):
            async for msg in session.receive():
                if msg.server_content and msg.server_content.model_turn and not interrupted:
                    interrupted = True  # first audio: start talking over the model
                    await session.send_realtime_input(
                        audio=types.Blob(
                            data=tone(300) + silence(300), mime_type="audio/pcm;rate=16000"
                        )
                    )
                if msg.server_content and msg.server_content.interrupted:
                    break
            else:
                pytest.fail("no interrupted")
        msgs = await turn(session)  # the rest of the interrupted turn, then the new answer
        msgs += await turn(session)
        assert any(m.server_content and m.server_content.generation_complete for m in msgs)


@pytest.mark.parametrize("emu", [{"gemini_connection_s": 2.0}], indirect=True)
async def test_sdk_go_away_then_resume(emu: Emulator, recorder: FrameRecorder) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"], session_resumption=types.SessionResumptionConfig()
    )
    handle = None
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="one")
        go_away = None
        with pytest.raises(errors.APIError) as info:  # the close after goAway is 1011
            async with asyncio.timeout(5):
                while True:
                    async for msg in session.receive():
                        upd = msg.session_resumption_update
                        if upd and upd.resumable:
                            handle = upd.new_handle
                        if msg.go_away:
                            go_away = msg.go_away.time_left
        assert info.value.code == 1011
        assert "Deadline expired before operation could complete." in str(info.value)
        assert go_away == "0.400s"
    assert handle
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription={},
        session_resumption=types.SessionResumptionConfig(handle=handle),
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="how many")
        msgs = await turn(session)
        said = said_in(msgs)
        assert said == "You sent 2 messages."  # "one" came back with the handle
    bad = types.LiveConnectConfig(session_resumption=types.SessionResumptionConfig(handle="x"))
    with pytest.raises(errors.APIError) as info:
        async with client(emu).aio.live.connect(model=MODEL, config=bad):
            pass
    assert info.value.code == 1008


async def test_sdk_ephemeral_token(emu: Emulator, recorder: FrameRecorder) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning: tokens are experimental
        token = await client(emu, version="v1alpha").aio.auth_tokens.create(
            config={
                "uses": 1,
                "live_connect_constraints": {
                    "model": MODEL,
                    "config": {"response_modalities": ["AUDIO"], "output_audio_transcription": {}},
                },
            }
        )
    assert token.name.startswith("auth_tokens/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eph = client(emu, key=token.name, version="v1alpha")
        async with eph.aio.live.connect(model="gemini-3.1-flash-live-preview") as session:
            await session.send_realtime_input(text="hi")
            msgs = await turn(session)
            said = said_in(msgs)
            assert said == "You said hi."  # the token's locked config turned transcription on
        with pytest.raises(errors.APIError) as info:  # the single use is spent
            async with eph.aio.live.connect(model=MODEL) as session:
                await session.send_realtime_input(text="again")
                await turn(session)
        assert info.value.code == 1008


async def test_sdk_audio_turn_with_real_components(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ears, brain and voice: a spoken question becomes a tool call with its argument.

    Speech comes from `data/speech/*_16k.wav` when present, else from the emulator's own voice
    resampled to 16 kHz.
    """
    from realtimelab.audio import read_wav, resample
    from realtimelab.emulator.voice import Voice

    wavs = sorted(Path(__file__).parents[1].glob("data/speech/*weather*_16k.wav"))
    if wavs:
        pcm, fmt = read_wav(wavs[0])
        pcm = resample(pcm, fmt.rate, 16000) if fmt.rate != 16000 else pcm
    else:
        segs = Voice().synthesize_segments("What is the weather in Paris?", rate=24000)
        pcm = resample(b"".join(p for _, p in segs), 24000, 16000)
    pcm = silence(300) + pcm + silence(1200)
    config = EmulatorConfig(speed=40.0, tls=True, cert_dir=str(tmp_path))
    rec = FrameRecorder()
    async with Emulator(config, dialects=[DIALECT]) as emu:
        assert emu.cert_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.cert_path))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        weather = types.FunctionDeclaration(
            name="get_weather",
            description="Get the weather for a city",
            parameters=types.Schema(
                type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]
            ),
        )
        live = types.LiveConnectConfig(
            response_modalities=["AUDIO"],
            input_audio_transcription={},
            tools=[types.Tool(function_declarations=[weather])],
        )
        with tap_sdk(rec):
            async with client(emu).aio.live.connect(model=MODEL, config=live) as session:
                for i in range(0, len(pcm), 3200):
                    await session.send_realtime_input(
                        audio=types.Blob(data=pcm[i : i + 3200], mime_type="audio/pcm;rate=16000")
                    )
                call = None
                async with asyncio.timeout(15):
                    async for msg in session.receive():
                        if msg.tool_call:
                            call = (msg.tool_call.function_calls or [None])[0]
                            assert call is not None
                            await session.send_tool_response(
                                function_responses=[
                                    types.FunctionResponse(
                                        id=call.id,
                                        name=call.name,
                                        response={"output": "sunny, 21 C"},
                                    )
                                ]
                            )
                assert call is not None and call.name == "get_weather"
                assert str((call.args or {}).get("city", "")).lower() == "paris"
    rec.assert_ok()


# ------------------------------------------------------------------------------------------
# the SDK against the Live features the emulator gained (every frame through the oracle)
# ------------------------------------------------------------------------------------------


def _details(details: list[types.ModalityTokenCount] | None) -> dict[str, int]:
    return {str(d.modality.value if d.modality else ""): d.token_count or 0 for d in details or []}


async def test_sdk_camera_frames_and_bare_pcm_audio(
    emu: Emulator, recorder: FrameRecorder, hearing: QueuedHearing
) -> None:
    """Video frames are billed as IMAGE tokens on the next turn; `audio/pcm` without a rate
    (as Google's cookbook sends it) is heard as 16 kHz instead of closing the session."""
    hearing.queue.append("what do you see")
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription={},
        realtime_input_config={"automatic_activity_detection": {"silence_duration_ms": 200}},
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        for _ in range(2):
            await session.send_realtime_input(
                video=types.Blob(data=png(16, 16, (220, 20, 20)), mime_type="image/png")
            )
        pcm = silence(200) + tone(600) + silence(400)
        await send_pcm(session, pcm, "audio/pcm")
        msgs = await turn(session)
    heard = heard_in(msgs)
    assert heard == ["what do you see"]
    assert hearing.heard and hearing.heard[0][1] == 16000
    usage = msgs[-1].usage_metadata
    assert usage is not None
    details = _details(usage.prompt_tokens_details)
    assert details["IMAGE"] == 2 * 258 and details["AUDIO"] > 0


@pytest.mark.parametrize(
    ("model", "bundled"),
    [("gemini-3.8-live", True), ("gemini-2.5-flash-native-audio-preview-12-2025", False)],
)
async def test_sdk_reads_bundled_server_content(
    emu: Emulator, recorder: FrameRecorder, model: str, bundled: bool
) -> None:
    """3.x models send an audio chunk and its words in one `serverContent`; a client that
    reads one field per message would drop one of them. 2.5 models send one field each."""
    config = types.LiveConnectConfig(response_modalities=["AUDIO"], output_audio_transcription={})
    async with client(emu).aio.live.connect(model=model, config=config) as session:
        await session.send_realtime_input(text="hello there my friend")
        msgs = await turn(session)
    both = [
        m
        for m in msgs
        if m.server_content
        and m.server_content.model_turn
        and m.server_content.output_transcription
    ]
    assert bool(both) == bundled
    said = said_in(msgs)
    assert said == "You said hello there my friend."
    assert audio_of(msgs)


async def test_sdk_google_search_grounding(emu: Emulator, recorder: FrameRecorder) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription={},
        tools=[types.Tool(google_search=types.GoogleSearch())],
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="How fast is the speed of light?")
        msgs = await turn(session)
    grounded = [
        m.server_content.grounding_metadata
        for m in msgs
        if m.server_content and m.server_content.grounding_metadata
    ]
    assert len(grounded) == 1
    meta = grounded[0]
    assert meta.web_search_queries == ["speed of light in a vacuum"]
    chunk = (meta.grounding_chunks or [])[0]
    assert chunk.web is not None and (chunk.web.uri or "").startswith(
        "https://emulator.realtimelab.invalid/"
    )
    usage = msgs[-1].usage_metadata
    assert usage is not None and (usage.tool_use_prompt_token_count or 0) > 0


async def test_sdk_sliding_window_keeps_the_context_bounded(
    emu: Emulator, recorder: FrameRecorder
) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        context_window_compression=types.ContextWindowCompressionConfig(
            trigger_tokens=300, sliding_window=types.SlidingWindow(target_tokens=150)
        ),
    )
    prompts = []
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        for i in range(5):
            await session.send_realtime_input(text=f"turn {i} " + "remember this please " * 10)
            msgs = await turn(session)
            usage = msgs[-1].usage_metadata
            assert usage is not None
            prompts.append(usage.prompt_token_count or 0)
    assert max(prompts) < 300 + 150, prompts  # without trimming: ~ +120 tokens per turn


async def test_sdk_seeded_history_then_a_start_signal(
    emu: Emulator, recorder: FrameRecorder
) -> None:
    """`history_config.initial_history_in_client_content`: the seeded turn gets no reply; the
    realtime input that follows (pipecat sends a single space) starts the answer."""
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription={},
        history_config=types.HistoryConfig(initial_history_in_client_content=True),
    )
    async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=[
                types.Content(role="user", parts=[types.Part(text="my name is Ada")]),
                types.Content(role="model", parts=[types.Part(text="Nice to meet you, Ada.")]),
                types.Content(role="user", parts=[types.Part(text="how many")]),
            ],
            turn_complete=True,
        )
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                async for _ in session.receive():
                    pass
        await session.send_realtime_input(text=" ")
        msgs = await turn(session)
    said = said_in(msgs)
    assert said == "You sent 2 messages."  # the seeded history, and " " added nothing
    assert not any(m.server_content and m.server_content.interrupted for m in msgs)


async def test_sdk_thinking_models_report_thoughts(emu: Emulator, recorder: FrameRecorder) -> None:
    config = types.LiveConnectConfig(response_modalities=["AUDIO"])
    model = "gemini-2.5-flash-native-audio-preview-12-2025"
    async with client(emu).aio.live.connect(model=model, config=config) as session:
        await session.send_realtime_input(text="hi")
        msgs = await turn(session)
    usage = msgs[-1].usage_metadata
    assert usage is not None and usage.thoughts_token_count == 128
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0) + (usage.response_token_count or 0) + 128
    )


async def test_sdk_refusals(emu: Emulator) -> None:
    """Tools the Live models do not run close 1007 naming the tool; `transparent` resumption
    is refused by the SDK itself on the Developer API (the emulator refuses raw clients)."""
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"], tools=[types.Tool(code_execution=types.ToolCodeExecution())]
    )
    rec = FrameRecorder()
    with tap_sdk(rec), pytest.raises(errors.APIError) as info:
        async with client(emu).aio.live.connect(model=MODEL, config=config) as session:
            async for _ in session.receive():
                pass
    rec.assert_ok()
    assert info.value.code == 1007 and "codeExecution" in str(info.value)
    transparent = types.LiveConnectConfig(
        session_resumption=types.SessionResumptionConfig(transparent=True)
    )
    with pytest.raises(ValueError, match="transparent"):
        async with client(emu).aio.live.connect(model=MODEL, config=transparent):
            pass
