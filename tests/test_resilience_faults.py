"""`ResilientSession` against the real emulator with injected faults.

* 100 seeded sessions (50 per provider), each dropped or closed (1006 abort / 1011 / 1001) at a
  random server frame of its first connection: the final history must equal the fault-free
  run's, no tool may run twice, and every session must recover.
* Fatal closes (1007, 4000, a refused handshake) are not retried; `session_expired` is.
* Audio sent during a gap is re-sent in order after the reconnect, or reported as dropped.

Faults are aimed with the emulator's server-side frame tap: it counts the first connection's
frames and aborts (or closes) that connection at frame N, exactly like `drop_after_frames:N`
but only for the first connection, so the reconnect is healthy.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from support.resilience_helpers import (
    FAST,
    NO_ROTATION,
    SCRIPT,
    InputTap,
    Run,
    config_for,
    drive,
    normalise,
    numbered_frame,
)

from realtimelab import events as ev
from realtimelab.conversation import Conversation
from realtimelab.emulator.faults import Fault
from realtimelab.emulator.server import Emulator, SessionInfo
from realtimelab.resilience import (
    ReconnectPolicy,
    ResilientSession,
    State,
)
from realtimelab.session import HandshakeRefused, RealtimeSession, connect

SPEED = 60.0


class FaultAimer:
    """A server frame tap that faults the first connection at its N-th frame."""

    def __init__(self, at_frame: int | None, kind: str = "drop") -> None:
        self.at_frame = at_frame
        self.kind = kind
        self.first: str | None = None
        self.frames = 0
        self.turn_frames: list[int] = []  # frame numbers of turn ends on the first connection
        self.sessions: list[str] = []
        self.emulator: Emulator | None = None
        self.fired = False

    def __call__(self, info: SessionInfo, direction: str, frame: str | bytes) -> None:
        if info.session_id not in self.sessions:
            self.sessions.append(info.session_id)
        if direction != "out":
            return
        if self.first is None:
            self.first = info.session_id
        if info.session_id != self.first:
            return
        self.frames += 1
        text = frame.decode() if isinstance(frame, bytes) else frame
        if '"response.done"' in text or '"turnComplete":true' in text:
            self.turn_frames.append(self.frames)
        if self.frames == self.at_frame and self.emulator is not None:
            if info.session_id not in self.emulator.sessions:
                return
            # `*_now`: right after this frame, ahead of frames the writer already has queued
            # (Fault("close") would wait for them). `inject` acts synchronously.
            fault = (
                Fault("drop_now")
                if self.kind == "drop"
                else Fault("close_now", code=int(self.kind))
            )
            self.fired = self.emulator.inject(info.session_id, fault) == 1


async def one_session(
    make_emulator: Any, components: Any, provider: str, aimer: FaultAimer
) -> tuple[Run, ResilientSession]:
    emu = await make_emulator(speed=SPEED, components=components, frame_tap=aimer)
    aimer.emulator = emu
    session = resilient(provider, url=emu.url)
    async with session:
        run = await drive(session, Run())
        if aimer.fired and not any(isinstance(e, ev.Reconnected) for e in run.events):
            # The fault hit after the last reply was complete in the history (e.g. just before
            # Gemini's final turnComplete): the script is done, the recovery still under way.
            async with asyncio.timeout(10):
                async for event in session:
                    run.events.append(event)
                    if isinstance(event, ev.Reconnected):
                        break
    return run, session


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_100_seeded_faulty_sessions_recover_with_identical_history(
    make_emulator: Any, fake_components: Any, provider: str
) -> None:
    reference_aimer = FaultAimer(None)
    reference, _ = await one_session(make_emulator, fake_components, provider, reference_aimer)
    assert sum(reference.executions.values()) == 1
    last_turn_frame = reference_aimer.turn_frames[-1]
    expected = normalise(reference.history)
    assert [k for k, *_ in expected] == [
        "user",
        "assistant",
        "user",
        "tool_call",
        "tool_result",
        "assistant",
        "user",
        "assistant",
    ]

    n, batch = 50, 10
    results: list[tuple[int, int, str, Run, ResilientSession, FaultAimer]] = []

    async def faulty(seed: int) -> None:
        rng = random.Random(f"{provider}:{seed}")
        # Before the last turn's end: the conversation cannot finish on the first connection.
        at = rng.randint(1, last_turn_frame - 1)
        kind = rng.choices(["drop", "1011", "1001"], weights=[6, 2, 2])[0]
        aimer = FaultAimer(at, kind)
        run, session = await one_session(make_emulator, fake_components, provider, aimer)
        results.append((seed, at, kind, run, session, aimer))

    started = time.monotonic()
    for first in range(0, n, batch):
        await asyncio.gather(*(faulty(seed) for seed in range(first, first + batch)))
    elapsed = time.monotonic() - started

    recovered = 0
    gaps: list[float] = []
    restored: Counter[str] = Counter()
    for seed, at, kind, run, session, aimer in results:
        where = f"seed {seed} ({kind} at frame {at})"
        assert normalise(run.history) == expected, where
        assert all(count == 1 for count in run.executions.values()), where
        assert sum(run.executions.values()) == 1, where  # no re-run under a new call id either
        reconnected = [e for e in run.events if isinstance(e, ev.Reconnected)]
        assert reconnected, where
        assert session.stats.reconnects >= 1 and len(aimer.sessions) >= 2, where
        recovered += 1
        gaps.extend(e.gap_ms or 0.0 for e in reconnected)
        restored.update(e.state_restored for e in reconnected)
    assert recovered == n
    gaps.sort()
    print(
        f"\n{provider}: {recovered}/{n} recovered in {elapsed:.1f}s; restored {dict(restored)}; "
        f"gap ms median {gaps[len(gaps) // 2]:.1f}, max {gaps[-1]:.1f}"
    )


# ---------------------------------------------------------------------------------------------
# fatal closes are not retried; expiry is
# ---------------------------------------------------------------------------------------------


def resilient(provider: str, *, policy: ReconnectPolicy = FAST, **kwargs: Any) -> ResilientSession:
    """A `ResilientSession` with the suite's config, quick retries unless `policy` says
    otherwise, and no rotation; `kwargs` say where it connects (`url=`, `connector=`) and the
    rest."""
    return ResilientSession(
        provider, config_for(provider), policy=policy, rotation=NO_ROTATION, **kwargs
    )


class SleepLog(list[float]):
    """A stand-in for `asyncio.sleep` that records the backoff delays instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class CountingConnector:
    """Wraps `connect`, counting connection attempts; `fail(n)` makes attempts 2.. fail."""

    def __init__(
        self,
        provider: str,
        emu: Emulator,
        *,
        override: Callable[[int], dict[str, Any]] | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.provider = provider
        self.emu = emu
        self.attempts = 0
        self.override = override
        self.gate = gate

    def __call__(
        self, resume: str | None, conversation: Conversation
    ) -> AbstractAsyncContextManager[RealtimeSession]:
        self.attempts += 1
        attempt = self.attempts
        kwargs: dict[str, Any] = {
            "url": self.emu.url,
            "api_key": "good-key",
            "resume": resume,
            "conversation": conversation,
        }
        if self.override is not None:
            kwargs.update(self.override(attempt))

        @asynccontextmanager
        async def opened() -> AsyncIterator[RealtimeSession]:
            if self.gate is not None and attempt > 1:
                await self.gate.wait()
            if kwargs.pop("raise_", None):
                raise ConnectionError(f"could not connect to {self.provider}: refused")
            async with connect(self.provider, config_for(self.provider), **kwargs) as session:
                yield session

        return opened()


async def collect_until_closed(session: ResilientSession, timeout: float = 10) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
    return out


@pytest.mark.parametrize(
    ("provider", "code"), [("gemini", 1007), ("openai", 4000), ("gemini", 1008)]
)
async def test_fatal_close_is_not_retried(
    make_emulator: Any, fake_components: Any, provider: str, code: int
) -> None:
    emu = await make_emulator(speed=SPEED, components=fake_components)
    connector = CountingConnector(provider, emu)
    async with resilient(provider, connector=connector) as session:
        await session.send_text("hello there")
        assert emu.inject(None, Fault("close", code=code)) == 1
        events = await collect_until_closed(session)
    fatal = [e for e in events if isinstance(e, ev.Error) and e.fatal]
    assert len(fatal) == 1 and fatal[0].code == str(code)
    assert isinstance(events[-1], ev.Closed)
    assert not any(isinstance(e, ev.Reconnected) for e in events)
    assert connector.attempts == 1
    assert session.state is State.CLOSED


async def test_refused_handshake_on_reconnect_is_fatal_not_a_loop(
    make_emulator: Any, fake_components: Any
) -> None:
    emu = await make_emulator(
        speed=SPEED, components=fake_components, api_keys=frozenset({"good-key"})
    )
    connector = CountingConnector(
        "openai", emu, override=lambda n: {"api_key": "revoked-key"} if n > 1 else {}
    )
    sleeps = SleepLog()

    async with resilient("openai", connector=connector, sleep=sleeps) as session:
        emu.inject(None, Fault("drop"))
        events = await collect_until_closed(session)
    fatal = [e for e in events if isinstance(e, ev.Error) and e.fatal]
    assert [e.code for e in fatal] == ["http_401"]
    assert connector.attempts == 2  # one reconnect attempt, refused, no loop
    assert sleeps == []  # the first retry is immediate; no backoff after a fatal refusal


async def test_retries_follow_the_policy_then_give_up(
    make_emulator: Any, fake_components: Any
) -> None:
    emu = await make_emulator(speed=SPEED, components=fake_components)
    connector = CountingConnector(
        "gemini", emu, override=lambda n: {"raise_": True} if n > 1 else {}
    )
    policy = ReconnectPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=2, seed=7)
    sleeps = SleepLog()

    async with resilient("gemini", connector=connector, policy=policy, sleep=sleeps) as session:
        emu.inject(None, Fault("drop"))
        events = await collect_until_closed(session)
    assert connector.attempts == 1 + 4
    assert sleeps == [d for d in policy.delays() if d > 0]
    fatal = [e for e in events if isinstance(e, ev.Error) and e.fatal]
    assert len(fatal) == 1 and "gave up after 4 attempts" in fatal[0].message


