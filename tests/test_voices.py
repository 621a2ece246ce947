"""Neutral voice catalogue, each provider's voice set, and resolution through the registry."""

from __future__ import annotations

import typing

import pytest

from realtimelab.errors import RealtimeLabError
from realtimelab.providers import get
from realtimelab.providers.gemini.voices import PICKS as GEMINI_PICKS
from realtimelab.providers.gemini.voices import VOICES as GEMINI_VOICES
from realtimelab.providers.openai.voices import PICKS as OPENAI_PICKS
from realtimelab.providers.openai.voices import VOICES as OPENAI_VOICES
from realtimelab.providers.openai.voices import voice_wire as openai_voice_wire
from realtimelab.voices import (
    NEUTRAL_VOICES,
    VOICE_TABLE,
    VoiceError,
    VoiceSet,
    format_voice_table,
    resolve_voice,
    voices,
)


def test_catalogue_matches_the_providers_documented_voices() -> None:
    from openai.types.realtime import realtime_audio_config_output as out

    # The SDK's own literal list of built-in voices is the source of truth for OpenAI.
    literal = next(a for a in typing.get_args(out.Voice) if typing.get_origin(a) is typing.Literal)
    assert set(OPENAI_VOICES) == set(typing.get_args(literal))
    assert len(GEMINI_VOICES) == 30 and "Kore" in GEMINI_VOICES and "Zubenelgenubi" in GEMINI_VOICES


def test_table_is_well_formed() -> None:
    assert 6 <= len(VOICE_TABLE) <= 8
    assert len(set(NEUTRAL_VOICES)) == len(NEUTRAL_VOICES)
    for row in VOICE_TABLE:
        assert row.pick("openai") == OPENAI_PICKS[row.name] and row.pick("openai") in OPENAI_VOICES
        assert row.pick("gemini") == GEMINI_PICKS[row.name] and row.pick("gemini") in GEMINI_VOICES
        # A neutral name must never shadow a provider name (on either, in any case).
        assert row.name.lower() not in {v.lower() for v in (*OPENAI_VOICES, *GEMINI_VOICES)}


@pytest.mark.parametrize("row", VOICE_TABLE, ids=lambda r: r.name)
def test_neutral_names_resolve_per_provider(row: typing.Any) -> None:
    assert resolve_voice(row.name, "openai") == OPENAI_PICKS[row.name]
    assert resolve_voice(row.name, "gemini") == GEMINI_PICKS[row.name]


def test_passthrough_and_defaults() -> None:
    assert resolve_voice(None, "openai") is None
    assert resolve_voice(None, "gemini") is None
    assert resolve_voice("marin", "openai") == "marin"
    assert resolve_voice("Kore", "gemini") == "Kore"
    assert resolve_voice("voice_1234", "openai") == "voice_1234"
    assert voices("openai") == list(OPENAI_VOICES)
    assert voices("gemini") == sorted(GEMINI_VOICES)


@pytest.mark.parametrize(
    ("name", "provider", "hint"),
    [
        ("kore", "gemini", "case-sensitive: did you mean 'Kore'?"),
        ("Alloy", "openai", "lowercase: did you mean 'alloy'?"),
        ("Warm", "gemini", "Neutral names are lowercase: did you mean 'warm'?"),
        ("Kore", "openai", "'Kore' is a Gemini voice"),
        ("alloy", "gemini", "'alloy' is an OpenAI voice"),
        ("voice_1234", "gemini", "exist only on OpenAI"),
        ("corall", "openai", "Did you mean 'coral'"),
    ],
)
def test_unknown_voice_errors_explain_and_list_choices(name: str, provider: str, hint: str) -> None:
    with pytest.raises(VoiceError) as exc:
        resolve_voice(name, provider)  # type: ignore[arg-type]
    msg = str(exc.value)
    assert hint in msg
    assert "Neutral voices: " + ", ".join(NEUTRAL_VOICES) in msg
    assert ", ".join(voices(provider)) in msg  # type: ignore[arg-type]


def test_bad_provider_and_bad_type() -> None:
    with pytest.raises(VoiceError, match="unknown provider 'azure'; registered providers"):
        resolve_voice("warm", "azure")
    with pytest.raises(VoiceError, match="non-empty str"):
        resolve_voice("", "openai")


def test_openai_voice_wire_wraps_custom_ids() -> None:
    assert openai_voice_wire("warm") == "coral"
    assert openai_voice_wire("voice_abc") == {"id": "voice_abc"}
    assert openai_voice_wire(None) is None


def test_format_voice_table_lists_every_row() -> None:
    text = format_voice_table()
    lines = text.splitlines()
    assert lines[0].split() == ["neutral", "character", "openai", "gemini"]
    assert len(lines) == len(VOICE_TABLE) + 2
    for row, line in zip(VOICE_TABLE, lines[2:], strict=True):
        assert line.startswith(row.name) and line.endswith(row.pick("gemini"))
        assert row.pick("openai") in line


def test_voice_sets_live_in_the_specs_and_check_their_picks() -> None:
    assert get("openai").voices.names == OPENAI_VOICES
    assert get("gemini").voices.names == GEMINI_VOICES
    with pytest.raises(ValueError, match="no voice for the neutral names"):
        VoiceSet(names=("a",), picks={"warm": "a"})
    picks = dict.fromkeys(NEUTRAL_VOICES, "a")
    with pytest.raises(ValueError, match=r"outside VoiceSet\.names"):
        VoiceSet(names=("b",), picks=picks)
    with pytest.raises(ValueError, match="shadow"):
        VoiceSet(names=("Warm",), picks=dict.fromkeys(NEUTRAL_VOICES, "Warm"))
    assert issubclass(VoiceError, RealtimeLabError) and issubclass(VoiceError, ValueError)
