"""The Gemini Live dialect: sans-IO frame units, then whole sessions over loopback.

The protocol's decisions (turns, timing, tools, lifecycle) are unit-tested without sockets in
`test_emulator_gemini_protocol.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.conformance.gemini import validate_server_message
from support.emulator_fakes import (
    MODEL,
    audio_msg,
    chunks,
    close_code,
    collect_until,
    open_ws,
    post_json,
    recv_json,
    setup_msg,
    silence,
    tone,
    turn_complete,
)
from support.fakes import QueuedHearing, scripted_components
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtimelab import catalogue
from realtimelab.emulator.dialects.gemini import DIALECT, wire
from realtimelab.emulator.dialects.gemini.frames import (
    AudioIn,
    Close,
    GeminiFrames,
    SetupReceived,
    TextIn,
    ToolResponses,
    TurnsIn,
    UsageCounts,
)
from realtimelab.emulator.dialects.gemini.protocol import go_away_lead_s
from realtimelab.emulator.dialects.gemini.setup import apply_constraints
from realtimelab.emulator.dialects.gemini.tokens import TokenError, TokenStore
from realtimelab.emulator.model import FunctionCall, UserMessage
from realtimelab.emulator.server import Emulator, EmulatorConfig

# ------------------------------------------------------------------------------------------
# sans-IO units
# ------------------------------------------------------------------------------------------


def test_camelize_normalises_proto_keys_but_not_user_data() -> None:
    raw = {
        "realtime_input_config": {"automatic_activity_detection": {"silence_duration_ms": 5}},
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "f",
                        "parameters_json_schema": {"properties": {"city_name": {"type": "string"}}},
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"zip_code": {"max_length": 5}},
                        },
                    }
                ]
            }
        ],
        "tool_response": {"function_responses": [{"response": {"snake_key": 1}}]},
    }
    out = wire.camelize(raw)
    assert out["realtimeInputConfig"]["automaticActivityDetection"]["silenceDurationMs"] == 5
    decl = out["tools"][0]["functionDeclarations"][0]
    assert "city_name" in decl["parametersJsonSchema"]["properties"]
    assert decl["parameters"]["properties"]["zip_code"] == {"maxLength": 5}
    assert out["toolResponse"]["functionResponses"][0]["response"] == {"snake_key": 1}


def test_base64_both_alphabets_and_rates() -> None:
    data = bytes(range(256))
    assert wire.b64decode_any(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data
    assert wire.b64decode_any(base64.b64encode(data).decode()) == data
    with pytest.raises(ValueError):
        wire.b64decode_any("@@@@")
    assert wire.pcm_rate("audio/pcm;rate=48000") == 48000
    assert wire.pcm_rate("audio/pcm; rate=16000") == 16000
    # the cookbook sends a bare audio/pcm: the service assumes its native 16 kHz
    assert wire.pcm_rate("audio/pcm") == wire.pcm_rate("audio/pcm;") == 16000
    for bad in ("audio/pcm;rate=abc", "audio/pcm;rate=10", "audio/mp3;rate=16000"):
        with pytest.raises(ValueError):
            wire.pcm_rate(bad)


def _active(**setup: Any) -> GeminiFrames:
    proto = GeminiFrames(api_version="v1beta")
    events = proto.receive(setup_msg(**setup))
    assert isinstance(events[0], SetupReceived), events
    proto.accept_setup()
    return proto


@pytest.mark.parametrize(
    ("frames", "code", "reason_part"),
    [
        ([json.dumps({"clientContent": {"turnComplete": True}})], 1007, "invalid argument"),
        ([setup_msg(), setup_msg()], 1007, "invalid argument"),
        (["not json"], 1007, "invalid argument"),
        ([json.dumps({"setup": {"model": "models/gemini-9"}})], 1008, "models/gemini-9 is not"),
        ([setup_msg(generationConfig={"responseModalities": ["TEXT"]})], 1007, "(TEXT)"),
        ([setup_msg(bogusField=1)], 1007, "invalid argument"),
        ([setup_msg(generationConfig={"responseMimeType": "x"})], 1007, "invalid argument"),
        ([setup_msg(realtimeInputConfig={"activityHandling": "BOGUS"})], 1007, "invalid"),
        (
            [
                setup_msg(
                    generationConfig={
                        "speechConfig": {
                            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "alloy"}}
                        }
                    }
                )
            ],
            1007,
            "invalid argument",
        ),
    ],
)
def test_setup_rejections(frames: list[str], code: int, reason_part: str) -> None:
    proto = GeminiFrames(api_version="v1beta")
    events: list[Any] = []
    for i, frame in enumerate(frames):
        events = proto.receive(frame)
        if i == 0 and len(frames) > 1:
            proto.accept_setup()
    assert isinstance(events[-1], Close)
    assert events[-1].code == code
    assert reason_part in events[-1].reason
    assert proto.receive(setup_msg()) == []  # closed: further input ignored


def test_snake_case_setup_like_the_sdk_sends() -> None:
    frame = json.dumps(
        {
            "setup": {
                "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
                "generationConfig": {
                    "responseModalities": ["AUDIO"],
                    "speechConfig": {
                        "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}
                    },
                },
                "realtimeInputConfig": {
                    "automatic_activity_detection": {
                        "disabled": False,
                        "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
                        "silence_duration_ms": 100,
                    },
                    "activity_handling": "NO_INTERRUPTION",
                    "turn_coverage": "TURN_INCLUDES_ALL_INPUT",
                },
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "get_weather",
                                "behavior": "NON_BLOCKING",
                                "parameters": {
                                    "type": "OBJECT",
                                    "properties": {"city": {"type": "STRING"}},
                                    "required": ["city"],
                                },
                            }
                        ]
                    }
                ],
                "sessionResumption": {},
                "inputAudioTranscription": {},
            }
        }
    )
    proto = GeminiFrames()
    (event,) = proto.receive(frame)
    assert isinstance(event, SetupReceived)
    s = event.setup
    assert (s.modality, s.voice, s.barge_in, s.turn_coverage) == (
        "audio",
        "Kore",
        False,
        "TURN_INCLUDES_ALL_INPUT",
    )
    assert s.vad.start_sensitivity == "START_SENSITIVITY_LOW" and s.vad.silence_duration_ms == 100
    assert s.vad.params().silence_duration_ms == 100
    assert s.tools[0].behavior == "non_blocking"
    assert s.tools[0].parameters["properties"]["city"]["type"] == "string"
    assert s.resumption and s.input_transcription
    assert not s.output_transcription
    assert s.generation == 2 and not s.bundles and s.reasoning


def test_transparent_resumption_is_refused_on_the_developer_api() -> None:
    """google-genai refuses `transparent` in Gemini Developer API mode ("only supported in
    Gemini Enterprise Agent Platform mode"): a raw client sending it gets a 1007."""
    (close,) = GeminiFrames().receive(setup_msg(sessionResumption={"transparent": True}))
    assert isinstance(close, Close) and close.code == 1007
    assert "transparent" in close.reason and len(close.reason.encode()) <= 123


def test_realtime_input_decoding_and_errors() -> None:
    proto = _active()
    pcm = bytes(range(200)) * 4
    b64 = base64.urlsafe_b64encode(pcm).decode()
    (ev,) = proto.receive(
        json.dumps(
            {"realtime_input": {"audio": {"data": b64, "mime_type": "audio/pcm;rate=24000"}}}
        )
    )
    assert ev == AudioIn(pcm, 24000)
    assert proto.receive(json.dumps({"realtimeInput": {"text": "hi"}})) == [TextIn("hi")]
    bare = json.dumps({"realtimeInput": {"audio": {"data": b64, "mimeType": "audio/pcm"}}})
    assert proto.receive(bare) == [AudioIn(pcm, 16000)]  # no rate: 16 kHz, like the service
    (close,) = proto.receive(
        json.dumps({"realtimeInput": {"audio": {"data": b64, "mimeType": "audio/pcm;rate=x"}}})
    )
    assert close == Close(1007, wire.INVALID_ARGUMENT, close.detail)
    assert "rate" in close.detail
    manual = _active(realtimeInputConfig={"automaticActivityDetection": {"disabled": True}})
    assert manual.receive(json.dumps({"realtimeInput": {"audioStreamEnd": True}})) == []
    auto = _active()
    (close,) = auto.receive(json.dumps({"realtimeInput": {"activityStart": {}}}))
    assert isinstance(close, Close) and close.code == 1007


def test_tool_bookkeeping_and_resumption_frames() -> None:
    frames = _active(
        tools=[{"functionDeclarations": [{"name": "a", "behavior": "BLOCKING"}, {"name": "b"}]}],
        sessionResumption={},
    )
    calls = [FunctionCall("function-call-1", "a", {}), FunctionCall("function-call-2", "b", {})]
    frame = frames.tool_call_frame(calls)
    validate_server_message(frames.encode(frame))
    assert frames.blocking_pending == ["function-call-1"]  # "b" is NON_BLOCKING on 3.8
    assert frames.resumption_frame(None)["sessionResumptionUpdate"] == {
        "newHandle": "",
        "resumable": False,
    }
    (ev,) = frames.receive(
        json.dumps(
            {
                "tool_response": {
                    "function_responses": [
                        {
                            "id": "function-call-2",
                            "response": {"x": 1},
                            "will_continue": True,
                            "scheduling": "SILENT",
                        }
                    ]
                }
            }
        )
    )
    assert isinstance(ev, ToolResponses) and ev.responses[0].will_continue
    assert "function-call-2" in frames.pending  # a generator-style call stays pending
    (ev,) = frames.receive(
        json.dumps(
            {
                "toolResponse": {
                    "functionResponses": [
                        {"id": "function-call-1", "name": "a", "response": {"output": "ok"}}
                    ]
                }
            }
        )
    )
    assert isinstance(ev, ToolResponses) and ev.responses[0].output == "ok"
    assert frames.blocking_pending == []
    (late,) = frames.receive(
        json.dumps(
            {"toolResponse": {"functionResponses": [{"id": "function-call-1", "response": {}}]}}
        )
    )
    assert isinstance(late, ToolResponses) and not late.responses[0].known
    (close,) = frames.receive(json.dumps({"toolResponse": {"functionResponses": [{"name": "a"}]}}))
    assert isinstance(close, Close) and close.code == 1007


def test_client_content_items_and_usage_frame() -> None:
    proto = _active()
    (ev,) = proto.receive(
        json.dumps(
            {
                "client_content": {
                    "turns": [
                        {"role": "user", "parts": [{"text": "Hello"}]},
                        {
                            "role": "model",
                            "parts": [{"text": "Hi!"}, {"text": "hidden", "thought": True}],
                        },
                    ],
                    "turnComplete": True,
                }
            }
        )
    )
    assert isinstance(ev, TurnsIn) and ev.turn_complete
    assert ev.items[0] == UserMessage("Hello") and ev.items[1].text == "Hi!"  # type: ignore[union-attr]
    frame = proto.turn_complete_frame(
        UsageCounts(prompt_text=5, prompt_audio=20, response_audio=40)
    )
    msg = validate_server_message(proto.encode(frame))
    assert msg.usage_metadata is not None
    assert msg.usage_metadata.total_token_count == 65
    assert msg.usage_metadata.response_token_count == 40


def test_constraints_override_the_client() -> None:
    client = {
        "model": "models/gemini-3.8-live",
        "generationConfig": {"temperature": 1.0},
        "sessionResumption": {"handle": "h"},
        "outputAudioTranscription": {},
    }
    token = {
        "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
        "generationConfig": {"temperature": 0.2, "responseModalities": ["AUDIO"]},
    }
    locked_all = apply_constraints(client, token, None)
    assert locked_all["model"] == token["model"]
    assert "outputAudioTranscription" not in locked_all  # whole setup locked: ignored
    assert locked_all["sessionResumption"] == {"handle": "h"}  # the handle survives
    masked = apply_constraints(client, token, ["generation_config.temperature"])
    assert masked["generationConfig"]["temperature"] == 0.2
    assert masked["model"] == client["model"]  # not locked, the client's wins
    assert masked["generationConfig"]["responseModalities"] == ["AUDIO"]  # token default
    assert apply_constraints(client, None, None) == client


def test_token_store_uses_and_expiry() -> None:
    now = [1_000_000.0]
    store = TokenStore(clock=lambda: now[0])
    token = store.create({"uses": 2, "expire_time": "1970-01-12T14:13:20+00:00"})
    assert token.name.startswith("auth_tokens/")
    store.start_session(token.name)
    store.start_session(token.name)
    with pytest.raises(TokenError, match="no uses left"):
        store.start_session(token.name)
    unlimited = store.create({"uses": 0})
    for _ in range(5):
        store.start_session(unlimited.name)
    now[0] += 61  # past the default newSessionExpireTime, before expireTime
    store.check_live(unlimited.name)
    with pytest.raises(TokenError, match="new sessions"):
        store.start_session(unlimited.name)
    now[0] += 3600
    with pytest.raises(TokenError, match="expired"):
        store.check_live(unlimited.name)
    with pytest.raises(TokenError, match="20 hours"):
        store.create({"expireTime": "1970-01-13T14:13:20Z"})
    with pytest.raises(TokenError):
        store.create({"uses": -1})


def test_go_away_lead() -> None:
    assert go_away_lead_s(600) == 60
    assert go_away_lead_s(2) == pytest.approx(0.4)


# ------------------------------------------------------------------------------------------
# whole sessions over loopback (raw websockets client)
# ------------------------------------------------------------------------------------------

FAST = 40.0


@pytest.fixture
def hearing() -> QueuedHearing:
    return QueuedHearing()


@pytest.fixture
async def emu(hearing: QueuedHearing, request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    options: dict[str, Any] = dict(getattr(request, "param", {}))
    config = EmulatorConfig(speed=options.pop("speed", FAST), **options)
    async with Emulator(config, dialects=[DIALECT], components=scripted_components(hearing)) as e:
        yield e


def said_in(frames: list[dict[str, Any]]) -> str:
    """The model's words, from the output transcription."""
    return "".join(
        f["serverContent"].get("outputTranscription", {}).get("text", "")
        for f in frames
        if "serverContent" in f
    )


def _checked(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for f in frames:
        validate_server_message(f)
    return frames


async def test_double_slash_path_is_tolerated(emu: Emulator) -> None:
    ws = await open_ws(emu.url + "/")  # `//ws/...`, as a trailing-slash base_url gives
    await ws.send(setup_msg())
    assert await recv_json(ws) == {"setupComplete": {}}
    await ws.close()


async def test_text_turn_over_v1(emu: Emulator) -> None:
    ws = await open_ws(emu.url, version="v1")
    await ws.send(setup_msg(outputAudioTranscription={}))
    assert await recv_json(ws) == {"setupComplete": {}}
    await ws.send(
        json.dumps(
            {
                "client_content": {
                    "turns": [{"role": "user", "parts": [{"text": "good morning"}]}],
                    "turnComplete": True,
                }
            }
        )
    )
    frames = _checked(await collect_until(ws, turn_complete))
    audio = b"".join(
        base64.b64decode(p["inlineData"]["data"])
        for f in frames
        for p in f.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    )
    assert len(audio) == 24000 * 2 * 0.06 * 4  # 4 words × 60 ms at 24 kHz
    mimes = {
        p["inlineData"]["mimeType"]
        for f in frames
        for p in f.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    }
    assert mimes == {"audio/pcm;rate=24000"}
    transcript = "".join(
        f["serverContent"]["outputTranscription"]["text"]
        for f in frames
        if "outputTranscription" in f.get("serverContent", {})
    )
    assert transcript == "You said good morning."
    assert frames[-2]["serverContent"]["generationComplete"] is True
    usage = frames[-1]["usageMetadata"]
    assert usage["responseTokenCount"] == 8  # ceil(240 ms × 32 tokens/s)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 8
    await ws.close()


@pytest.mark.parametrize("model", ["gemini-2.0-flash-live-001", "gemini-live-2.5-flash-preview"])
async def test_retired_models_are_refused_like_unknown_ones(emu: Emulator, model: str) -> None:
    """Both half-cascade models were shut down on 2025-12-09: Google no longer finds them."""
    ws = await open_ws(emu.url)
    await ws.send(
        json.dumps(
            {
                "setup": {
                    "model": f"models/{model}",
                    "generationConfig": {"responseModalities": ["TEXT"]},
                }
            }
        )
    )
    assert await close_code(ws) == (1008, wire.model_not_found(f"models/{model}", "v1beta"))


async def test_audio_turn_48k_with_vad_and_transcription(
    emu: Emulator, hearing: QueuedHearing
) -> None:
    hearing.queue.append("what is new")
    ws = await open_ws(emu.url)
    await ws.send(
        setup_msg(
            inputAudioTranscription={},
            realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}},
        )
    )
    await recv_json(ws)
    speech = silence(200, 48000) + tone(600, 48000) + silence(400, 48000)
    for part in chunks(speech, 48000):
        b64 = base64.urlsafe_b64encode(part).decode()
        await ws.send(
            json.dumps(
                {"realtime_input": {"audio": {"data": b64, "mime_type": "audio/pcm;rate=48000"}}}
            )
        )
    frames = _checked(await collect_until(ws, turn_complete))
    assert {"serverContent": {"inputTranscription": {"text": "what is new"}}} in frames
    n_bytes, rate = hearing.heard[0]
    assert rate == 16000 and 600 <= n_bytes / 32 <= 1000  # resampled: speech + padding
    assert frames[-1]["usageMetadata"]["promptTokensDetails"][-1]["modality"] == "AUDIO"
    await ws.send(
        json.dumps({"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate="}}})
    )
    assert await close_code(ws) == (1007, wire.INVALID_ARGUMENT)


