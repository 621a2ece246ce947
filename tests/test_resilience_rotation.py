"""Proactive rotation against the emulator with compressed limits: no input frame lost.

Numbered audio frames stream continuously through the rotation; the emulator's tap records
which server session received each one. Every frame must arrive exactly once across the two
sockets, in order. The conversation must be carried over (the new server session's brain sees
the earlier turn), and the rotation must come before the provider's own limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from support.fakes import RecordingBrain, recording_components
from support.resilience_helpers import (
    FAST,
    InputTap,
    Run,
    config_for,
    drive,
    normalise,
    numbered_frame,
)

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.emulator.engine import Components
from realtimelab.emulator.faults import Fault
from realtimelab.resilience import ResilientSession, RotationPolicy

SPEED = 40.0


@pytest.fixture
def components() -> Components:
    return recording_components()


async def stream_through_rotation(
    session: ResilientSession, rate: int, samples: int, after: int = 40, limit_s: float = 8.0
) -> tuple[int, list[ev.Event]]:
    """Send numbered frames until a `Reconnected` was seen, then `after` more; returns how many
    frames were sent and the events seen meanwhile."""
    events: list[ev.Event] = []
    switched = asyncio.Event()

    async def listen() -> None:
        async for event in session:
            events.append(event)
            if isinstance(event, ev.Reconnected):
                switched.set()

    listener = asyncio.create_task(listen())
    sent, tail = 0, after
    deadline = time.monotonic() + limit_s
    try:
        while tail > 0:
            assert time.monotonic() < deadline, "no rotation happened"
            await session.send_audio(numbered_frame(sent, samples), rate)
            sent += 1
            if switched.is_set():
                tail -= 1
            await asyncio.sleep(0.003)
    finally:
        listener.cancel()
    return sent, events


async def wait_for_frames(tap: InputTap, count: int) -> None:
    async with asyncio.timeout(5):
        while len(tap.numbers()) < count:
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_rotation_before_the_limit_loses_no_input_frame(
    make_emulator: Any, components: Any, provider: str
) -> None:
    rate = 24000 if provider == "openai" else 16000
    samples = rate // 100  # 10 ms frames
    tap = InputTap(samples)
    limit = 2.5
    emu = await make_emulator(
        speed=SPEED,
        components=components,
        frame_tap=tap,
        openai_max_session_s=limit,
        gemini_connection_s=limit,
    )
    # OpenAI gives no warning: rotate on a timer 1 s before the (compressed) limit. Gemini
    # warns with goAway (the emulator sends it 0.5 s before closing).
    rotation = RotationPolicy(rotate_before_s=1.0, max_connection_s=limit)
    async with ResilientSession(
        provider, config_for(provider), url=emu.url, policy=FAST, rotation=rotation
    ) as session:
        run = await drive(session, Run(), script=("hello there",))
        sent, events = await stream_through_rotation(session, rate, samples)
        await wait_for_frames(tap, sent)
        run = await drive(session, run, script=("thanks",))

    # every frame exactly once, in order, across exactly two server sessions
    assert tap.numbers() == list(range(sent))
    with_audio = [sid for sid in tap.order if tap.by_session[sid]]
    assert len(with_audio) == 2
    first, second = (tap.by_session[sid] for sid in with_audio)
    assert first and second and first[-1][1] + 1 == second[0][1]

    kinds = [type(e) for e in events if isinstance(e, ev.SessionExpiring | ev.Reconnected)]
    assert kinds == [ev.SessionExpiring, ev.Reconnected]
    reconnected = next(e for e in events if isinstance(e, ev.Reconnected))
    expected_restore = "resumed" if session.capabilities.resumption else "replayed"
    assert reconnected.state_restored == expected_restore
    # before the provider's own close: that would have been an Error (connection lost)
    all_events = run.events + events
    assert not [e for e in all_events if isinstance(e, ev.Error)]
    assert not [e for e in all_events if isinstance(e, ev.Interrupted)]
    assert session.stats.rotations == 1 and session.stats.reconnects == 0

    # the conversation was carried: the new session's brain answered "thanks" knowing "hello"
    assert RecordingBrain.seen()[-1] == ["hello there", "thanks"]
    assert [k for k, *_ in normalise(session.history)] == ["user", "assistant"] * 2

    server_gap_ms = (second[0][0] - first[-1][0]) * 1000
    print(
        f"\n{provider} rotation: client switch gap {reconnected.gap_ms:.2f} ms, "
        f"server-side gap between last old / first new frame {server_gap_ms:.1f} ms, "
        f"{sent} frames, connection limit {limit} s"
    )


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_rotation_waits_for_the_current_reply(
    make_emulator: Any, components: Any, provider: str
) -> None:
    """Rotation requested mid-reply: the old socket finishes the reply first, nothing is cut,
    and the reply appears once in the history."""
    emu = await make_emulator(speed=10.0, components=components)
    config = dataclasses.replace(config_for(provider), output="audio")
    config = SessionConfig(instructions=config.instructions, output="audio", tools=config.tools)
    events: list[ev.Event] = []
    long_text = "tell me something " + "very " * 12 + "long"
    async with ResilientSession(
        provider, config, url=emu.url, policy=FAST, rotation=RotationPolicy(enabled=False)
    ) as session:
        await session.send_text(long_text)
        rotation: asyncio.Task[bool] | None = None
        async with asyncio.timeout(10):
            async for event in session:
                events.append(event)
                if isinstance(event, ev.AudioChunk) and rotation is None:
                    rotation = asyncio.create_task(session.rotate(within_s=5.0))
                if isinstance(event, ev.Reconnected):
                    break
        assert rotation is not None and await rotation
    order = [
        type(e).__name__
        for e in events
        if isinstance(e, ev.TurnComplete | ev.Reconnected | ev.Interrupted)
    ]
    assert order == ["TurnComplete", "Reconnected"]
    assert [k for k, *_ in normalise(session.history)] == ["user", "assistant"]
    assert len(RecordingBrain.seen()) == 1  # the reply was not asked for again


async def test_gemini_expire_fault_rotates_by_resumption(
    make_emulator: Any, components: Any
) -> None:
    """`Fault("expire")` makes the emulator send goAway now: the session rotates, resuming."""
    emu = await make_emulator(speed=SPEED, components=components)
    async with ResilientSession(
        "gemini", config_for("gemini"), url=emu.url, policy=FAST
    ) as session:
        run = await drive(session, Run(), script=("hello there",))
        emu.inject(None, Fault("expire"))
        async with asyncio.timeout(5):
            async for event in session:
                run.events.append(event)
                if isinstance(event, ev.Reconnected):
                    break
        run = await drive(session, run, script=("thanks",))
    reconnected = [e for e in run.events if isinstance(e, ev.Reconnected)]
    assert [e.state_restored for e in reconnected] == ["resumed"]
    assert RecordingBrain.seen()[-1] == ["hello there", "thanks"]
    assert session.stats.rotations == 1
