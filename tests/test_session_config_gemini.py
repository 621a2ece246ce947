"""`Vad` → Gemini `realtimeInputConfig` (checked against the google-genai types), sensitivities,
the detector reading of Gemini's settings, and what Gemini cannot honour (warned or raised)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from google.genai import types as gtypes

from realtimelab.config import SessionConfig, Vad
from realtimelab.errors import UnsupportedSetting
from realtimelab.providers import get
from realtimelab.providers.gemini import GeminiCodec
from realtimelab.providers.gemini.session_config import (
    SENSITIVITIES,
    VAD_PRESETS,
    realtime_input_config,
    unsupported_settings,
    vad_params,
)
from realtimelab.schema import Tool
from realtimelab.vad import SEMANTIC_SILENCE_MS


def _gemini_sdk(cfg: dict[str, Any]) -> dict[str, Any]:
    model = gtypes.RealtimeInputConfig.model_validate(cfg)  # extra='forbid': no misnamed key
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def test_default_and_full_server_vad() -> None:
    cfg = realtime_input_config(Vad())
    assert cfg == {
        "automaticActivityDetection": {"disabled": False},
        "activityHandling": "START_OF_ACTIVITY_INTERRUPTS",
    }
    assert _gemini_sdk(cfg) == cfg
    cfg = realtime_input_config(
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
            "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
            "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
            "prefixPaddingMs": 20,
            "silenceDurationMs": 100,
        },
        "activityHandling": "NO_INTERRUPTION",
    }
    assert _gemini_sdk(cfg) == cfg


@pytest.mark.parametrize("sensitivity", ["low", "medium", "high"])
def test_sensitivities_are_valid_sdk_enums(sensitivity: Any) -> None:
    cfg = realtime_input_config(Vad(sensitivity=sensitivity))
    model = gtypes.RealtimeInputConfig.model_validate(cfg)
    aad = model.automatic_activity_detection
    assert aad is not None
    start, end = SENSITIVITIES[sensitivity]
    assert aad.start_of_speech_sensitivity == gtypes.StartSensitivity(start)
    assert aad.end_of_speech_sensitivity == gtypes.EndSensitivity(end)


def test_medium_is_the_gemini_default_and_the_table_is_read_only() -> None:
    assert SENSITIVITIES["medium"] == ("START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH")
    for start, end in SENSITIVITIES.values():  # every entry is a valid Gemini setting
        vad_params(start, end)
    with pytest.raises(TypeError):
        SENSITIVITIES["low"] = ("x", "y")  # type: ignore[index]


def test_manual_disables_vad_but_keeps_interrupt_choice() -> None:
    cfg = realtime_input_config(Vad(mode="manual", interrupt_response=False))
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
def test_semantic_is_an_eagerness_approximation(
    eagerness: Any, end: str | None, silence: int
) -> None:
    cfg = realtime_input_config(Vad(mode="semantic", eagerness=eagerness))
    aad = cfg["automaticActivityDetection"]
    assert aad.get("endOfSpeechSensitivity") == end
    assert aad["silenceDurationMs"] == silence
    assert silence == SEMANTIC_SILENCE_MS[eagerness or "auto"]
    _gemini_sdk(cfg)


# --- unsupported settings: reported, never silently dropped ------------------------------------


def test_unsupported_settings_are_reported() -> None:
    assert unsupported_settings(SessionConfig()) == ()
    assert get("gemini").unsupported is unsupported_settings
    v = Vad(threshold=0.2, idle_timeout_ms=3000, create_response=False)
    reported = unsupported_settings(SessionConfig(vad=v))
    assert [r.field for r in reported] == [
        "Vad.threshold",
        "Vad.idle_timeout_ms",
        "Vad.create_response=False",
    ]
    manual = SessionConfig(vad=Vad(mode="manual", create_response=False))
    assert unsupported_settings(manual) == ()  # with manual turns the client decides


def test_codec_warns_naming_field_provider_and_what_happens() -> None:
    config = SessionConfig(vad=Vad(threshold=0.2, idle_timeout_ms=3000, create_response=False))
    with pytest.warns(UnsupportedSetting) as record:
        (frame,) = GeminiCodec().initial_frames(config)
    warned = [w.message for w in record]
    assert all(isinstance(w, UnsupportedSetting) for w in warned)
    assert [(w.field, w.provider) for w in warned] == [  # type: ignore[union-attr]
        ("Vad.threshold", "gemini"),
        ("Vad.idle_timeout_ms", "gemini"),
        ("Vad.create_response=False", "gemini"),
    ]
    assert "Gemini Live" in str(warned[0]) and "Vad.sensitivity" in str(warned[0])
    assert "Vad(mode='manual')" in str(warned[2])
    # the frame is the same as without those settings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GeminiCodec().initial_frames(SessionConfig()) == [frame]
        # supported settings (temperature, semantic approximation) do not warn
        GeminiCodec().initial_frames(
            SessionConfig(temperature=0.5, vad=Vad(mode="semantic", eagerness="low"))
        )


def test_settings_that_would_change_the_conversation_raise() -> None:
    tool = Tool.from_schema("lookup", "Look it up.")
    with pytest.raises(ValueError, match="no tool_choice 'required'"):
        GeminiCodec().initial_frames(SessionConfig(tools=[tool], tool_choice="required"))
    with pytest.raises(ValueError, match="answers in audio only"):
        GeminiCodec().initial_frames(SessionConfig(output="text"))


# --- Gemini's settings, read by the kit's own detector ------------------------------------------


def test_vad_params_table() -> None:
    default = vad_params(None, None, None, None)
    assert default == vad_params("START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH")
    assert default == vad_params("high", "End_Sensitivity_High")
    assert default == vad_params("START_SENSITIVITY_UNSPECIFIED", "UNSPECIFIED")
    low_start = vad_params("START_SENSITIVITY_LOW", None)
    assert low_start.threshold > default.threshold
    assert low_start.min_speech_ms > default.min_speech_ms
    low_end = vad_params(None, "LOW")
    assert low_end.silence_duration_ms > default.silence_duration_ms
    explicit = vad_params("LOW", "LOW", prefix_padding_ms=20, silence_duration_ms=100)
    assert (explicit.min_speech_ms, explicit.silence_duration_ms) == (20, 100)
    assert explicit.threshold == low_start.threshold
    with pytest.raises(ValueError, match="START_SENSITIVITY_HIGH, START_SENSITIVITY_LOW"):
        vad_params("START_SENSITIVITY_MEDIUM", None)
    with pytest.raises(ValueError, match="END_SENSITIVITY_"):
        vad_params(None, "START_SENSITIVITY_LOW")
    with pytest.raises(ValueError, match="silence_duration_ms"):
        vad_params(None, None, None, -5)


def test_vad_presets_are_the_sensitivity_combinations() -> None:
    assert VAD_PRESETS["Gemini LOW start / LOW end"] == vad_params("LOW", "LOW")
    assert get("gemini").vad_presets is VAD_PRESETS