async def test_transient_connect_failures_then_recovery(
    make_emulator: Any, fake_components: Any
) -> None:
    emu = await make_emulator(speed=SPEED, components=fake_components)
    connector = CountingConnector(
        "openai", emu, override=lambda n: {"raise_": True} if n in (2, 3) else {}
    )
    sleeps = SleepLog()

    policy = ReconnectPolicy(base_delay_s=0.2, seed=3)
    async with resilient("openai", connector=connector, policy=policy, sleep=sleeps) as session:
        run = await drive(session, Run(), script=SCRIPT[:1])
        emu.inject(None, Fault("close", code=1011))
        run = await drive(session, run, script=SCRIPT[2:])
    reconnected = [e for e in run.events if isinstance(e, ev.Reconnected)]
    assert [(e.attempts, e.state_restored) for e in reconnected] == [(3, "replayed")]
    assert sleeps == list(policy.delays()[1:3])
    assert [k for k, *_ in normalise(run.history)] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_session_expired_is_not_fatal(
    make_emulator: Any, fake_components: Any, provider: str
) -> None:
    emu = await make_emulator(speed=SPEED, components=fake_components)
    async with resilient(provider, url=emu.url) as session:
        run = await drive(session, Run(), script=SCRIPT[:1])
        emu.inject(None, Fault("expire"))
        async with asyncio.timeout(10):
            async for event in session:
                run.events.append(event)
                if isinstance(event, ev.Reconnected):
                    break
        run = await drive(session, run, script=SCRIPT[2:])
    assert not [e for e in run.events if isinstance(e, ev.Error) and e.fatal]
    assert [k for k, *_ in normalise(run.history)] == ["user", "assistant", "user", "assistant"]
    assert session.stats.reconnects == 0  # an expiry is a (late) rotation, not a failure


