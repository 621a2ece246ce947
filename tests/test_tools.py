"""Unit tests for `realtimelab.tools` against a fake session that records what is sent.

The fake session has the three verbs the dispatcher uses and a `Capabilities` value, so the
same tests cover both provider shapes: OpenAI-like (calls carry a `response_id`, batches flush
at `TurnComplete`, no non-blocking tools) and Gemini-like (calls of one frame share `raw`,
`non_blocking_tools=True`). Tools wait on events the test controls, so nothing depends on
wall-clock luck; the only real sleeps are the parallelism checks (bounded ratios).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.event_builders import tool_call
from support.tool_fakes import (
    FakeSession,
    FedDispatcher,
    call,
    cancellable_slow,
    done,
    gated_slow,
    started,
    until,
)

from realtimelab import events as ev
from realtimelab.emulator.brain import wants_acknowledgement
from realtimelab.providers.base import ToolResult
from realtimelab.schema import Tool, tool
from realtimelab.tools import (
    ToolError,
    ToolRegistry,
    acknowledgement_instructions,
    placeholder_output,
    silent_gap_ms,
)


def outputs(batch: list[ToolResult]) -> dict[str, Any]:
    return {r.call_id: r.output for r in batch}


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------


def test_registry_accepts_tools_functions_and_decorator() -> None:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city."""
        return {"city": city}

    @registry.tool(timeout_s=2, behavior="non_blocking")
    async def book_table(restaurant: str, people: int) -> str:
        """Book a table."""
        return "ok"

    def get_time(city: str) -> str:
        """Local time in a city."""
        return "10:00"

    registry.add(get_time)
    assert isinstance(get_weather, Tool) and get_weather("Paris") == {"city": "Paris"}
    assert registry.names == ("get_weather", "book_table", "get_time")
    assert registry.tools[1].timeout_s == 2 and registry.tools[1].behavior == "non_blocking"
    assert registry.get("get_time") is not None and "get_time" in registry and len(registry) == 3
    assert registry.tools[0].parameters["required"] == ["city"]
    with pytest.raises(ValueError, match="already registered"):
        registry.add(get_time)
    with pytest.raises(ValueError, match="no implementation"):
        registry.add(Tool.from_schema("nothing", "declared only"))
    with pytest.raises(TypeError):
        registry.add(42)  # type: ignore[arg-type]


def test_registry_overrides_timeout_of_an_existing_tool() -> None:
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    registry = ToolRegistry([ping])
    assert registry.get("ping") is ping
    other = ToolRegistry()
    assert other.add(ping, timeout_s=0.5).timeout_s == 0.5


# ---------------------------------------------------------------------------------------------
# parallel batches
# ---------------------------------------------------------------------------------------------


