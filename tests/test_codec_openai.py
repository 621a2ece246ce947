"""OpenAI codec, sans-IO: recorded server frames in, unified events out; every client frame the
codec writes validates against the official SDK's GA types."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any, get_args

import pytest
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import Field, TypeAdapter

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Vad
from realtimelab.providers import make_codec
from realtimelab.providers.base import (
    AssistantText,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserImage,
    UserText,
    image_placeholder,
)
from realtimelab.providers.openai import OpenAICodec
from realtimelab.schema import Tool

FRAMES = Path(__file__).parent / "frames"
CLIENT = TypeAdapter(Annotated[get_args(RealtimeClientEvent)[0], Field(discriminator="type")])
SERVER = TypeAdapter(Annotated[get_args(RealtimeServerEvent)[0], Field(discriminator="type")])

WEATHER = Tool(
    name="get_weather",
    description="Get weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def check_client(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate each frame with the SDK oracle, and prove it is JSON (what goes on the wire)."""
    for f in frames:
        CLIENT.validate_python(json.loads(json.dumps(f)))
    return frames


def load(name: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((FRAMES / name).read_text())["frames"]
    return frames


def feed(codec: OpenAICodec, frames: list[dict[str, Any]]) -> list[ev.Event]:
    out: list[ev.Event] = []
    for i, f in enumerate(frames):
        out += codec.decode(json.dumps(f), float(i))
    return out


def kinds(events: list[ev.Event]) -> list[str]:
    return [e.kind for e in events]


@pytest.mark.parametrize("name", sorted(p.name for p in FRAMES.glob("openai_*.json")))
def test_recorded_server_frames_are_valid_sdk_events(name: str) -> None:
    for f in load(name):
        SERVER.validate_python(f)


def test_connect_request_is_ga_and_redacted() -> None:
    codec = OpenAICodec()
    req = codec.connect_request(api_key="sk-proj-abcdefghijklmnopqrstuvwxyz1234")
    assert req.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2"
    assert req.headers == {"Authorization": "Bearer sk-proj-abcdefghijklmnopqrstuvwxyz1234"}
    assert not any(k.lower() == "openai-beta" for k in req.headers)
    assert "abcdefghij" not in repr(req) and "1234" in repr(req)
    local = OpenAICodec("gpt-realtime-2").connect_request(
        token="ek_x", base_url="ws://127.0.0.1:9/"
    )
    assert local.url == "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime-2"
    assert local.headers["Authorization"] == "Bearer ek_x"
    with pytest.raises(ValueError, match="api_key"):
        codec.connect_request()


def test_session_update_full_config() -> None:
    config = SessionConfig(
        instructions="Be brief.",
        voice="marin",
        vad=Vad(mode="server", silence_duration_ms=500, prefix_padding_ms=300),
        input_transcription=True,
        tools=(WEATHER,),
        max_output_tokens=512,
        extra={"openai": {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}},
    )
    (frame,) = check_client(OpenAICodec().initial_frames(config))
    s = frame["session"]
    assert frame["type"] == "session.update" and s["type"] == "realtime"
    assert s["output_modalities"] == ["audio"]
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert s["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert s["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500
    assert s["audio"]["input"]["noise_reduction"] == {"type": "near_field"}  # deep-merged
    assert s["audio"]["input"]["transcription"]["model"]
    assert s["audio"]["output"]["voice"] == "marin"
    assert s["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get weather for a city",
            "parameters": WEATHER.parameters,
        }
    ]
    assert s["tool_choice"] == "auto" and s["max_output_tokens"] == 512
    assert s["instructions"] == "Be brief."


def test_manual_vad_sends_null_turn_detection_and_text_output() -> None:
    codec = OpenAICodec()
    (frame,) = check_client(
        codec.update_frames(SessionConfig(output="text", vad=Vad(mode="manual")))
    )
    assert frame["session"]["audio"]["input"]["turn_detection"] is None
    assert frame["session"]["output_modalities"] == ["text"]


def test_audio_turn_decodes_to_unified_events() -> None:
    codec = OpenAICodec()
    out = feed(codec, load("openai_audio_turn.json"))
    assert kinds(out) == [
        "SessionStarted",
        "SpeechStarted",
        "SpeechStopped",
        "InputCommitted",
        "ItemAdded",  # the committed audio as a conversation item: its id, for delete/retrieve
        "ResponseStarted",
        "OutputTranscript",
        "AudioChunk",
        "OutputTranscript",
        "AudioChunk",
        "OutputTranscript",
        "GenerationComplete",
        "TurnComplete",
        "RateLimits",
    ]
    started = out[0]
    assert isinstance(started, ev.SessionStarted)
    assert started.session_id == "sess_Ct1OVZ9vNW62W3cUpSCqj" and started.model == "gpt-realtime"
    audio = [e for e in out if isinstance(e, ev.AudioChunk)]
    assert all(a.rate == 24000 and len(a.pcm) == 4800 for a in audio)
    assert audio[0].pcm == b"\x01\x00" * 2400
    final = [e for e in out if isinstance(e, ev.OutputTranscript) and e.final]
    assert [f.text for f in final] == ["Claro."]
    done = out[-2]
    assert isinstance(done, ev.TurnComplete) and done.status == "completed"
    # usage is reported once, with the response it belongs to (the conversation core sums
    # the responses of a turn into the TurnComplete users see)
    generated = out[-3]
    assert isinstance(generated, ev.GenerationComplete) and done.usage is None
    assert generated.usage == ev.Usage(
        input_tokens=132,
        output_tokens=188,
        total_tokens=320,
        input_audio_tokens=73,
        input_text_tokens=59,
        output_audio_tokens=147,
        output_text_tokens=41,
        cached_tokens=64,
        cached_audio_tokens=64,  # the recorded cached_tokens_details
    )
    assert codec.last_audio_item == "item_CsZyLdZ3sHZ2DniSNrTKs"
    assert codec.received_ms(None) == pytest.approx(200.0)
    assert all(e.raw and e.provider == "openai" for e in out)


def test_text_turn() -> None:
    out = feed(OpenAICodec(), load("openai_text_turn.json"))
    assert kinds(out) == [
        "ItemAdded",
        "ResponseStarted",
        "TextDelta",
        "TextDelta",
        "GenerationComplete",
        "TurnComplete",
    ]
    assert "".join(e.text for e in out if isinstance(e, ev.TextDelta)) == "Hello!"


def test_function_call_is_announced_once() -> None:
    codec = OpenAICodec()
    out = feed(codec, load("openai_function_call.json"))
    calls = [e for e in out if isinstance(e, ev.ToolCall)]
    assert len(calls) == 1  # arguments.done and output_item.done describe the same call
    (call,) = calls
    assert (call.call_id, call.name, call.arguments) == (
        "call_9Q9eysr6LstYMEx6",
        "get_weather",
        {"city": "Tokyo"},
    )
    assert call.arguments_json == '{"city":"Tokyo"}'
    done = out[-1]
    assert isinstance(done, ev.TurnComplete) and done.reason == "tool_calls"
    assert codec.capabilities.tool_call_ends_turn
    frames = check_client(
        codec.encode_tool_responses([ToolResult("call_9Q9eysr6LstYMEx6", {"temp_c": 21})])
    )
    assert frames == [
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": "call_9Q9eysr6LstYMEx6",
                "output": '{"temp_c": 21}',
            },
        },
        {"type": "response.create"},
    ]