async def collect_until_reconnected(
    session: ResilientSession, timeout: float = 10
) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
            if isinstance(event, ev.Reconnected):
                return out
    raise AssertionError(f"ended without reconnecting: {[e.kind for e in out]}")


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("together", [False, True])
async def test_a_retryable_close_is_reported_once_and_other_errors_still_surface(
    make_emulator: Any, fake_components: Any, provider: str, together: bool
) -> None:
    """The codec reports a 1011 as `Error(fatal=False)`; the session turns it into one
    "reconnecting" notice (not two errors), while an unrelated recoverable error (a malformed
    frame) still reaches the user, even when it arrives right before the close."""
    emu = await make_emulator(speed=SPEED, components=fake_components)
    async with resilient(provider, url=emu.url) as session:
        run = await drive(session, Run(), script=SCRIPT[:1])
        emu.inject(None, Fault("malformed"))
        if together:  # queued behind the malformed frame: both reach the client back to back
            emu.inject(None, Fault("close", code=1011))
        else:
            async with asyncio.timeout(5):
                async for event in session:
                    run.events.append(event)
                    if isinstance(event, ev.Error):
                        break
            emu.inject(None, Fault("close_now", code=1011))
        run.events += await collect_until_reconnected(session)
        run = await drive(session, run, script=SCRIPT[2:])
    errors = [e for e in run.events if isinstance(e, ev.Error)]
    assert [(e.code, e.fatal) for e in errors] == [("malformed_frame", False), ("1011", False)]
    assert "reconnecting" in errors[1].message
    assert [k for k, *_ in normalise(run.history)] == ["user", "assistant", "user", "assistant"]


