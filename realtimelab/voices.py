"""Voices: a small neutral catalogue, resolved to each provider's own voice names.

Why: the providers share no voice names (OpenAI `alloy`, `coral`…; Gemini `Kore`, `Puck`…), so a
notebook that compares them side by side needs one word that picks a comparable voice on all of
them. The neutral names and what they sound like live here (`VOICE_TABLE`); each provider's
folder holds its own voice names, its pick for every neutral name, and its naming rules, as a
`VoiceSet` in its `ProviderSpec`. `format_voice_table()` prints the picks side by side, because
"which voice did I actually get?" is the first question when two providers sound different.

Matches are by character, not identity: they are our judgement from each provider's own voice
labels, and a starting point. A provider's own name always passes through unchanged, so you can
bypass the table whenever you want a specific voice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from realtimelab.errors import RealtimeLabError
from realtimelab.providers.registry import UnknownProviderError, get, names, specs

__all__ = [
    "NEUTRAL_VOICES",
    "VOICE_TABLE",
    "NeutralVoice",
    "VoiceError",
    "VoiceSet",
    "format_voice_table",
    "resolve_voice",
    "voices",
]


class VoiceError(RealtimeLabError, ValueError):
    """A voice name that the chosen provider cannot use; the message lists the choices."""


@dataclass(frozen=True)
class NeutralVoice:
    """One row of the catalogue: a neutral name and what it sounds like. Each provider's pick
    for it is in that provider's `VoiceSet` (`pick(provider)` looks it up)."""

    name: str
    character: str

    def pick(self, provider: str) -> str:
        """The provider's voice for this neutral name."""
        return _voice_set(provider).picks[self.name]


#: The neutral catalogue. Print it with `format_voice_table()`.
VOICE_TABLE: tuple[NeutralVoice, ...] = (
    NeutralVoice("neutral", "balanced, even, unobtrusive"),
    NeutralVoice("warm", "friendly and warm"),
    NeutralVoice("bright", "bright and light"),
    NeutralVoice("deep", "lower pitch, grounded"),
    NeutralVoice("calm", "relaxed, easy-going"),
    NeutralVoice("energetic", "upbeat and expressive"),
    NeutralVoice("soft", "soft and gentle"),
    NeutralVoice("clear", "crisp and articulate"),
)
#: Neutral names in table order.
NEUTRAL_VOICES: tuple[str, ...] = tuple(v.name for v in VOICE_TABLE)
_BY_NAME: Mapping[str, NeutralVoice] = MappingProxyType({v.name: v for v in VOICE_TABLE})


def _never(name: str) -> bool:
    return False


def _no_hint(name: str) -> str | None:
    return None


@dataclass(frozen=True)
class VoiceSet:
    """One provider's voices, as its `ProviderSpec.voices`.

    `names`: the provider's own voice names, in the order to list them. `picks`: neutral name →
    one of `names`, for every name in `NEUTRAL_VOICES`. `passthrough(name)`: other names the
    provider accepts as they are (OpenAI custom voice ids). `hint(name)`: a sentence about this
    provider's naming rules when `name` is almost one of its voices ("names are
    case-sensitive: did you mean 'Kore'?"). `foreign_hint(name)`: what to tell someone who used
    one of this provider's names on another provider. `also`: a sentence added after the list
    of choices.
    """

    names: tuple[str, ...]
    picks: Mapping[str, str]
    passthrough: Callable[[str], bool] = field(default=_never)
    hint: Callable[[str], str | None] = field(default=_no_hint)
    foreign_hint: Callable[[str], str | None] = field(default=_no_hint)
    also: str = ""

    def __post_init__(self) -> None:
        missing = [n for n in NEUTRAL_VOICES if n not in self.picks]
        if missing:
            raise ValueError(f"VoiceSet.picks has no voice for the neutral names {missing}")
        unknown = {k: v for k, v in self.picks.items() if v not in self.names}
        if unknown:
            raise ValueError(f"VoiceSet.picks names voices outside VoiceSet.names: {unknown}")
        shadowed = [n for n in NEUTRAL_VOICES if n in {v.lower() for v in self.names}]
        if shadowed:
            raise ValueError(f"neutral voice names {shadowed} would shadow provider voices")


def _voice_set(provider: str) -> VoiceSet:
    try:
        return get(provider).voices
    except UnknownProviderError as exc:
        raise VoiceError(str(exc)) from None


def voices(provider: str) -> list[str]:
    """The provider's own voice names (neutral names from `NEUTRAL_VOICES` work everywhere)."""
    return list(_voice_set(provider).names)


def resolve_voice(name: str | None, provider: str) -> str | None:
    """The provider's wire voice name for `name`.

    None means "the provider's default" and stays None. A neutral name maps to the provider's
    pick; a provider's own name passes through (Gemini names are case-sensitive, so "kore" is
    an error that suggests "Kore"), and so does anything its `VoiceSet.passthrough` accepts
    (OpenAI custom voice ids "voice_..."). Anything else raises `VoiceError` listing what
    would work.
    """
    voice_set = _voice_set(provider)  # also validates `provider`
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise VoiceError(f"voice must be a non-empty str or None, got {name!r}")
    if name in _BY_NAME:
        return voice_set.picks[name]
    if name in voice_set.names or voice_set.passthrough(name):
        return name
    raise VoiceError(_unknown_message(name, provider, voice_set))


def _unknown_message(name: str, provider: str, voice_set: VoiceSet) -> str:
    known = list(voice_set.names)
    lower = name.lower()
    if lower in _BY_NAME:
        hint = f"Neutral names are lowercase: did you mean {lower!r}?"
    else:
        hint = voice_set.hint(name) or next(
            (
                h
                for other in specs()
                if other.name != provider and (h := other.voices.foreign_hint(name))
            ),
            "",
        )
    if not hint:
        close = difflib.get_close_matches(name, [*NEUTRAL_VOICES, *known], n=3)
        if close:
            hint = f"Did you mean {', '.join(repr(c) for c in close)}?"
    return (
        f"unknown voice {name!r} for {provider}.{' ' + hint if hint else ''} "
        f"Neutral voices: {', '.join(NEUTRAL_VOICES)}. "
        f"{provider} voices: {', '.join(known)}." + (f" {voice_set.also}" if voice_set.also else "")
    )


def format_voice_table() -> str:
    """`VOICE_TABLE` with every registered provider's pick, as aligned text for a notebook."""
    providers = names()
    rows = [("neutral", "character", *providers)]
    rows += [(v.name, v.character, *(v.pick(p) for p in providers)) for v in VOICE_TABLE]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
