"""Gemini Live wire details that are pure functions: spelling, base64, mime rates, constants.

Why a separate module: Google's proto3-JSON parser accepts camelCase *and* snake_case keys at
every level, and the SDK really sends a mix of both, while it
writes URL-safe base64 where Google writes standard base64. Normalising once, at the edge,
lets the rest of the dialect read one spelling. The catch is that some values are *user data*
whose keys must never be rewritten (function `args`, a tool's `response`, JSON-Schema documents,
schema property names): those are listed in `_OPAQUE` and `_NAME_MAPS`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

# --- close codes and reasons seen from the live API ------------------------------------------

INVALID_ARGUMENT = "Request contains an invalid argument."
SESSION_NOT_FOUND = "BidiGenerateContent session not found"
INTERNAL_ERROR = "Internal error encountered."
TEXT_NOT_SUPPORTED = (
    "The requested combination of response modalities (TEXT) is not supported by the model"
)
NOT_IMPLEMENTED = "Operation is not implemented, or supported, or enabled"
#: The 1011 reason Google uses for deadlines: seen after `goAway` (one captured log, timeLeft
#: ~50-60 s) and for the session audio limit.
DEADLINE_EXPIRED = "Deadline expired before operation could complete."


#: RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the close code.
MAX_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """`text` cut to at most 123 UTF-8 bytes, never inside a character.

    Why: a longer reason makes the websockets library refuse to send the close frame at all,
    so a client would see 1011 (or an abrupt 1006) instead of the code the server decided.
    Every close the dialect sends goes through here.
    """
    data = text.encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[:MAX_REASON_BYTES].decode("utf-8", errors="ignore")


def model_not_found(model: str, version: str) -> str:
    """The 1008 reason for an unknown model, worded like Google's."""
    return (
        f"{model} is not found for API version {version}, "
        "or is not supported for bidiGenerateContent"
    )


# --- voices; which models exist lives in `realtimelab.catalogue` ----------------------------

HD_VOICES: frozenset[str] = frozenset(
    [
        "Achernar",
        "Achird",
        "Algenib",
        "Algieba",
        "Alnilam",
        "Aoede",
        "Autonoe",
        "Callirrhoe",
        "Charon",
        "Despina",
        "Enceladus",
        "Erinome",
        "Fenrir",
        "Gacrux",
        "Iapetus",
        "Kore",
        "Laomedeia",
        "Leda",
        "Orus",
        "Pulcherrima",
        "Puck",
        "Rasalgethi",
        "Sadachbia",
        "Sadaltager",
        "Schedar",
        "Sulafat",
        "Umbriel",
        "Vindemiatrix",
        "Zephyr",
        "Zubenelgenubi",
    ]
)
#: The 8 voices of the half-cascade (TTS) models, all retired on 2025-12-09.
HALF_CASCADE_VOICES: frozenset[str] = frozenset(
    ["Puck", "Charon", "Kore", "Fenrir", "Aoede", "Leda", "Orus", "Zephyr"]
)
DEFAULT_VOICE = "Puck"

OUTPUT_RATE = 24_000
OUTPUT_MIME = f"audio/pcm;rate={OUTPUT_RATE}"
API_VERSIONS: frozenset[str] = frozenset({"v1", "v1beta", "v1alpha"})

# --- key spelling ---------------------------------------------------------------------------

#: Keys whose value is user data, copied verbatim (their inner keys are not proto fields).
_OPAQUE: frozenset[str] = frozenset(
    {"args", "response", "parametersJsonSchema", "responseJsonSchema", "labels", "partialArgs"}
)
#: Keys whose value maps *user names* to schemas: keep the names, normalise each schema.
_NAME_MAPS: frozenset[str] = frozenset({"properties", "defs"})

_SNAKE = re.compile(r"_([a-z0-9])")


def to_camel(key: str) -> str:
    """`mime_type` -> `mimeType`; camelCase and single words are unchanged."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def camelize(value: Any) -> Any:
    """Deep-copy a JSON value with every proto field name in camelCase (user data untouched)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = to_camel(str(raw_key))
            if key in _OPAQUE:
                out[key] = item
            elif key in _NAME_MAPS and isinstance(item, Mapping):
                out[key] = {str(name): camelize(schema) for name, schema in item.items()}
            else:
                out[key] = camelize(item)
        return out
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


# --- JSON as Google's parser reads it --------------------------------------------------------

#: How deeply a client message may nest. protobuf's JSON parser stops at 100 levels by default;
#: the emulator refuses deeper messages the same way (1007) instead of recursing into them.
MAX_DEPTH = 100


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> Any:
    """Parse a client frame strictly: RFC 8259 JSON only, at most `MAX_DEPTH` levels deep.

    Python's `json` accepts `NaN` and `Infinity` (Google's parser does not) and raises
    RecursionError on pathologically deep input: both become ValueError here, which the dialect
    answers with 1007. A number too large for a double (`1e400`) parses as infinity, which the
    field readers refuse where a finite value is needed.
    """
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


# --- base64 and mime types ------------------------------------------------------------------


def b64decode_any(data: str) -> bytes:
    """Decode standard *or* URL-safe base64, padded or not (the SDK sends URL-safe).

    Raises ValueError on anything else, which the dialect turns into 1007.
    """
    if not isinstance(data, str):
        raise ValueError("base64 data must be a string")
    text = data.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64: {exc}") from exc


def b64encode_std(data: bytes) -> str:
    """Standard base64, as Google sends it (browsers' atob() rejects the URL-safe alphabet)."""
    return base64.b64encode(data).decode("ascii")


_RATE = re.compile(r"(?:^|;)\s*rate\s*=\s*(\d+)\s*(?:;|$)")


#: The rate the service assumes for `audio/pcm` without `rate=` (its native input rate).
DEFAULT_INPUT_RATE = 16_000


def pcm_rate(mime_type: str) -> int:
    """The sample rate of an `audio/pcm[;rate=N]` mime type.

    A bare `audio/pcm` is read as 16 kHz: Google's own cookbook sends it that way and the Live
    API documents 16 kHz as its native input rate, so the service accepts it. A `rate` that is
    present but not a number, or absurd, is an invalid argument (1007): this raises ValueError.
    """
    mime = mime_type.strip().lower()
    base = mime.split(";", 1)[0].strip()
    if base not in ("audio/pcm", "audio/l16"):
        raise ValueError(f"unsupported audio mime type {mime_type!r}")
    params = mime[len(base) :]
    match = _RATE.search(params)
    if not match:
        if "rate" in params:
            raise ValueError(f"audio mime type {mime_type!r} has an unreadable rate")
        return DEFAULT_INPUT_RATE
    rate = int(match.group(1))
    if not 1_000 <= rate <= 192_000:
        raise ValueError(f"unsupported audio rate {rate}")
    return rate


def duration_json(seconds: float) -> str:
    """google.protobuf.Duration JSON: `"50s"`, `"1.500s"`."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"
