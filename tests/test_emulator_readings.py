"""The emulator's own readings of each wire format (not the client's), and the rules that come
with them: Gemini schemas and VAD sensitivities, OpenAI semantic VAD, voices and models."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from support.conformance.openai import validate_server_event
from support.openai_protocol import make_proto

from realtimelab.emulator.dialects.gemini.schema import (
    SchemaRejected,
    declaration_parameters,
    to_json_schema,
)
from realtimelab.emulator.dialects.gemini.setup import VadSettings, parse_setup
from realtimelab.emulator.dialects.openai import config as cfg
from realtimelab.emulator.dialects.openai.protocol import Close, RealtimeProtocol, Send
from realtimelab.emulator.engine import OutputPiece
from realtimelab.vad import VadParams

# ------------------------------------------------------------------------------------------
# Gemini Schema → JSON Schema, read the way Google documents `Schema`
# ------------------------------------------------------------------------------------------


def test_gemini_schema_reading() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "b_unit": {"type": "STRING", "format": "enum", "enum": ["C", "F"]},
            "a_city": {"type": "string", "nullable": True, "description": "where"},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 7, "example": 3},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "5"},
            "level": {"type": "INTEGER", "enum": ["1", "2"]},
        },
        "propertyOrdering": ["a_city", "b_unit"],
        "required": ["a_city"],
    }
    out = to_json_schema(schema)
    assert list(out["properties"]) == ["a_city", "b_unit", "days", "tags", "level"]
    assert out["properties"]["a_city"] == {"description": "where", "type": ["string", "null"]}
    assert out["properties"]["b_unit"] == {"enum": ["C", "F"], "type": "string"}
    assert out["properties"]["days"] == {
        "minimum": 1,
        "maximum": 7,
        "examples": [3],
        "type": "integer",
    }
    assert out["properties"]["tags"]["maxItems"] == 5  # int64 arrives as a JSON string
    assert out["properties"]["level"]["enum"] == [1, 2]
    assert out["required"] == ["a_city"] and out["type"] == "object"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "STRIN"},
        {"type": "OBJECT", "additionalPropertiez": False},
        {"type": "ARRAY", "maxItems": "many"},
        {"type": "OBJECT", "properties": {"x": "string"}},
        {"type": "OBJECT", "required": "x"},
        {"anyOf": []},
    ],
)
def test_gemini_schema_rejects_what_the_server_would(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaRejected):
        to_json_schema(schema)


def test_declaration_parameters_forms() -> None:
    assert declaration_parameters({"name": "f"}) == {"type": "object", "properties": {}}
    plain = {"type": "object", "properties": {"q": {"type": "string"}}}
    assert declaration_parameters({"name": "f", "parametersJsonSchema": plain}) == plain
    with pytest.raises(SchemaRejected, match="exclusive"):
        declaration_parameters(
            {"name": "f", "parameters": {"type": "OBJECT"}, "parametersJsonSchema": plain}
        )
    with pytest.raises(Exception, match="1007"):  # surfaced as a 1007 setup rejection
        parse_setup(
            {
                "model": "models/gemini-3.8-live",
                "tools": [
                    {"functionDeclarations": [{"name": "f", "parameters": {"type": "BOGUS"}}]}
                ],
            },
            api_version="v1beta",
        )


def test_gemini_vad_sensitivities_are_the_emulators_table() -> None:
    assert VadSettings().params() == VadParams(
        threshold=0.3, silence_duration_ms=400, min_speech_ms=40
    )
    low = VadSettings(
        start_sensitivity="START_SENSITIVITY_LOW", end_sensitivity="END_SENSITIVITY_LOW"
    )
    assert low.params() == VadParams(threshold=0.7, silence_duration_ms=1000, min_speech_ms=160)
    explicit = VadSettings(prefix_padding_ms=20, silence_duration_ms=250)
    assert explicit.params() == VadParams(threshold=0.3, silence_duration_ms=250, min_speech_ms=20)
    assert VadSettings(disabled=True).params() is None


def test_gemini_setup_reads_model_facts_from_the_catalogue() -> None:
    three_one = parse_setup(
        {
            "model": "models/gemini-3.1-flash-live-preview",
            "tools": [{"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING"}]}],
        },
        api_version="v1beta",
    )
    assert three_one.tools[0].behavior == "blocking"  # catalogue: tools="sync"
    assert not three_one.context_updates
    three_eight = parse_setup(
        {"model": "models/gemini-3.8-live", "tools": [{"functionDeclarations": [{"name": "f"}]}]},
        api_version="v1beta",
    )
    assert three_eight.tools[0].behavior == "non_blocking"  # catalogue: async_default
    assert three_eight.context_updates


# ------------------------------------------------------------------------------------------
# OpenAI: semantic VAD, voices, models
# ------------------------------------------------------------------------------------------


def test_semantic_vad_eagerness_table() -> None:
    session = cfg.default_session(session_id="s", model="gpt-realtime-2", expires_at=0)
    for eagerness, silence in (("high", 250), ("auto", 700), ("low", 1500)):
        session["audio"]["input"]["turn_detection"] = {
            "type": "semantic_vad",
            "eagerness": eagerness,
        }
        assert cfg.vad_params(session) == VadParams(silence_duration_ms=silence)


def proto(model: str = "gpt-realtime-2", day: dt.date | None = None) -> RealtimeProtocol:
    return make_proto(seed=3, session_id="sess_x", model=model, created_at=0.0, model_day=day)


def events(actions: list[Any]) -> list[dict[str, Any]]:
    out = [a.event for a in actions if isinstance(a, Send)]
    for event in out:
        validate_server_event(event)
    return out


def feed(p: RealtimeProtocol, frame: dict[str, Any]) -> list[dict[str, Any]]:
    return events(p.receive(json.dumps(frame)))


def voice_update(voice: Any) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"output": {"voice": voice}}},
    }


def test_voices_unknown_ones_are_invalid_value() -> None:
    p = proto()
    p.open()
    (err,) = feed(p, voice_update("onyx"))  # a TTS-only voice
    assert err["type"] == "error"
    assert (err["error"]["code"], err["error"]["param"]) == (
        "invalid_value",
        "session.audio.output.voice",
    )
    assert feed(p, voice_update("marin"))[0]["session"]["audio"]["output"]["voice"] == "marin"
    custom = feed(p, voice_update({"id": "voice_1234"}))[0]["session"]["audio"]["output"]
    assert custom["voice"] == {"id": "voice_1234"}
    assert feed(p, voice_update({"id": "1234"}))[0]["error"]["code"] == "invalid_value"


def test_voice_is_locked_once_the_model_has_answered_with_audio() -> None:
    p = proto()
    p.open()
    assert feed(p, voice_update("coral"))[0]["type"] == "session.updated"
    actions = p.receive(json.dumps({"type": "response.create"}))
    rid = actions[-1].response_id
    p.plan(rid)
    p.open_message(rid)
    p.piece(rid, OutputPiece("audio", 0, audio=bytes(960), audio_ms=20))
    p.finish_response(rid)
    for voice in ("ash", "coral"):  # a change, and even the same voice again
        (err,) = feed(p, voice_update(voice))
        assert err["error"] == {
            "type": "invalid_request_error",
            "code": "cannot_update_voice",
            "message": "Cannot update a conversation's voice if assistant audio is present.",
            "param": None,
            "event_id": None,
        }
    ok = feed(
        p, {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
    )
    assert ok[0]["type"] == "session.updated"  # other fields still update
    (err,) = feed(
        p, {"type": "response.create", "response": {"audio": {"output": {"voice": "ash"}}}}
    )
    assert err["error"]["code"] == "cannot_update_voice"


@pytest.mark.parametrize(
    "model", ["gpt-5-realtime-turbo", "gpt-realtime-banana", "gpt-4o-audio-preview"]
)
def test_unknown_models_are_refused_in_band(model: str) -> None:
    p = proto(model)
    actions = p.open()
    (err,) = events(actions)
    assert err["error"]["code"] == "model_not_found"
    assert err["error"]["message"] == (
        f"The model `{model}` does not exist or you do not have access to it."
    )
    assert actions[-1] == Close(1008, "model_not_found")
    assert p.receive('{"type": "response.create"}') == []


def test_models_are_judged_on_the_emulators_day() -> None:
    assert events(proto("gpt-realtime-2-2026-05-07").open())[0]["type"] == "session.created"
    assert (
        events(proto("gpt-realtime", dt.date(2027, 1, 19)).open())[0]["type"] == "session.created"
    )
    refused = events(proto("gpt-realtime", dt.date(2027, 1, 20)).open())[0]
    assert refused["error"]["code"] == "model_not_found"  # shut down on 2027-01-20
    assert cfg.model_refusal("gpt-realtime-2", dt.date(2030, 1, 1)) is None
