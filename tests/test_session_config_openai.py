"""`Vad` → OpenAI `turn_detection` (checked against the SDK's types), the sensitivity thresholds,
the semantic-VAD reading, and the settings OpenAI cannot honour (warned, never dropped)."""

from __future__ import annotations

import warnings
from typing import Any

import pydantic
import pytest
from openai.types.realtime.realtime_audio_input_turn_detection import (
    RealtimeAudioInputTurnDetection,
    SemanticVad,
    ServerVad,
)

from realtimelab.config import SessionConfig, Vad
from realtimelab.errors import UnsupportedSetting
from realtimelab.providers import get
from realtimelab.providers.openai import OpenAICodec
from realtimelab.providers.openai.session_config import (
    SENSITIVITY_THRESHOLDS,
    semantic_vad_params,
    turn_detection,
    unsupported_settings,
)
from realtimelab.vad import SEMANTIC_SILENCE_MS, VadParams

_TURN_DETECTION: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeAudioInputTurnDetection)


def _openai_sdk(td: dict[str, Any]) -> Any:
    model = _TURN_DETECTION.validate_python(td)
    assert not model.model_extra, model.model_extra  # every key is a known SDK field
    return model


def test_defaults_send_only_what_was_set() -> None:
    td = turn_detection(Vad())
    assert td == {"type": "server_vad", "create_response": True, "interrupt_response": True}
    assert isinstance(_openai_sdk(td), ServerVad)


def test_server_vad_full() -> None:
    v = Vad(
        threshold=0.42,
        sensitivity="low",
        prefix_padding_ms=200,
        silence_duration_ms=650,
        idle_timeout_ms=5000,
        create_response=False,
        interrupt_response=False,
    )
    td = turn_detection(v)
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
def test_sensitivity_maps_to_a_threshold(sensitivity: Any, threshold: float) -> None:
    td = turn_detection(Vad(sensitivity=sensitivity))
    assert td is not None and td["threshold"] == threshold == SENSITIVITY_THRESHOLDS[sensitivity]
    _openai_sdk(td)


def test_sensitivity_thresholds_are_ordered_and_read_only() -> None:
    assert set(SENSITIVITY_THRESHOLDS) == {"low", "medium", "high"}
    thresholds = [SENSITIVITY_THRESHOLDS[k] for k in ("low", "medium", "high")]
    assert thresholds == sorted(thresholds, reverse=True)  # more sensitive, lower threshold
    assert SENSITIVITY_THRESHOLDS["medium"] == VadParams().threshold  # "medium" = the default
    with pytest.raises(TypeError):
        SENSITIVITY_THRESHOLDS["low"] = 0.1  # type: ignore[index]


def test_semantic_and_manual() -> None:
    td = turn_detection(Vad(mode="semantic", eagerness="high"))
    assert td == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert isinstance(_openai_sdk(td), SemanticVad)
    assert turn_detection(Vad(mode="manual")) is None
    assert _TURN_DETECTION.validate_python(None) is None


def test_semantic_vad_params() -> None:
    silences = {e: semantic_vad_params(e).silence_duration_ms for e in ("low", "medium", "high")}
    assert silences["high"] < silences["medium"] < silences["low"]
    maxima = {"low": 8000, "medium": 4000, "high": 2000}  # OpenAI's documented max timeouts
    assert all(silences[e] <= maxima[e] for e in silences)
    assert all(silences[e] == SEMANTIC_SILENCE_MS[e] for e in silences)
    assert semantic_vad_params("auto") == semantic_vad_params("MEDIUM")
    with pytest.raises(ValueError, match=r"\['auto', 'high', 'low', 'medium'\]"):
        semantic_vad_params("eager")


def test_unsupported_settings_are_reported() -> None:
    assert unsupported_settings(SessionConfig()) == ()
    assert get("openai").unsupported is unsupported_settings
    reported = unsupported_settings(SessionConfig(temperature=0.8, output_transcription=False))
    assert [r.field for r in reported] == [
        "SessionConfig.temperature",
        "SessionConfig.output_transcription=False",
    ]
    # text replies have no audio transcript to turn off
    text_only = SessionConfig(output="text", output_transcription=False)
    assert unsupported_settings(text_only) == ()


def test_codec_warns_for_each_unsupported_setting_and_sends_the_rest() -> None:
    config = SessionConfig(temperature=0.8, instructions="hi")
    with pytest.warns(UnsupportedSetting) as record:
        (frame,) = OpenAICodec().initial_frames(config)
    (warning,) = record
    w = warning.message
    assert isinstance(w, UnsupportedSetting) and isinstance(w, UserWarning)
    assert (w.field, w.provider) == ("SessionConfig.temperature", "openai")
    assert "OpenAI Realtime" in str(w) and "not sent" in str(w)
    assert warning.filename == __file__  # points at the code that asked for the setup
    assert "temperature" not in frame["session"] and frame["session"]["instructions"] == "hi"
    with pytest.warns(UnsupportedSetting):
        OpenAICodec().update_frames(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OpenAICodec().initial_frames(SessionConfig(vad=Vad(threshold=0.4, idle_timeout_ms=900)))
