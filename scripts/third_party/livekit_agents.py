"""livekit-agents against the emulator, unchanged: the OpenAI realtime plugin
(`livekit-plugins-openai`) and the Gemini Live plugin (`livekit-plugins-google`).

    python scripts/third_party/livekit_agents.py --url ws://127.0.0.1:PORT [--provider gemini]

No LiveKit server is needed: an `AgentSession(llm=RealtimeModel(...))` runs without a room
(`session.start(agent)` with no `room=`), the way livekit's own tests drive it.

* OpenAI: `openai.realtime.RealtimeModel(base_url="http://127.0.0.1:P/v1")`; the plugin turns
  it into `ws://.../v1/realtime?model=...` (`process_base_url`).
* Gemini: `google.realtime.RealtimeModel(http_options=HttpOptions(base_url="https://127.0.0.1:P",
  api_version="v1beta"))` — google-genai only speaks wss, so the recording proxy serves TLS with
  a throwaway certificate (SSL_CERT_FILE points at it) and forwards to the plain ws URL.

Scenarios (the `Agent` has a `get_weather(city)` function tool in audio/tool):
* text:  `await session.run(user_input="Hello! Who are you?")`
* tool:  `await session.run(user_input="What's the weather in Paris?")` — the framework
         executes the tool and asks for the follow-up reply itself.
* audio: `session.input.audio` is a custom `AudioInput` yielding the fixture WAV as 20 ms
         `rtc.AudioFrame`s at real time, then silence; server-side VAD ends the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import _common as c
from google.genai import types as genai_types
from livekit import rtc
from livekit.agents import Agent, AgentSession, function_tool
from livekit.agents.voice.io import AudioInput
from livekit.plugins import google as lk_google
from livekit.plugins import openai as lk_openai

logging.basicConfig(level=logging.WARNING)

FRAMEWORK = "livekit"
CLIENT = c.version(
    "livekit-agents", "livekit-plugins-openai", "livekit-plugins-google", "google-genai"
)
INSTRUCTIONS = "You are a helpful voice assistant. Be brief."


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    @function_tool
    async def get_weather(self, city: str) -> dict[str, Any]:
        """Get the current weather for a city."""
        return {"city": city, "temperature_c": 21, "conditions": "sunny"}


class Chatty(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)


class WavInput(AudioInput):
    """A microphone that says the fixture once, then stays silent."""

    def __init__(self, pcm: bytes, rate: int) -> None:
        super().__init__(label="wav-fixture")
        self._chunks = c.chunks(pcm, rate)
        self._rate = rate
        self._silence = c.silence(20, rate)
        self._i = 0

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(0.02)
        data = self._chunks[self._i] if self._i < len(self._chunks) else self._silence
        self._i += 1
        return rtc.AudioFrame(
            data=data, sample_rate=self._rate, num_channels=1, samples_per_channel=len(data) // 2
        )


def make_model(provider: str, proxy: c.RecordingProxy) -> Any:
    if provider == "openai":
        return lk_openai.realtime.RealtimeModel(
            api_key=c.DUMMY_OPENAI_KEY, base_url=f"{proxy.http_url}/v1"
        )
    return lk_google.realtime.RealtimeModel(
        api_key=c.DUMMY_GOOGLE_KEY,
        http_options=genai_types.HttpOptions(base_url=proxy.http_url, api_version="v1beta"),
    )


async def run(proxy: c.RecordingProxy, args: Any, provider: str, scenario: str) -> c.Outcome:
    model = make_model(provider, proxy)
    session: AgentSession[Any] = AgentSession(llm=model)
    events: list[str] = []
    session.on("error", lambda ev: events.append(f"error: {ev.error}"))
    session.on(
        "conversation_item_added",
        lambda ev: events.append(
            f"{getattr(ev.item, 'role', ev.item.type)}: {getattr(ev.item, 'text_content', '')!r}"
        ),
    )
    session.on(
        "function_tools_executed",
        lambda ev: events.append(f"tools executed: {[f.name for f in ev.function_calls]}"),
    )
    run_error = ""
    try:
        if scenario == "audio":
            rate = 24000 if provider == "openai" else 16000
            pcm, wav_rate = c.read_wav(f"weather_paris_{rate // 1000}k.wav")
            assert wav_rate == rate
            session.input.audio = WavInput(pcm + c.silence(300, rate), rate)
        await session.start(Chatty() if scenario == "text" else Assistant())
        if scenario != "audio":
            text = "Hello! Who are you?" if scenario == "text" else "What's the weather in Paris?"
            try:
                await asyncio.wait_for(session.run(user_input=text), args.timeout - 15)
            except Exception as exc:  # RunResult raises the run's error
                run_error = f"{type(exc).__name__}: {exc}"
        wire = await c.wait_wire(proxy, provider, scenario, timeout=8 if run_error else 20)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.aclose(), 5)
        with contextlib.suppress(Exception):
            await model.aclose()
    surfaced = f"run error: {run_error or 'none'}; events: {events}"
    return c.judge(scenario, wire, surfaced=surfaced)


def runner_for(provider: str, scenario: str) -> Any:
    async def go(proxy: c.RecordingProxy, args: Any) -> c.Outcome:
        return await run(proxy, args, provider, scenario)

    return go


_NULL_INSTRUCTIONS = (
    'Known failure 1: every response.create carries "instructions": null (the plugin\'s '
    "generate_reply sets RealtimeResponseCreateParams(instructions=instructions or None) and "
    "serialises with exclude_unset, so the explicit None goes out). The emulator fails the "
    'response: response.done status failed, server_error "unsupported operand type(s) for +: '
    "'NoneType' and 'str'\". The real API treats an optional field sent as null as not set."
)
_DOT_TURN = (
    "Known failure 4: the plugin sends the user text as clientContent with turnComplete:false, "
    "then a second clientContent turn {text: '.'} with turnComplete:true. The emulator's brain "
    "answers only the last user message ('.'): 'Sorry, I didn't catch that' and no toolCall. "
    "Real service (LiveClientContent.turn_complete): generation starts 'with the currently "
    "accumulated prompt', i.e. both turns."
)
NOTES = {
    ("openai", "text"): _NULL_INSTRUCTIONS,
    ("openai", "audio"): _NULL_INSTRUCTIONS + " Here the first, VAD-created response (the "
    "tool call) works; the follow-up response.create after the tool output fails.",
    ("openai", "tool"): _NULL_INSTRUCTIONS,
    ("gemini", "text"): _DOT_TURN,
    ("gemini", "tool"): _DOT_TURN,
    ("gemini", "audio"): "Passes, but the plugin's toolResponse is {'output': <Python repr, "
    "not JSON>} and the emulator reads it out raw ('The weather tool says: {...}').",
}


async def main() -> int:
    scenarios = ["text", "audio", "tool"]
    providers = ["openai", "gemini"]
    args = c.parse_args(__doc__ or "", scenarios, providers)
    runners = {(p, s): runner_for(p, s) for p in providers for s in scenarios}
    return await c.run_matrix(args, FRAMEWORK, CLIENT, runners, tls_for={"gemini"}, notes=NOTES)


if __name__ == "__main__":
    c.main_entry(main())
