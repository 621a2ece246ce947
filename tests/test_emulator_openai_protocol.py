"""The OpenAI dialect's sans-IO protocol, driven by feeding dicts (no sockets, no threads)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from support.openai_protocol import append, feed, make_proto, only_error, sent, types, update

from realtimelab.emulator.dialects.openai.protocol import (
    Action,
    CancelResponse,
    Close,
    Hear,
    RealtimeProtocol,
    StartResponse,
)
from realtimelab.emulator.engine import Heard, OutputPiece
from realtimelab.emulator.model import AssistantMessage, FunctionResult, PlannedCall, UserMessage


def test_session_created_is_the_full_default_session() -> None:
    proto = make_proto()
    (event,) = sent(proto.open())
    session = event["session"]
    assert event["type"] == "session.created" and event["event_id"].startswith("event_")
    assert session["object"] == "realtime.session" and session["id"] == "sess_test"
    assert session["expires_at"] == 1000 + 3600
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "alloy",
        "speed": 1.0,
    }


def test_session_update_merges_and_reports_full_config() -> None:
    proto = make_proto()
    events = sent(
        feed(
            proto,
            {
                "type": "session.update",
                "event_id": "c1",
                "session": {
                    "type": "realtime",
                    "instructions": "Be brief.",
                    "audio": {
                        "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
                    },
                },
            },
        )
    )
    assert [e["type"] for e in events] == ["session.updated"]
    session = events[0]["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["output"]["voice"] == "alloy"  # untouched fields stay
    assert session["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert "c1" not in json.dumps(events[0])  # client event ids are echoed only in errors
    assert proto.input.vad_enabled


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        (
            {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
            },
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            {"type": "realtime", "audio": {"input": {"transcription": {"delay": "bogus"}}}},
            "invalid_value",
            "session.audio.input.transcription.delay",
        ),
        (
            {"type": "realtime", "output_modalities": ["audio", "text"]},
            "invalid_value",
            "session.output_modalities",
        ),
        ({"type": "realtime", "colour": "blue"}, "unknown_parameter", "session.colour"),
        ({"instructions": "x"}, "missing_required_parameter", "session.type"),
    ],
)
def test_session_update_errors_name_the_param(
    session: dict[str, Any], code: str, param: str
) -> None:
    proto = make_proto()
    error = only_error(
        feed(proto, {"type": "session.update", "event_id": "evt_9", "session": session})
    )
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "evt_9")


def test_beta_shaped_update_is_fatal() -> None:
    proto = make_proto()
    actions = feed(
        proto,
        {
            "type": "session.update",
            "session": {"modalities": ["text"], "input_audio_format": "pcm16"},
        },
    )
    assert only_error(actions[:1])["code"] == "beta_api_shape_disabled"
    assert actions[-1] == Close(4000, "beta_api_shape_disabled")


@pytest.mark.parametrize(
    ("frame", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        ({"type": "scooby.dooby.doo"}, "invalid_value", "type"),
        ({"type": "input_audio_buffer.append", "audio": "***"}, "invalid_value", "audio"),
        ({"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio"),
        ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty", None),
        ({"type": "response.cancel"}, "response_cancel_not_active", None),
        ({"type": "conversation.item.retrieve", "item_id": "item_x"}, "item_not_found", "item_id"),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "robot", "content": []},
            },
            "invalid_value",
            "item.role",
        ),
        ({"type": "output_audio_buffer.clear"}, "invalid_value", "type"),
    ],
)
def test_bad_client_events_get_errors_and_the_session_continues(
    frame: dict[str, Any] | str, code: str, param: str | None
) -> None:
    proto = make_proto()
    error = only_error(feed(proto, frame))
    assert (error["code"], error["param"]) == (code, param)
    assert types(feed(proto, {"type": "input_audio_buffer.clear"})) == [
        "input_audio_buffer.cleared"
    ]


def test_commit_minimum_is_100ms_and_odd_bytes_are_tolerated() -> None:
    proto = make_proto()
    append(proto, bytes(4799))
    error = only_error(feed(proto, {"type": "input_audio_buffer.commit", "event_id": "commit_1"}))
    assert error["message"].endswith("buffer only has 99.96ms of audio.")
    assert error["event_id"] == "commit_1"
    append(proto, b"\0")
    actions = feed(proto, {"type": "input_audio_buffer.commit"})
    assert types(actions) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    hear = actions[-1]
    assert isinstance(hear, Hear) and hear.turn.duration_ms == 100
    assert sent(actions)[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]


def user_text(proto: RealtimeProtocol, text: str, **extra: Any) -> list[dict[str, Any]]:
    return sent(
        feed(
            proto,
            {
                "type": "conversation.item.create",
                **extra,
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            },
        )
    )


def test_items_form_a_linked_list() -> None:
    proto = make_proto()
    first = user_text(proto, "one")
    second = user_text(proto, "two")
    assert first[0]["previous_item_id"] is None
    assert second[0]["previous_item_id"] == first[0]["item"]["id"]
    zeroth = user_text(proto, "zero", previous_item_id="root")
    assert zeroth[0]["previous_item_id"] is None
    assert [i.text for i in proto.conversation.items()] == ["zero", "one", "two"]  # type: ignore[union-attr]
    deleted = sent(
        feed(proto, {"type": "conversation.item.delete", "item_id": first[0]["item"]["id"]})
    )
    assert deleted[0]["type"] == "conversation.item.deleted"
    assert len(proto.conversation) == 2


def run_text_response(proto: RealtimeProtocol, text: str) -> tuple[str, list[dict[str, Any]]]:
    actions = feed(proto, {"type": "response.create"})
    start = actions[-1]
    assert isinstance(start, StartResponse)
    rid = start.response_id
    events = sent(actions)
    proto.plan(rid)
    events += sent(proto.open_message(rid))
    for word in text.split(" "):
        events += sent(proto.piece(rid, OutputPiece("text", 0, text=word + " ")))
    events += sent(proto.finish_response(rid))
    return rid, events


def test_text_response_sequence_matches_reference_5a() -> None:
    proto = make_proto()
    update(proto, output_modalities=["text"])
    user_text(proto, "Hi")
    _, events = run_text_response(proto, "Hello you")
    assert [e["type"] for e in events] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    done = events[-2]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_text", "text": "Hello you "}]
    assert done["usage"]["output_tokens"] == 3  # ceil(10 chars / 4)
    assert proto.active_id is None
    assert proto.conversation.items()[-1] == AssistantMessage("Hello you")


def test_one_active_response_per_conversation_but_out_of_band_is_allowed() -> None:
    proto = make_proto()
    feed(proto, {"type": "response.create"})
    error = only_error(feed(proto, {"type": "response.create"}))
    assert error["code"] == "conversation_already_has_active_response"
    assert proto.active_id is not None and proto.active_id in error["message"]
    actions = feed(
        proto,
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "output_modalities": ["text"],
                "instructions": "Summarise.",
                "metadata": {"purpose": "summary"},
            },
        },
    )
    created = sent(actions)[0]["response"]
    assert created["conversation_id"] is None and created["metadata"] == {"purpose": "summary"}
    rid = actions[-1].response_id  # type: ignore[union-attr]
    assert proto.plan(rid).instructions == "Summarise."


def test_client_cancel_closes_the_partial_item_as_incomplete() -> None:
    proto = make_proto()
    actions = feed(proto, {"type": "response.create"})
    rid = actions[-1].response_id  # type: ignore[union-attr]
    proto.plan(rid)
    sent(proto.open_message(rid))
    sent(proto.piece(rid, OutputPiece("transcript", 0, text="Hello ")))
    sent(proto.piece(rid, OutputPiece("audio", 0, audio=bytes(4800), audio_ms=100)))
    cancel = feed(proto, {"type": "response.cancel"})
    assert cancel == [CancelResponse(rid, "client_cancelled")]
    events = sent(proto.response_cancelled(rid, "client_cancelled"))
    assert [e["type"] for e in events] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    assert events[3]["item"]["status"] == "incomplete"
    assert events[5]["response"]["status_details"] == {
        "type": "cancelled",
        "reason": "client_cancelled",
    }
    assert (
        only_error(feed(proto, {"type": "response.cancel"}))["code"] == "response_cancel_not_active"
    )


def test_truncate_checks_bounds_and_drops_unheard_words() -> None:
    proto = make_proto()
    rid = feed(proto, {"type": "response.create"})[-1].response_id  # type: ignore[union-attr]
    proto.plan(rid)
    item_id = sent(proto.open_message(rid))[0]["item"]["id"]
    for at, word in ((0, "One "), (500, "two "), (1000, "three")):
        proto.piece(rid, OutputPiece("transcript", at, text=word))
        proto.piece(rid, OutputPiece("audio", at, audio=bytes(24000), audio_ms=500))
    sent(proto.finish_response(rid))
    error = only_error(
        feed(
            proto,
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 2000,
            },
        )
    )
    assert (error["code"], error["param"]) == ("invalid_value", "audio_end_ms")
    events = sent(
        feed(
            proto,
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 700,
            },
        )
    )
    assert events[0] == {
        **events[0],
        "type": "conversation.item.truncated",
        "audio_end_ms": 700,
        "item_id": item_id,
    }
    # the kept audio (700 ms) is what later turns re-read as input
    assert proto.conversation.get(item_id) == AssistantMessage(
        "One two", interrupted=True, audio_ms=700.0
    )
    retrieved = sent(feed(proto, {"type": "conversation.item.retrieve", "item_id": item_id}))
    assert retrieved[0]["item"]["content"][0]["transcript"] == "One two"


def test_function_call_events_and_result_folding() -> None:
    proto = make_proto()
    update(
        proto, tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    )
    rid = feed(proto, {"type": "response.create"})[-1].response_id  # type: ignore[union-attr]
    plan = proto.plan(rid)
    assert [t.name for t in plan.tools] == ["get_weather"]
    events = sent(proto.function_call(rid, PlannedCall("get_weather", {"city": "Oslo"})))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.output_item.added", "conversation.item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
    ]
    args_done = events[-3]
    assert args_done["name"] == "get_weather" and json.loads(args_done["arguments"]) == {
        "city": "Oslo"
    }
    assert (
        "".join(e["delta"] for e in events if e["type"].endswith("arguments.delta"))
        == args_done["arguments"]
    )
    sent(proto.finish_response(rid))
    user = sent(
        feed(
            proto,
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": args_done["call_id"],
                    "output": "21C",
                },
            },
        )
    )
    assert user[0]["item"]["type"] == "function_call_output"
    assert proto.conversation.items()[-1] == FunctionResult(
        args_done["call_id"], "get_weather", "21C"
    )


def test_heard_fills_the_user_item_and_emits_transcription_events() -> None:
    proto = make_proto()
    update(
        proto, audio={"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}}
    )
    append(proto, bytes(48000))
    hear = feed(proto, {"type": "input_audio_buffer.commit"})[-1]
    assert isinstance(hear, Hear)
    events = sent(proto.heard(hear.item_id, Heard("what time is it", True, 0.9)))
    assert [e["type"] for e in events][
        -1
    ] == "conversation.item.input_audio_transcription.completed"
    assert "".join(e["delta"] for e in events[:-1]) == "what time is it"
    assert proto.conversation.get(hear.item_id) == UserMessage("what time is it", audio_ms=1000)


def test_expiry_is_an_error_then_close() -> None:
    proto = make_proto()
    actions = proto.expire()
    error = only_error(actions[:1])
    assert error["code"] == "session_expired"
    assert error["message"] == "Your session hit the maximum duration of 60 minutes."
    assert actions[1] == Close(1000, "session expired")
    assert proto.receive('{"type": "response.create"}') == []  # nothing after expiry
    short = make_proto()
    short.max_session_s = 2
    assert "2 seconds" in only_error(short.expire()[:1])["message"]


def test_idle_timeout_triggers_a_commit_and_a_response() -> None:
    proto = make_proto()
    update(
        proto, audio={"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 500}}}
    )
    proto.input.arm_idle_timer()  # what finish_response does when the model stops talking
    actions = append(proto, bytes(48 * 800))
    kinds = types(actions)
    assert kinds == [
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
    ]
    timeout = sent(actions)[0]
    assert (timeout["audio_start_ms"], timeout["audio_end_ms"]) == (0, 500)
    assert timeout["item_id"] == sent(actions)[1]["item_id"]
    assert isinstance(actions[-1], StartResponse)


def test_speech_during_a_response_barges_in_only_when_asked() -> None:
    import math

    loud = b"".join(
        int(9000 * math.sin(i / 5)).to_bytes(2, "little", signed=True) for i in range(24 * 600)
    )
    for interrupt, expected in ((True, [CancelResponse]), (False, [])):
        proto = make_proto()
        update(
            proto,
            audio={
                "input": {
                    "turn_detection": {
                        "type": "server_vad",
                        "interrupt_response": interrupt,
                    }
                }
            },
        )
        rid = feed(proto, {"type": "response.create"})[-1].response_id  # type: ignore[union-attr]
        actions = append(proto, bytes(9600) + loud)
        assert types(actions) == ["input_audio_buffer.speech_started"]
        assert [type(a) for a in actions[1:]] == expected
        if interrupt:
            assert actions[1] == CancelResponse(rid, "turn_detected")
            assert proto.active_id is None


def test_transcription_intent_has_its_own_session_shape() -> None:
    proto = make_proto(intent="transcription")
    session = sent(proto.open())[0]["session"]
    assert session["type"] == "transcription"
    assert session["object"] == "realtime.transcription_session"
    assert only_error(feed(proto, {"type": "response.create"}))["param"] == "type"


def test_push_to_talk_buffer_is_capped_with_an_error() -> None:
    from realtimelab.emulator.dialects.openai.protocol import MAX_BUFFER_MS

    proto = make_proto()
    proto.open()
    update(proto, audio={"input": {"turn_detection": None}})
    chunk = bytes(4 * 1024 * 1024)  # ~87 s of 24 kHz PCM16
    for _ in range(3):
        assert sent(append(proto, chunk)) == []
    error = only_error(append(proto, chunk))
    assert (error["code"], error["param"]) == ("input_audio_buffer_full", "audio")
    assert proto.input.buffered_ms <= MAX_BUFFER_MS
    # commit or clear, and the buffer takes audio again
    assert "input_audio_buffer.cleared" in types(feed(proto, {"type": "input_audio_buffer.clear"}))
    assert sent(append(proto, chunk)) == []


def test_with_server_vad_silence_is_not_kept_forever() -> None:
    from realtimelab.emulator.dialects.openai.protocol import KEEP_SILENCE_MS

    proto = make_proto()
    proto.open()
    for _ in range(60):
        append(proto, bytes(48000))  # a second of silence
    assert proto.input.received_ms == 60_000
    assert proto.input.buffered_ms <= KEEP_SILENCE_MS + 1000


def test_the_model_cannot_change_by_session_update() -> None:
    proto = make_proto()
    proto.open()
    same = update(proto, model="gpt-realtime-2", instructions="x")
    assert types(same) == ["session.updated"]
    error = only_error(update(proto, model="gpt-realtime-2.1", instructions="y"))
    assert (error["code"], error["param"]) == ("invalid_value", "session.model")
    assert proto.session["instructions"] == "x" and proto.session["model"] == "gpt-realtime-2"


def test_null_optional_fields_are_not_set_but_meaningful_nulls_clear() -> None:
    proto = make_proto()
    proto.open()
    (event,) = sent(
        update(
            proto,
            instructions=None,
            tools=None,
            tool_choice=None,
            tracing=None,
            audio={"input": {"turn_detection": None, "format": None}, "output": {"voice": None}},
        )
    )
    session = event["session"]
    assert session["instructions"] and session["tools"] == [] and session["tool_choice"] == "auto"
    assert session["audio"]["input"]["turn_detection"] is None  # null turns VAD off
    assert session["audio"]["output"]["voice"] == "alloy"


def test_unknown_nested_keys_are_refused_not_echoed() -> None:
    proto = make_proto()
    proto.open()
    error = only_error(update(proto, tools=[{"type": "function", "name": "f", "bogus": 1}]))
    assert (error["code"], error["param"]) == ("unknown_parameter", "session.tools[0].bogus")


def test_g711_formats_are_accepted_and_transcoded() -> None:
    from realtimelab import g711

    proto = make_proto()
    proto.open()
    (event,) = sent(
        update(
            proto,
            audio={
                "input": {"format": {"type": "audio/pcma"}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcmu"}},
            },
        )
    )
    assert event["session"]["audio"]["input"]["format"] == {"type": "audio/pcma"}
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 300 / 8000) * 8000).astype("<i2").tobytes()
    append(proto, g711.encode(tone, "pcma"))  # 1 s at 8 kHz
    assert 950 < proto.input.buffered_ms <= 1000  # held at 24 kHz (less the resampler's tail)


def _tone(ms: int) -> bytes:
    t = np.arange(24 * ms) / 24000
    return (np.sin(2 * np.pi * 220 * t) * 12000).astype("<i2").tobytes()


def _stream(proto: RealtimeProtocol, pcm: bytes) -> list[Action]:
    actions: list[Action] = []
    for i in range(0, len(pcm), 960):
        actions += append(proto, pcm[i : i + 960])
    return actions


def _semantic(eagerness: str = "auto") -> RealtimeProtocol:
    proto = make_proto()
    proto.open()
    update(
        proto, audio={"input": {"turn_detection": {"type": "semantic_vad", "eagerness": eagerness}}}
    )
    return proto


def test_semantic_vad_waits_after_a_filler_and_keeps_one_turn() -> None:
    from realtimelab.emulator.dialects.openai.protocol import Judge

    proto = _semantic()
    actions = _stream(proto, _tone(800) + bytes(48 * 1200))  # "what is the weather umm" ...
    (judge,) = [a for a in actions if isinstance(a, Judge)]
    assert types(actions) == ["input_audio_buffer.speech_started"]
    # the ears could not place the end of it: not finished, keep listening
    assert sent(proto.judged(judge.turn, Heard("what is the weather", False, 0.0))) == []
    actions = _stream(proto, _tone(600) + bytes(48 * 1000))  # ... "in paris"
    assert "input_audio_buffer.speech_started" not in types(actions)  # the same turn goes on
    (judge2,) = [a for a in actions if isinstance(a, Judge)]
    assert judge2.turn.start_ms == judge.turn.start_ms and judge2.turn.duration_ms > 2500
    done = proto.judged(judge2.turn, Heard("what is the weather in paris", True, 0.0))
    assert types(done)[:3] == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
    ]
    assert any(isinstance(a, StartResponse) for a in done)


def test_semantic_vad_ends_a_finished_phrase_at_once_and_a_pause_at_the_maximum() -> None:
    from realtimelab.emulator.dialects.openai.protocol import Judge

    proto = _semantic("high")
    (judge,) = [a for a in _stream(proto, _tone(600) + bytes(48 * 600)) if isinstance(a, Judge)]
    assert "input_audio_buffer.committed" in types(
        proto.judged(judge.turn, Heard("hello there", True, 0.0))
    )
    proto = _semantic("high")
    (judge,) = [a for a in _stream(proto, _tone(600) + bytes(48 * 600)) if isinstance(a, Judge)]
    assert (
        sent(proto.judged(judge.turn, Heard("tell me about", True, 0.0))) == []
    )  # trailing "about"
    later = _stream(proto, bytes(48 * 2500))  # high: at most 2 s after the end of speech
    assert "input_audio_buffer.committed" in types(later)
