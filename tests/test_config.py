"""SessionConfig / Vad validation, the `extra` escape hatch, `deep_merge`. How each provider
puts a config on its wire is tested next to it (test_session_config_<name>.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from realtimelab.config import (
    ConfigError,
    SessionConfig,
    Unsupported,
    UnsupportedSetting,
    Vad,
    deep_merge,
    warn_unsupported,
)
from realtimelab.errors import RealtimeLabError
from realtimelab.schema import Tool


def get_time(tz: str) -> str:
    """Current time in a timezone."""
    return tz


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
    assert cfg.vad == Vad() and cfg.tools == () and cfg.extra == {} and cfg.output == "audio"
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
    cfg = SessionConfig(extra={"openai": raw})
    raw["audio"]["input"]["noise_reduction"] = None
    assert cfg.extra["openai"]["audio"]["input"]["noise_reduction"] == {"type": "near_field"}


def test_extra_is_keyed_by_registered_provider_names() -> None:
    cfg = SessionConfig(extra={"gemini": {"contextWindowCompression": {"slidingWindow": {}}}})
    assert set(cfg.extra) == {"gemini"}
    with pytest.raises(ConfigError, match="'claude' is not a registered provider; use one of"):
        SessionConfig(extra={"claude": {}})
    with pytest.raises(ConfigError, match=r"extra\['gemini'\] must be a mapping.*`setup`"):
        SessionConfig(extra={"gemini": [("a", 1)]})
    with pytest.raises(ConfigError, match="mapping of provider name to settings"):
        SessionConfig(extra=[("openai", {})])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SessionConfig(openai={})  # type: ignore[call-arg]  # the old per-provider fields are gone


def test_warn_unsupported_and_the_error_root() -> None:
    with pytest.warns(UnsupportedSetting, match="Vad.x is not supported by Toy: ignored") as rec:
        warn_unsupported("toy", [Unsupported("Vad.x", "ignored")], title="Toy")
    w = rec[0].message
    assert isinstance(w, UnsupportedSetting)
    assert (w.field, w.provider, w.instead) == ("Vad.x", "toy", "ignored")
    assert not issubclass(UnsupportedSetting, RealtimeLabError)  # advice, not an error
    assert issubclass(ConfigError, RealtimeLabError) and issubclass(ConfigError, ValueError)


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
        ({"extra": {"gemini": [("a", 1)]}}, r"SessionConfig.extra\['gemini'\] must be a mapping"),
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


def test_audio_formats_modes_and_search_are_validated() -> None:
    phone = SessionConfig(input_format="pcmu", output_format="pcma")
    assert (phone.input_format, phone.output_format) == ("pcmu", "pcma")
    with pytest.raises(ConfigError, match=r"input_format.*'pcmu'"):
        SessionConfig(input_format="ulaw")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="output_format"):
        SessionConfig(output_format="g711_alaw")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mode"):
        SessionConfig(mode="chat")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="web_search"):
        SessionConfig(web_search="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tools cannot be used with mode='transcription'"):
        SessionConfig(mode="transcription", tools=[get_time])
    with pytest.raises(ConfigError, match="web_search cannot be used with mode='transcription'"):
        SessionConfig(mode="transcription", web_search=True)