async def test_barge_in_and_no_interruption(emu: Emulator, hearing: QueuedHearing) -> None:
    ws = await open_ws(emu.url)
    await ws.send(
        setup_msg(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}})
    )
    await recv_json(ws)
    await ws.send(json.dumps({"realtimeInput": {"text": "say something long"}}))
    first = await collect_until(ws, lambda m: "modelTurn" in m.get("serverContent", {}))
    assert first
    for part in chunks(tone(300) + silence(300), 16000):
        await ws.send(audio_msg(part))
    frames = _checked(await collect_until(ws, turn_complete))
    assert {"serverContent": {"interrupted": True}} in frames
    assert {"serverContent": {"generationComplete": True}} not in frames
    after = await collect_until(ws, turn_complete)  # the barge-in turn gets its own answer
    assert any("generationComplete" in f.get("serverContent", {}) for f in after)
    await ws.close()

    ws = await open_ws(emu.url)
    await ws.send(
        setup_msg(
            realtimeInputConfig={
                "automaticActivityDetection": {"silenceDurationMs": 200},
                "activityHandling": "NO_INTERRUPTION",
            }
        )
    )
    await recv_json(ws)
    await ws.send(json.dumps({"realtimeInput": {"text": "say something long"}}))
    await collect_until(ws, lambda m: "modelTurn" in m.get("serverContent", {}))
    for part in chunks(tone(300) + silence(300), 16000):
        await ws.send(audio_msg(part))
    frames = await collect_until(ws, turn_complete)
    assert {"serverContent": {"interrupted": True}} not in frames
    assert {"serverContent": {"generationComplete": True}} in frames
    queued = await collect_until(ws, turn_complete)  # the held-back spoken turn runs after
    assert any("generationComplete" in f.get("serverContent", {}) for f in queued)
    await ws.close()


