"""Voices: a small neutral catalogue mapped onto each provider's own voice names.

Why: the providers share no voice names (OpenAI `alloy`, `coral`…; Gemini `Kore`, `Puck`…), so a
notebook that compares them side by side needs one word that picks a comparable voice on both.
The mapping is an explicit, printable table (`VOICE_TABLE`) rather than hidden logic, because
"which voice did I actually get?" is the first question when two providers sound different.

Matches are by character, not identity: they are our judgement from each provider's own voice
labels, and a starting point. A provider's own name always passes through unchanged, so you can
bypass the table whenever you want a specific voice.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "GEMINI_VOICES",
    "GEMINI_VOICE_STYLES",
    "NEUTRAL_VOICES",
    "OPENAI_VOICES",
    "VOICE_TABLE",
    "NeutralVoice",
    "VoiceError",
    "format_voice_table",
    "openai_voice_wire",
    "resolve_voice",
    "voices",
]

VoiceProvider = Literal["openai", "gemini"]

#: OpenAI Realtime's built-in voices (GA `audio.output.voice`); lowercase on the wire.
OPENAI_VOICES: tuple[str, ...] = (
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

#: Google's one-word style label for each of the 30 Gemini HD voices (case-sensitive names).
GEMINI_VOICE_STYLES: Mapping[str, str] = MappingProxyType(
    {
        "Achernar": "soft",
        "Achird": "friendly",
        "Algenib": "gravelly",
        "Algieba": "smooth",
        "Alnilam": "firm",
        "Aoede": "breezy",
        "Autonoe": "bright",
        "Callirrhoe": "easy-going",
        "Charon": "informative",
        "Despina": "smooth",
        "Enceladus": "breathy",
        "Erinome": "clear",
        "Fenrir": "excitable",
        "Gacrux": "mature",
        "Iapetus": "clear",
        "Kore": "firm",
        "Laomedeia": "upbeat",
        "Leda": "youthful",
        "Orus": "firm",
        "Pulcherrima": "forward",
        "Puck": "upbeat",
        "Rasalgethi": "informative",
        "Sadachbia": "lively",
        "Sadaltager": "knowledgeable",
        "Schedar": "even",
        "Sulafat": "warm",
        "Umbriel": "easy-going",
        "Vindemiatrix": "gentle",
        "Zephyr": "bright",
        "Zubenelgenubi": "casual",
    }
)
#: The 30 Gemini Live voice names, alphabetical.
GEMINI_VOICES: tuple[str, ...] = tuple(sorted(GEMINI_VOICE_STYLES))


@dataclass(frozen=True)
class NeutralVoice:
    """One row of the catalogue: a neutral name, what it sounds like, and each provider's pick."""

    name: str
    character: str
    openai: str
    gemini: str


#: The neutral catalogue. Print it with `format_voice_table()`.
VOICE_TABLE: tuple[NeutralVoice, ...] = (
    NeutralVoice("neutral", "balanced, even, unobtrusive", "alloy", "Schedar"),
    NeutralVoice("warm", "friendly and warm", "coral", "Sulafat"),
    NeutralVoice("bright", "bright and light", "shimmer", "Zephyr"),
    NeutralVoice("deep", "lower pitch, grounded", "cedar", "Charon"),
    NeutralVoice("calm", "relaxed, easy-going", "sage", "Callirrhoe"),
    NeutralVoice("energetic", "upbeat and expressive", "verse", "Puck"),
    NeutralVoice("soft", "soft and gentle", "ballad", "Achernar"),
    NeutralVoice("clear", "crisp and articulate", "ash", "Iapetus"),
)
#: Neutral names in table order.
NEUTRAL_VOICES: tuple[str, ...] = tuple(v.name for v in VOICE_TABLE)
_BY_NAME: Mapping[str, NeutralVoice] = MappingProxyType({v.name: v for v in VOICE_TABLE})
_GEMINI_BY_LOWER: Mapping[str, str] = MappingProxyType({n.lower(): n for n in GEMINI_VOICES})


class VoiceError(ValueError):
    """A voice name that the chosen provider cannot use; the message lists the choices."""


def voices(provider: VoiceProvider) -> list[str]:
    """The provider's own voice names (neutral names from `NEUTRAL_VOICES` work on both)."""
    if provider == "openai":
        return list(OPENAI_VOICES)
    if provider == "gemini":
        return list(GEMINI_VOICES)
    raise VoiceError(f"unknown provider {provider!r}; expected 'openai' or 'gemini'")


def resolve_voice(name: str | None, provider: VoiceProvider) -> str | None:
    """The provider's wire voice name for `name`.

    None means "the provider's default" and stays None. A neutral name maps through
    `VOICE_TABLE`; a provider's own name passes through (Gemini names are case-sensitive, so
    "kore" is an error that suggests "Kore"); an OpenAI custom voice id ("voice_...") passes
    through for OpenAI. Anything else raises `VoiceError` listing what would work.
    """
    known = voices(provider)  # also validates `provider`
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise VoiceError(f"voice must be a non-empty str or None, got {name!r}")
    if name in _BY_NAME:
        row = _BY_NAME[name]
        return row.openai if provider == "openai" else row.gemini
    if name in known:
        return name
    if provider == "openai" and name.startswith("voice_"):
        return name
    raise VoiceError(_unknown_message(name, provider, known))


def _unknown_message(name: str, provider: VoiceProvider, known: list[str]) -> str:
    lower = name.lower()
    hint = ""
    if lower in _BY_NAME:
        hint = f" Neutral names are lowercase: did you mean {lower!r}?"
    elif provider == "gemini" and lower in _GEMINI_BY_LOWER:
        hint = f" Gemini voice names are case-sensitive: did you mean {_GEMINI_BY_LOWER[lower]!r}?"
    elif provider == "openai" and lower in OPENAI_VOICES:
        hint = f" OpenAI voice names are lowercase: did you mean {lower!r}?"
    elif provider == "openai" and name in GEMINI_VOICES:
        hint = f" {name!r} is a Gemini voice; use a neutral name to pick a similar one."
    elif provider == "gemini" and name in OPENAI_VOICES:
        hint = f" {name!r} is an OpenAI voice; use a neutral name to pick a similar one."
    elif provider == "gemini" and name.startswith("voice_"):
        hint = " Custom voice ids ('voice_...') exist only on OpenAI."
    else:
        close = difflib.get_close_matches(name, [*NEUTRAL_VOICES, *known], n=3)
        if close:
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?"
    return (
        f"unknown voice {name!r} for {provider}.{hint} "
        f"Neutral voices: {', '.join(NEUTRAL_VOICES)}. "
        f"{provider} voices: {', '.join(known)}."
        + (" Custom voice ids 'voice_...' also work." if provider == "openai" else "")
    )


def openai_voice_wire(voice: str | None) -> str | dict[str, str] | None:
    """The GA `audio.output.voice` value: a built-in name as a str, a custom id as `{"id": ...}`.

    Resolves neutral names first, so a codec can pass `SessionConfig.voice` straight in.
    """
    resolved = resolve_voice(voice, "openai")
    if resolved is not None and resolved.startswith("voice_"):
        return {"id": resolved}
    return resolved


def format_voice_table() -> str:
    """`VOICE_TABLE` as aligned text, for printing in a notebook."""
    rows = [("neutral", "character", "openai", "gemini")]
    rows += [(v.name, v.character, v.openai, v.gemini) for v in VOICE_TABLE]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