def test_invalid_json_arguments_reach_the_user() -> None:
    codec = OpenAICodec()
    frame = {
        "type": "response.function_call_arguments.done",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "call_id": "c1",
        "name": "f",
        "arguments": '{"city": "Par',
    }
    (call,) = codec.decode(json.dumps(frame), 0.0)
    assert isinstance(call, ev.ToolCall)
    assert call.arguments is None and call.arguments_json == '{"city": "Par'


def test_parallel_results_send_one_response_create_after_the_reply_ends() -> None:
    codec = OpenAICodec()
    feed(codec, [{"type": "response.created", "event_id": "e0", "response": {"id": "r1"}}])
    for cid in ("c1", "c2"):
        feed(
            codec,
            [
                {
                    "type": "response.function_call_arguments.done",
                    "event_id": "e",
                    "response_id": "r1",
                    "item_id": "i" + cid,
                    "output_index": 0,
                    "call_id": cid,
                    "name": "f",
                    "arguments": "{}",
                }
            ],
        )
    first = codec.encode_tool_responses([ToolResult("c1", "ok")])
    assert [f["type"] for f in first] == ["conversation.item.create"]  # c2 still pending
    second = check_client(codec.encode_tool_responses([ToolResult("c2", "boom", is_error=True)]))
    assert [f["type"] for f in second] == ["conversation.item.create"]  # reply r1 still active
    assert json.loads(second[0]["item"]["output"]) == {"error": "boom"}
    assert codec.take_outgoing() == []
    feed(codec, [{"type": "response.done", "event_id": "e9", "response": {"id": "r1"}}])
    assert codec.take_outgoing() == [{"type": "response.create"}]
    assert codec.take_outgoing() == []


