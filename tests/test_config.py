"""SessionConfig / Vad validation; VAD wire pieces checked against the official SDK types."""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import pytest
from google.genai import types as gtypes
from openai.types.realtime.realtime_audio_input_turn_detection import (
    RealtimeAudioInputTurnDetection,
    SemanticVad,
    ServerVad,
)

from realtimelab import vad as emulator_vad
from realtimelab.config import (
    GEMINI_UNSUPPORTED_VAD_FIELDS,
    SENSITIVITY_TABLE,
    ConfigError,
    SessionConfig,
    Vad,
    deep_merge,
    gemini_realtime_input_config,
    gemini_unsupported_vad_fields,
    openai_turn_detection,
)
from realtimelab.schema import Tool

_TURN_DETECTION: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeAudioInputTurnDetection)


def get_time(tz: str) -> str:
    """Current time in a timezone."""
    return tz


# --- Vad -> OpenAI ------------------------------------------------------------------------------


def _openai_sdk(td: dict[str, Any]) -> Any:
    model = _TURN_DETECTION.validate_python(td)
    assert not model.model_extra, model.model_extra  # every key is a known SDK field
    return model


def test_openai_defaults_send_only_what_was_set() -> None:
    td = openai_turn_detection(Vad())
    assert td == {"type": "server_vad", "create_response": True, "interrupt_response": True}
    assert isinstance(_openai_sdk(td), ServerVad)


def test_openai_server_vad_full() -> None:
    v = Vad(
        threshold=0.42,
        sensitivity="low",
        prefix_padding_ms=200,
        silence_duration_ms=650,
        idle_timeout_ms=5000,
        create_response=False,
        interrupt_response=False,
    )
    td = openai_turn_detection(v)
    assert td == {
        "type": "server_vad",
        "threshold": 0.42,
        "prefix_padding_ms": 200,
        "silence_duration_ms": 650,
        "idle_timeout_ms": 5000,
        "create_response": False,
        "interrupt_response": False,
    }
    model = _openai_sdk(td)
    assert model.model_dump(exclude_none=True) == td


@pytest.mark.parametrize(
    ("sensitivity", "threshold"), [("high", 0.3), ("medium", 0.5), ("low", 0.7)]
)
def test_openai_sensitivity_maps_through_the_shared_table(
    sensitivity: Any, threshold: float
) -> None:
    td = openai_turn_detection(Vad(sensitivity=sensitivity))
    assert td is not None and td["threshold"] == threshold
    _openai_sdk(td)


def test_openai_semantic_and_manual() -> None:
    td = openai_turn_detection(Vad(mode="semantic", eagerness="high"))
    assert td == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert isinstance(_openai_sdk(td), SemanticVad)
    assert openai_turn_detection(Vad(mode="manual")) is None
    assert _TURN_DETECTION.validate_python(None) is None


def test_sensitivity_table_is_the_emulators() -> None:
    # One table, so the emulator's VAD hears "high" exactly as the codecs send it.
    assert SENSITIVITY_TABLE is emulator_vad.SENSITIVITY_TABLE


# --- Vad -> Gemini ------------------------------------------------------------------------------


def _gemini_sdk(cfg: dict[str, Any]) -> dict[str, Any]:
    model = gtypes.RealtimeInputConfig.model_validate(cfg)  # extra='forbid': no misnamed key
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def test_gemini_default_and_full_server_vad() -> None:
    cfg = gemini_realtime_input_config(Vad())
    assert cfg == {
        "automaticActivityDetection": {"disabled": False},
        "activityHandling": "START_OF_ACTIVITY_INTERRUPTS",
    }
    assert _gemini_sdk(cfg) == cfg
    cfg = gemini_realtime_input_config(
        Vad(
            sensitivity="low",
            prefix_padding_ms=20,
            silence_duration_ms=100,
            interrupt_response=False,
        )
    )
    assert cfg == {
        "automaticActivityDetection": {
            "disabled": False,
            "startOfSpeechSensitivity": SENSITIVITY_TABLE["low"]["gemini_start_sensitivity"],
            "endOfSpeechSensitivity": SENSITIVITY_TABLE["low"]["gemini_end_sensitivity"],
            "prefixPaddingMs": 20,
            "silenceDurationMs": 100,
        },
        "activityHandling": "NO_INTERRUPTION",
    }
    assert _gemini_sdk(cfg) == cfg


