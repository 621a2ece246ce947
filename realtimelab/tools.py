"""Run the model's tool calls: in parallel, with timeouts, placeholders, streaming and acks.

Why this module exists: the field's most common realtime tool bug is a *hung turn*. The model
asked for a function, something went wrong (an exception, a timeout, an unknown name, arguments
that are not JSON) and nothing went back, so the model waits forever: every tool outcome must
go back to the model or the turn hangs. `ToolDispatcher` makes every path answer.

How a call travels::

    ToolCall events ──► batch (the calls of one turn) ──► one task per call (sync → thread)
                          │ every call has a first outcome within its timeout:
                          │   result | structured error | placeholder {"status": "pending"}
                          ▼                              | first partial (streaming tools)
                 session.send_tool_responses(batch)   (OpenAI: outputs + ONE response.create;
                          │                             Gemini: ONE toolResponse)
                          ▼ later, for calls answered by a placeholder or a partial:
                 the real result follows (see "Late results" below)

Batches. OpenAI announces the calls of one response one by one and the turn is only over at
`response.done`, so a batch is keyed by `response_id` and flushed at that response's
`TurnComplete`. Gemini sends all parallel calls in one `toolCall` message (the events share
their `raw` frame) and waits for one `toolResponse`; that batch is complete as soon as its
calls are known. A batch is sent when every call in it has a first outcome: parallel calls take
as long as the slowest one, capped by the longest timeout.

Late results (a call answered by a placeholder), chosen from the codec's `Capabilities`:

* **Continuation** (`capabilities.non_blocking_tools` and the tool is declared
  `behavior="non_blocking"`, i.e. Gemini `NON_BLOCKING`): the placeholder goes out with
  `will_continue=True`, so the call stays open; every later partial value of an async-generator
  tool follows with `will_continue=True, scheduling="SILENT"` (added to context, no new reply),
  and the final value with `will_continue=False, scheduling="WHEN_IDLE"` (the model tells the
  user once it is done talking). This is the protocol's own mechanism, so it is preferred.
* **Appended output** (every other case): the placeholder *is* the call's answer. The real
  result is later appended to the conversation as a new tool-output record
  (`session.send_late_tool_results([...])`: OpenAI a `function_call_output` item and one
  `response.create`, Gemini one `functionResponse` turn that asks for a reply), sent only when the
  model is idle: after the current reply's `TurnComplete` and no reply already requested, so
  OpenAI never sees a second `response.create` during a reply
  (`conversation_already_has_active_response`). Gemini ignores a `toolResponse` for a
  *blocking* call that was already answered, which is why the result is not re-sent that way.

Streaming partials need a wire mechanism, which only continuation has (Gemini NON_BLOCKING +
`willContinue`). OpenAI has none: an async-generator tool there is answered with its final
value, or, when it overruns its timeout, with a placeholder whose `progress` holds the latest
yielded value; the final value then follows as an appended output.

Cancellation: `ToolCallCancelled` (Gemini barge-in; OpenAI cancelled responses) and
`Interrupted` (the calls of the interrupted response) cancel the running task and send nothing
for it. Sync tools run in `asyncio.to_thread`, and a thread cannot be stopped: its result is
simply dropped. Replays: a call id seen again (after a reconnect, a resumption) never runs
twice; the cached outcome is re-sent (a cancelled call is answered with a "cancelled" error).

The acknowledgement pattern: `acknowledgement_instructions()` asks the model to say one short
sentence *before* it calls a tool, so the user hears something while the tool runs;
`silent_gap_ms(events)` measures the silence around each tool round trip to show the effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import enum
import inspect
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload

from realtimelab import events as ev
from realtimelab.conversation import Conversation
from realtimelab.errors import RealtimeLabError
from realtimelab.providers.base import Capabilities, ToolResult
from realtimelab.redact import redact_text
from realtimelab.schema import Tool, ToolBehavior, coerce_arguments, validate_arguments

__all__ = [
    "ACKNOWLEDGEMENT_SENTENCE",
    "DispatchRecord",
    "ToolDispatcher",
    "ToolError",
    "ToolRegistry",
    "ToolSession",
    "acknowledgement_instructions",
    "placeholder_output",
    "silent_gap_ms",
]

log = logging.getLogger(__name__)

#: Longest exception message passed to the model (after secret redaction).
MAX_ERROR_CHARS = 300
#: How many call ids the replay cache remembers.
CACHE_SIZE = 1024
#: Largest result (as JSON text) sent to the model. Far above any useful tool output, far
#: below the 15-16 MiB frame limits that would otherwise end the session with a 1009: a larger
#: result is replaced by a model-visible error saying so.
MAX_RESULT_CHARS = 512 * 1024

RecordKind = Literal[
    "result", "error", "placeholder", "partial", "final", "late_result", "cancelled", "send_failed"
]
Route = Literal["batch", "continuation", "appended"]


class ToolError(RealtimeLabError):
    """Raise this in a tool to give the model a message you chose (sent verbatim).

    Any other exception reaches the model only as its type and a redacted, shortened message,
    never a traceback: an exception text can hold paths, keys or user data.
    """


class ToolSession(Protocol):
    """What the dispatcher needs from a session. `RealtimeSession` and `ResilientSession` both
    have it all (they implement `realtimelab.contract.BaseSession`, which mypy checks); a
    session's `conversation` tells the dispatcher when the model is idle."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def conversation(self) -> Conversation: ...

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None: ...

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None: ...

    async def create_response(self) -> None: ...


