"""Shared fixtures: an in-process emulator on an ephemeral loopback port, plus simple fakes.

Use `emulator` for a default instance (fast pacing), or `make_emulator(**config_fields)` for a
custom one — every emulator made here is stopped at the end of the test:

    async def test_something(make_emulator):
        emu = await make_emulator(openai_max_session_s=2, frame_tap=recorder)
        async with websockets.connect(emu.openai_ws_base + "/realtime?model=x", ...) as ws: ...

`fake_components` swaps the brain/voice/hearing for tiny deterministic fakes (the VAD stays
real) when a test is about the protocol rather than about the emulator's intelligence.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pytest

from realtimelab.emulator.engine import Components, default_components
from realtimelab.emulator.model import (
    FunctionResult,
    Item,
    PlannedCall,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.server import Emulator, EmulatorConfig

FAST_SPEED = 20.0


# ----------------------------------------------------------------------------------------------
# fakes
# ----------------------------------------------------------------------------------------------


class FakeBrain:
    """Echo brain: calls a declared tool when the user names it, folds results, else echoes."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.calls: list[list[Item]] = []

    def respond(self, history: Sequence[Item], *, tools: Sequence[ToolSpec],
                instructions: str = "", facts: SessionFacts | None = None) -> Reply:
        self.calls.append(list(history))
        last = history[-1] if history else None
        if isinstance(last, FunctionResult):
            return Reply(text=f"Result from {last.name}: {last.output}")
        text = last.text if isinstance(last, UserMessage) else ""
        for tool in tools:
            if tool.name in text or tool.name.replace("_", " ") in text:
                city = text.rsplit(" ", 1)[-1].strip("?.!")
                return Reply(tool_calls=(PlannedCall(tool.name, {"city": city}),),
                             preamble="Let me check." if "check" in instructions else "")
        return Reply(text=f"You said: {text}" if text else "Hello there! How can I help?")


class FakeVoice:
    """A 220 Hz tone, 60 ms per character: long enough to interrupt, cheap to make."""

    def synthesize_segments(self, text: str, *, voice: str = "alloy", rate: int = 24000,
                            speed: float = 1.0) -> list[tuple[str, bytes]]:
        out = []
        for phrase in [p for p in text.split(". ") if p]:
            n = int(rate * 0.06 * len(phrase) / speed)
            samples = (int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(n))
            out.append((phrase, b"".join(s.to_bytes(2, "little", signed=True) for s in samples)))
        return out


@dataclass(frozen=True)
class FakeTranscript:
    text: str
    recognised: bool = True
    confidence: float = 1.0


class FakeHearing:
    """Hears whatever `text` is set to (tests set `FakeHearing.text` before speaking)."""

    text = "hello"

    def transcribe(self, pcm: bytes, rate: int) -> FakeTranscript:
        return FakeTranscript(type(self).text)


def fake_components_value() -> Components:
    real = default_components()
    return Components(brain=FakeBrain, voice=FakeVoice,
                      hearing=lambda tools, brain: FakeHearing(), vad=real.vad)


# ----------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def fake_components() -> Components:
    return fake_components_value()


MakeEmulator = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def make_emulator() -> AsyncIterator[MakeEmulator]:
    """Factory: `await make_emulator(speed=30, frame_tap=..., components=..., **config)`."""
    started: list[Emulator] = []
    config_fields = {f.name for f in fields(EmulatorConfig)}

    async def make(**kwargs: Any) -> Emulator:
        config_kwargs = {k: v for k, v in kwargs.items() if k in config_fields}
        other = {k: v for k, v in kwargs.items() if k not in config_fields}
        config_kwargs.setdefault("speed", FAST_SPEED)
        emu = Emulator(EmulatorConfig(**config_kwargs), **other)
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        await emu.stop()


@pytest.fixture
async def emulator(make_emulator: MakeEmulator) -> Emulator:
    return await make_emulator()