def test_silent_results_ask_for_no_reply() -> None:
    frames = OpenAICodec().encode_tool_responses([ToolResult("c", 1, scheduling="SILENT")])
    assert [f["type"] for f in frames] == ["conversation.item.create"]


def test_barge_in_interrupts_active_response_and_truncation_is_clamped() -> None:
    codec = OpenAICodec()
    codec.initial_frames(SessionConfig())
    out = feed(codec, load("openai_barge_in.json"))
    assert kinds(out) == [
        "ResponseStarted",
        "AudioChunk",
        "AudioChunk",
        "SpeechStarted",
        "GenerationComplete",
        "TurnComplete",
    ]
    # the codec reports the wire facts; whether anything audible was cut (`Interrupted`) is
    # the conversation core's decision, from the playout clock
    generated, done = out[4], out[5]
    assert isinstance(generated, ev.GenerationComplete) and generated.status == "cancelled"
    assert isinstance(done, ev.TurnComplete)
    assert (done.status, done.reason) == ("cancelled", "turn_detected")
    # 200 ms were received; the player claims 5 s: clamp to what exists.
    (truncate,) = check_client(codec.encode_interrupt(None, 5000))
    assert truncate == {
        "type": "conversation.item.truncate",
        "item_id": "item_A",
        "content_index": 0,
        "audio_end_ms": 200,
    }
    # nothing heard: the item is truncated to nothing, so the model forgets it
    assert codec.encode_interrupt("item_A", 0)[0]["audio_end_ms"] == 0
    assert codec.encode_interrupt("item_A", 42.7)[0]["audio_end_ms"] == 42
    assert codec.encode_interrupt("item_never_heard_of", 42.7) == []


def test_client_interrupt_cancels_active_reply_and_swallows_the_race_error() -> None:
    codec = OpenAICodec()
    codec.initial_frames(SessionConfig(vad=Vad(mode="manual")))
    feed(codec, load("openai_barge_in.json")[:3])
    frames = check_client(codec.encode_interrupt(None, 60))
    assert frames[0] == {"type": "response.cancel", "response_id": "resp_B"}
    assert frames[1]["audio_end_ms"] == 60
    race = {
        "type": "error",
        "event_id": "e",
        "error": {
            "type": "invalid_request_error",
            "code": "response_cancel_not_active",
            "message": "Cancellation failed: no active response found",
        },
    }
    assert codec.decode(json.dumps(race), 1.0) == []
    # without a cancel of ours in flight, the same error is reported
    assert kinds(codec.decode(json.dumps(race), 2.0)) == ["Error"]


def test_speech_started_without_active_reply_is_not_an_interruption() -> None:
    out = feed(OpenAICodec(), load("openai_audio_turn.json")[:2])
    assert kinds(out) == ["SessionStarted", "SpeechStarted"]


def test_cancelled_reply_with_pending_calls_reports_cancellation() -> None:
    codec = OpenAICodec()
    frames = load("openai_function_call.json")[:4]
    frames.append(
        {
            "type": "response.done",
            "event_id": "e",
            "response": {"id": "resp_F", "status": "cancelled", "status_details": {}},
        }
    )
    out = feed(codec, frames)
    assert kinds(out)[-3:] == ["ToolCallCancelled", "GenerationComplete", "TurnComplete"]
    cancelled = out[-3]
    assert isinstance(cancelled, ev.ToolCallCancelled)
    assert cancelled.call_ids == ("call_9Q9eysr6LstYMEx6",)


def test_errors_and_fatality() -> None:
    out = feed(OpenAICodec(), load("openai_errors.json"))
    assert all(isinstance(e, ev.Error) for e in out)
    errors = [e for e in out if isinstance(e, ev.Error)]
    assert [(e.code, e.fatal) for e in errors] == [
        ("invalid_value", False),
        ("session_expired", True),
        ("input_audio_buffer_commit_empty", False),
    ]
    assert errors[0].param == "type"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        '{"no_type": 1}',
        '{"type": "response.output_audio.delta", "delta": "!!notbase64!!", "item_id": "i"}',
        '{"type": "response.function_call_arguments.done"}',
    ],
)
def test_malformed_frames_become_error_events(frame: str | bytes) -> None:
    (err,) = OpenAICodec().decode(frame, 3.0)
    assert isinstance(err, ev.Error) and not err.fatal and err.code == "malformed_frame"