@pytest.mark.parametrize("sensitivity", ["low", "medium", "high"])
def test_gemini_sensitivities_are_valid_sdk_enums(sensitivity: Any) -> None:
    cfg = gemini_realtime_input_config(Vad(sensitivity=sensitivity))
    model = gtypes.RealtimeInputConfig.model_validate(cfg)
    aad = model.automatic_activity_detection
    assert aad is not None
    assert aad.start_of_speech_sensitivity == gtypes.StartSensitivity(
        SENSITIVITY_TABLE[sensitivity]["gemini_start_sensitivity"]
    )


def test_gemini_manual_disables_vad_but_keeps_interrupt_choice() -> None:
    cfg = gemini_realtime_input_config(Vad(mode="manual", interrupt_response=False))
    assert cfg == {
        "automaticActivityDetection": {"disabled": True},
        "activityHandling": "NO_INTERRUPTION",
    }
    _gemini_sdk(cfg)


@pytest.mark.parametrize(
    ("eagerness", "end", "silence"),
    [
        ("high", "END_SENSITIVITY_HIGH", 250),
        ("low", "END_SENSITIVITY_LOW", 1500),
        ("medium", None, 700),
        ("auto", None, 700),
        (None, None, 700),
    ],
)
def test_gemini_semantic_is_an_eagerness_approximation(
    eagerness: Any, end: str | None, silence: int
) -> None:
    cfg = gemini_realtime_input_config(Vad(mode="semantic", eagerness=eagerness))
    aad = cfg["automaticActivityDetection"]
    assert aad.get("endOfSpeechSensitivity") == end
    assert aad["silenceDurationMs"] == silence
    assert silence == emulator_vad.SEMANTIC_SILENCE_MS[eagerness or "auto"]
    _gemini_sdk(cfg)


def test_gemini_unsupported_fields_are_reported_not_dropped() -> None:
    assert gemini_unsupported_vad_fields(Vad()) == ()
    v = Vad(threshold=0.2, idle_timeout_ms=3000, create_response=False)
    assert gemini_unsupported_vad_fields(v) == GEMINI_UNSUPPORTED_VAD_FIELDS
    assert gemini_unsupported_vad_fields(Vad(mode="manual", create_response=False)) == ()


