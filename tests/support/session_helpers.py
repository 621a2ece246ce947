"""Helpers for scenario tests that drive a `RealtimeSession` against the emulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, get_args

from openai.types.realtime import RealtimeClientEvent
from pydantic import Field, TypeAdapter

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.contract import BaseSession
from realtimelab.emulator.server import Emulator
from realtimelab.emulator.voice import Voice
from realtimelab.resilience import ReconnectPolicy, ResilientSession, RotationPolicy
from realtimelab.session import RealtimeSession, connect
from support.conformance.gemini import validate_client_message

__all__ = ["OPENAI_CLIENT", "SentFrames", "answer_done", "of", "open_session", "speak", "until"]

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


@contextlib.asynccontextmanager
async def open_session(
    kind: str, provider: str, emu: Emulator, config: SessionConfig, **kwargs: Any
) -> AsyncIterator[BaseSession]:
    """A `RealtimeSession` (`kind="single"`) or a `ResilientSession` (quick retries, no
    rotation) on the emulator `emu`."""
    if kind == "single":
        async with connect(provider, config, url=emu.url, **kwargs) as s:
            yield s
    else:
        session = ResilientSession(
            provider,
            config,
            url=emu.url,
            policy=ReconnectPolicy(base_delay_s=0.01, seed=1),
            rotation=RotationPolicy(enabled=False),
            **kwargs,
        )
        async with session:
            yield session


async def until(
    session: BaseSession,
    done: Callable[[ev.Event], bool],
    on_event: Callable[[ev.Event], Awaitable[None]] | None = None,
    timeout: float = 30,
    *,
    fatal_ok: bool = True,
) -> list[ev.Event]:
    """The events up to and including the first one `done` accepts; with `fatal_ok=False` a
    fatal `Error` before it fails the test."""
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
            assert fatal_ok or not (isinstance(event, ev.Error) and event.fatal), event
            if on_event is not None:
                await on_event(event)
            if done(event):
                return out
    raise AssertionError(f"the session ended first: {[e.kind for e in out]}")


def of(events: list[ev.Event], kind: type[Any]) -> list[Any]:
    """The events of one kind, in order."""
    return [e for e in events if isinstance(e, kind)]


def answer_done(event: ev.Event) -> bool:
    """The model finished answering (one `TurnComplete` per answer, on every provider)."""
    return isinstance(event, ev.TurnComplete)


async def speak(session: RealtimeSession, text: str, rate: int = 16000) -> None:
    """Synthesized speech + 1 s of silence, in 20 ms chunks at `rate` (resampled as needed)."""
    pcm = Voice().synthesize(text, rate=rate) + b"\x00\x00" * rate
    step = rate // 50 * 2
    for i in range(0, len(pcm), step):
        await session.send_audio(pcm[i : i + step], rate)
