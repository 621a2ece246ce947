"""OpenAI Realtime's voices: the built-in names, our pick per neutral voice, the naming rules.

Built-in voices are lowercase on the wire (`audio.output.voice: "coral"`). Accounts with custom
voices get ids that start with `voice_`; those pass through unchanged and go on the wire as
`{"id": "voice_..."}` (`voice_wire`). The picks are our judgement of character from OpenAI's
own descriptions; `realtimelab.voices.format_voice_table()` prints them next to the other
providers' picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from realtimelab.voices import VoiceSet, resolve_voice

__all__ = ["PICKS", "VOICES", "VOICE_SET", "voice_wire"]

#: OpenAI Realtime's built-in voices (GA `audio.output.voice`); lowercase on the wire.
VOICES: tuple[str, ...] = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)

#: Neutral voice name → the OpenAI voice with the most similar character.
PICKS: Mapping[str, str] = MappingProxyType(
    {
        "neutral": "alloy",
        "warm": "coral",
        "bright": "shimmer",
        "deep": "cedar",
        "calm": "sage",
        "energetic": "verse",
        "soft": "ballad",
        "clear": "ash",
    }
)

_CUSTOM_PREFIX = "voice_"


def _is_custom_id(name: str) -> bool:
    return name.startswith(_CUSTOM_PREFIX)


def _hint(name: str) -> str | None:
    lower = name.lower()
    if lower in VOICES:
        return f"OpenAI voice names are lowercase: did you mean {lower!r}?"
    return None


def _foreign_hint(name: str) -> str | None:
    if name in VOICES:
        return f"{name!r} is an OpenAI voice; use a neutral name to pick a similar one."
    if _is_custom_id(name):
        return "Custom voice ids ('voice_...') exist only on OpenAI."
    return None


VOICE_SET = VoiceSet(
    names=VOICES,
    picks=PICKS,
    passthrough=_is_custom_id,
    hint=_hint,
    foreign_hint=_foreign_hint,
    also="Custom voice ids 'voice_...' also work.",
)


def voice_wire(voice: str | None) -> str | dict[str, str] | None:
    """The GA `audio.output.voice` value: a built-in name as a str, a custom id as `{"id": ...}`.

    Resolves neutral names first, so the codec can pass `SessionConfig.voice` straight in.
    """
    resolved = resolve_voice(voice, "openai")
    if resolved is not None and _is_custom_id(resolved):
        return {"id": resolved}
    return resolved