def test_unknown_event_types_are_ignored() -> None:
    assert OpenAICodec().decode('{"type": "response.content_part.added", "item_id": "x"}', 0) == []


def test_text_commit_create_audio_frames_validate() -> None:
    codec = OpenAICodec()
    frames = check_client(
        [
            *codec.encode_text("hello"),
            *codec.encode_audio(b"\x00\x01" * 480),
            *codec.encode_commit(),
            *codec.encode_create_response(),
        ]
    )
    assert [f["type"] for f in frames] == [
        "conversation.item.create",
        "response.create",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "response.create",
    ]
    assert base64.b64decode(frames[2]["audio"]) == b"\x00\x01" * 480


def test_history_replay_frames_in_order() -> None:
    items = [
        UserText("weather in Oslo?"),
        ToolCallRecord("c1", "get_weather", '{"city":"Oslo"}'),
        ToolResultRecord("c1", "get_weather", '{"temp_c": 3}'),
        AssistantText("It is 3 degrees.", interrupted=True),
        UserText("thanks", spoken=True),
    ]
    frames = check_client(OpenAICodec().encode_history(items))
    assert all(f["type"] == "conversation.item.create" for f in frames)
    assert [f["item"]["type"] for f in frames] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert frames[3]["item"]["content"] == [{"type": "output_text", "text": "It is 3 degrees."}]


def test_decode_close() -> None:
    codec = make_codec("openai")
    assert kinds(codec.decode_close(1000, "", 0, True)) == ["Closed"]
    out = codec.decode_close(4000, "beta", 0, False)
    assert kinds(out) == ["Error", "Closed"]
    assert isinstance(out[0], ev.Error) and out[0].fatal


def test_frames_captured_from_the_emulator() -> None:
    out = feed(OpenAICodec(), load("openai_emulator_tool_turn.json"))
    assert not [e for e in out if isinstance(e, ev.Error)]
    assert out[0].kind == "SessionStarted"
    (call,) = [e for e in out if isinstance(e, ev.ToolCall)]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    done = [e for e in out if isinstance(e, ev.TurnComplete)]
    assert [(d.status, d.reason) for d in done] == [
        ("completed", "tool_calls"),
        ("completed", None),
    ]
    assert [e.text for e in out if isinstance(e, ev.OutputTranscript) and e.final]


# ---------------------------------------------------------------------------------------------
# extra query parameters, the close table, late tool results
# ---------------------------------------------------------------------------------------------


def test_extra_query_is_appended_encoded_and_cannot_replace_the_model() -> None:
    codec = OpenAICodec("gpt-realtime")
    req = codec.connect_request(
        api_key="k", base_url="ws://127.0.0.1:9", query={"rtl_fault": "drop_after_frames:40,x:1"}
    )
    assert req.url == (
        "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime&rtl_fault=drop_after_frames%3A40%2Cx%3A1"
    )
    assert codec.connect_request(api_key="k", query={}).url.endswith("?model=gpt-realtime")
    for key in ("model", "MODEL", "api_key", "key", "access_token", "Authorization"):
        with pytest.raises(ValueError, match=repr(key)) as info:
            codec.connect_request(api_key="k", query={key: "sk-sneaky-value"})
        assert "sneaky" not in str(info.value)  # the value may be a secret: never echoed


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1001, False),
        (1005, False),
        (1006, False),
        (1011, False),
        (1012, False),
        (1013, False),
        (1014, False),
        (1015, False),
        (None, False),
        (1004, False),
        (1002, True),
        (1003, True),
        (1007, True),
        (1008, True),
        (1009, True),
        (1010, True),
        (3000, True),
        (4000, True),
        (4999, True),
    ],
)
def test_decode_close_table(code: int | None, expected: bool) -> None:
    out = OpenAICodec().decode_close(code, "why", 2.0, False)
    assert kinds(out) == ["Error", "Closed"]
    err, closed = out
    assert isinstance(err, ev.Error) and isinstance(closed, ev.Closed)
    assert (err.fatal, err.code, err.message, closed.code) == (expected, str(code), "why", code)