async def test_manual_activity_brackets_a_turn(emu: Emulator, hearing: QueuedHearing) -> None:
    ws = await open_ws(emu.url)
    await ws.send(setup_msg(realtimeInputConfig={"automaticActivityDetection": {"disabled": True}}))
    await recv_json(ws)
    await ws.send(audio_msg(tone(500)))
    await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
    await ws.send(audio_msg(silence(300)))
    await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
    await collect_until(ws, turn_complete)
    assert hearing.heard == [(300 * 32, 16000)]  # only the bracketed audio (ONLY_ACTIVITY)
    await ws.close()


TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "behavior": "BLOCKING",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
            },
            {
                "name": "get_time",
                "behavior": "BLOCKING",
                "parametersJsonSchema": {
                    "type": "object",
                    "properties": {"tz": {"type": "string"}},
                },
            },
        ]
    }
]


async def test_parallel_blocking_tools_and_cancellation(emu: Emulator) -> None:
    ws = await open_ws(emu.url)
    await ws.send(setup_msg(tools=TOOLS))
    await recv_json(ws)
    await ws.send(json.dumps({"realtimeInput": {"text": "weather and time please"}}))
    (call,) = _checked(await collect_until(ws, lambda m: "toolCall" in m))
    fcs = call["toolCall"]["functionCalls"]
    assert [f["name"] for f in fcs] == ["get_weather", "get_time"]
    assert fcs[0]["args"] == {"city": "Paris"}
    await ws.send(
        json.dumps(
            {
                "toolResponse": {
                    "functionResponses": [
                        {"id": fcs[0]["id"], "name": "get_weather", "response": {"output": "sunny"}}
                    ]
                }
            }
        )
    )
    await asyncio.sleep(0.1)  # one of two answered: nothing may be generated yet
    await ws.send(
        json.dumps(
            {
                "toolResponse": {
                    "functionResponses": [
                        {"id": fcs[1]["id"], "name": "get_time", "response": {"output": "noon"}}
                    ]
                }
            }
        )
    )
    frames = _checked(await collect_until(ws, turn_complete))
    text = said_in(frames)
    assert frames[0].get("serverContent", {}).get("modelTurn")  # first frame after: the answer
    assert text == ""  # no outputAudioTranscription requested
    # now barge in while a call is pending: the call is cancelled
    await ws.send(json.dumps({"realtimeInput": {"text": "weather again"}}))
    (call,) = await collect_until(ws, lambda m: "toolCall" in m)
    await ws.send(json.dumps({"realtimeInput": {"text": "never mind"}}))
    frames = _checked(await collect_until(ws, turn_complete))
    ids = [f["id"] for f in call["toolCall"]["functionCalls"]]
    assert frames[0] == {"toolCallCancellation": {"ids": ids}}
    assert frames[1] == {"serverContent": {"interrupted": True}}
    await ws.close()


