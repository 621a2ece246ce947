"""Conformance oracle for OpenAI Realtime (GA) frames, built on the openai SDK's pydantic types.

The SDK's event unions validate raw dicts once re-wrapped with `Field(discriminator="type")`:
errors then name the event type and the failing field. The models allow extra
keys, so `validate_server_event` also lists unknown fields; the few that real servers send
(`session.object/id/expires_at`, `*.obfuscation`) are allowlisted, anything else is a finding.

`FrameRecorder` plugs into `Emulator(frame_tap=...)` and validates every frame the emulator
sends, so a test can assert "zero invalid server frames" and check event order.

This module imports openai (a dev-only dependency), lazily: runtime code must not import it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, get_args

KNOWN_EXTRA_FIELDS: tuple[str, ...] = (
    "$.session.object",
    "$.session.id",
    "$.session.expires_at",
    "$.obfuscation",
)


@cache
def server_event_adapter() -> Any:
    """TypeAdapter over the SDK's `RealtimeServerEvent` union, discriminated by `type`."""
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import Field, TypeAdapter

    union: Any = get_args(RealtimeServerEvent)[0]
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


@cache
def client_event_adapter() -> Any:
    """TypeAdapter over the SDK's `RealtimeClientEvent` union, discriminated by `type`."""
    from openai.types.realtime import RealtimeClientEvent
    from pydantic import Field, TypeAdapter

    union: Any = get_args(RealtimeClientEvent)[0]
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def unknown_fields(obj: Any, path: str = "$") -> list[str]:
    """Every key a model accepted as an extra, as a JSON-path-ish string."""
    import pydantic

    out: list[str] = []
    if isinstance(obj, pydantic.BaseModel):
        out += [f"{path}.{k}" for k in (obj.model_extra or {})]
        for name in type(obj).model_fields:
            out += unknown_fields(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            out += unknown_fields(value, f"{path}[{i}]")
    return out


def _is_known_extra(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in KNOWN_EXTRA_FIELDS)


def _load(frame: str | bytes | dict[str, Any]) -> Any:
    if isinstance(frame, dict):
        return frame
    return json.loads(frame)


def validate_server_event(frame: str | bytes | dict[str, Any]) -> tuple[Any, list[str]]:
    """Validate one server frame; returns (event model, unexpected extra fields).

    Raises `pydantic.ValidationError` (or ValueError for bad JSON) when the frame is invalid.
    """
    event = server_event_adapter().validate_python(_load(frame))
    extras = [p for p in unknown_fields(event) if not _is_known_extra(p)]
    return event, extras


def validate_client_event(frame: str | bytes | dict[str, Any]) -> tuple[Any, list[str]]:
    event = client_event_adapter().validate_python(_load(frame))
    return event, unknown_fields(event)


@dataclass(frozen=True)
class Finding:
    session_id: str
    direction: Literal["in", "out"]
    frame: str
    problem: str


@dataclass
class FrameRecorder:
    """A `frame_tap` that validates and keeps every OpenAI frame, per session.

    `invalid` collects frames that failed validation or carried unexpected fields.
    Frames of other dialects are ignored. `expected_invalid` counts deliberate bad frames
    (e.g. an injected malformed frame) so tests can still assert on everything else.
    """

    dialect: str = "openai"
    frames: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    invalid: list[Finding] = field(default_factory=list)
    check_client: bool = False

    def __call__(self, info: Any, direction: Literal["in", "out"], frame: str | bytes) -> None:
        if info.dialect != self.dialect:
            return
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        if direction == "in" and not self.check_client:
            return
        try:
            payload = json.loads(text)
            if direction == "out":
                _, extras = validate_server_event(payload)
            else:
                _, extras = validate_client_event(payload)
        except Exception as exc:
            self.invalid.append(
                Finding(
                    info.session_id,
                    direction,
                    text[:500],
                    f"{type(exc).__name__}: {str(exc)[:500]}",
                )
            )
            return
        if extras:
            self.invalid.append(
                Finding(info.session_id, direction, text[:500], f"unknown fields {extras}")
            )
        if direction == "out":
            self.frames.append((info.session_id, direction, payload))

    def types(self, session_id: str | None = None) -> list[str]:
        """Server event types in the order they were sent (optionally for one session)."""
        return [f["type"] for sid, _, f in self.frames if session_id in (None, sid)]

    def events(self, type_: str, session_id: str | None = None) -> list[dict[str, Any]]:
        return [f for sid, _, f in self.frames if f["type"] == type_ and session_id in (None, sid)]


def is_subsequence(expected: Iterable[str], actual: Iterable[str]) -> bool:
    """True when `expected` appears in `actual` in order (other events may sit in between)."""
    it = iter(actual)
    return all(any(a == e for a in it) for e in expected)