def test_decode_close_normal_and_expected_closes_are_not_errors() -> None:
    assert kinds(OpenAICodec().decode_close(1000, "", 0, False)) == ["Closed"]
    assert kinds(OpenAICodec().decode_close(1011, "", 0, True)) == ["Closed"]
    (err, _) = OpenAICodec().decode_close(1006, "", 0, False)
    assert isinstance(err, ev.Error) and err.message == "connection closed (1006)"


def test_late_tool_result_is_an_output_item_and_one_deferred_response_create() -> None:
    codec = OpenAICodec()
    idle = check_client(codec.encode_late_tool_results([ToolResult("c1", {"temp_c": 21})]))
    assert [f["type"] for f in idle] == ["conversation.item.create", "response.create"]
    assert idle[0]["item"] == {
        "type": "function_call_output",
        "call_id": "c1",
        "output": '{"temp_c": 21}',
    }
    # during a reply: items and the one response.create all wait for response.done, so the
    # results land after the reply's own message in the server's conversation
    codec.decode(json.dumps({"type": "response.created", "response": {"id": "r1"}}), 0)
    assert codec.encode_late_tool_results([ToolResult("c2", "done")]) == []
    assert codec.encode_late_tool_results([ToolResult("c3", "oops", is_error=True)]) == []
    assert codec.take_outgoing() == []
    done = {"type": "response.done", "response": {"id": "r1", "status": "completed"}}
    codec.decode(json.dumps(done), 1)
    held = check_client(codec.take_outgoing())
    assert [f["type"] for f in held] == ["conversation.item.create"] * 2 + ["response.create"]
    assert [f["item"]["output"] for f in held[:2]] == ["done", '{"error": "oops"}']
    assert codec.take_outgoing() == []  # once
    assert codec.encode_late_tool_results([]) == []


# ------------------------------------------------------------------------------------------
# pictures, telephone audio, the remaining verbs (recorded: tests/frames/openai_features.json)
# ------------------------------------------------------------------------------------------


def test_telephone_formats_are_declared_and_g711_output_decoded() -> None:
    from realtimelab import g711

    codec = OpenAICodec()
    (frame,) = check_client(
        codec.initial_frames(SessionConfig(input_format="pcmu", output_format="pcma"))
    )
    audio = frame["session"]["audio"]
    assert audio["input"]["format"] == {"type": "audio/pcmu"}
    assert audio["output"]["format"] == {"type": "audio/pcma"}
    wire = bytes(range(256)) + b"\x55" * 144  # 50 ms of A-law, an even count by chance only
    delta = {
        "type": "response.output_audio.delta",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(wire[:399]).decode(),  # odd: fine for G.711
        "event_id": "e",
    }
    (chunk,) = codec.decode(delta, 0.0)
    assert isinstance(chunk, ev.AudioChunk)
    assert (chunk.rate, chunk.encoding, chunk.g711) == (8000, "pcma", wire[:399])
    assert chunk.pcm == g711.decode(wire[:399], "pcma")
    assert codec.received_ms("i") == pytest.approx(399 / 8)  # truncation counts G.711 ms


def test_pictures_and_item_verbs_are_valid_client_events() -> None:
    codec = OpenAICodec()
    frames = check_client(
        [
            *codec.encode_image(b"\x89PNG\r\n\x1a\nrest", "image/png"),
            *codec.encode_delete_item("item_1"),
            *codec.encode_retrieve_item("item_2"),
            *codec.encode_clear_input(),
            *codec.encode_out_of_band_response(
                instructions="Classify.",
                input=[UserText("tell me a story"), UserImage("image/png", 2048)],
                metadata={"purpose": "classification"},
                output="text",
            ),
        ]
    )
    image, delete, retrieve, clear, oob = frames
    (part,) = image["item"]["content"]
    assert part["type"] == "input_image"
    assert (
        part["image_url"]
        == "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode()
    )
    assert delete["item_id"] == "item_1" and delete["event_id"] != retrieve["event_id"]
    assert clear == {"type": "input_audio_buffer.clear"}
    response = oob["response"]
    assert response["conversation"] == "none" and response["output_modalities"] == ["text"]
    assert response["metadata"] == {"purpose": "classification"}
    assert [i["content"][0]["text"] for i in response["input"]] == [
        "tell me a story",
        image_placeholder(UserImage("image/png", 2048)),
    ]
    with pytest.raises(ValueError, match="16 keys"):
        codec.encode_out_of_band_response(
            instructions=None, input=None, metadata={"k": "v" * 600}, output="text"
        )