async def test_non_blocking_scheduling(emu: Emulator) -> None:
    ws = await open_ws(emu.url)
    tools = [{"functionDeclarations": [{"name": "get_weather", "behavior": "NON_BLOCKING"}]}]
    await ws.send(setup_msg(tools=tools, outputAudioTranscription={}))
    await recv_json(ws)
    await ws.send(json.dumps({"realtimeInput": {"text": "weather"}}))
    frames = await collect_until(ws, turn_complete)  # NON_BLOCKING: the turn ends right away
    fc = next(f for f in frames if "toolCall" in f)["toolCall"]["functionCalls"][0]

    async def respond(scheduling: str, will_continue: bool = False) -> None:
        await ws.send(
            json.dumps(
                {
                    "toolResponse": {
                        "functionResponses": [
                            {
                                "id": fc["id"],
                                "response": {"output": scheduling},
                                "scheduling": scheduling,
                                "willContinue": will_continue,
                            }
                        ]
                    }
                }
            )
        )

    await respond("SILENT", will_continue=True)
    with pytest.raises(TimeoutError):
        await recv_json(ws, timeout=0.3)  # SILENT: folded in, nothing generated
    await respond("WHEN_IDLE", will_continue=True)
    frames = await collect_until(ws, turn_complete)
    said = said_in(frames)
    assert "WHEN_IDLE" in said
    await ws.send(json.dumps({"realtimeInput": {"text": "something long"}}))
    await collect_until(ws, lambda m: "modelTurn" in m.get("serverContent", {}))
    await respond("INTERRUPT")
    frames = await collect_until(ws, turn_complete)
    assert {"serverContent": {"interrupted": True}} in frames
    frames = await collect_until(ws, turn_complete)
    said = said_in(frames)
    assert "INTERRUPT" in said
    await ws.close()