@dataclass(frozen=True)
class DispatchRecord:
    """One thing the dispatcher did for a call, for notebooks, logs and tests.

    `kind`: result | error | placeholder | partial (sent in the batch or streamed) | final (the
    continuation's last value) | late_result (appended after a placeholder) | cancelled |
    send_failed. `route` says which mechanism carried it; `t` is the dispatcher clock.
    """

    t: float
    call_id: str
    name: str
    kind: RecordKind
    output: Any = None
    route: Route = "batch"
    will_continue: bool | None = None
    scheduling: str | None = None
    replayed: bool = False


def placeholder_output(name: str, progress: Any = None) -> dict[str, Any]:
    """The result the model gets when a tool overruns its timeout (the real one follows)."""
    out: dict[str, Any] = {
        "status": "pending",
        "tool": name,
        "note": "still running; the result will follow",
    }
    if progress is not None:
        out["progress"] = progress
    return out


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


class ToolRegistry:
    """The tools a session declares and the dispatcher runs, by name.

    Register `Tool`s (from `@tool`) or plain sync/async functions (schemas come from
    `Tool.from_callable`). Pass `registry.tools` to `SessionConfig(tools=...)` so the model is
    told about exactly the functions the dispatcher can run.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(
        self,
        func: Tool | Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        behavior: ToolBehavior = "blocking",
    ) -> Tool:
        """Register a tool; returns the `Tool`. Duplicate names and tools without an
        implementation are refused: the model would call a function nobody can run."""
        if isinstance(func, Tool):
            if name is not None or description is not None or timeout_s is not None:
                func = dataclasses.replace(
                    func,
                    name=name or func.name,
                    description=func.description if description is None else description,
                    timeout_s=func.timeout_s if timeout_s is None else timeout_s,
                )
            spec = func
        elif callable(func):
            spec = Tool.from_callable(
                func, name=name, description=description, timeout_s=timeout_s, behavior=behavior
            )
        else:
            raise TypeError(f"cannot register {func!r}: pass a Tool or a function")
        if spec.func is None:
            raise ValueError(
                f"tool {spec.name!r} has no implementation (func is None); the dispatcher could "
                "only ever answer it with an error"
            )
        if spec.name in self._tools:
            raise ValueError(f"a tool named {spec.name!r} is already registered")
        self._tools[spec.name] = spec
        return spec

    @overload
    def tool(self, func: Callable[..., Any], /) -> Tool: ...

    @overload
    def tool(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        behavior: ToolBehavior = "blocking",
    ) -> Callable[[Callable[..., Any]], Tool]: ...

    def tool(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        behavior: ToolBehavior = "blocking",
    ) -> Tool | Callable[[Callable[..., Any]], Tool]:
        """Decorator: `@registry.tool` or `@registry.tool(timeout_s=2, behavior=...)`."""

        def wrap(f: Callable[..., Any]) -> Tool:
            return self.add(
                f, name=name, description=description, timeout_s=timeout_s, behavior=behavior
            )

        return wrap if func is None else wrap(func)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The registered tools, in registration order, for `SessionConfig(tools=...)`."""
        return tuple(self._tools.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({list(self._tools)!r})"


# ---------------------------------------------------------------------------------------------
# Dispatcher internals
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """A finished call: a JSON-ready output, or an error body (sent with is_error)."""

    output: Any
    is_error: bool = False


_NO_VALUE: Any = object()


class _Run:
    """One execution of one call id (never more than one per id)."""

    def __init__(
        self, call: ev.ToolCall, tool: Tool | None, timeout_s: float, stream: bool
    ) -> None:
        self.call = call
        self.tool = tool
        self.timeout_s = timeout_s
        self.stream = stream  # continuation route: partials and the final value go on the wire
        self.task: asyncio.Task[None] | None = None
        self.final: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        self.latest: Any = _NO_VALUE
        self.partials = 0
        self.changed = asyncio.Event()
        self.cancelled = False
        self.following = False  # a follow-up task delivers the rest

    @property
    def name(self) -> str:
        return self.call.name

    def push_partial(self, value: Any) -> None:
        self.latest = value
        self.partials += 1
        self.changed.set()

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.changed.set()

    def finish(self, outcome: _Outcome) -> None:
        if not self.final.done():
            self.final.set_result(outcome)
        self.changed.set()


@dataclass(eq=False)
class _Entry:
    """A call's place in a batch: the run it waits on and the first outcome to send."""

    run: _Run
    replayed: bool
    result: ToolResult | None = None
    kind: RecordKind = "result"
    cancelled: bool = False
    follow: bool = False  # a placeholder or partial went out: the real result must follow


@dataclass(eq=False)
class _Batch:
    key: tuple[Any, ...]
    closed: bool
    entries: list[_Entry] = field(default_factory=list)
    sent: bool = False
    cancelled: bool = False


# ---------------------------------------------------------------------------------------------
# Dispatcher
# ---------------------------------------------------------------------------------------------


class ToolDispatcher:
    """Answers the model's tool calls on a session. See the module docstring for the design.

    Feed it every event, either::

        async with ToolDispatcher(session, registry) as tools:
            async for event in tools.run():      # yields every event, dispatching in the
                ...                              # background

    or `await tools.handle(event)` from your own loop (pass the `ToolCall`s of one frame
    without awaiting other work in between, so parallel calls are answered in one batch).

    `default_timeout_s` applies to tools without their own `timeout_s`. `clock` stamps the
    `records`. `reply_wait_s` bounds how long a late result waits for a reply the dispatcher
    asked for to start (so a lost reply cannot hold results back forever). Leaving the
    `async with` (or `aclose()`) cancels every task still running.
    """

    def __init__(
        self,
        session: ToolSession,
        registry: ToolRegistry | Iterable[Tool | Callable[..., Any]],
        *,
        default_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        reply_wait_s: float = 10.0,
    ) -> None:
        if not (default_timeout_s > 0 and math.isfinite(default_timeout_s)):
            raise ValueError(
                f"default_timeout_s must be a positive number, got {default_timeout_s}"
            )
        self.session = session
        self.registry = registry if isinstance(registry, ToolRegistry) else ToolRegistry(registry)
        self.default_timeout_s = default_timeout_s
        self.reply_wait_s = reply_wait_s
        self._clock = clock
        self.records: list[DispatchRecord] = []
        """Everything sent (and cancelled), in order."""
        self.executions: dict[str, int] = {}
        """How many times each tool actually ran, by name (replays do not count)."""
        self.errors: list[BaseException] = []
        """Failures to send (e.g. the session closed); also logged."""
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._batches: list[_Batch] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._send_lock = asyncio.Lock()
        self._late: list[tuple[_Run, _Outcome]] = []
        self._late_task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ToolDispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every running tool and pending send; idempotent."""
        self._closed = True
        tasks = [t for t in self._tasks if not t.done()]
        for run in self._runs.values():
            if run.task is not None and not run.task.done():
                tasks.append(run.task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no tool runs and nothing is left to send (handy in tests and notebooks)."""

        async def settle() -> None:
            while True:
                busy = [t for t in self._tasks if not t.done()]
                busy += [r.task for r in self._runs.values() if r.task and not r.task.done()]
                if not busy:
                    return
                await asyncio.wait(busy)

        await asyncio.wait_for(settle(), timeout)

    # ------------------------------------------------------------------ feeding events

    async def run(self, events: AsyncIterable[ev.Event] | None = None) -> AsyncIterator[ev.Event]:
        """Yield every event of `events` (default: the session) while dispatching tool calls.

        A pump task reads the source and dispatches each event as soon as it arrives, so the
        calls of one frame form one batch even while your loop body awaits something slow.
        """
        source = events if events is not None else self.session
        if not isinstance(source, AsyncIterable):
            raise TypeError("run() needs an async iterable of events (the session, by default)")
        queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        failure: list[BaseException] = []

        async def pump() -> None:
            try:
                async for event in source:
                    self._on_event(event)
                    queue.put_nowait(event)
            except Exception as e:  # surfaced to the consumer below
                failure.append(e)
            finally:
                queue.put_nowait(None)

        task = asyncio.get_running_loop().create_task(pump(), name="realtimelab-tools-pump")
        try:
            while (item := await queue.get()) is not None:
                yield item
            if failure:
                raise failure[0]
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def handle(self, event: ev.Event) -> None:
        """Dispatch one event; returns at once (tools run in background tasks)."""
        self._on_event(event)

    def _on_event(self, event: ev.Event) -> None:
        if self._closed:
            return
        if isinstance(event, ev.ToolCall):
            self._on_call(event)
        elif isinstance(event, ev.ToolCallCancelled):
            self._cancel(event.call_ids)
        elif isinstance(event, ev.GenerationComplete):
            # a response's calls are all known once it is generated
            self._close_response_batches(event.response_id, event.status)
        elif isinstance(event, ev.TurnComplete):
            self._close_response_batches(None, event.status)
        self._update_idle()

    # ------------------------------------------------------------------ calls and batches

    def _on_call(self, call: ev.ToolCall) -> None:
        """Run a call once. A call seen again (a replay after a reconnect or resumption) gets
        the cached outcome; a *different* call that happens to reuse an id (ids are only
        unique per server session) is a new call: the cache is keyed by id, name and
        arguments, so no call ever receives another call's result."""
        batch = self._batch_for(call)
        run = self._runs.get(call.call_id)
        if run is not None and (run.call.name, run.call.arguments_json) != (
            call.name,
            call.arguments_json,
        ):
            run = None
        replayed = run is not None
        if run is None:
            run = self._start(call)
        else:
            self._runs.move_to_end(call.call_id)
        entry = _Entry(run, replayed)
        batch.entries.append(entry)
        self._spawn(self._answer(batch, entry), f"realtimelab-tool-answer-{call.call_id}")

    def _batch_for(self, call: ev.ToolCall) -> _Batch:
        if call.response_id is not None:
            key: tuple[Any, ...] = ("response", call.response_id)
        elif call.raw:
            key = ("frame", id(call.raw))
        else:
            key = ("time", call.t)
        for batch in self._batches:
            if batch.key == key and not batch.sent:
                return batch
        # a response's calls are complete at its TurnComplete; a frame's calls all at once
        batch = _Batch(key, closed=key[0] != "response")
        self._batches.append(batch)
        return batch

    def _close_response_batches(self, response_id: str | None, status: str) -> None:
        """The calls of `response_id` (None: of every response still open) are complete."""
        for batch in list(self._batches):
            if batch.key[0] != "response" or batch.sent:
                continue
            if response_id is not None and batch.key[1] != response_id:
                continue
            batch.closed = True
            if status == "cancelled":
                # the response was cut off: its calls are void (the codec usually said so)
                self._cancel([e.run.call.call_id for e in batch.entries])
            self._maybe_flush(batch)

    def _start(self, call: ev.ToolCall) -> _Run:
        tool = self.registry.get(call.name)
        timeout = tool.timeout_s if tool and tool.timeout_s else self.default_timeout_s
        stream = bool(
            tool is not None
            and tool.behavior == "non_blocking"
            and self.session.capabilities.non_blocking_tools
        )
        run = _Run(call, tool, timeout, stream)
        self._runs[call.call_id] = run
        for old_id in list(self._runs)[: max(0, len(self._runs) - CACHE_SIZE)]:
            if self._runs[old_id].final.done():  # never forget a call still running
                del self._runs[old_id]
        problem = self._precheck(call, tool)
        if problem is not None:
            run.finish(problem)
            return run
        assert tool is not None
        run.task = asyncio.get_running_loop().create_task(
            self._execute(run, tool), name=f"realtimelab-tool-{call.name}-{call.call_id}"
        )
        return run

    def _precheck(self, call: ev.ToolCall, tool: Tool | None) -> _Outcome | None:
        """A model-visible error for a call that cannot run at all, else None."""
        if tool is None:
            return _error(
                "unknown_tool",
                f"there is no tool named {call.name!r}",
                available=list(self.registry.names),
            )
        if call.arguments is None:
            return _error(
                "invalid_arguments",
                "the arguments are not a valid JSON object; send them again as JSON",
                arguments=_clip(call.arguments_json, 200),
            )
        problems = validate_arguments(tool, call.arguments)
        if problems:
            return _error(
                "invalid_arguments",
                "the arguments do not match the tool's parameters schema",
                problems=problems,
            )
        return None

    async def _execute(self, run: _Run, tool: Tool) -> None:
        """Run the tool; every way it can end becomes an outcome the model sees.

        Sync tools run in a daemon thread of their own (not the loop's default executor): a
        thread cannot be cancelled, and a hung one in the default executor would keep
        `asyncio.run()` (and interpreter exit) waiting for it. A timed-out call gets its
        placeholder; if the thread ever finishes, its result is dropped. A tool that raises
        `KeyboardInterrupt` or `SystemExit` does not end the program: the model hears that
        the tool failed.
        """
        func = tool.func
        assert func is not None
        self.executions[tool.name] = self.executions.get(tool.name, 0) + 1
        try:
            args = coerce_arguments(tool, run.call.arguments or {})
        except ValueError as e:
            run.finish(_error("invalid_arguments", str(e)))
            return
        try:
            if inspect.isasyncgenfunction(func):
                async for value in func(**args):
                    run.push_partial(_jsonable(value))
                value = run.latest if run.latest is not _NO_VALUE else None
            elif inspect.iscoroutinefunction(func):
                value = await func(**args)
            else:
                value = await _in_daemon_thread(func, args, name=f"realtimelab-tool-{tool.name}")
                if inspect.isawaitable(value):
                    value = await value
            run.finish(_checked(_jsonable(value)))
        except asyncio.CancelledError:
            run.cancelled = True
            raise
        except ToolError as e:
            run.finish(_error("tool_error", _clip(redact_text(str(e)), MAX_ERROR_CHARS)))
        except (Exception, KeyboardInterrupt, SystemExit) as e:
            log.info("tool %s raised %s", tool.name, type(e).__name__, exc_info=True)
            text = _clip(redact_text(str(e)), MAX_ERROR_CHARS)
            message = f"{type(e).__name__}: {text}" if text else type(e).__name__
            run.finish(_error("exception", message))

    async def _answer(self, batch: _Batch, entry: _Entry) -> None:
        """Find the entry's first outcome within the timeout, then try to flush the batch."""
        run = entry.run
        if run.cancelled:  # a replay of a call cancelled earlier: say so, do not run it again
            entry.result = self._result(run, _error("cancelled", _CANCELLED_MSG), None)
            entry.kind = "error"
        else:
            first = await self._first_outcome(run)
            if first is None:
                entry.cancelled = True
            else:
                entry.result, entry.kind, follow = first
                entry.follow = follow and not run.following
                run.following = run.following or follow
        self._maybe_flush(batch)

    async def _first_outcome(self, run: _Run) -> tuple[ToolResult, RecordKind, bool] | None:
        """(result, kind, needs_follow_up), or None when the call was cancelled meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + run.timeout_s
        while not (run.final.done() or run.cancelled or (run.stream and run.partials)):
            left = deadline - loop.time()
            if left <= 0:
                break
            run.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.changed.wait(), left)
        if run.cancelled:
            return None
        if run.final.done():
            outcome = run.final.result()
            kind: RecordKind = "error" if outcome.is_error else "result"
            return self._result(run, outcome, None), kind, False
        if run.stream and run.partials:
            return self._result(run, _Outcome(run.latest), True), "partial", True
        progress = run.latest if run.latest is not _NO_VALUE else None
        out = _Outcome(placeholder_output(run.name, progress))
        return self._result(run, out, True if run.stream else None), "placeholder", True

    def _result(self, run: _Run, outcome: _Outcome, will_continue: bool | None) -> ToolResult:
        return ToolResult(
            run.call.call_id,
            outcome.output,
            name=run.name,
            is_error=outcome.is_error,
            will_continue=will_continue,
        )

    def _maybe_flush(self, batch: _Batch) -> None:
        if batch.sent or not batch.closed:
            return
        if any(e.result is None and not e.cancelled for e in batch.entries):
            return
        batch.sent = True
        self._batches.remove(batch)
        live = [e for e in batch.entries if not e.cancelled and e.result is not None]
        if live:
            self._spawn(self._send_batch(live), "realtimelab-tool-batch")
        self._update_idle()

    async def _send_batch(self, entries: list[_Entry]) -> None:
        results = [e.result for e in entries if e.result is not None]
        async with self._send_lock:
            ok = await self._deliver(self.session.send_tool_responses(results), entries[0].run)
            t = self._clock()  # one time for the batch: it went out as one send
            for e in entries:
                assert e.result is not None
                self._record(e.run, e.kind, e.result, "batch", replayed=e.replayed, ok=ok, t=t)
            self._update_idle()
        for e in entries:
            if e.follow and ok:
                self._spawn(self._follow(e.run), f"realtimelab-tool-follow-{e.run.call.call_id}")

    # ------------------------------------------------------------------ after a placeholder

    async def _follow(self, run: _Run) -> None:
        """Deliver what a placeholder or partial promised: further partials and the result."""
        if run.stream:
            sent = run.partials
            while not run.final.done():
                if run.cancelled:
                    return
                run.changed.clear()
                if run.partials > sent:
                    sent = run.partials
                    result = ToolResult(
                        run.call.call_id,
                        run.latest,
                        name=run.name,
                        scheduling="SILENT",
                        will_continue=True,
                    )
                    await self._send_one(run, result, "partial")
                    continue
                await run.changed.wait()
            outcome = run.final.result()
            final = ToolResult(
                run.call.call_id,
                outcome.output,
                name=run.name,
                is_error=outcome.is_error,
                scheduling="WHEN_IDLE",
                will_continue=False,
            )
            await self._send_one(run, final, "final")
            return
        while not (run.final.done() or run.cancelled):
            run.changed.clear()
            await run.changed.wait()
        if run.cancelled:
            return
        outcome = run.final.result()
        self._late.append((run, outcome))
        if self._late_task is None or self._late_task.done():
            self._late_task = self._spawn(self._send_late(), "realtimelab-tool-late")

    async def _send_one(self, run: _Run, result: ToolResult, kind: RecordKind) -> None:
        async with self._send_lock:
            if run.cancelled:
                return
            ok = await self._deliver(self.session.send_tool_responses([result]), run)
            self._record(run, kind, result, "continuation", ok=ok)

    async def _send_late(self) -> None:
        """Append late results when the model is idle, then ask for ONE reply."""
        while self._late:
            forced = False
            try:
                await asyncio.wait_for(self._idle.wait(), self.reply_wait_s)
            except TimeoutError:
                if self._batches:
                    continue
                # the model never became idle (e.g. a reply we asked for never started, and
                # the server dropped it): deliver rather than hold results back forever
                log.warning(
                    "the model was not idle within %.1f s; sending late results", self.reply_wait_s
                )
                forced = True
            async with self._send_lock:
                self._update_idle()
                if not forced and not self._idle.is_set():
                    continue  # a reply started while we waited for the lock
                batch = [(r, o) for r, o in self._late if not r.cancelled]
                self._late.clear()
                if not batch:
                    return
                results = [
                    ToolResult(r.call.call_id, o.output, name=r.name, is_error=o.is_error)
                    for r, o in batch
                ]
                ok = await self._deliver(self.session.send_late_tool_results(results), batch[0][0])
                t = self._clock()
                for (r, _), result in zip(batch, results, strict=True):
                    self._record(r, "late_result", result, "appended", ok=ok, t=t)
                self._update_idle()

    # ------------------------------------------------------------------ cancellation

    def _cancel(self, call_ids: Iterable[str]) -> None:
        for call_id in call_ids:
            run = self._runs.get(call_id)
            if run is None or run.cancelled:
                continue
            run.cancel()
            self._record(run, "cancelled", None, "batch")
            for batch in list(self._batches):
                hit = False
                for e in batch.entries:
                    if e.run is run and e.result is None:
                        e.cancelled = hit = True
                if hit:
                    self._maybe_flush(batch)
        self._update_idle()

    # ------------------------------------------------------------------ plumbing

    def _model_busy(self) -> bool:
        """Whether the model is generating, answering, or owes a reply that was asked for:
        the session's conversation core is the one place that tracks it."""
        conversation = getattr(self.session, "conversation", None)
        return conversation is not None and not conversation.idle()

    def _update_idle(self) -> None:
        busy = self._model_busy() or any(not b.sent for b in self._batches)
        if busy:
            self._idle.clear()
        else:
            self._idle.set()

    async def _deliver(self, send: Any, run: _Run) -> bool:
        try:
            await send
            return True
        except Exception as e:  # the session closed, or a codec refused: never lose it silently
            log.warning("could not send the outcome of tool %s: %s", run.name, e)
            self.errors.append(e)
            return False

    def _record(
        self,
        run: _Run,
        kind: RecordKind,
        result: ToolResult | None,
        route: Route,
        *,
        replayed: bool = False,
        ok: bool = True,
        t: float | None = None,
    ) -> None:
        self.records.append(
            DispatchRecord(
                t=self._clock() if t is None else t,
                call_id=run.call.call_id,
                name=run.name,
                kind=kind if ok else "send_failed",
                output=result.output if result else None,
                route=route,
                will_continue=result.will_continue if result else None,
                scheduling=result.scheduling if result else None,
                replayed=replayed,
            )
        )

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            log.error("tool dispatcher task %s failed", task.get_name(), exc_info=exc)
            self.errors.append(exc)


_CANCELLED_MSG = "this call was cancelled earlier and is not run again"


def _error(kind: str, message: str, **extra: Any) -> _Outcome:
    """A structured error body; the codec wraps it as `{"error": ...}` on the wire."""
    return _Outcome({"type": kind, "message": message, **extra}, is_error=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any) -> Any:
    """`value` as JSON-ready data the model may see.

    Dataclasses and enums are converted; objects JSON cannot hold become their `str`;
    non-finite numbers (NaN, Infinity: not JSON, and Gemini refuses the frame) become strings;
    every string is scanned for credentials (a result whose text holds a key must not carry it
    to the model). A result that cannot be serialised must not crash the send: the call would
    hang.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        plain = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        plain = str(value)
    return _clean(plain)


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no such numbers
    if depth > 200:
        return "…"
    if isinstance(value, dict):
        return {redact_text(str(k)): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _checked(output: Any) -> _Outcome:
    """The outcome for a finished call: its output, or an error when it is too big to send."""
    size = len(json.dumps(output, allow_nan=False))
    if size > MAX_RESULT_CHARS:
        return _error(
            "result_too_large",
            f"the tool returned {size:,} characters of JSON; the limit is {MAX_RESULT_CHARS:,}. "
            "Ask for less (a summary, a page, a filter).",
        )
    return _Outcome(output)


async def _in_daemon_thread(func: Callable[..., Any], kwargs: dict[str, Any], *, name: str) -> Any:
    """`func(**kwargs)` in a new daemon thread (see `ToolDispatcher._execute` for why)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return  # cancelled meanwhile: the result is dropped
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = context.run(func, **kwargs)
        except BaseException as e:  # delivered to the awaiting task, never lost in the thread
            error = e
        with contextlib.suppress(RuntimeError):  # the loop may be gone by now
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await done


# ---------------------------------------------------------------------------------------------
# Acknowledgements and the silent-gap metric
# ---------------------------------------------------------------------------------------------

ACKNOWLEDGEMENT_SENTENCE = (
    "Before calling a tool, briefly tell the user what you are about to do in one short "
    "sentence (for example: 'Sure, let me check the weather in Paris.'), then call it."
)
"""Asks for a spoken preamble before tool calls. The emulator's brain reacts to the phrase
"before calling a tool" (see `realtimelab.emulator.brain.wants_acknowledgement`)."""


def acknowledgement_instructions(base: str = "") -> str:
    """`base` plus a sentence asking the model to acknowledge before it calls a tool.

    Why: a tool round trip is silent (the model stops, the tool runs, the model starts again).
    Spoken *before* the call, a short acknowledgement plays while the tool runs, so the
    silence the user hears shrinks to what is left of the tool's latency.
    """
    base = base.strip()
    if ACKNOWLEDGEMENT_SENTENCE in base:
        return base
    return f"{base}\n\n{ACKNOWLEDGEMENT_SENTENCE}" if base else ACKNOWLEDGEMENT_SENTENCE


_TURN_MARKS = (ev.ResponseStarted, ev.SpeechStopped, ev.InputCommitted)


def silent_gap_ms(
    events: Iterable[ev.Event], *, speed: float = 1.0, turn_ends: Iterable[float] = ()
) -> list[float]:
    """The silence around each tool round trip, in ms: from the end of the model's audio
    before a `ToolCall` to the start of its first audio after it.

    Audio is placed on a player timeline (a chunk starts when it arrives or when the previous
    one finishes, whichever is later, and lasts `duration_ms / speed`; pass the emulator's
    `speed` to measure with its pacing). Where the model said nothing before the call, the
    silence starts at the latest turn mark before it: `ResponseStarted`, `SpeechStopped`,
    `InputCommitted`, or a time in `turn_ends` (e.g. when you sent a text turn, which no event
    reports). Parallel calls before the same audio count as one round trip. A negative gap
    (audio still playing when the reply began) counts as 0.
    """
    if not speed > 0:
        raise ValueError("speed must be > 0")
    marks = sorted(turn_ends)
    gaps: list[float] = []
    playhead: float | None = None
    last_mark: float | None = None
    silence_from: float | None = None  # set while waiting for audio after a call
    for e in sorted(events, key=lambda x: x.t):
        while marks and marks[0] <= e.t:
            m = marks.pop(0)
            last_mark = m if last_mark is None else max(last_mark, m)
        if isinstance(e, ev.AudioChunk):
            start = e.t if playhead is None else max(e.t, playhead)
            if silence_from is not None:
                gaps.append(max(0.0, start - silence_from) * 1000.0)
                silence_from = None
            playhead = start + e.duration_ms / 1000.0 / speed
        elif isinstance(e, ev.ToolCall):
            if silence_from is None:
                candidates = [x for x in (playhead, last_mark) if x is not None]
                silence_from = max(candidates) if candidates else e.t
        elif isinstance(e, _TURN_MARKS) and silence_from is None:
            last_mark = e.t if last_mark is None else max(last_mark, e.t)
    return gaps
