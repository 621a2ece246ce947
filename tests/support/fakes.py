"""Tiny deterministic stand-ins for the emulator's brain, voice and ears.

Used when a test is about the protocol or the client rather than the emulator's intelligence.
Two sets, each bundled as `Components` (the VAD stays real: it is cheap and its parameters are
part of what the dialects must honour):

* `fake_components_value()`: the brain echoes and calls a tool when the user names it
  (`FakeBrain`), the voice is a tone of 60 ms per character (`FakeVoice`), the ears hear
  whatever `FakeHearing.text` says;
* `scripted_components(hearing)`: the brain follows a few scripted rules (`ScriptedBrain`), the
  voice renders 60 ms of tone per word (`ToneVoice`), the ears return whatever the test queued
  (`QueuedHearing`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

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

__all__ = [
    "FakeBrain",
    "FakeHearing",
    "FakeTranscript",
    "FakeVoice",
    "QueuedHearing",
    "RecordingBrain",
    "ScriptedBrain",
    "ToneVoice",
    "fake_components_value",
    "recording_components",
    "scripted_components",
]


class FakeBrain:
    """Echo brain: calls a declared tool when the user names it, folds results, else echoes."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.calls: list[list[Item]] = []

    def respond(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply:
        self.calls.append(list(history))
        last = history[-1] if history else None
        if isinstance(last, FunctionResult):
            return Reply(text=f"Result from {last.name}: {last.output}")
        text = last.text if isinstance(last, UserMessage) else ""
        for tool in tools:
            if tool.name in text or tool.name.replace("_", " ") in text:
                city = text.rsplit(" ", 1)[-1].strip("?.!")
                return Reply(
                    tool_calls=(PlannedCall(tool.name, {"city": city}),),
                    preamble="Let me check." if "check" in instructions else "",
                )
        return Reply(text=f"You said: {text}" if text else "Hello there! How can I help?")


class RecordingBrain(FakeBrain):
    """FakeBrain whose instances (one per server session) all record into one list, so a test
    sees what every reply was based on, across sessions. `recording_components()` empties it."""

    histories: ClassVar[list[list[Item]]] = []

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.calls = RecordingBrain.histories

    @classmethod
    def seen(cls) -> list[list[str]]:
        """The user texts each reply was based on, in order."""
        return [[i.text for i in h if isinstance(i, UserMessage)] for h in cls.histories]


class FakeVoice:
    """A 220 Hz tone, 60 ms per character: long enough to interrupt, cheap to make."""

    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]:
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
    return Components(
        brain=FakeBrain, voice=FakeVoice, hearing=lambda tools, brain: FakeHearing(), vad=real.vad
    )


def recording_components() -> Components:
    """The fake components with a `RecordingBrain` whose `seen` list starts empty."""
    RecordingBrain.histories.clear()
    return dataclasses.replace(fake_components_value(), brain=RecordingBrain)


class ScriptedBrain:
    """Scripted replies keyed on the last history item (tools called by keyword)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def respond(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply:
        last = history[-1] if history else None
        if isinstance(last, FunctionResult):
            # Outputs arrive unwrapped from Gemini's {"output": ...} envelope: plain text or JSON.
            return Reply(text=f"Result {last.output} noted.")
        text = last.text.lower() if isinstance(last, UserMessage) else ""
        names = {t.name for t in tools}
        if "weather" in text and "get_weather" in names:
            calls = [PlannedCall("get_weather", {"city": "Paris"})]
            if "time" in text and "get_time" in names:
                calls.append(PlannedCall("get_time", {"tz": "CET"}))
            return Reply(tool_calls=tuple(calls))
        if "long" in text:
            return Reply(text=" ".join(["word"] * 80))
        if "how many" in text:
            users = sum(isinstance(i, UserMessage) for i in history)
            return Reply(text=f"You sent {users} messages.")
        return Reply(text=f"You said {text}." if text else "Hello.")


class ToneVoice:
    """60 ms of a 220 Hz tone per word, one segment per phrase."""

    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]:
        words = text.split()
        n = int(rate * 0.06 * max(1, len(words)))
        t = np.arange(n) / rate
        pcm = (0.2 * np.sin(2 * math.pi * 220 * t) * 32767).astype("<i2").tobytes()
        return [(text, pcm)]


@dataclass
class QueuedHearing:
    """Returns queued texts in order, then `default`."""

    queue: list[str] = field(default_factory=list)
    default: str = "hello there"
    heard: list[tuple[int, int]] = field(default_factory=list)  # (bytes, rate) per call

    def transcribe(self, pcm: bytes, rate: int) -> FakeTranscript:
        self.heard.append((len(pcm), rate))
        return FakeTranscript(self.queue.pop(0) if self.queue else self.default)


def scripted_components(hearing: QueuedHearing | None = None) -> Components:
    """`ScriptedBrain`, `ToneVoice` and `hearing` (a fresh `QueuedHearing` by default), with the
    real VAD, for `Emulator(components=...)`."""
    ears = hearing or QueuedHearing()
    return Components(
        brain=ScriptedBrain,
        voice=ToneVoice,
        hearing=lambda tools, brain: ears,
        vad=default_components().vad,
    )