@pytest.mark.parametrize("emu", [{"gemini_connection_s": 1.5}], indirect=True)
async def test_go_away_then_resume_restores_history(emu: Emulator) -> None:
    ws = await open_ws(emu.url)
    await ws.send(setup_msg(sessionResumption={}))
    await recv_json(ws)
    first = await recv_json(ws)
    assert first["sessionResumptionUpdate"]["resumable"] is True
    await ws.send(json.dumps({"realtimeInput": {"text": "one"}}))
    frames = _checked(
        await collect_until(
            ws,
            lambda m: "sessionResumptionUpdate" in m and m["sessionResumptionUpdate"]["resumable"],
        )
    )
    assert {"sessionResumptionUpdate": {"newHandle": "", "resumable": False}} in frames
    handle = frames[-1]["sessionResumptionUpdate"]["newHandle"]
    go_away = await recv_json(ws, timeout=3)
    assert go_away == {"goAway": {"timeLeft": "0.300s"}}
    assert await close_code(ws) == (1011, wire.DEADLINE_EXPIRED)  # as seen after goAway

    ws = await open_ws(emu.url)
    await ws.send(setup_msg(sessionResumption={"handle": handle}))
    assert await recv_json(ws) == {"setupComplete": {}}
    await recv_json(ws)  # the fresh handle
    await ws.send(json.dumps({"realtimeInput": {"text": "how many"}}))
    frames = await collect_until(ws, turn_complete)
    assert frames  # FakeBrain counts user messages: "one" survived the reconnect
    await ws.close()

    ws = await open_ws(emu.url)
    await ws.send(setup_msg(sessionResumption={"handle": "nope"}))
    assert await close_code(ws) == (1008, wire.SESSION_NOT_FOUND)


