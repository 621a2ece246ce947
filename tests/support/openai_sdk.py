"""Driving the emulator with the official openai SDK: a client for it, the few client events the
tests send again and again, and reading server events up to a given type."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from openai import AsyncOpenAI

from realtimelab.emulator.server import Emulator

__all__ = ["WEATHER_TOOL", "append_audio", "client", "events_until", "say", "send_tool_output"]

#: `get_weather` as a session tool, in the GA wire shape.
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def client(emu: Emulator, key: str = "sk-test") -> AsyncOpenAI:
    """An SDK client whose HTTP and WebSocket calls go to `emu`."""
    return AsyncOpenAI(
        api_key=key, base_url=emu.openai_http_base, websocket_base_url=emu.openai_ws_base
    )


async def events_until(conn: Any, last: str, *, timeout: float = 30) -> list[Any]:
    """Server events up to and including the first one of type `last`."""
    out: list[Any] = []
    async with asyncio.timeout(timeout):
        async for event in conn:
            out.append(event)
            if event.type == last:
                return out
    raise AssertionError(f"connection ended before {last}: {[e.type for e in out]}")


async def say(conn: Any, text: str, *, respond: bool = False) -> None:
    """Add a user text message to the conversation; `respond=True` also asks for a reply."""
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    if respond:
        await conn.response.create()


async def send_tool_output(conn: Any, call_id: str, output: Any) -> None:
    """Answer a function call with `output` (as JSON) and ask for the reply that uses it."""
    await conn.conversation.item.create(
        item={"type": "function_call_output", "call_id": call_id, "output": json.dumps(output)}
    )
    await conn.response.create()


async def append_audio(conn: Any, pcm: bytes, chunk_ms: int = 40) -> None:
    """PCM16 at 24 kHz into the input buffer, `chunk_ms` at a time."""
    step = 48 * chunk_ms
    for i in range(0, len(pcm), step):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i : i + step]).decode())
