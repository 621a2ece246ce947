"""The emulator's OpenAI dialect as a sans-IO protocol, driven by feeding dicts: one way to build
it with the real input path, and the client events and checks its tests share."""

from __future__ import annotations

import base64
import json
from typing import Any

from realtimelab.emulator.dialects.openai.protocol import Action, RealtimeProtocol, Send
from realtimelab.emulator.engine import InputAudio
from realtimelab.emulator.ids import IdMint
from realtimelab.vad import StreamingVad
from support.conformance.openai import validate_server_event

__all__ = ["append", "feed", "make_proto", "only_error", "sent", "types", "update"]


def make_proto(
    *,
    seed: int = 1,
    session_id: str = "sess_test",
    model: str = "gpt-realtime-2",
    created_at: float = 1000.0,
    **kwargs: Any,
) -> RealtimeProtocol:
    """A protocol with the real input path (24 kHz, streaming VAD), ids minted from `seed`,
    sessions of at most an hour; `kwargs` go to `RealtimeProtocol`."""
    audio = InputAudio(24000, lambda rate, p: StreamingVad(rate, p), None)
    return RealtimeProtocol(
        ids=IdMint(seed),
        input_audio=audio,
        session_id=session_id,
        model=model,
        created_at=created_at,
        max_session_s=3600,
        **kwargs,
    )


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    """The server events among `actions`, each valid for the SDK's types with no extra field."""
    events = [a.event for a in actions if isinstance(a, Send)]
    for event in events:
        _, extras = validate_server_event(event)
        assert extras == [], (event["type"], extras)
    return events


def types(actions: list[Action]) -> list[str]:
    return [e["type"] for e in sent(actions)]


def feed(proto: RealtimeProtocol, frame: dict[str, Any] | str) -> list[Action]:
    """One client frame (a dict is sent as JSON text)."""
    return proto.receive(frame if isinstance(frame, str) else json.dumps(frame))


def update(proto: RealtimeProtocol, **session: Any) -> list[Action]:
    """A `session.update` of a realtime session with these fields."""
    return feed(proto, {"type": "session.update", "session": {"type": "realtime", **session}})


def append(proto: RealtimeProtocol, pcm: bytes) -> list[Action]:
    """An `input_audio_buffer.append` of `pcm`."""
    audio = base64.b64encode(pcm).decode()
    return feed(proto, {"type": "input_audio_buffer.append", "audio": audio})


def only_error(actions: list[Action]) -> dict[str, Any]:
    """The `error` object of the one event `actions` send."""
    events = sent(actions)
    assert [e["type"] for e in events] == ["error"], events
    error: dict[str, Any] = events[0]["error"]
    return error