def test_an_error_answering_an_item_verb_names_the_item() -> None:
    codec = OpenAICodec()
    (frame,) = codec.encode_retrieve_item("item_gone")
    error = {
        "type": "error",
        "event_id": "e1",
        "error": {
            "type": "invalid_request_error",
            "code": "item_not_found",
            "message": "Item with item_id 'item_gone' not found.",
            "param": "item_id",
            "event_id": frame["event_id"],
        },
    }
    SERVER.validate_python(error)
    (event,) = codec.decode(error, 0.0)
    assert isinstance(event, ev.Error) and event.item_id == "item_gone"
    (again,) = codec.decode(error, 0.0)  # answered once: a repeat names no item
    assert isinstance(again, ev.Error) and again.item_id is None


def test_transcription_sessions_connect_with_the_intent_and_their_own_session() -> None:
    codec = OpenAICodec()
    url = codec.connect_request(api_key="sk-x", transcription=True).url
    assert url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2&intent=transcription"
    (frame,) = check_client(
        codec.initial_frames(SessionConfig(mode="transcription", input_format="pcmu"))
    )
    session = frame["session"]
    assert session["type"] == "transcription" and "output_modalities" not in session
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["input"]["transcription"]["model"]


def test_recorded_features_decode_to_unified_events() -> None:
    codec = OpenAICodec()
    codec.initial_frames(SessionConfig())  # PCM16 both ways (the G.711 frames come last)
    frames = load("openai_features.json")
    phone = next(i for i, f in enumerate(frames) if f["type"] == "session.updated")
    out = feed(codec, frames[:phone])
    # pictures: echoed with their part type, billed per modality with cache details
    image_item = next(e for e in out if isinstance(e, ev.ItemAdded) and "input_image" in e.parts)
    assert image_item.role == "user"
    usage = [e.usage for e in out if isinstance(e, ev.GenerationComplete) and e.usage]
    assert usage[0] is not None and usage[0].input_image_tokens > 0
    # out-of-band answers: whole, with their metadata, never as reply events
    oob = [e for e in out if isinstance(e, ev.OutOfBandResponse)]
    assert [o.metadata for o in oob] == [{"purpose": "classification"}, {"purpose": "spoken"}]
    assert oob[0].text and not oob[0].pcm and oob[1].pcm and oob[1].rate == 24000
    assert all(o.usage is not None for o in oob)
    oob_ids = {o.response_id for o in oob}
    assert not any(
        isinstance(e, ev.ResponseStarted | ev.TurnComplete | ev.AudioChunk)
        and e.response_id in oob_ids
        for e in out
    )
    # items: retrieved (text, then user audio), deleted, cleared
    retrieved = [e for e in out if isinstance(e, ev.ItemRetrieved)]
    assert retrieved[0].text == "hello there" and retrieved[0].pcm == b""
    assert retrieved[-1].pcm and retrieved[-1].rate == 24000 and retrieved[-1].role == "user"
    assert any(isinstance(e, ev.ItemDeleted) for e in out)
    assert any(isinstance(e, ev.InputCleared) for e in out)
    errors = [e for e in out if isinstance(e, ev.Error)]
    assert {e.code for e in errors} == {"item_not_found", "mcp_list_tools_failed"}
    assert [e.status for e in out if isinstance(e, ev.McpListTools)] == ["in_progress", "failed"]
    # a transcription session's words, with what the transcription model billed
    final = [e for e in out if isinstance(e, ev.InputTranscript) and e.final]
    assert final[-1].usage is not None and final[-1].usage.input_audio_tokens > 0
    # telephone output: the session.updated names the format, the deltas are G.711
    g711_codec = OpenAICodec()
    g711_codec.initial_frames(SessionConfig(output_format="pcmu"))
    chunks = [e for e in feed(g711_codec, frames[phone:]) if isinstance(e, ev.AudioChunk)]
    assert chunks and all(c.rate == 8000 and c.encoding == "pcmu" and c.g711 for c in chunks)


def test_history_replays_a_picture_as_its_placeholder() -> None:
    (frame,) = check_client(OpenAICodec().encode_history([UserImage("image/jpeg", 40_000)]))
    assert frame["item"]["content"] == [
        {"type": "input_text", "text": image_placeholder(UserImage("image/jpeg", 40_000))}
    ]
