"""Shared pieces of the resilience tests: a scripted conversation driven turn by turn, the
tool it calls, frames numbered so a test can tell whether each reached the server once."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Tool
from realtimelab.emulator.server import SessionInfo
from realtimelab.providers.base import HistoryItem, ToolCallRecord, ToolResultRecord
from realtimelab.resilience import (
    ReconnectPolicy,
    ResilientSession,
    RotationPolicy,
    conversation_state,
)

__all__ = [
    "FAST",
    "NO_ROTATION",
    "SCRIPT",
    "WEATHER",
    "InputTap",
    "Run",
    "audio_numbers",
    "config_for",
    "drive",
    "frame_number",
    "normalise",
    "numbered_frame",
]


WEATHER = Tool(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


SCRIPT = ("hello there", "please get_weather in Paris", "thanks")


FAST = ReconnectPolicy(base_delay_s=0.01, max_delay_s=0.05, seed=1)


NO_ROTATION = RotationPolicy(enabled=False)


def config_for(provider: str) -> SessionConfig:
    # OpenAI answers in text (fast); Gemini native audio only answers in audio + transcript.
    return SessionConfig(
        instructions="Be brief.",
        output="text" if provider == "openai" else "audio",
        tools=(WEATHER,),
    )


def normalise(history: tuple[HistoryItem, ...]) -> list[tuple[Any, ...]]:
    """History with call ids replaced by their order of appearance (ids are random)."""
    ids: dict[str, str] = {}
    out: list[tuple[Any, ...]] = []
    for item in history:
        if isinstance(item, ToolCallRecord | ToolResultRecord):
            cid = ids.setdefault(item.call_id, f"call{len(ids)}")
            out.append(
                (
                    item.kind,
                    cid,
                    item.name,
                    getattr(item, "arguments_json", None),
                    getattr(item, "output", None),
                )
            )
        else:
            out.append((item.kind, item.text))
    return out


@dataclass
class Run:
    events: list[ev.Event] = field(default_factory=list)
    executions: Counter[str] = field(default_factory=Counter)
    history: tuple[HistoryItem, ...] = ()


async def drive(
    session: ResilientSession, run: Run, script: tuple[str, ...] = SCRIPT, timeout: float = 15.0
) -> Run:
    """Play the script turn by turn; the tool handler counts executions by call id."""
    async with asyncio.timeout(timeout):
        for text in script:
            await session.send_text(text)
            async for event in session:
                run.events.append(event)
                if isinstance(event, ev.ToolCall):
                    run.executions[event.call_id] += 1
                    await session.send_tool_response(event.call_id, {"temp_c": 21})
                elif isinstance(event, ev.Error) and event.fatal:
                    raise AssertionError(f"fatal error: {event}")
                elif (
                    isinstance(event, ev.TurnComplete)
                    and conversation_state(session.history) == "idle"
                    and session.history[-1].kind == "assistant"
                ):
                    break
    run.history = session.history
    return run


def numbered_frame(n: int, samples: int) -> bytes:
    """A quiet PCM16 frame carrying `n` in its first two samples (too faint for any VAD)."""
    head = [n & 0x3FF, n >> 10]
    return b"".join(int(s).to_bytes(2, "little", signed=True) for s in head + [0] * (samples - 2))


class InputTap:
    """Emulator tap collecting the numbered audio frames each server session received."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.by_session: dict[str, list[tuple[float, int]]] = {}
        self.order: list[str] = []

    def __call__(self, info: SessionInfo, direction: str, frame: str | bytes) -> None:
        if info.session_id not in self.by_session:
            self.by_session[info.session_id] = []
            self.order.append(info.session_id)
        if direction == "in":
            now = time.monotonic()
            self.by_session[info.session_id].extend(
                (now, n) for n in audio_numbers(frame, self.samples)
            )

    def numbers(self) -> list[int]:
        return [n for sid in self.order for _, n in self.by_session[sid]]


def frame_number(pcm: bytes) -> int:
    lo = int.from_bytes(pcm[0:2], "little", signed=True)
    hi = int.from_bytes(pcm[2:4], "little", signed=True)
    return lo | (hi << 10)


def audio_numbers(frame: str | bytes, samples: int) -> list[int]:
    """Numbers of the audio frames inside one client frame (either provider's shape)."""
    msg = json.loads(frame)
    data = (
        msg.get("audio")
        if msg.get("type") == "input_audio_buffer.append"
        else (((msg.get("realtimeInput") or {}).get("audio") or {}).get("data"))
    )
    if not data:
        return []
    pcm = base64.b64decode(data)
    size = samples * 2
    return [frame_number(pcm[i : i + size]) for i in range(0, len(pcm), size)]
