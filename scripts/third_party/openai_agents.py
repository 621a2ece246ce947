"""openai-agents (its `agents.realtime` module) against the emulator, unchanged.

    python scripts/third_party/openai_agents.py --url ws://127.0.0.1:PORT

How it is pointed at the emulator: `RealtimeRunner(agent).run(model_config={"url": ...,
"api_key": ...})` — `RealtimeModelConfig.url` replaces `wss://api.openai.com/v1/realtime?...`
(agents/realtime/openai_realtime.py `connect`). No other server is involved.

Scenarios (one WebSocket each, recorded by the proxy in _common.py):
* text:  `session.send_message("Hello! Who are you?")`
* audio: weather_paris_24k.wav streamed in 20 ms chunks at real time, then silence (the SDK's
         default turn detection, semantic_vad, ends the turn); the agent has get_weather.
* tool:  `send_message("What's the weather in Paris?")`; the agent runs get_weather itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import _common as c
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

FRAMEWORK = "openai_agents"
CLIENT = c.version("openai-agents", "openai", "websockets")


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city."""
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


def make_agent(with_tool: bool) -> RealtimeAgent[Any]:
    return RealtimeAgent(
        name="Assistant",
        instructions="You are a helpful voice assistant. Be brief.",
        tools=[get_weather] if with_tool else [],
    )


#: One model for the URL and for the SDK's settings: openai-agents puts its model (its own
#: default, gpt-realtime-2.1 in 0.24) into every session.update, and a session's model cannot
#: change after it is created (the SDK's SessionUpdateEvent: "any field except for voice and
#: model"), so a URL naming another model makes the emulator refuse the whole update.
MODEL = "gpt-realtime"


async def run(proxy: c.RecordingProxy, args: Any, scenario: str) -> c.Outcome:
    runner = RealtimeRunner(
        make_agent(scenario != "text"), config={"model_settings": {"model_name": MODEL}}
    )
    session = await runner.run(
        model_config={
            "url": f"{proxy.url}/v1/realtime?model={MODEL}",
            "api_key": c.DUMMY_OPENAI_KEY,
        }
    )
    seen: list[str] = []
    tool_ends = 0
    audio_chunks = 0
    turns_wanted = 1 if scenario == "text" else 2  # tool: call + reply after the result
    turns = 0
    async with session:
        if scenario == "audio":
            pcm, rate = c.read_wav("weather_paris_24k.wav")
            assert rate == 24000

            async def stream() -> None:
                for chunk in c.chunks(pcm + c.silence(1500, rate), rate):
                    await session.send_audio(chunk)
                    await asyncio.sleep(0.02)

            sender = asyncio.create_task(stream())
        else:
            sender = None
            text = "Hello! Who are you?" if scenario == "text" else "What's the weather in Paris?"
            await session.send_message(text)
        async for event in session:
            seen.append(event.type)
            if event.type == "audio":
                audio_chunks += 1
            elif event.type == "tool_end":
                tool_ends += 1
            elif event.type == "error":
                print("  error event:", event.error)
            elif event.type == "raw_model_event" and event.data.type == "turn_ended":
                turns += 1
                if turns >= turns_wanted:
                    break
        if sender is not None:
            sender.cancel()
        await asyncio.sleep(0.3)
    surfaced = f"{audio_chunks} audio events, {tool_ends} tool_end; events: {sorted(set(seen))}"
    return c.judge(scenario, c.analyze_openai(c.frames_of(proxy)), surfaced=surfaced)


def runner_for(scenario: str) -> Any:
    async def go(proxy: c.RecordingProxy, args: Any) -> c.Outcome:
        return await run(proxy, args, scenario)

    return go


async def main() -> int:
    scenarios = ["text", "audio", "tool"]
    args = c.parse_args(__doc__ or "", scenarios, ["openai"])
    runners = {("openai", s): runner_for(s) for s in scenarios}
    return await c.run_matrix(args, FRAMEWORK, CLIENT, runners)


if __name__ == "__main__":
    c.main_entry(main())