async def test_auth_paths_and_ephemeral_tokens(emu: Emulator) -> None:
    with pytest.raises(InvalidStatus) as info:
        await open_ws(emu.url, path="/ws/google.ai.generativelanguage.v2.GenerativeService.X")
    assert info.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as info:
        await open_ws(emu.url, key="")
    assert info.value.response.status_code == 403

    port = emu.port
    status, body = await post_json(
        "127.0.0.1", port, "/v1alpha/auth_tokens", {"uses": 1}, {"x-goog-api-key": "k"}
    )
    assert status == 200 and body["name"].startswith("auth_tokens/")
    token = body["name"]
    status, _ = await post_json("127.0.0.1", port, "/v1alpha/auth_tokens", {}, {})
    assert status == 403
    constrained = (
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService."
        "BidiGenerateContentConstrained?access_token=" + token
    )
    ws = await open_ws(emu.url, path=constrained, key="")
    await ws.send(setup_msg(sessionResumption={}))
    assert await recv_json(ws) == {"setupComplete": {}}
    handle = (await recv_json(ws))["sessionResumptionUpdate"]["newHandle"]
    await ws.close()
    ws = await open_ws(emu.url, path=constrained, key="")  # resumption: does not use the token
    await ws.send(setup_msg(sessionResumption={"handle": handle}))
    assert await recv_json(ws) == {"setupComplete": {}}
    await ws.close()
    ws = await open_ws(emu.url, path=constrained, key="")  # a new session: no uses left
    await ws.send(setup_msg())
    code, reason = await close_code(ws)
    assert code == 1008 and "no uses left" in reason
    with pytest.raises(InvalidStatus) as info:  # tokens only on the Constrained method
        await open_ws(
            emu.url,
            path="/ws/google.ai.generativelanguage.v1alpha.GenerativeService."
            "BidiGenerateContent?access_token=" + token,
            key="",
        )
    assert info.value.response.status_code == 401