async def test_openai_calls_of_one_response_run_in_parallel_and_go_back_in_one_batch() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Weather."""
        await asyncio.sleep(0.2)
        return {"city": city, "temp_c": 21}

    @registry.tool
    def get_time(city: str) -> dict[str, Any]:
        """Time (a sync tool: runs in a thread)."""
        time.sleep(0.2)
        return {"city": city, "time": "10:00"}

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        t0 = time.monotonic()
        await tools.handle(call("c1", "get_weather", {"city": "Paris"}))
        await tools.handle(call("c2", "get_time", {"city": "Tokyo"}))
        await asyncio.sleep(0.25)
        assert session.sent == []  # the response is not over: OpenAI needs all calls first
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        elapsed = time.monotonic() - t0
    assert elapsed < 0.2 * 1.5
    (batch,) = session.tool_batches()
    assert [r.call_id for r in batch] == ["c1", "c2"]
    assert outputs(batch) == {
        "c1": {"city": "Paris", "temp_c": 21},
        "c2": {"city": "Tokyo", "time": "10:00"},
    }
    assert all(r.name and not r.is_error for r in batch)
    assert tools.executions == {"get_weather": 1, "get_time": 1}


async def test_gemini_calls_of_one_frame_form_one_batch_without_turn_complete() -> None:
    registry = ToolRegistry()
    gate = asyncio.Event()

    @registry.tool
    async def slow(x: int) -> int:
        """Slow."""
        await gate.wait()
        return x * 2

    @registry.tool
    async def fast(x: int) -> int:
        """Fast."""
        return x + 1

    frame: ev.Raw = ({"toolCall": {"functionCalls": []}},)
    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("a", "slow", {"x": 2}, response_id=None, raw=frame))
        await tools.handle(call("b", "fast", {"x": 2}, response_id=None, raw=frame))
        await asyncio.sleep(0.02)
        assert session.sent == []  # fast is done, but the batch waits for slow
        gate.set()
        await until(lambda: bool(session.sent))
    (batch,) = session.tool_batches()
    assert outputs(batch) == {"a": 4, "b": 3}
    assert all(r.will_continue is None and r.scheduling is None for r in batch)


async def test_run_yields_every_event_and_dispatches_in_the_background() -> None:
    registry = ToolRegistry()

    @registry.tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    session = FakeSession()
    session.events = [started("resp_1"), call("c1", "echo", {"text": "hi"}), done()]
    seen = []
    async with FedDispatcher(session, registry) as tools:
        async for e in tools.run():
            seen.append(e.kind)
        await until(lambda: bool(session.sent))
    assert seen == ["ResponseStarted", "ToolCall", "TurnComplete"]
    assert outputs(session.tool_batches()[0]) == {"c1": "hi"}


# ---------------------------------------------------------------------------------------------
# timeouts, placeholders, late results
# ---------------------------------------------------------------------------------------------


async def test_timeout_sends_placeholder_then_late_result_when_the_model_is_idle() -> None:
    registry = ToolRegistry()
    gate = asyncio.Event()

    @registry.tool(timeout_s=0.05)
    async def get_weather(city: str) -> dict[str, Any]:
        """Weather."""
        await gate.wait()
        return {"city": city, "temp_c": 21}

    session = FakeSession()
    async with FedDispatcher(session, registry, default_timeout_s=5) as tools:
        await tools.handle(call("c1", "get_weather", {"city": "Paris"}))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        (batch,) = session.tool_batches()
        assert batch[0].output == placeholder_output("get_weather")
        assert batch[0].output["status"] == "pending" and batch[0].will_continue is None
        # the model answers the placeholder ("still working on it") ...
        await tools.handle(started("resp_2"))
        gate.set()
        await asyncio.sleep(0.03)
        assert len(session.sent) == 1  # ... and the late result waits for that reply to end
        await tools.handle(done("resp_2"))
        await until(lambda: len(session.sent) == 2)
    assert session.sent[1] == (
        "late",
        [ToolResult("c1", {"city": "Paris", "temp_c": 21}, name="get_weather")],
    )
    kinds = [(r.kind, r.route) for r in tools.records]
    assert kinds == [("placeholder", "batch"), ("late_result", "appended")]


async def test_late_results_wait_for_the_reply_the_batch_asked_for() -> None:
    """Between sending a batch and the reply starting, a second `response.create` would be
    `conversation_already_has_active_response`: the late result must wait."""
    registry, gate = gated_slow(timeout_s=0.03)

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "slow"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        gate.set()  # the result is ready before the placeholder's reply even started
        await asyncio.sleep(0.03)
        assert len(session.sent) == 1
        await tools.handle(started("resp_2"))
        await tools.handle(done("resp_2"))
        await until(lambda: len(session.sent) == 2)
    assert [k for k, _ in session.sent] == ["tools", "late"]


async def test_reply_that_never_starts_does_not_hold_late_results_forever() -> None:
    registry, gate = gated_slow(timeout_s=0.02)

    session = FakeSession()
    async with FedDispatcher(session, registry, reply_wait_s=0.05) as tools:
        await tools.handle(call("c1", "slow"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        gate.set()
        await until(lambda: len(session.sent) == 2)


async def test_non_blocking_tool_on_a_non_blocking_provider_continues_the_call() -> None:
    registry = ToolRegistry()
    gate = asyncio.Event()

    @registry.tool(timeout_s=0.03, behavior="non_blocking")
    async def book(table: int) -> dict[str, Any]:
        """Book."""
        await gate.wait()
        return {"booked": table}

    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "book", {"table": 4}, response_id=None))
        await until(lambda: bool(session.sent))
        placeholder = session.tool_batches()[0][0]
        assert placeholder.will_continue is True and placeholder.output["status"] == "pending"
        gate.set()
        await until(lambda: len(session.sent) == 2)
    final = session.tool_batches()[1][0]
    assert (final.output, final.will_continue, final.scheduling) == (
        {"booked": 4},
        False,
        "WHEN_IDLE",
    )
    assert [r.route for r in tools.records] == ["batch", "continuation"]


async def test_blocking_tool_on_a_non_blocking_provider_appends_the_late_result() -> None:
    """Gemini ignores a second response to a blocking call, so the result is appended."""
    registry, gate = gated_slow(timeout_s=0.02)

    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "slow", response_id=None))
        await until(lambda: bool(session.sent))
        assert session.tool_batches()[0][0].will_continue is None
        await tools.handle(done(None))  # the placeholder's reply ends
        gate.set()
        await until(lambda: len(session.sent) == 2)
    assert session.sent[1] == ("late", [ToolResult("c1", "done", name="slow")])


async def test_streaming_tool_sends_partials_then_final_on_a_non_blocking_provider() -> None:
    registry = ToolRegistry()
    step = asyncio.Queue[int]()

    @registry.tool(behavior="non_blocking", timeout_s=1)
    async def progress() -> AsyncIterator[dict[str, int]]:
        """Reports progress."""
        while (pct := await step.get()) < 100:
            yield {"percent": pct}
        yield {"percent": 100, "done": 1}

    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "progress", response_id=None))
        step.put_nowait(10)
        await until(lambda: len(session.sent) == 1)
        step.put_nowait(50)
        await until(lambda: len(session.sent) == 2)
        step.put_nowait(100)
        await until(lambda: len(session.sent) == 3)
    sent = [b[0] for b in session.tool_batches()]
    assert [(r.output, r.will_continue, r.scheduling) for r in sent] == [
        ({"percent": 10}, True, None),
        ({"percent": 50}, True, "SILENT"),
        ({"percent": 100, "done": 1}, False, "WHEN_IDLE"),
    ]
    assert [r.kind for r in tools.records] == ["partial", "partial", "final"]


async def test_streaming_tool_without_partial_mechanism_sends_final_or_progress() -> None:
    registry = ToolRegistry()
    release = asyncio.Event()

    @registry.tool(timeout_s=0.05)
    async def count() -> AsyncIterator[int]:
        """Counts."""
        yield 1
        yield 2
        await release.wait()
        yield 3

    session = FakeSession()  # no non-blocking tools: partials cannot go on the wire
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "count"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        assert session.tool_batches()[0][0].output == placeholder_output("count", progress=2)
        await tools.handle(started("resp_2"))
        await tools.handle(done("resp_2"))
        release.set()
        await until(lambda: len(session.sent) == 2)
    assert session.sent[1] == ("late", [ToolResult("c1", 3, name="count")])


# ---------------------------------------------------------------------------------------------
# every failure reaches the model
# ---------------------------------------------------------------------------------------------


async def test_errors_are_structured_and_model_visible() -> None:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str, days: int = 1) -> str:
        """Weather."""
        raise RuntimeError("backend at https://x?key=sk-proj-abcdefghijklmnopqrstuvwxyz failed")

    @registry.tool
    def refuse() -> str:
        """Refuses with a chosen message."""
        raise ToolError("ask the user for a date first")

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("u", "get_wether", {"city": "Paris"}))
        await tools.handle(call("j", "get_weather", None, arguments_json='{"city": "Par'))
        await tools.handle(call("s", "get_weather", {"city": 3, "days": "two"}))
        await tools.handle(call("x", "get_weather", {"city": "Paris"}))
        await tools.handle(call("r", "refuse"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
    (batch,) = session.tool_batches()
    assert all(r.is_error for r in batch)
    out = outputs(batch)
    assert out["u"]["type"] == "unknown_tool"
    assert out["u"]["available"] == ["get_weather", "refuse"]
    assert out["j"]["type"] == "invalid_arguments" and out["j"]["arguments"] == '{"city": "Par'
    assert out["s"]["type"] == "invalid_arguments" and len(out["s"]["problems"]) == 2
    assert out["x"]["type"] == "exception" and out["x"]["message"].startswith("RuntimeError")
    assert "sk-proj" not in json.dumps(out["x"]) and "Traceback" not in json.dumps(out["x"])
    assert out["r"] == {"type": "tool_error", "message": "ask the user for a date first"}
    assert tools.executions == {"get_weather": 1, "refuse": 1}  # bad calls never ran


async def test_unserialisable_result_becomes_text_instead_of_crashing_the_send() -> None:
    registry = ToolRegistry()

    @registry.tool
    def odd() -> object:
        """Returns an object."""
        return {"when": object.__new__(type("Stamp", (), {"__str__": lambda s: "noon"}))}

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "odd"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
    assert session.tool_batches()[0][0].output == {"when": "noon"}


async def test_send_failure_is_recorded_not_raised() -> None:
    registry = ToolRegistry([Tool.from_callable(lambda: 1, name="one")])
    session = FakeSession(fail=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "one"))
        await tools.handle(done())
        await until(lambda: bool(tools.records))
    assert [r.kind for r in tools.records] == ["send_failed"]
    assert isinstance(tools.errors[0], ConnectionError)


# ---------------------------------------------------------------------------------------------
# cancellation and replays
# ---------------------------------------------------------------------------------------------


async def test_cancellation_cancels_the_task_and_sends_nothing_for_it() -> None:
    registry = ToolRegistry()
    cancelled = cancellable_slow(registry)

    @registry.tool
    async def quick() -> str:
        """Quick."""
        return "ok"

    frame: ev.Raw = ({"toolCall": {}},)
    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("a", "slow", response_id=None, raw=frame))
        await tools.handle(call("b", "quick", response_id=None, raw=frame))
        await asyncio.sleep(0.01)
        await tools.handle(ev.ToolCallCancelled(provider="gemini", t=0.0, call_ids=("a",)))
        await asyncio.wait_for(cancelled.wait(), 1)
        await until(lambda: bool(session.sent))
    assert outputs(session.tool_batches()[0]) == {"b": "ok"}
    assert [(r.call_id, r.kind) for r in tools.records] == [("a", "cancelled"), ("b", "result")]


async def test_a_cancelled_response_cancels_its_pending_calls() -> None:
    registry = ToolRegistry()
    cancelled = cancellable_slow(registry)

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("a", "slow"))
        other = ev.GenerationComplete(
            provider="openai", t=0.0, response_id="other", status="cancelled"
        )
        await tools.handle(other)
        await asyncio.sleep(0.01)
        assert not cancelled.is_set()
        await tools.handle(done(status="cancelled"))
        await asyncio.wait_for(cancelled.wait(), 1)
        await asyncio.sleep(0.02)
    assert session.sent == []


async def test_cancelled_after_placeholder_sends_no_late_result() -> None:
    registry = ToolRegistry()

    @registry.tool(timeout_s=0.02)
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(10)
        return "never"

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("a", "slow"))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
        await tools.handle(ev.ToolCallCancelled(provider="openai", t=0.0, call_ids=("a",)))
        await tools.wait_idle(1)
    assert len(session.sent) == 1


async def test_replayed_call_id_runs_once_and_resends_the_cached_result() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def charge(amount: int) -> dict[str, Any]:
        """Charges a card: must never run twice for one call."""
        return {"charged": amount}

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "charge", {"amount": 5}))
        await tools.handle(done())
        await until(lambda: len(session.sent) == 1)
        # after a reconnect the same call comes again, in another response
        await tools.handle(call("c1", "charge", {"amount": 5}, response_id="resp_9"))
        await tools.handle(done("resp_9"))
        await until(lambda: len(session.sent) == 2)
    first, second = session.tool_batches()
    assert first == second
    assert tools.executions == {"charge": 1}
    assert [r.replayed for r in tools.records] == [False, True]


async def test_replay_of_a_cancelled_call_is_answered_not_rerun() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def slow() -> str:
        """Slow."""
        await asyncio.sleep(10)
        return "never"

    session = FakeSession(non_blocking=True)
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("a", "slow", response_id=None, raw=({"f": 1},)))
        await asyncio.sleep(0.01)  # let it start
        await tools.handle(ev.ToolCallCancelled(provider="gemini", t=0.0, call_ids=("a",)))
        await tools.handle(call("a", "slow", response_id=None, raw=({"f": 2},)))
        await until(lambda: bool(session.sent))
    (batch,) = session.tool_batches()
    assert batch[0].is_error and batch[0].output["type"] == "cancelled"
    assert tools.executions == {"slow": 1}


# ---------------------------------------------------------------------------------------------
# acknowledgement and the silent gap
# ---------------------------------------------------------------------------------------------


def test_acknowledgement_instructions_trigger_the_emulator_and_are_idempotent() -> None:
    text = acknowledgement_instructions("You are a helpful assistant.")
    assert text.startswith("You are a helpful assistant.")
    assert wants_acknowledgement(text)
    assert acknowledgement_instructions(text) == text
    assert not wants_acknowledgement("You are a helpful assistant.")


def _audio(t: float, ms: float) -> ev.AudioChunk:
    return ev.AudioChunk(provider="openai", t=t, pcm=b"\0\0" * int(24 * ms), rate=24000)


def test_silent_gap_uses_the_player_timeline() -> None:
    events: list[ev.Event] = [
        ev.ResponseStarted(provider="openai", t=0.0),
        _audio(0.1, 500),  # plays 0.1 .. 0.6 (arrives faster than real time)
        _audio(0.2, 500),  # plays 0.6 .. 1.1
        tool_call("a", "x", t=0.3, provider="openai"),
        tool_call("b", "y", t=0.3, provider="openai"),
        _audio(1.5, 100),  # silence 1.1 .. 1.5
        ev.TurnComplete(provider="openai", t=1.7),
        ev.ResponseStarted(provider="openai", t=2.0),
        tool_call("c", "x", t=2.1, provider="openai"),
        _audio(2.9, 100),  # no audio before the call: silence from the turn start, 2.0
    ]
    assert silent_gap_ms(events) == pytest.approx([400.0, 900.0])
    # at speed 2 the same chunks play twice as fast: the first audio ends at 0.6
    assert silent_gap_ms(events, speed=2)[0] == pytest.approx(1500 - 600)
    # a turn end the events do not show (a typed turn) moves the start of the silence
    assert silent_gap_ms(events, turn_ends=[2.05])[1] == pytest.approx(850.0)
    assert silent_gap_ms([]) == []
