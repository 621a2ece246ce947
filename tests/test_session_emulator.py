"""The same scenario code on both providers, against the real emulator (loopback).

Each scenario is written once, parametrized over the provider, and asserts the unified shape:
which events arrive, in which order where it matters, and what history the client keeps. Every
frame the client sends is checked against the official SDK's types.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from support.fakes import QueuedHearing
from support.session_helpers import SentFrames, answer_done, speak, until

import realtimelab.session as session_module
from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.emulator.engine import default_components
from realtimelab.emulator.server import Emulator
from realtimelab.emulator.voice import Voice
from realtimelab.providers.base import AssistantText, UserText
from realtimelab.schema import tool
from realtimelab.session import EMULATOR_ENV, connect

pytestmark = pytest.mark.timeout(60)
PROVIDERS = ["openai", "gemini"]
MakeEmulator = Callable[..., Awaitable[Emulator]]


def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: the city name
    """
    return {"city": city, "forecast": "sunny", "temp_c": 21}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_turn(provider: str, make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    tap = SentFrames()
    async with connect(provider, SessionConfig(), url=emu.url, frame_tap=tap) as session:
        await session.send_text("Hello there!")
        events = await until(session, answer_done)
    kinds = [e.kind for e in events]
    assert kinds[0] == "SessionStarted"
    assert kinds.index("ResponseStarted") < kinds.index("AudioChunk") < kinds.index("TurnComplete")
    audio = [e for e in events if isinstance(e, ev.AudioChunk)]
    assert all(a.rate == 24000 for a in audio) and sum(a.duration_ms for a in audio) > 300
    (final,) = [e for e in events if isinstance(e, ev.OutputTranscript) and e.final]
    done = events[-1]
    assert isinstance(done, ev.TurnComplete) and done.status == "completed"
    assert done.usage is not None and done.usage.output_tokens > 0
    assert session.history == (UserText("Hello there!"), AssistantText(final.text))
    tap.validate(provider)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_audio_turn_is_resampled_and_transcribed(
    provider: str, make_emulator: MakeEmulator
) -> None:
    # the ears pinned: the test is about our audio path (resampling, VAD turn taking,
    # transcript events, history), not about speech recognition
    ears = QueuedHearing(default="What time is it?")
    components = replace(default_components(), hearing=lambda tools, brain: ears)
    emu = await make_emulator(components=components)
    tap = SentFrames()
    config = SessionConfig(input_transcription=True)
    async with connect(provider, config, url=emu.url, frame_tap=tap) as session:
        await speak(session, "What time is it?", rate=48000)  # neither provider's input rate
        events = await until(session, answer_done)
    heard = [e for e in events if isinstance(e, ev.InputTranscript) and e.final]
    assert [h.text for h in heard] == ["What time is it?"]
    kinds = [e.kind for e in events]
    if session.capabilities.speech_started_events:
        assert kinds.index("SpeechStarted") < kinds.index("SpeechStopped")
    assert kinds.index("ResponseStarted") < kinds.index("AudioChunk") < kinds.index("TurnComplete")
    assert session.history[0] == UserText("What time is it?", spoken=True)
    assert [h.kind for h in session.history] == ["user", "assistant"]
    finding = session.rate_guard.findings[0]
    assert (finding.declared, finding.expected, finding.action) == (
        48000,
        session.capabilities.input_rate,
        "resampled",
    )
    rate = session.capabilities.input_rate
    sent_ms = tap.audio_bytes() / 2 / rate * 1000
    spoken_ms = len(Voice().synthesize("What time is it?", rate=48000)) / 2 / 48 + 1000
    assert abs(sent_ms - spoken_ms) < 40  # all of it, at the provider's rate (less filter delay)
    tap.validate(provider)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_round_trip(provider: str, make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    tap = SentFrames()
    config = SessionConfig(tools=[get_weather])

    async with connect(provider, config, url=emu.url, frame_tap=tap) as session:

        async def run_tools(event: ev.Event) -> None:
            if isinstance(event, ev.ToolCall):
                assert event.arguments is not None
                await session.send_tool_response(event.call_id, get_weather(**event.arguments))

        await session.send_text("What is the weather in Paris?")
        events = await until(session, answer_done, run_tools)
    (call,) = [e for e in events if isinstance(e, ev.ToolCall)]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    finals = [e.text for e in events if isinstance(e, ev.OutputTranscript) and e.final]
    assert finals and "paris" in finals[-1].lower()
    assert [h.kind for h in session.history] == ["user", "tool_call", "tool_result", "assistant"]
    # one answer, one TurnComplete on both providers; OpenAI's intermediate response.done is
    # visible as the GenerationComplete of the response that called the tool
    assert [e.status for e in events if isinstance(e, ev.TurnComplete)] == ["completed"]
    pauses = [
        e for e in events if isinstance(e, ev.GenerationComplete) and e.reason == "tool_calls"
    ]
    assert len(pauses) == (1 if session.capabilities.tool_call_ends_turn else 0)
    tap.validate(provider)


def docstring_example() -> str:
    doc = session_module.__doc__ or ""
    match = re.search(r"one word::\n\n(.*?)\n\n(?=\S)", doc, re.S)
    assert match, "the example is missing from realtimelab.session's docstring"
    lines = match.group(1).splitlines()
    code = "\n".join(line[4:] for line in lines)
    assert len(lines) <= 20
    return code


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_docstring_example_runs_on_both(
    provider: str, make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = await make_emulator()
    monkeypatch.setenv(EMULATOR_ENV, emu.url)
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    code = docstring_example().replace('print(asyncio.run(main("gemini")))  # or "openai"', "")
    namespace: dict[str, Any] = {}
    exec(compile(code, "session-docstring", "exec"), namespace)
    words = await namespace["main"](provider)
    assert isinstance(words, str) and words.strip()


async def test_without_keys_or_url_an_emulator_is_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", EMULATOR_ENV):
        monkeypatch.delenv(name, raising=False)
    async with connect("gemini") as session:
        assert session.url.startswith("ws://127.0.0.1:")
        await session.send_text("Hello!")
        await until(session, answer_done)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_rtl_fault_query_really_drops_the_session(
    provider: str, make_emulator: MakeEmulator
) -> None:
    """`query=` reaches the emulator's per-session fault syntax: 0.3 s into the session the
    TCP connection is aborted (no close frame), which the codec reports as a retryable 1006."""
    emu = await make_emulator()
    fault = {"rtl_fault": "drop_after_s:0.3"}
    async with connect(provider, url=emu.url, query=fault) as s:
        assert "rtl_fault=drop_after_s%3A0.3" in s.url
        opened = s.now()
        events = await until(s, lambda e: isinstance(e, ev.Closed), timeout=10)
    err, closed = events[-2:]
    assert isinstance(closed, ev.Closed) and closed.code == 1006 and not closed.expected
    assert isinstance(err, ev.Error) and err.code == "1006" and not err.fatal
    assert closed.t - opened >= 0.2

    # the same emulator, without the query: a healthy session that answers
    async with connect(provider, url=emu.url) as s:
        await s.send_text("hello there")
        await until(s, answer_done)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_late_tool_result_is_told_once_the_model_is_idle(
    provider: str, make_emulator: MakeEmulator
) -> None:
    """A call answered by a placeholder; the real result is sent *while the placeholder's
    reply is still being spoken*. The codec holds the reply request (OpenAI `response.create`,
    Gemini the whole `clientContent`) until that reply ends, so nothing is cut or refused,
    and the model then tells the user the result."""
    emu = await make_emulator()
    tap = SentFrames()
    config = SessionConfig(tools=(tool(get_weather),))
    late_sent: list[int] = []
    wire: list[tuple[str, dict[str, Any]]] = []  # both directions, in order (no maxlen)

    def both(direction: str, frame: dict[str, Any], t: float) -> None:
        wire.append((direction, frame))
        tap(direction, frame, t)

    async with connect(provider, config, url=emu.url, frame_tap=both) as session:
        call: ev.ToolCall | None = None

        async def on_event(event: ev.Event) -> None:
            nonlocal call
            if isinstance(event, ev.ToolCall):
                call = event
                await session.send_tool_response(event.call_id, {"status": "pending"})
            elif (
                call is not None
                and not late_sent
                and (
                    # the placeholder's reply has begun: OpenAI's new response / Gemini's audio
                    isinstance(event, ev.AudioChunk)
                    or (
                        isinstance(event, ev.ResponseStarted)
                        and session.capabilities.tool_call_ends_turn
                    )
                )
            ):
                late_sent.append(len(wire))
                await session.send_late_tool_result(call.call_id, get_weather("Paris"))

        await session.send_text("What is the weather in Paris?")
        first = await until(session, answer_done, on_event)
        second = await until(session, answer_done)
    assert late_sent, "the late result was never sent"
    finals = [e.text for e in first if isinstance(e, ev.OutputTranscript) and e.final]
    assert "still working" in finals[-1].lower()
    told = [e.text for e in second if isinstance(e, ev.OutputTranscript) and e.final]
    assert told and "21" in told[-1] and "paris" in told[-1].lower()
    assert not [e for e in first + second if isinstance(e, ev.Error | ev.Interrupted)]
    assert [h.kind for h in session.history] == [
        "user",
        "tool_call",
        "tool_result",
        "assistant",
        "tool_result",
        "assistant",
    ]
    # the reply request went out only after the placeholder's reply ended on the wire
    ends = [
        i
        for i, (d, f) in enumerate(wire)
        if d == "recv"
        and (f.get("type") == "response.done" or f.get("serverContent", {}).get("turnComplete"))
    ]
    requests = [
        i
        for i, (d, f) in enumerate(wire)
        if d == "send"
        and (f.get("type") == "response.create" or f.get("clientContent", {}).get("turnComplete"))
    ]
    late_request = next(i for i in requests if i > late_sent[0])
    assert any(late_sent[0] < end < late_request for end in ends)
    tap.validate(provider)
