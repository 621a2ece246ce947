"""Typed reading of server frames, shared by the codecs: a wrong type is an error, not a crash.

A server frame is untrusted input. `frame.get("transcript") or ""` lets a list through, which
then crashes far away (`'list' object has no attribute 'strip'` in history code); `int(u["n"])`
on `Infinity` raises `OverflowError`; `json.loads` of deeply nested text raises
`RecursionError`. The codecs read every field they use through these helpers, which either
return a value of the promised type or raise `Malformed`; `decode` turns that into a typed
`Error` event carrying the frame, and the session goes on.
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["Malformed", "b64", "count", "flag", "loads", "number", "obj", "opt_text", "text"]

#: Counts above this are not believable usage numbers (and would overflow later arithmetic).
MAX_COUNT = 2**53
_T = TypeVar("_T")


class Malformed(ValueError):
    """A field of a server frame has the wrong type or an impossible value."""


def loads(data: str | bytes) -> Any:
    """`json.loads` that reports nesting too deep for Python as `Malformed`."""
    try:
        return json.loads(data)
    except RecursionError:
        raise Malformed("frame nested too deeply") from None


def b64(m: Mapping[str, Any], key: str) -> bytes:
    """A base64 string field, decoded strictly (the C decoder's strict mode: no regex pass
    over the payload, which matters for audio arriving every 20 ms)."""
    value = m.get(key)
    if not isinstance(value, str):
        raise Malformed(f"`{key}` should be base64 text, got {type(value).__name__}")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error as e:
        raise Malformed(f"`{key}` is not valid base64: {e}") from None


def _typed(m: Mapping[str, Any], key: str, kind: type[_T], what: str, default: _T) -> _T:
    """`m[key]` when it is a `kind`, `default` when missing or null, else `Malformed`."""
    value = m.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise Malformed(f"`{key}` should be {what}, got {type(value).__name__}")
    return value


def obj(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested object; missing or null is `{}`."""
    return _typed(m, key, dict, "an object", {})


def text(m: Mapping[str, Any], key: str, default: str = "") -> str:
    """A string field; missing or null gives `default`."""
    return _typed(m, key, str, "a string", default)


def opt_text(m: Mapping[str, Any], key: str) -> str | None:
    """A string field or None (missing, null, or empty)."""
    return text(m, key) or None


def count(m: Mapping[str, Any], key: str) -> int:
    """A non-negative integer count (tokens, indexes); missing or null is 0. Whole floats are
    accepted (`12.0`), anything else (NaN, Infinity, negative, text, a bool) is `Malformed`."""
    value = m.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Malformed(f"`{key}` should be a count, got {type(value).__name__}")
    if isinstance(value, str):  # int64 fields arrive as JSON strings on Google's wire
        raw = value
        try:
            value = int(raw)
        except ValueError:
            raise Malformed(f"`{key}` should be a count, got {raw[:20]!r}") from None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise Malformed(f"`{key}` should be a whole count, got {value!r}")
    n = int(value)
    if not 0 <= n <= MAX_COUNT:
        raise Malformed(f"`{key}` is out of range: {n}")
    return n


def number(m: Mapping[str, Any], key: str) -> float | None:
    """A finite number, or None when missing/null."""
    value = m.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"`{key}` should be a number, got {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise Malformed(f"`{key}` should be finite, got {value!r}")
    return f


def flag(m: Mapping[str, Any], key: str) -> bool:
    """A boolean; missing or null is False."""
    return _typed(m, key, bool, "true/false", False)
