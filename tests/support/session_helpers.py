"""Helpers for scenario tests that drive a `RealtimeSession` against the emulator."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_args

from openai.types.realtime import RealtimeClientEvent
from pydantic import Field, TypeAdapter

from realtimelab import events as ev
from realtimelab.emulator.voice import Voice
from realtimelab.session import RealtimeSession
from support.conformance.gemini import validate_client_message

__all__ = ["OPENAI_CLIENT", "SentFrames", "answer_done", "speak", "until"]

OPENAI_CLIENT = TypeAdapter(
    Annotated[get_args(RealtimeClientEvent)[0], Field(discriminator="type")]
)


class SentFrames:
    """A frame tap that keeps what the client sent, for the SDK conformance check."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, direction: str, frame: dict[str, Any], t: float) -> None:
        if direction == "send":
            self.sent.append(frame)

    def audio_bytes(self) -> int:
        """PCM bytes sent, read from either wire shape."""
        total = 0
        for f in self.sent:
            data = f.get("audio") or f.get("realtimeInput", {}).get("audio", {}).get("data")
            total += len(base64.b64decode(data)) if isinstance(data, str) else 0
        return total

    def validate(self, provider: str) -> None:
        assert self.sent
        for frame in self.sent:
            if provider == "openai":  # the oracle differs per provider; the code under test not
                OPENAI_CLIENT.validate_python(json.loads(json.dumps(frame)))
            else:
                validate_client_message(json.dumps(frame))


async def until(
    session: RealtimeSession,
    done: Callable[[ev.Event], bool],
    on_event: Callable[[ev.Event], Awaitable[None]] | None = None,
    timeout: float = 30,
) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
            if on_event is not None:
                await on_event(event)
            if done(event):
                return out
    raise AssertionError(f"session ended first: {[e.kind for e in out]}")


def answer_done(event: ev.Event) -> bool:
    """The model finished answering (one `TurnComplete` per answer, on every provider)."""
    return isinstance(event, ev.TurnComplete)


async def speak(session: RealtimeSession, text: str, rate: int = 16000) -> None:
    """Synthesized speech + 1 s of silence, in 20 ms chunks at `rate` (resampled as needed)."""
    pcm = Voice().synthesize(text, rate=rate) + b"\x00\x00" * rate
    step = rate // 50 * 2
    for i in range(0, len(pcm), step):
        await session.send_audio(pcm[i : i + step], rate)
