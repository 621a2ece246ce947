"""pydantic-ai-slim's realtime module (`pydantic_ai.realtime`) against the emulator, unchanged:
`OpenAIRealtimeModel` and `GoogleRealtimeModel` driven through `Agent.realtime(model).session()`.

    python scripts/third_party/pydantic_ai_realtime.py --url ws://127.0.0.1:PORT [--provider ...]

How they are pointed at the emulator:

* OpenAI: `OpenAIRealtimeModel("gpt-realtime", provider=OpenAIProvider(base_url=
  "http://127.0.0.1:P/v1", api_key=...))`; the realtime WebSocket URL is derived from the
  provider's base URL (`ws://.../v1/realtime?model=gpt-realtime`).
* Gemini: `GoogleRealtimeModel("gemini-3.8-live", provider=GoogleProvider(api_key=...,
  base_url="https://127.0.0.1:P"))` — google-genai only speaks wss, so the recording proxy serves
  TLS with a throwaway certificate (SSL_CERT_FILE points at it) and forwards to the plain ws URL.

Scenarios (the agent has a `get_weather(city)` tool in audio/tool; the session runs it itself):
* text:  `await session.send("Hello! Who are you?"); await session.wait_for_reply()`
* tool:  `await session.send("What's the weather in Paris?"); await session.wait_for_reply()`
* audio: `await session.send_audio(chunks)` — the fixture WAV at
         `session.audio_input_sample_rate`, 20 ms chunks at real time, then silence; server VAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import _common as c
from pydantic_ai import Agent
from pydantic_ai.providers.google import GoogleProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.realtime.google import GoogleRealtimeModel
from pydantic_ai.realtime.openai import OpenAIRealtimeModel

logging.basicConfig(level=logging.WARNING)

FRAMEWORK = "pydantic_ai"
CLIENT = c.version("pydantic-ai-slim", "openai", "google-genai", "websockets")
INSTRUCTIONS = "You are a helpful voice assistant. Be brief."


def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city."""
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


def make_model(provider: str, proxy: c.RecordingProxy) -> Any:
    if provider == "openai":
        return OpenAIRealtimeModel(
            "gpt-realtime",
            provider=OpenAIProvider(base_url=f"{proxy.http_url}/v1", api_key=c.DUMMY_OPENAI_KEY),
        )
    return GoogleRealtimeModel(
        "gemini-3.8-live",
        provider=GoogleProvider(api_key=c.DUMMY_GOOGLE_KEY, base_url=proxy.http_url),
    )


async def run(proxy: c.RecordingProxy, args: Any, provider: str, scenario: str) -> c.Outcome:
    agent: Agent[None, str] = Agent(
        instructions=INSTRUCTIONS, tools=[] if scenario == "text" else [get_weather]
    )
    seen: dict[str, int] = {}
    errors: list[str] = []
    async with agent.realtime(make_model(provider, proxy)).session() as session:

        async def watch() -> None:
            async for event in session:
                name = type(event).__name__
                seen[name] = seen.get(name, 0) + 1
                if "Error" in name:
                    errors.append(repr(event)[:300])

        watcher = asyncio.create_task(watch())
        try:
            if scenario == "audio":
                rate = session.audio_input_sample_rate
                pcm, wav_rate = c.read_wav(f"weather_paris_{rate // 1000}k.wav")
                assert wav_rate == rate, (wav_rate, rate)

                async def mic() -> AsyncIterator[bytes]:
                    for chunk in c.chunks(pcm + c.silence(1500, rate), rate):
                        yield chunk
                        await asyncio.sleep(0.02)

                await session.send_audio(mic())
            else:
                text = (
                    "Hello! Who are you?" if scenario == "text" else "What's the weather in Paris?"
                )
                await session.send(text)
                await asyncio.wait_for(session.wait_for_reply(), args.timeout - 15)
            wire = await c.wait_wire(proxy, provider, scenario, timeout=20)
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
    surfaced = f"events {seen}; errors {errors}"
    return c.judge(scenario, wire, surfaced=surfaced)


def runner_for(provider: str, scenario: str) -> Any:
    async def go(proxy: c.RecordingProxy, args: Any) -> c.Outcome:
        return await run(proxy, args, provider, scenario)

    return go


async def main() -> int:
    scenarios = ["text", "audio", "tool"]
    providers = ["openai", "gemini"]
    args = c.parse_args(__doc__ or "", scenarios, providers)
    runners = {(p, s): runner_for(p, s) for p in providers for s in scenarios}
    return await c.run_matrix(args, FRAMEWORK, CLIENT, runners, tls_for={"gemini"})


if __name__ == "__main__":
    c.main_entry(main())
