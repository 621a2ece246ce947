"""Conformance oracle for Gemini Live frames, built on google-genai's own pydantic types.

Why an oracle: the emulator claims to speak Gemini Live's wire protocol, and the best local truth
we have is the SDK's `LiveServerMessage` / `LiveClientMessage` models (extra='forbid', so unknown
keys fail). They are not strict enough on their own, so this module
adds the documented workarounds:

1. `LiveClientSetup` lacks `realtimeInputConfig` although the SDK sends it: we subclass and add it.
2. The models do not enforce the proto oneof: we count members ourselves.
3. `CaseInSensitiveEnum` only *warns* on unknown values: warnings become errors here.
4. The SDK's receive path copies only camelCase top-level keys, so a server frame with anything
   else would crash `session.receive()`: server top-level keys are whitelisted, camelCase only.
5. `voiceActivity.type` is the wire name of the SDK's `voiceActivityType`: remapped before checking.

`FrameRecorder` + `tap_sdk()` capture every frame the SDK sends and receives (including the setup
exchange inside `connect()`), validate each one, and keep the failures for the test to assert on;
raising inside the SDK's receive path would only produce confusing secondary errors.

This module imports google-genai, a dev-only dependency: runtime code must never import it.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from google.genai import types
from pydantic import Field

__all__ = [
    "CLIENT_ONEOF",
    "SERVER_ONEOF",
    "SERVER_TOP_LEVEL_KEYS",
    "FrameRecorder",
    "RecordedFrame",
    "tap_sdk",
    "validate_client_message",
    "validate_server_message",
]

#: Members of BidiGenerateContentServerMessage's oneof (camelCase, the only spelling the SDK reads).
SERVER_ONEOF: frozenset[str] = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
        "voiceActivityDetectionSignal",
        "voiceActivity",
    }
)
#: Every top-level key the SDK copies (`usageMetadata` sits outside the oneof).
SERVER_TOP_LEVEL_KEYS: frozenset[str] = SERVER_ONEOF | {"usageMetadata"}

#: Client oneof members, camelCase -> snake_case (the server accepts both spellings).
CLIENT_ONEOF: Mapping[str, str] = {
    "setup": "setup",
    "clientContent": "client_content",
    "realtimeInput": "realtime_input",
    "toolResponse": "tool_response",
    "contextUpdate": "context_update",
}

_REALTIME_INPUT_MEMBERS: Mapping[str, str] = {
    "mediaChunks": "media_chunks",
    "audio": "audio",
    "video": "video",
    "text": "text",
    "activityStart": "activity_start",
    "activityEnd": "activity_end",
    "audioStreamEnd": "audio_stream_end",
}


class _SetupWithRealtimeInput(types.LiveClientSetup):
    """`LiveClientSetup` plus the `realtimeInputConfig` the SDK sends but forgot to declare."""

    realtime_input_config: types.RealtimeInputConfig | None = Field(default=None)


class _ClientMessage(types.LiveClientMessage):
    setup: _SetupWithRealtimeInput | None = Field(default=None)


def _load(frame: str | bytes | bytearray | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(frame, Mapping):
        return json.loads(json.dumps(frame))  # deep copy, and proves it is JSON-serialisable
    if isinstance(frame, bytes | bytearray):
        frame = bytes(frame).decode("utf-8")
    obj = json.loads(frame)
    if not isinstance(obj, dict):
        raise ValueError(f"frame is not a JSON object: {type(obj).__name__}")
    return obj


def _strict(model: type[Any], obj: dict[str, Any]) -> Any:
    """Validate in JSON mode (the documented base64 path) with enum warnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return model.model_validate_json(json.dumps(obj))


def validate_server_message(
    frame: str | bytes | bytearray | Mapping[str, Any],
) -> types.LiveServerMessage:
    """Check one server frame as google-genai would read it; raise on any deviation.

    Raises `pydantic.ValidationError` (unknown key, bad type, bad base64), `ValueError` (top-level
    key the SDK would not copy, oneof broken, empty message) or a `Warning` (unknown enum value).
    """
    obj = _load(frame)
    unknown = sorted(set(obj) - SERVER_TOP_LEVEL_KEYS)
    if unknown:
        raise ValueError(f"unknown/non-camelCase top-level server keys: {unknown}")
    members = [k for k in SERVER_ONEOF if obj.get(k) is not None]
    if len(members) > 1:
        raise ValueError(f"must set at most one oneof member (+usageMetadata), got {members}")
    if not members and obj.get("usageMetadata") is None:
        raise ValueError("server message carries no member: session.receive() would crash")
    va = obj.get("voiceActivity")
    if isinstance(va, dict) and "type" in va:
        va = dict(va)
        va["voiceActivityType"] = va.pop("type")
        obj["voiceActivity"] = va
    return _strict(types.LiveServerMessage, obj)


