"""`ToolDispatcher` end to end: a real `RealtimeSession` talking to the emulator, both dialects.

The emulator's brain calls declared tools when the words match, says an acknowledgement
before calling when the instructions ask for one, and folds results into its reply, so these
tests check what a user would hear. Pacing is compressed (`speed`), tool latencies are real:
comparisons use ratios and bounds, not absolute times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from support.tool_samples import city_tool

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.schema import Tool
from realtimelab.session import RealtimeSession, connect
from realtimelab.tools import (
    ToolDispatcher,
    ToolRegistry,
    acknowledgement_instructions,
    silent_gap_ms,
)

both = pytest.mark.parametrize("provider", ["openai", "gemini"])

SPEED = 20.0
TOOL_S = 0.3
ASYNC_TOOLS_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
WEATHER = {"temp_c": 21, "condition": "sunny"}


@dataclass
class Talk:
    session: RealtimeSession
    tools: ToolDispatcher
    events: list[ev.Event] = field(default_factory=list)
    sent_at: float = 0.0

    def said(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, ev.OutputTranscript) and e.final]

    def calls(self) -> list[ev.ToolCall]:
        return [e for e in self.events if isinstance(e, ev.ToolCall)]


Until = Callable[[Talk], bool]


async def talk(
    make_emulator: Callable[..., Awaitable[Any]],
    provider: str,
    registry: ToolRegistry,
    text: str,
    until: Until,
    *,
    instructions: str = "You are a helpful assistant.",
    declared: Sequence[Tool] | None = None,
    during: Callable[[Talk, ev.Event], Awaitable[None]] | None = None,
    timeout: float = 10.0,
    model: str | None = None,
) -> Talk:
    emulator = await make_emulator(speed=SPEED)
    offered = tuple(declared) if declared is not None else registry.tools
    config = SessionConfig(instructions=instructions, tools=offered, model=model)
    async with (
        connect(provider, config, url=emulator.url) as session,
        ToolDispatcher(session, registry, default_timeout_s=5) as tools,
    ):
        state = Talk(session, tools)
        await session.send_text(text)
        state.sent_at = time.monotonic()

        async def loop() -> None:
            async for event in tools.run():
                state.events.append(event)
                if during is not None:
                    await during(state, event)
                if until(state):
                    return

        await asyncio.wait_for(loop(), timeout)
        return state


def weather_registry(
    *, latency_s: float = TOOL_S, timeout_s: float | None = None, behavior: Any = "blocking"
) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool(timeout_s=timeout_s, behavior=behavior)
    async def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city."""
        await asyncio.sleep(latency_s)
        return {"city": city, **WEATHER}

    return registry


def answered(n: int) -> Until:
    """Stop after the model has finished `n` spoken replies following the tool call(s)."""

    def check(t: Talk) -> bool:
        calls = t.calls()
        if not calls:
            return False
        finals = [
            e
            for e in t.events
            if isinstance(e, ev.OutputTranscript) and e.final and e.t > calls[0].t
        ]
        return len(finals) >= n and isinstance(t.events[-1], ev.TurnComplete)

    return check


# ---------------------------------------------------------------------------------------------


@both
async def test_parallel_calls_run_concurrently_and_are_answered_together(
    provider: str, make_emulator: Any
) -> None:
    registry = ToolRegistry()
    spans: dict[str, tuple[float, float]] = {}

    @registry.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city."""
        start = time.monotonic()
        await asyncio.sleep(TOOL_S)
        spans["get_weather"] = (start, time.monotonic())
        return {"city": city, **WEATHER}

    @registry.tool
    async def get_time(city: str) -> dict[str, Any]:
        """Get the local time in a city."""
        start = time.monotonic()
        await asyncio.sleep(TOOL_S)
        spans["get_time"] = (start, time.monotonic())
        return {"city": city, "time": "10:00"}

    t = await talk(
        make_emulator,
        provider,
        registry,
        "what is the weather in paris and what time is it in tokyo",
        answered(1),
    )
    calls = t.calls()
    assert sorted(c.name for c in calls) == ["get_time", "get_weather"]
    batch = [r for r in t.tools.records if r.kind == "result"]
    assert len(batch) == 2 and batch[0].t == batch[1].t  # one send for both
    # parallel, not one after the other: each tool started before the other one finished
    (w_start, w_end), (t_start, t_end) = spans["get_weather"], spans["get_time"]
    assert w_start < t_end and t_start < w_end
    sends = [f for d, f, _ in t.session.frames if d == "send" and _is_tool_output(f)]
    assert len(sends) == (2 if provider == "openai" else 1)  # 2 items or ONE toolResponse
    creates = [
        f for d, f, _ in t.session.frames if d == "send" and f.get("type") == "response.create"
    ]
    assert len(creates) == (2 if provider == "openai" else 0)  # the user turn + ONE after tools
    answer = t.said()[-1]
    assert "Paris" in answer and "Tokyo" in answer


@both
@pytest.mark.parametrize("behavior", ["blocking", "non_blocking"])
async def test_timed_out_tool_gets_a_placeholder_then_its_real_result(
    provider: str, behavior: str, make_emulator: Any
) -> None:
    registry = weather_registry(latency_s=0.4, timeout_s=0.05, behavior=behavior)
    # NON_BLOCKING needs a model that runs async tools (3.1 Flash Live, the default, does not)
    model = ASYNC_TOOLS_MODEL if provider == "gemini" and behavior == "non_blocking" else None
    t = await talk(
        make_emulator, provider, registry, "what is the weather in paris", answered(2), model=model
    )
    kinds = [(r.kind, r.route) for r in t.tools.records]
    continuation = provider == "gemini" and behavior == "non_blocking"
    if continuation:  # Gemini NON_BLOCKING: the same call continues (willContinue)
        assert kinds == [("placeholder", "batch"), ("final", "continuation")]
        assert [r.will_continue for r in t.tools.records] == [True, False]
    else:  # the placeholder answered the call; the result is appended later
        assert kinds == [("placeholder", "batch"), ("late_result", "appended")]
    first, second = t.said()[-2:]
    # the model first says it is still working, then speaks the real result
    assert "still working" in first
    assert "21" in second and "sunny" in second
    # the placeholder's reply finished before the late result asked for another one
    errors = [e for e in t.events if isinstance(e, ev.Error)]
    assert errors == []


@both
async def test_errors_reach_the_model(provider: str, make_emulator: Any) -> None:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city."""
        raise RuntimeError("weather service unavailable")

    # the session declares get_time, but nothing implements it: an unknown tool
    get_time = city_tool("get_time", "Get the local time in a city.")
    t = await talk(
        make_emulator,
        provider,
        registry,
        "what is the weather in paris and what time is it in tokyo",
        answered(1),
        declared=(*registry.tools, get_time),
    )
    errors = {r.name: r.output for r in t.tools.records if r.kind == "error"}
    assert errors["get_weather"]["type"] == "exception"
    assert errors["get_time"]["type"] == "unknown_tool"
    answer = t.said()[-1]
    assert "weather service unavailable" in answer and "no tool named" in answer


