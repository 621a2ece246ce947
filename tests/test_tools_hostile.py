"""Hostile tools: every way a tool can misbehave ends as a result the model sees, and never
ends the program, hangs the interpreter, breaks the wire, or leaks a secret."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from support.tool_fakes import FakeSession, FedDispatcher, call, done, until

from realtimelab.tools import MAX_RESULT_CHARS, ToolRegistry

KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2


async def first_result(registry: ToolRegistry, name: str, **args: Any) -> Any:
    session = FakeSession()
    # generous: these tests are about what a result becomes, not about timing out
    async with FedDispatcher(session, registry, default_timeout_s=60) as tools:
        await tools.handle(call("c1", name, args))
        await tools.handle(done())
        await until(lambda: bool(session.sent))
    [[result]] = session.tool_batches()
    # what goes on the wire must be strict JSON (no NaN/Infinity literals)
    json.dumps(result.output, allow_nan=False)
    return result


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
async def test_a_sync_tool_raising_keyboard_interrupt_or_system_exit_is_a_model_visible_error(
    exc: type[BaseException],
) -> None:
    registry = ToolRegistry()

    @registry.tool
    def boom() -> str:
        """Raises."""
        raise exc()

    result = await first_result(registry, "boom")
    assert result.is_error and result.output["type"] == "exception"
    assert exc.__name__ in result.output["message"]


async def test_an_async_tool_raising_system_exit_does_not_end_the_program() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def leave() -> str:
        """Exits."""
        raise SystemExit(3)

    result = await first_result(registry, "leave")
    assert result.is_error and "SystemExit" in result.output["message"]


async def test_non_finite_numbers_become_strings_not_invalid_json() -> None:
    registry = ToolRegistry()

    @registry.tool
    def measure() -> dict[str, float]:
        """Measures."""
        return {"nan": float("nan"), "inf": float("inf"), "ok": 1.5}

    result = await first_result(registry, "measure")
    assert result.output == {"nan": "nan", "inf": "inf", "ok": 1.5}


async def test_a_huge_result_is_replaced_by_an_error_before_it_reaches_the_wire() -> None:
    registry = ToolRegistry()

    @registry.tool
    def dump() -> str:
        """Returns 20 MB."""
        return "x" * 20_000_000

    result = await first_result(registry, "dump")
    assert result.is_error and result.output["type"] == "result_too_large"
    assert len(json.dumps(result.output)) < MAX_RESULT_CHARS


async def test_a_secret_in_a_result_never_reaches_the_model() -> None:
    registry = ToolRegistry()

    class Config:
        def __repr__(self) -> str:
            return f"Config(api_key={KEY!r})"

        __str__ = __repr__

    @registry.tool
    def settings() -> Any:
        """Returns an object whose repr holds a key."""
        return {"config": Config(), "note": f"Authorization: Bearer {KEY}"}

    result = await first_result(registry, "settings")
    assert KEY not in json.dumps(result.output)


async def test_a_hung_sync_tool_gets_a_placeholder_and_does_not_block_the_loop() -> None:
    registry = ToolRegistry()
    release = threading.Event()

    @registry.tool(timeout_s=0.05)
    def stuck() -> str:
        """Never returns on its own."""
        release.wait(30)
        return "late"

    try:
        result = await first_result(registry, "stuck")
        assert result.output["status"] == "pending"
        await asyncio.sleep(0)  # the loop still runs
    finally:
        release.set()


def test_a_hung_sync_tool_does_not_keep_asyncio_run_from_returning() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys, threading
        sys.path.insert(0, "tests")
        from realtimelab.tools import ToolRegistry
        from support.tool_fakes import FakeSession, FedDispatcher, call, done, until

        registry = ToolRegistry()

        @registry.tool(timeout_s=0.05)
        def stuck() -> str:
            '''Hangs.'''
            threading.Event().wait()
            return "never"

        async def main() -> None:
            session = FakeSession()
            async with FedDispatcher(session, registry) as tools:
                await tools.handle(call("c1", "stuck"))
                await tools.handle(done())
                await until(lambda: bool(session.sent))

        asyncio.run(main())
        print("returned")
        """
    )
    # A hang detector, not a timing assertion: a hung interpreter would never print at all.
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "returned"


async def test_a_reused_call_id_for_a_different_call_never_gets_the_old_result() -> None:
    """Call ids are unique per server session only: after a reconnect, a new call may reuse an
    id. Seen with "weather in Paris", then a drop, then "weather in Tokyo" under the same id:
    the Tokyo call must run (a replay of the *same* call must not)."""
    registry = ToolRegistry()
    ran: list[str] = []

    @registry.tool
    def get_weather(city: str) -> str:
        """Weather."""
        ran.append(city)
        return f"{city}: 21 C"

    session = FakeSession()
    async with FedDispatcher(session, registry) as tools:
        await tools.handle(call("c1", "get_weather", {"city": "Paris"}))
        await tools.handle(done())
        await until(lambda: len(session.sent) == 1)
        await tools.handle(call("c1", "get_weather", {"city": "Paris"}, response_id="r2"))
        await tools.handle(done("r2"))
        await until(lambda: len(session.sent) == 2)
        await tools.handle(call("c1", "get_weather", {"city": "Tokyo"}, response_id="r3"))
        await tools.handle(done("r3"))
        await until(lambda: len(session.sent) == 3)
    assert ran == ["Paris", "Tokyo"]  # the replay of the Paris call did not run again
    outputs = [batch[0].output for batch in session.tool_batches()]
    assert outputs == ["Paris: 21 C", "Paris: 21 C", "Tokyo: 21 C"]
