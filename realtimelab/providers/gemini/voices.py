"""Gemini Live's voices: the 30 HD voice names, our pick per neutral voice, the naming rules.

Gemini voice names are case-sensitive (`Kore`, not `kore`) and go on the wire as
`generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName`. The picks are our
judgement from Google's one-word style labels (`VOICE_STYLES`);
`realtimelab.voices.format_voice_table()` prints them next to the other providers' picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from realtimelab.voices import VoiceSet

__all__ = ["PICKS", "VOICES", "VOICE_SET", "VOICE_STYLES"]

#: Google's one-word style label for each of the 30 Gemini HD voices (case-sensitive names).
VOICE_STYLES: Mapping[str, str] = MappingProxyType(
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
VOICES: tuple[str, ...] = tuple(sorted(VOICE_STYLES))

#: Neutral voice name → the Gemini voice whose style label matches it best.
PICKS: Mapping[str, str] = MappingProxyType(
    {
        "neutral": "Schedar",
        "warm": "Sulafat",
        "bright": "Zephyr",
        "deep": "Charon",
        "calm": "Callirrhoe",
        "energetic": "Puck",
        "soft": "Achernar",
        "clear": "Iapetus",
    }
)

_BY_LOWER: Mapping[str, str] = MappingProxyType({n.lower(): n for n in VOICES})


def _hint(name: str) -> str | None:
    proper = _BY_LOWER.get(name.lower())
    if proper is not None:
        return f"Gemini voice names are case-sensitive: did you mean {proper!r}?"
    return None


def _foreign_hint(name: str) -> str | None:
    if name in VOICES:
        return f"{name!r} is a Gemini voice; use a neutral name to pick a similar one."
    return None


VOICE_SET = VoiceSet(names=VOICES, picks=PICKS, hint=_hint, foreign_hint=_foreign_hint)