@both
async def test_arguments_that_fail_the_schema_reach_the_model(
    provider: str, make_emulator: Any
) -> None:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str, units: Literal["celsius", "fahrenheit"]) -> str:
        """Get the current weather for a city."""
        return "never called"

    # what the model was told differs from what the code needs: `units` is never sent
    declared = city_tool("get_weather", "Get the current weather for a city.")
    t = await talk(
        make_emulator,
        provider,
        registry,
        "what is the weather in paris",
        answered(1),
        declared=[declared],
    )
    (record,) = t.tools.records
    assert record.kind == "error" and record.output["type"] == "invalid_arguments"
    assert any("units" in p for p in record.output["problems"])
    assert t.tools.executions == {}
    assert "Sorry, I couldn't get the weather" in t.said()[-1]


@both
async def test_replayed_call_id_is_not_run_twice(provider: str, make_emulator: Any) -> None:
    registry = weather_registry(latency_s=0.01)
    replayed: list[ev.ToolCall] = []

    async def replay_once(t: Talk, event: ev.Event) -> None:
        # after the first answer, the same call arrives again (as after a reconnect)
        if isinstance(event, ev.TurnComplete) and len(t.said()) >= 1 and not replayed:
            call = t.calls()[0]
            replayed.append(dataclasses.replace(call, raw=({"replayed": True},), response_id=None))
            await t.tools.handle(replayed[0])
            await t.tools.wait_idle(2)  # Gemini ignores a second answer: no event would follow

    t = await talk(
        make_emulator,
        provider,
        registry,
        "what is the weather in paris",
        lambda t: len([r for r in t.tools.records if r.replayed]) == 1,
        during=replay_once,
    )
    first, again = [r for r in t.tools.records if r.kind == "result"]
    assert again.replayed and again.call_id == first.call_id and again.output == first.output
    assert t.tools.executions == {"get_weather": 1}


@both
async def test_acknowledgement_shrinks_the_silent_gap(provider: str, make_emulator: Any) -> None:
    gaps = {}
    for ack in (False, True):
        instructions = "You are a helpful assistant."
        if ack:
            instructions = acknowledgement_instructions(instructions)
        t = await talk(
            make_emulator,
            provider,
            weather_registry(),
            "what is the weather in paris",
            answered(1),
            instructions=instructions,
        )
        spoken = " ".join(t.said())
        assert ("Sure, let me check" in spoken) == ack  # the acknowledgement came first
        # audio plays at its real duration: the emulator, like real servers, sends it faster
        (gaps[ack],) = silent_gap_ms(t.events, turn_ends=[t.sent_at])
    assert gaps[False] >= TOOL_S * 1000 * 0.9  # without: the whole tool latency is silent
    assert gaps[True] < gaps[False] * 0.5, gaps


def _is_tool_output(frame: dict[str, Any]) -> bool:
    item = frame.get("item") or {}
    return item.get("type") == "function_call_output" or "toolResponse" in frame


@pytest.mark.parametrize("provider", ["gemini"])
async def test_barge_in_cancels_the_running_tool(provider: str, make_emulator: Any) -> None:
    """Gemini withdraws a pending blocking call when new input arrives (toolCallCancellation).
    The OpenAI dialect announces calls with the end of the response, so there is no window
    for a cancellation there (covered by the unit tests)."""
    registry = ToolRegistry()
    cancelled = asyncio.Event()

    @registry.tool
    async def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def interrupt(t: Talk, event: ev.Event) -> None:
        if isinstance(event, ev.ToolCall):
            await t.session.send_text("hello")

    t = await talk(
        make_emulator,
        provider,
        registry,
        "what is the weather in paris",
        lambda t: (
            cancelled.is_set() and isinstance(t.events[-1], ev.TurnComplete) and len(t.said()) >= 1
        ),
        during=interrupt,
    )
    assert any(isinstance(e, ev.ToolCallCancelled) for e in t.events)
    assert [r.kind for r in t.tools.records] == ["cancelled"]
    assert not [f for d, f, _ in t.session.frames if d == "send" and "toolResponse" in f]