async def test_a_refused_first_connection_raises_the_structured_error(
    make_emulator: Any, fake_components: Any
) -> None:
    emu = await make_emulator(
        speed=SPEED, components=fake_components, api_keys=frozenset({"good-key"})
    )
    session = resilient("openai", url=emu.url, api_key="bad-key")
    with pytest.raises(HandshakeRefused) as info:
        await session.open()
    assert (info.value.status, info.value.retryable) == (401, False)
    assert "bad-key" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# audio during the gap
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "buffer_ms", "dropped"),
    [("openai", 5000.0, 0), ("gemini", 5000.0, 0), ("openai", 100.0, 10)],
)
async def test_audio_during_a_gap_is_resent_in_order_or_reported(
    make_emulator: Any, fake_components: Any, provider: str, buffer_ms: float, dropped: int
) -> None:
    rate = 24000 if provider == "openai" else 16000
    samples = rate // 200  # 5 ms frames
    tap = InputTap(samples)
    emu = await make_emulator(speed=SPEED, components=fake_components, frame_tap=tap)
    gate = asyncio.Event()
    connector = CountingConnector(provider, emu, gate=gate)
    total = 40
    async with resilient(provider, connector=connector, buffer_ms=buffer_ms) as session:
        for n in range(10):
            await session.send_audio(numbered_frame(n, samples), rate)
        async with asyncio.timeout(5):  # frames in flight at a drop are lost with the socket
            while len(tap.numbers()) < 10:
                await asyncio.sleep(0.002)
        emu.inject(None, Fault("drop"))
        async with asyncio.timeout(5):
            while session.state is not State.RECONNECTING:
                await asyncio.sleep(0.002)
        for n in range(10, total):  # the gap: nowhere to send these
            await session.send_audio(numbered_frame(n, samples), rate)
        gate.set()
        events: list[ev.Event] = []
        async with asyncio.timeout(5):
            async for event in session:
                events.append(event)
                if isinstance(event, ev.Reconnected):
                    break
        await session.send_audio(numbered_frame(total, samples), rate)
        async with asyncio.timeout(5):
            while tap.numbers()[-1:] != [total]:
                await asyncio.sleep(0.005)
    kept = [n for n in range(total + 1) if not 10 <= n < 10 + dropped]
    assert tap.numbers() == kept  # exactly once, in order, across the two connections
    drops = [e for e in events if isinstance(e, ev.InputDropped)]
    if dropped:
        assert len(drops) == 1 and drops[0].duration_ms == pytest.approx(dropped * 5.0)
        assert session.stats.input_dropped_ms == pytest.approx(dropped * 5.0)
    else:
        assert drops == []


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_tool_result_for_a_call_from_the_lost_connection(
    make_emulator: Any, fake_components: Any, provider: str
) -> None:
    """The call arrived, the socket died before the result went out: the result is delivered
    on the new connection as a history item (the new server never issued that call id), the
    model answers with it, and the tool ran once."""
    emu = await make_emulator(speed=SPEED, components=fake_components)
    gate = asyncio.Event()
    connector = CountingConnector(provider, emu, gate=gate)
    run = Run()
    async with resilient(provider, connector=connector) as session:
        await session.send_text("please get_weather in Paris")
        async with asyncio.timeout(5):
            async for event in session:
                run.events.append(event)
                if isinstance(event, ev.ToolCall):
                    run.executions[event.call_id] += 1
                    call = event
                    break
        emu.inject(None, Fault("drop"))
        async with asyncio.timeout(5):
            while session.state is not State.RECONNECTING:
                await asyncio.sleep(0.002)
        sending = asyncio.create_task(session.send_tool_response(call.call_id, {"temp_c": 21}))
        await asyncio.sleep(0.02)
        assert not sending.done()  # verbs wait for the new connection, they do not fail
        gate.set()
        await sending
        async with asyncio.timeout(5):
            async for event in session:
                run.events.append(event)
                if isinstance(event, ev.TurnComplete) and session.history[-1].kind == "assistant":
                    break
        run = await drive(session, run, script=("thanks",))
    kinds = [k for k, *_ in normalise(run.history)]
    assert kinds == ["user", "tool_call", "tool_result", "assistant", "user", "assistant"]
    assert "21" in run.history[3].text  # type: ignore[union-attr]
    assert dict(run.executions) == {call.call_id: 1}
