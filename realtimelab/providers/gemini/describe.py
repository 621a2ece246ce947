"""Gemini frames as the event log sees them: names, audio, summaries (a `FrameDescriber`).

Gemini frames do not name themselves: each is a oneof of top-level keys (`serverContent`,
`toolCall`, `realtimeInput`, ...). The log names a frame by its keys, one level deep for the
two containers whose members say what happened (`serverContent.modelTurn`,
`realtimeInput.audio`), and writes snake_case keys (what the Python SDK sends) camelCase, so
one filter works on both spellings. Every audio chunk carries its own MIME type
(`audio/pcm;rate=24000`), so unlike OpenAI nothing needs remembering between frames.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from realtimelab.providers.framelog import (
    AudioFormat,
    Elided,
    b64_decoded_len,
    cut_audio,
    rate_from_mime,
    short,
)

__all__ = ["MESSAGE_KEYS", "GeminiFrames"]

#: Top-level keys of the BidiGenerateContent messages, both directions (camelCase).
MESSAGE_KEYS: Final = frozenset(
    {"setup", "clientContent", "realtimeInput", "toolResponse"}
    | {"setupComplete", "serverContent", "toolCall", "toolCallCancellation", "goAway"}
    | {"sessionResumptionUpdate", "usageMetadata", "voiceActivity", "contextUpdate"}
)
#: Containers whose members name the frame (`serverContent.modelTurn`).
_EXPAND: Final = frozenset({"serverContent", "realtimeInput"})
#: Documented rates where a chunk's MIME type names none: 16 kHz in, 24 kHz out.
_CLIENT_RATE, _SERVER_RATE = 16000, 24000


def _camel(name: str) -> str:
    """``realtime_input`` -> ``realtimeInput``: the Gemini SDK sends snake_case top-level keys,
    Google's docs use camelCase; logs use one spelling so filters work on both."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class GeminiFrames:
    """Reads Gemini Live frames for one event log."""

    def claims(self, frame: Mapping[str, Any]) -> bool:
        """Gemini frames carry no string `type` and use the BidiGenerateContent keys."""
        if isinstance(frame.get("type"), str):
            return False
        return any(_camel(str(k)) in MESSAGE_KEYS for k in frame)

    def frame_type(self, frame: Mapping[str, Any]) -> str:
        """``serverContent.modelTurn``, ``realtimeInput.audio``,
        ``serverContent.turnComplete,usageMetadata``: top-level keys, containers expanded."""
        parts: list[str] = []
        for key, value in frame.items():
            name = _camel(str(key))
            if name in _EXPAND and isinstance(value, Mapping) and value:
                parts.append(name + "." + "+".join(_camel(str(k)) for k in value))
            else:
                parts.append(name)
        return ",".join(parts) or "?"

    def elide(
        self, frame: Mapping[str, Any], direction: str, acc: Elided, keep_pcm: bool
    ) -> dict[str, Any]:
        out = self._elide(frame, direction, acc, keep_pcm)
        return dict(out) if isinstance(out, Mapping) else {}

    def _elide(self, obj: Any, direction: str, acc: Elided, keep_pcm: bool) -> Any:
        """Walk the frame; every ``{data, mimeType}`` blob (inlineData, realtimeInput.audio,
        mediaChunks, video) loses its bytes. Only audio counts towards ``audio_ms``."""
        if isinstance(obj, Mapping):
            mime = obj.get("mimeType", obj.get("mime_type"))
            if isinstance(obj.get("data"), str) and isinstance(mime, str):
                out = dict(obj)
                if mime.startswith("audio/"):
                    default = _CLIENT_RATE if direction == "out" else _SERVER_RATE
                    rate = rate_from_mime(mime, default)
                    out["data"] = cut_audio(obj["data"], AudioFormat(rate, 2), acc, keep_pcm)
                else:
                    out["data"] = f"<{mime} {b64_decoded_len(obj['data'])} B>"
                return out
            return {k: self._elide(v, direction, acc, keep_pcm) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._elide(v, direction, acc, keep_pcm) for v in obj]
        return obj

    def summary(self, frame: Mapping[str, Any]) -> list[str]:
        bits: list[str] = []
        sc = frame.get("serverContent")
        if isinstance(sc, Mapping):
            for key in ("inputTranscription", "outputTranscription"):
                tr = sc.get(key)
                if isinstance(tr, Mapping) and tr.get("text"):
                    bits.append(f"{key[:-13]}: {short(str(tr['text']), 40)!r}")
        tc = frame.get("toolCall")
        if isinstance(tc, Mapping):
            for fc in tc.get("functionCalls", []) or []:
                if isinstance(fc, Mapping):
                    bits.append(f"{fc.get('name')}({short(json.dumps(fc.get('args', {})), 40)})")
        ga = frame.get("goAway")
        if isinstance(ga, Mapping):
            bits.append(f"timeLeft={ga.get('timeLeft')}")
        return bits

    def model(self, frame: Mapping[str, Any]) -> str | None:
        """`setup.model`, without its `models/` prefix."""
        setup = frame.get("setup")
        if isinstance(setup, Mapping) and isinstance(setup.get("model"), str):
            return str(setup["model"]).removeprefix("models/")
        return None