def validate_client_message(
    frame: str | bytes | bytearray | Mapping[str, Any],
) -> types.LiveClientMessage:
    """Check one client frame (camelCase or snake_case, as the SDK mixes them); raise on error."""
    obj = _load(frame)
    known = set(CLIENT_ONEOF) | set(CLIENT_ONEOF.values())
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ValueError(f"unknown top-level client keys: {unknown}")
    members = [k for k in obj if obj[k] is not None]
    if len(members) != 1:
        raise ValueError(f"client message must carry exactly one member, got {members}")
    rt = obj.get("realtimeInput", obj.get("realtime_input"))
    if isinstance(rt, dict):
        present = [
            camel
            for camel, snake in _REALTIME_INPUT_MEMBERS.items()
            if rt.get(camel) is not None or rt.get(snake) is not None
        ]
        if len(present) != 1:
            raise ValueError(f"realtimeInput should carry exactly one member, got {present}")
    return _strict(_ClientMessage, obj)


@dataclass(frozen=True)
class RecordedFrame:
    """One frame seen on the SDK's socket, with the oracle's verdict (None = valid)."""

    direction: Literal["client", "server"]
    raw: str | bytes
    error: str | None

    @property
    def json(self) -> dict[str, Any]:
        return _load(self.raw)


@dataclass
class FrameRecorder:
    """Collects frames and validation failures; `assert_ok()` at the end of a test.

    Mutable on purpose: it is an accumulator shared between the tapped socket and the test.
    """

    frames: list[RecordedFrame] = field(default_factory=list)

    def record(self, direction: Literal["client", "server"], raw: str | bytes) -> None:
        try:
            if direction == "server":
                validate_server_message(raw)
            else:
                validate_client_message(raw)
            error = None
        except (ValueError, Warning) as exc:  # pydantic.ValidationError is a ValueError
            error = f"{type(exc).__name__}: {exc}"
        self.frames.append(RecordedFrame(direction, raw, error))

    @property
    def errors(self) -> list[RecordedFrame]:
        return [f for f in self.frames if f.error is not None]

    def server(self) -> list[dict[str, Any]]:
        return [f.json for f in self.frames if f.direction == "server"]

    def client(self) -> list[dict[str, Any]]:
        return [f.json for f in self.frames if f.direction == "client"]

    def assert_ok(self) -> None:
        bad = self.errors
        if bad:
            lines = [f"{f.direction}: {f.error}\n    {str(f.raw)[:300]}" for f in bad[:5]]
            raise AssertionError(f"{len(bad)} frame(s) failed the oracle:\n" + "\n".join(lines))


class _TappedConnection:
    """Proxy over a websockets ClientConnection that records every text/binary frame."""

    def __init__(self, ws: Any, recorder: FrameRecorder) -> None:
        self._ws = ws
        self._recorder = recorder

    async def send(self, message: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, str | bytes):
            self._recorder.record("client", message)
        await self._ws.send(message, *args, **kwargs)

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        message = await self._ws.recv(*args, **kwargs)
        if isinstance(message, str | bytes):
            self._recorder.record("server", message)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


@contextlib.contextmanager
def tap_sdk(recorder: FrameRecorder) -> Iterator[FrameRecorder]:
    """Patch google-genai's `ws_connect` so every Live connection feeds `recorder`.

    The setup frame and `setupComplete` travel inside `AsyncLive.connect()` before any session
    object exists, so wrapping the connect function is the only way to see the whole exchange.
    """
    from google.genai import live

    original = live.ws_connect

    @contextlib.asynccontextmanager
    async def tapped(uri: str, **kwargs: Any) -> AsyncIterator[_TappedConnection]:
        async with original(uri, **kwargs) as ws:
            yield _TappedConnection(ws, recorder)

    setattr(live, "ws_connect", tapped)  # noqa: B010 - patching a module-level import
    try:
        yield recorder
    finally:
        setattr(live, "ws_connect", original)  # noqa: B010