# --- Vad validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "auto"}, "Vad.mode must be one of"),
        ({"sensitivity": "max"}, "Vad.sensitivity"),
        ({"threshold": 1.5}, "Vad.threshold"),
        ({"threshold": True}, "Vad.threshold"),
        ({"prefix_padding_ms": -1}, "Vad.prefix_padding_ms"),
        ({"silence_duration_ms": 1.5}, "Vad.silence_duration_ms"),
        ({"idle_timeout_ms": -5}, "Vad.idle_timeout_ms"),
        ({"eagerness": "high"}, "Vad.eagerness applies only to mode='semantic'"),
        ({"mode": "semantic", "silence_duration_ms": 500}, "tuned with eagerness"),
        ({"mode": "semantic", "idle_timeout_ms": 500}, "Vad.idle_timeout_ms applies only"),
        ({"mode": "manual", "sensitivity": "high"}, "Vad.sensitivity applies only"),
        ({"create_response": 1}, "Vad.create_response"),
    ],
)
def test_vad_validation(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        Vad(**kwargs)


# --- SessionConfig ------------------------------------------------------------------------------


def test_defaults_are_valid_and_frozen() -> None:
    cfg = SessionConfig()
    assert cfg.vad == Vad() and cfg.tools == () and cfg.openai == {} and cfg.output == "audio"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.voice = "warm"  # type: ignore[misc]


def test_functions_in_tools_become_tools_and_replace_revalidates() -> None:
    explicit = Tool.from_schema("lookup", "Look up.", None)
    cfg = SessionConfig(tools=[get_time, explicit], tool_choice="required")  # type: ignore[arg-type]
    assert isinstance(cfg.tools, tuple)
    assert [t.name for t in cfg.tools] == ["get_time", "lookup"]
    assert cfg.tool("get_time").func is get_time
    with pytest.raises(KeyError, match="declared"):
        cfg.tool("nope")
    changed = cfg.replace(voice="warm", temperature=0.8)
    assert (changed.voice, changed.temperature, cfg.voice) == ("warm", 0.8, None)
    with pytest.raises(ConfigError, match="temperature"):
        cfg.replace(temperature=3)


def test_escape_hatches_are_copied() -> None:
    raw: dict[str, Any] = {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}
    cfg = SessionConfig(openai=raw)
    raw["audio"]["input"]["noise_reduction"] = None
    assert cfg.openai["audio"]["input"]["noise_reduction"] == {"type": "near_field"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"instructions": None}, "SessionConfig.instructions"),
        ({"voice": "nobody"}, "SessionConfig.voice 'nobody' is not a voice on any provider"),
        ({"voice": "kore"}, "did you mean 'Kore'"),
        ({"output": "video"}, "SessionConfig.output must be one of"),
        ({"vad": {"mode": "server"}}, "SessionConfig.vad must be a Vad"),
        ({"input_transcription": "yes"}, "SessionConfig.input_transcription"),
        ({"tools": get_time}, "must be a sequence"),
        ({"tools": [get_time, get_time]}, "two tools named 'get_time'"),
        ({"tools": [{"name": "x"}]}, r"tools\[0\] must be a Tool or a function"),
        ({"tools": [lambda x: x]}, r"tools\[0\]: tool '<lambda>'"),
        ({"tool_choice": "any"}, "SessionConfig.tool_choice must be one of"),
        ({"tool_choice": "required"}, "needs at least one tool"),
        ({"temperature": -0.1}, "SessionConfig.temperature"),
        ({"temperature": float("nan")}, "SessionConfig.temperature"),
        ({"max_output_tokens": 0}, "SessionConfig.max_output_tokens"),
        ({"max_output_tokens": True}, "SessionConfig.max_output_tokens"),
        ({"model": ""}, "SessionConfig.model"),
        ({"gemini": [("a", 1)]}, "SessionConfig.gemini must be a mapping"),
    ],
)
def test_session_config_validation_names_the_field(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        SessionConfig(**kwargs)


def test_voice_usable_on_one_provider_is_accepted() -> None:
    assert SessionConfig(voice="Kore").voice == "Kore"
    assert SessionConfig(voice="alloy").voice == "alloy"
    assert SessionConfig(voice="voice_123").voice == "voice_123"


def test_deep_merge() -> None:
    base: dict[str, Any] = {
        "audio": {"input": {"format": {"rate": 24000}, "turn_detection": {"type": "x"}}},
        "tools": [1],
    }
    overlay: dict[str, Any] = {
        "audio": {"input": {"turn_detection": None, "noise_reduction": {"type": "far"}}},
        "tools": [2],
    }
    merged = deep_merge(base, overlay)
    assert merged == {
        "audio": {
            "input": {
                "format": {"rate": 24000},
                "turn_detection": None,
                "noise_reduction": {"type": "far"},
            }
        },
        "tools": [2],
    }
    assert base["audio"]["input"]["turn_detection"] == {"type": "x"}  # inputs untouched
    merged["audio"]["input"]["noise_reduction"]["type"] = "near"
    assert overlay["audio"]["input"]["noise_reduction"] == {"type": "far"}
