"""Gemini codec, sans-IO: recorded server frames in, unified events out; every client frame the
codec writes validates against google-genai's `LiveClientMessage` (patched where the SDK's
types lag the wire: see tests/support/conformance/gemini.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from support.conformance.gemini import validate_client_message, validate_server_message

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Vad
from realtimelab.providers.base import (
    AssistantText,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserImage,
    UserText,
    image_placeholder,
)
from realtimelab.providers.gemini import GeminiCodec, parse_duration
from realtimelab.schema import Tool

FRAMES = Path(__file__).parent / "frames"
WEATHER = Tool(
    name="get_weather",
    description="Get weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def check_client(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for f in frames:
        validate_client_message(json.dumps(f))
    return frames


def load(name: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((FRAMES / name).read_text())["frames"]
    return frames


def feed(codec: GeminiCodec, frames: list[dict[str, Any]]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for i, f in enumerate(frames):
        out += codec.decode(json.dumps(f).encode(), float(i))  # Google sends binary frames
    return out


def kinds(events: list[ev.Event]) -> list[str]:
    return [e.kind for e in events]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("name", sorted(p.name for p in FRAMES.glob("gemini_*.json")))
def test_recorded_server_frames_are_valid_sdk_messages(name: str) -> None:
    for f in load(name):
        validate_server_message(f)


def test_connect_requests() -> None:
    codec = GeminiCodec()
    req = codec.connect_request(api_key="AIzaSyA-very-secret-key-0000")
    assert req.url == (
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert req.headers == {"x-goog-api-key": "AIzaSyA-very-secret-key-0000"}
    assert "very-secret" not in repr(req)
    tok = codec.connect_request(token="auth_tokens/abc", base_url="ws://127.0.0.1:5")
    assert tok.url == (
        "ws://127.0.0.1:5/ws/"
        "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    assert tok.headers == {"Authorization": "Token auth_tokens/abc"}


def test_setup_frame() -> None:
    config = SessionConfig(
        instructions="You are a tutor.",
        voice="Kore",
        vad=Vad(mode="server", silence_duration_ms=400),
        input_transcription=True,
        tools=(WEATHER,),
        temperature=0.7,
        extra={"gemini": {"contextWindowCompression": {"slidingWindow": {}}}},
    )
    (frame,) = check_client(GeminiCodec("models/gemini-3.8-live").initial_frames(config))
    s = frame["setup"]
    assert s["model"] == "models/gemini-3.8-live"
    assert s["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert s["generationConfig"]["temperature"] == 0.7
    voice = s["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Kore"}
    assert s["systemInstruction"] == {"role": "user", "parts": [{"text": "You are a tutor."}]}
    (decl,) = s["tools"][0]["functionDeclarations"]
    assert decl["name"] == "get_weather" and decl["parameters"]["type"] == "OBJECT"
    aad = s["realtimeInputConfig"]["automaticActivityDetection"]
    assert aad["disabled"] is False and aad["silenceDurationMs"] == 400
    assert s["inputAudioTranscription"] == {} and s["outputAudioTranscription"] == {}
    assert s["sessionResumption"] == {}
    assert s["contextWindowCompression"] == {"slidingWindow": {}}


def test_setup_with_resumption_handle_and_no_tools_when_choice_none() -> None:
    config = SessionConfig(tools=(WEATHER,), tool_choice="none", output_transcription=False)
    (frame,) = check_client(GeminiCodec().initial_frames(config, resume="Cj0handle"))
    assert frame["setup"]["sessionResumption"] == {"handle": "Cj0handle"}
    assert "tools" not in frame["setup"] and "outputAudioTranscription" not in frame["setup"]


def test_text_modality_refused_on_native_audio_models() -> None:
    with pytest.raises(ValueError, match="audio only"):
        GeminiCodec().initial_frames(SessionConfig(output="text"))
    codec = GeminiCodec("gemini-live-2.5-flash-preview")
    assert codec.capabilities.text_output
    (frame,) = check_client(codec.initial_frames(SessionConfig(output="text")))
    assert frame["setup"]["generationConfig"]["responseModalities"] == ["TEXT"]


def test_update_is_refused_with_a_reason() -> None:
    with pytest.raises(NotImplementedError, match="resum"):
        GeminiCodec().update_frames(SessionConfig())


def test_audio_turn() -> None:
    codec = GeminiCodec()
    out = feed(codec, load("gemini_audio_turn.json"))
    assert kinds(out) == [
        "SessionStarted",
        "InputTranscript",
        "InputTranscript",
        "ResponseStarted",
        "AudioChunk",
        "OutputTranscript",
        "AudioChunk",
        "OutputTranscript",
        "OutputTranscript",  # final, assembled from the fragments
        "GenerationComplete",
        "InputTranscript",  # final, assembled at the end of the turn
        "TurnComplete",
        "ResumptionUpdate",
    ]
    audio = [e for e in out if isinstance(e, ev.AudioChunk)]
    assert [(a.rate, a.pcm) for a in audio] == [(24000, b"\x02\x00" * 1200)] * 2
    final_out = out[8]
    assert isinstance(final_out, ev.OutputTranscript)
    assert (final_out.text, final_out.final) == ("It is sunny", True)
    assert isinstance(out[9], ev.GenerationComplete)
    final_in = out[10]
    assert isinstance(final_in, ev.InputTranscript)
    assert (final_in.text, final_in.final) == ("what's the weather", True)
    done = out[11]
    assert isinstance(done, ev.TurnComplete) and done.status == "completed"
    assert done.usage == ev.Usage(
        input_tokens=147,
        output_tokens=36,
        total_tokens=183,
        input_audio_tokens=120,
        input_text_tokens=27,
        output_audio_tokens=36,
    )
    resumption = out[12]
    assert isinstance(resumption, ev.ResumptionUpdate)
    assert (resumption.handle, resumption.resumable, resumption.last_consumed_index) == (
        "Cj0handle",
        True,
        42,
    )
    assert codec.received_ms(None) == pytest.approx(100.0)


def test_tool_call_and_cancellation() -> None:
    codec = GeminiCodec()
    out = feed(codec, load("gemini_tool_call.json"))
    assert kinds(out) == [
        "ResponseStarted",
        "ToolCall",
        "ToolCall",
        "ToolCallCancelled",
        "TextDelta",
        "GenerationComplete",  # the turn ended without a generationComplete of its own
        "TurnComplete",
    ]
    call = out[1]
    assert isinstance(call, ev.ToolCall)
    assert (call.call_id, call.name, call.arguments) == ("fc-1", "get_weather", {"city": "Paris"})
    assert json.loads(call.arguments_json) == {"city": "Paris"}
    cancelled = out[3]
    assert isinstance(cancelled, ev.ToolCallCancelled) and cancelled.call_ids == ("fc-2",)
    (frame,) = check_client(codec.encode_tool_responses([ToolResult("fc-1", {"temp_c": 21})]))
    assert frame == {
        "toolResponse": {
            "functionResponses": [
                {"id": "fc-1", "name": "get_weather", "response": {"output": {"temp_c": 21}}}
            ]
        }
    }


def test_parallel_results_go_in_one_tool_response_with_scheduling() -> None:
    codec = GeminiCodec()
    feed(codec, load("gemini_tool_call.json")[:1])
    (frame,) = check_client(
        codec.encode_tool_responses(
            [
                ToolResult("fc-1", "sunny", scheduling="WHEN_IDLE", will_continue=False),
                ToolResult("fc-2", "no such zone", is_error=True, scheduling="SILENT"),
            ]
        )
    )
    responses = frame["toolResponse"]["functionResponses"]
    assert [r["id"] for r in responses] == ["fc-1", "fc-2"]
    assert responses[0]["scheduling"] == "WHEN_IDLE" and responses[0]["willContinue"] is False
    assert responses[1]["response"] == {"error": "no such zone"}
    with pytest.raises(ValueError, match="unknown call id 'zz'"):
        codec.encode_tool_responses([ToolResult("zz", 1)])


def test_barge_in_goaway_resumption_voice_activity() -> None:
    codec = GeminiCodec()
    out = feed(codec, load("gemini_misc.json"))
    assert kinds(out) == [
        "ResponseStarted",
        "AudioChunk",
        "GenerationComplete",
        "Interrupted",  # the server cut its reply (the core decides if anything audible was)
        "TurnComplete",
        "SessionExpiring",
        "SessionExpiring",
        "ResumptionUpdate",
        "SpeechStarted",
    ]
    assert isinstance(out[2], ev.GenerationComplete) and out[2].status == "cancelled"
    done = out[4]
    assert isinstance(done, ev.TurnComplete) and done.status == "cancelled"
    expiring = [e.time_left_s for e in out if isinstance(e, ev.SessionExpiring)]
    assert expiring == [50.0, 1.5]
    busy = out[7]
    assert isinstance(busy, ev.ResumptionUpdate) and busy.handle is None and not busy.resumable
    speech = out[8]
    assert isinstance(speech, ev.SpeechStarted) and speech.audio_ms == pytest.approx(1200)
    assert codec.encode_interrupt(None, 500) == []  # the server handles it


def test_snake_case_and_text_frames_and_urlsafe_base64() -> None:
    pcm = bytes(range(256)) * 4
    data = base64.urlsafe_b64encode(pcm).decode().rstrip("=")
    frame = {
        "server_content": {
            "model_turn": {
                "parts": [{"inline_data": {"mime_type": "audio/pcm;rate=16000", "data": data}}]
            },
            "turn_complete": True,
        }
    }
    out = GeminiCodec().decode(json.dumps(frame), 0.0)
    assert kinds(out) == ["ResponseStarted", "AudioChunk", "GenerationComplete", "TurnComplete"]
    chunk = out[1]
    assert isinstance(chunk, ev.AudioChunk) and chunk.pcm == pcm and chunk.rate == 16000


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\xff",
        "nope",
        "[]",
        '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "@@@"}}]}}}',
        '{"toolCall": {"functionCalls": [{"args": {}}]}}',
    ],
)
def test_malformed_frames_become_error_events(frame: str | bytes) -> None:
    (err,) = GeminiCodec().decode(frame, 1.0)
    assert isinstance(err, ev.Error) and err.code == "malformed_frame" and not err.fatal


def test_close_codes_are_errors() -> None:
    out = GeminiCodec().decode_close(1007, "Request contains an invalid argument.", 0, False)
    assert kinds(out) == ["Error", "Closed"]
    assert isinstance(out[0], ev.Error) and out[0].fatal and out[0].code == "1007"
    assert kinds(GeminiCodec().decode_close(1000, "", 0, False)) == ["Closed"]


def test_audio_text_commit_frames() -> None:
    codec = GeminiCodec()
    codec.initial_frames(SessionConfig())
    frames = check_client(
        [
            *codec.encode_audio(b"\x01\x02" * 320),
            *codec.encode_text("hi"),
            *codec.encode_commit(),
            *codec.encode_create_response(),
        ]
    )
    assert frames[0] == {
        "realtimeInput": {
            "audio": {
                "data": base64.b64encode(b"\x01\x02" * 320).decode(),
                "mimeType": "audio/pcm;rate=16000",
            }
        }
    }
    assert frames[1] == {"realtimeInput": {"text": "hi"}}
    assert frames[2] == {"realtimeInput": {"audioStreamEnd": True}}
    assert frames[3] == {"clientContent": {"turnComplete": True}}


def test_manual_activity_brackets_speech() -> None:
    codec = GeminiCodec()
    check_client(codec.initial_frames(SessionConfig(vad=Vad(mode="manual"))))
    first = check_client(codec.encode_audio(b"\x00\x00" * 10))
    assert [list(f["realtimeInput"]) for f in first] == [["activityStart"], ["audio"]]
    assert len(codec.encode_audio(b"\x00\x00")) == 1
    assert check_client(codec.encode_commit()) == [{"realtimeInput": {"activityEnd": {}}}]
    assert codec.encode_commit() == []
    assert len(codec.encode_audio(b"\x00\x00")) == 2  # a new turn opens again


def test_history_replay() -> None:
    items = [
        UserText("weather in Oslo?"),
        ToolCallRecord("c1", "get_weather", '{"city":"Oslo"}'),
        ToolResultRecord("c1", "get_weather", '{"temp_c": 3}'),
        AssistantText("It is 3 degrees."),
    ]
    (frame,) = check_client(GeminiCodec().encode_history(items))
    turns = frame["clientContent"]["turns"]
    assert [t["role"] for t in turns] == ["user", "model", "user", "model"]
    assert turns[1]["parts"][0]["functionCall"] == {
        "id": "c1",
        "name": "get_weather",
        "args": {"city": "Oslo"},
    }
    assert turns[2]["parts"][0]["functionResponse"]["response"] == {"output": {"temp_c": 3}}
    assert frame["clientContent"]["turnComplete"] is False
    assert GeminiCodec().encode_history([]) == []


@pytest.mark.parametrize(
    ("value", "seconds"), [("50s", 50.0), ("1.5s", 1.5), (3, 3.0), ("x", None), (None, None)]
)
def test_parse_duration(value: Any, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_frames_captured_from_the_emulator() -> None:
    out = feed(GeminiCodec(), load("gemini_emulator_tool_turn.json"))
    assert not [e for e in out if isinstance(e, ev.Error)]
    assert out[0].kind == "SessionStarted"
    (call,) = [e for e in out if isinstance(e, ev.ToolCall)]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    kinds = [e.kind for e in out]
    assert kinds.index("ResponseStarted") < kinds.index("ToolCall") < kinds.index("TurnComplete")
    assert kinds.count("TurnComplete") == 1  # the turn stays open across the tool round trip
    assert [e.text for e in out if isinstance(e, ev.OutputTranscript) and e.final]


# ---------------------------------------------------------------------------------------------
# extra query parameters, the close table, late tool results
# ---------------------------------------------------------------------------------------------


def test_extra_query_is_appended_and_cannot_carry_a_credential() -> None:
    codec = GeminiCodec()
    fault = {"rtl_fault": "close_after_s:1"}
    req = codec.connect_request(api_key="AIza-key-0000000000000", base_url="ws://h:1", query=fault)
    assert req.url.endswith("BidiGenerateContent?rtl_fault=close_after_s%3A1")
    tok = codec.connect_request(token="auth_tokens/t", query={"a": "1", "b": "x y"})
    assert tok.url.endswith("BidiGenerateContentConstrained?a=1&b=x%20y")
    for key in ("key", "access_token", "KEY"):
        with pytest.raises(ValueError, match="credential"):
            codec.connect_request(api_key="AIza-key-0000000000000", query={key: "AIza-other"})


@pytest.mark.parametrize(
    ("code", "fatal"), [(1007, True), (1008, True), (1011, False), (1006, False), (1001, False)]
)
def test_close_codes_follow_the_shared_table(code: int, fatal: bool) -> None:
    err, closed = GeminiCodec().decode_close(code, "reason", 0, False)
    assert isinstance(err, ev.Error) and (err.fatal, err.code) == (fatal, str(code))
    assert isinstance(closed, ev.Closed) and closed.code == code


def test_go_away_is_followed_by_a_retryable_1011_and_a_1000_is_never_special() -> None:
    codec = GeminiCodec()
    feed(codec, [{"goAway": {"timeLeft": "5s"}}])
    # what Google sends when the connection's time is up (observed in the wild)
    err, closed = codec.decode_close(
        1011, "Deadline expired before operation could complete.", 1, False
    )
    assert isinstance(err, ev.Error) and not err.fatal and err.code == "1011"
    assert isinstance(closed, ev.Closed)
    # a 1000 is a normal closure, before or after a goAway: not a sign of the lifetime's end
    assert kinds(codec.decode_close(1000, "", 1, False)) == ["Closed"]
    assert kinds(GeminiCodec().decode_close(1000, "", 0, False)) == ["Closed"]


def test_late_tool_result_is_a_client_content_turn_held_until_the_turn_ends() -> None:
    codec = GeminiCodec()
    idle = check_client(codec.encode_late_tool_results([ToolResult("c1", {"t": 1}, "get_w")]))
    assert idle == [
        {
            "clientContent": {
                "turns": [
                    {
                        "role": "user",
                        "parts": [
                            {
                                "functionResponse": {
                                    "id": "c1",
                                    "name": "get_w",
                                    "response": {"output": {"t": 1}},
                                }
                            }
                        ],
                    }
                ],
                "turnComplete": True,
            }
        }
    ]
    # while the model talks: held (a clientContent would cut the reply), then ONE frame
    feed(codec, [{"serverContent": {"outputTranscription": {"text": "Still working"}}}])
    assert codec.encode_late_tool_results([ToolResult("c2", "ok", "a")]) == []
    assert codec.encode_late_tool_results([ToolResult("c3", "bad", "b", is_error=True)]) == []
    assert codec.take_outgoing() == []
    feed(codec, [{"serverContent": {"turnComplete": True}}])
    (frame,) = check_client(codec.take_outgoing())
    parts = frame["clientContent"]["turns"][0]["parts"]
    assert [p["functionResponse"]["response"] for p in parts] == [
        {"output": "ok"},
        {"error": "bad"},
    ]
    assert frame["clientContent"]["turnComplete"] is True
    assert codec.take_outgoing() == []  # sent once


def test_late_tool_result_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name="):
        GeminiCodec().encode_late_tool_results([ToolResult("unknown", 1)])


# ------------------------------------------------------------------------------------------
# pictures, search grounding, bundles, usage (recorded: tests/frames/gemini_features.json)
# ------------------------------------------------------------------------------------------


def test_a_picture_is_a_video_frame_and_replays_as_its_placeholder() -> None:
    codec = GeminiCodec()
    (frame,) = check_client(codec.encode_image(b"\xff\xd8\xffjpeg", "image/jpeg"))
    blob = frame["realtimeInput"]["video"]
    assert blob == {
        "data": base64.b64encode(b"\xff\xd8\xffjpeg").decode(),
        "mimeType": "image/jpeg",
    }
    (history,) = check_client(codec.encode_history([UserImage("image/jpeg", 9)]))
    (turn,) = history["clientContent"]["turns"]
    assert turn == {
        "role": "user",
        "parts": [{"text": image_placeholder(UserImage("image/jpeg", 9))}],
    }


def test_web_search_declares_google_search_next_to_the_functions() -> None:
    (frame,) = check_client(
        GeminiCodec().initial_frames(SessionConfig(tools=(WEATHER,), web_search=True))
    )
    tools = frame["setup"]["tools"]
    assert tools[0]["functionDeclarations"][0]["name"] == "get_weather"
    assert tools[1] == {"googleSearch": {}}
    (plain,) = GeminiCodec().initial_frames(SessionConfig(web_search=True))
    assert plain["setup"]["tools"] == [{"googleSearch": {}}]


def test_a_bundled_message_is_read_part_by_part() -> None:
    """3.x models put an audio part, its words and `generationComplete` in one serverContent:
    every part becomes its event, in the order the protocol gives them meaning."""
    codec = GeminiCodec()
    pcm = b"\x02\x00" * 240
    bundle = {
        "serverContent": {
            "modelTurn": {
                "role": "model",
                "parts": [
                    {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(pcm)}},
                    {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(pcm)}},
                ],
            },
            "outputTranscription": {"text": "Done."},
            "generationComplete": True,
        }
    }
    validate_server_message(bundle)
    out = codec.decode(json.dumps(bundle).encode(), 0.0)
    assert kinds(out) == [
        "ResponseStarted",
        "AudioChunk",
        "AudioChunk",
        "OutputTranscript",
        "OutputTranscript",  # the turn's final transcript, at generationComplete
        "GenerationComplete",
    ]
    assert [e.text for e in out if isinstance(e, ev.OutputTranscript)] == ["Done.", "Done."]
    assert codec.received_ms(None) == pytest.approx(20.0)


def test_recorded_grounding_bundles_usage_and_partials() -> None:
    codec = GeminiCodec()
    out = feed(codec, load("gemini_features.json"))
    grounding = [e for e in out if isinstance(e, ev.Grounding)]
    assert len(grounding) == 2  # 3.x (bundled with generationComplete) and 2.5 (alone)
    for g in grounding:
        assert g.queries == ("highest mountain in the world",)
        assert g.sources and all(s.uri.startswith("https://") and s.title for s in g.sources)
        assert g.rendered_content and "rtl-search-chip" in g.rendered_content
    usage = [e.usage for e in out if isinstance(e, ev.TurnComplete) and e.usage]
    thinking, _, pictured = usage[:3]
    assert thinking.thoughts_tokens > 0 and thinking.tool_use_prompt_tokens > 0
    assert thinking.total_tokens == (
        thinking.input_tokens
        + thinking.output_tokens
        + thinking.thoughts_tokens
        + thinking.tool_use_prompt_tokens
    )
    assert pictured.input_image_tokens > 0
    assert pictured.input_tokens == pictured.input_text_tokens + pictured.input_image_tokens
    # the 3.x audio chunks carry their words in the same message
    bundled = [e for e in out if isinstance(e, ev.AudioChunk)]
    assert bundled
    # 2.5 partials: pieces that add up to the utterance (the final comes at turnComplete)
    partial = [e.text for e in out if isinstance(e, ev.InputTranscript) and not e.final]
    assert "".join(partial[-3:]) == "what is the weather in paris"


def test_usage_reads_every_modality_and_the_cache() -> None:
    frame = {
        "serverContent": {"turnComplete": True},
        "usageMetadata": {
            "promptTokenCount": 400,
            "cachedContentTokenCount": 120,
            "responseTokenCount": 50,
            "toolUsePromptTokenCount": 30,
            "thoughtsTokenCount": 20,
            "totalTokenCount": 500,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 100},
                {"modality": "AUDIO", "tokenCount": 150},
                {"modality": "IMAGE", "tokenCount": 86},
                {"modality": "VIDEO", "tokenCount": 64},
            ],
            "cacheTokensDetails": [
                {"modality": "TEXT", "tokenCount": 100},
                {"modality": "AUDIO", "tokenCount": 20},
            ],
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 50}],
        },
    }
    validate_server_message(frame)
    (done,) = GeminiCodec().decode(json.dumps(frame), 0.0)
    assert isinstance(done, ev.TurnComplete)
    assert done.usage == ev.Usage(
        input_tokens=400,
        output_tokens=50,
        total_tokens=500,
        input_audio_tokens=150,
        input_text_tokens=100,
        input_image_tokens=86,
        input_video_tokens=64,
        output_audio_tokens=50,
        cached_tokens=120,
        cached_text_tokens=100,
        cached_audio_tokens=20,
        thoughts_tokens=20,
        tool_use_prompt_tokens=30,
    )
