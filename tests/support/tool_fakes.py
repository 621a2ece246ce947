"""A fake session for tool-dispatcher tests: records what is sent, keeps a real
`Conversation` (the dispatcher asks it whether the model is idle), and a dispatcher that feeds
it the events a test hands over, as a real session's reader would; plus the events and the
slow tools those tests use."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from realtimelab import events as ev
from realtimelab.conversation import Conversation
from realtimelab.providers.base import Capabilities, ToolResult
from realtimelab.tools import ToolDispatcher, ToolRegistry

__all__ = [
    "FakeSession",
    "FedDispatcher",
    "Sent",
    "call",
    "cancellable_slow",
    "done",
    "gated_slow",
    "started",
    "until",
]

Sent = tuple[str, Any]


class FakeSession:
    """Records `("tools", [ToolResult])` and `("late", [ToolResult])` (a late result and the
    one reply it asks for, which the session sends together). Like a real session, it keeps a
    `Conversation` (the dispatcher asks it whether the model is idle) and records results in
    it; `FedDispatcher` feeds it the events the tests hand the dispatcher."""

    def __init__(self, *, non_blocking: bool = False, fail: bool = False) -> None:
        self.capabilities = Capabilities(
            provider="gemini" if non_blocking else "openai",
            input_rate=16000,
            output_rate=24000,
            non_blocking_tools=non_blocking,
            tool_call_ends_turn=not non_blocking,
        )
        self.conversation = Conversation(self.capabilities)
        self.sent: list[Sent] = []
        self.fail = fail
        self.events: list[ev.Event] = []

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None:
        if self.fail:
            raise ConnectionError("the session is closed")
        batch = list(results)
        self.conversation.tool_results(batch)
        self.sent.append(("tools", batch))

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None:
        batch = list(results)
        self.conversation.tool_results(batch, late=True)
        self.sent.append(("late", batch))

    async def __aiter__(self) -> AsyncIterator[ev.Event]:
        for e in self.events:
            await asyncio.sleep(0)
            yield e

    def tool_batches(self) -> list[list[ToolResult]]:
        return [payload for kind, payload in self.sent if kind == "tools"]


class FedDispatcher(ToolDispatcher):
    """A dispatcher whose events first go through the fake session's conversation, as a real
    session's do (a `TurnComplete` is preceded by its `GenerationComplete`, as codecs send)."""

    async def handle(self, event: ev.Event) -> None:
        conversation = self.session.conversation
        incoming: list[ev.Event] = [event]
        if isinstance(event, ev.TurnComplete):
            incoming.insert(
                0,
                ev.GenerationComplete(
                    provider=event.provider,
                    t=event.t,
                    response_id=event.response_id,
                    status=event.status,
                ),
            )
        for e in incoming:
            for out in conversation.observe(e):
                await super().handle(out)


def call(
    call_id: str,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    response_id: str | None = "resp_1",
    raw: ev.Raw = (),
    arguments_json: str | None = None,
) -> ev.ToolCall:
    args = {} if args is None and arguments_json is None else args
    return ev.ToolCall(
        provider="openai" if response_id else "gemini",
        t=time.monotonic(),
        raw=raw,
        call_id=call_id,
        name=name,
        arguments=args,
        arguments_json=arguments_json if arguments_json is not None else json.dumps(args),
        response_id=response_id,
    )


def done(response_id: str | None = "resp_1", status: str = "completed") -> ev.TurnComplete:
    return ev.TurnComplete(
        provider="openai", t=time.monotonic(), response_id=response_id, status=status
    )


def started(response_id: str | None = "resp_2") -> ev.ResponseStarted:
    return ev.ResponseStarted(provider="openai", t=time.monotonic(), response_id=response_id)


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def gated_slow(timeout_s: float) -> tuple[ToolRegistry, asyncio.Event]:
    """A registry whose one tool, `slow`, answers "done" once the returned gate is set: later
    than `timeout_s` (so a placeholder goes first) unless the test opens the gate sooner."""
    registry = ToolRegistry()
    gate = asyncio.Event()

    @registry.tool(timeout_s=timeout_s)
    async def slow() -> str:
        """Slow."""
        await gate.wait()
        return "done"

    return registry, gate


def cancellable_slow(registry: ToolRegistry) -> asyncio.Event:
    """Declare `slow` in `registry`, a tool that never finishes by itself; the returned event is
    set when its task is cancelled."""
    cancelled = asyncio.Event()

    @registry.tool
    async def slow() -> str:
        """Slow."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    return cancelled