async def test_session_audio_limit() -> None:
    config = EmulatorConfig(speed=FAST, gemini_session_audio_s=0.5)
    async with Emulator(config, dialects=[DIALECT], components=scripted_components()) as emu:
        await _exceed_audio_limit(emu)
        ws = await open_ws(emu.url)  # with contextWindowCompression the session goes on
        await ws.send(setup_msg(contextWindowCompression={"slidingWindow": {}}))
        await recv_json(ws)
        for part in chunks(silence(800), 16000, ms=100):
            await ws.send(audio_msg(part))
        await ws.send(json.dumps({"realtimeInput": {"text": "still here"}}))
        assert await collect_until(ws, turn_complete)
        await ws.close()


async def _exceed_audio_limit(emu: Emulator) -> None:
    ws = await open_ws(emu.url)
    await ws.send(setup_msg())
    await recv_json(ws)
    with contextlib.suppress(ConnectionClosed):  # the close may overtake our last chunks
        for part in chunks(silence(800), 16000, ms=100):
            await ws.send(audio_msg(part))
    code, _ = await close_code(ws)
    assert code == 1011


async def test_malformed_session_does_not_hurt_another(emu: Emulator) -> None:
    good = await open_ws(emu.url)
    await good.send(setup_msg())
    await recv_json(good)
    bad = await open_ws(emu.url)
    await bad.send(b"\xff\xfe")
    assert await close_code(bad) == (1007, wire.INVALID_ARGUMENT)
    await good.send(json.dumps({"realtimeInput": {"text": "still there"}}))
    assert await collect_until(good, turn_complete)
    await good.close()


def test_model_constant_is_served() -> None:
    assert catalogue.usable("gemini", MODEL.removeprefix("models/")) is not None
