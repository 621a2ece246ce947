"""Barge-in as a listener experiences it, on both providers, against the emulator.

Both services (and the emulator) generate audio faster than real time, so a reply is usually
fully received long before it has been heard. The common barge-in therefore happens *after*
the server finished the reply: only the client's playout clock knows that audio is still
playing. These tests run the session on a clock scaled to the emulator's speed, so "real time"
means the same thing on both sides, and check:

* speech while the reply is still audible gives exactly one `Interrupted` carrying the heard
  position, flushes the player, and (OpenAI) truncates the item at that position;
* speech while nothing is audible gives no `Interrupted`;
* with a player that reports its position, the heard position is the player's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from support.session_helpers import SentFrames, speak, until

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.emulator.server import Emulator
from realtimelab.providers.base import AssistantText
from realtimelab.session import RealtimeSession, connect

PROVIDERS = ["openai", "gemini"]
pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("provider", PROVIDERS)]
SPEED = 8.0
MakeEmulator = Callable[..., Awaitable[Emulator]]


class ScaledClock:
    """Session time that runs `SPEED` times faster than the wall, like the emulator's."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.start) * SPEED

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, (t - self()) / SPEED))


class RecordingPlayer:
    """Takes the audio the session plays; counts flushes."""

    def __init__(self) -> None:
        self.received_ms = 0.0
        self.flushes = 0

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        self.received_ms += len(pcm) / 2 / rate * 1000

    def flush(self) -> None:
        self.flushes += 1


class SlowReportingPlayer(RecordingPlayer):
    """A player that reports what it played: it started 2 s (session time) late, as a browser
    with a deep buffer might, so it has heard less than the wall-clock model would assume."""

    def __init__(self, clock: ScaledClock) -> None:
        super().__init__()
        self.clock = clock
        self.callback: Callable[[float], None] | None = None
        self.first: float | None = None

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        super().play(pcm, rate, item_id=item_id)
        if self.first is None:
            self.first = self.clock()

    def on_played(self, callback: Callable[[float], None]) -> None:
        self.callback = callback

    def tick(self) -> float:
        """Report the position a player that started 2 s late has reached now."""
        assert self.callback is not None
        started = (self.first or self.clock()) + 2.0
        played = min(self.received_ms, max(0.0, (self.clock() - started) * 1000))
        self.callback(played)
        return played


@pytest.fixture
async def emu(make_emulator: MakeEmulator) -> Emulator:
    return await make_emulator(speed=SPEED)


def on_scaled_clock(
    provider: str, emu: Emulator, clock: ScaledClock, player: Any, tap: SentFrames
) -> AbstractAsyncContextManager[RealtimeSession]:
    """A session on `clock` (as fast as the emulator), playing into `player`; `tap` keeps the
    frames it sends."""
    return connect(
        provider, SessionConfig(), url=emu.url, clock=clock, player=player, frame_tap=tap
    )


async def long_reply_received(session: RealtimeSession) -> list[ev.Event]:
    """Ask for a story and wait until the server finished generating it."""
    await session.send_text("Tell me a story.")
    return await until(session, lambda e: isinstance(e, ev.GenerationComplete), timeout=60)


async def test_speech_after_the_reply_was_received_interrupts_at_the_heard_position(
    provider: str, emu: Emulator
) -> None:
    clock, player, tap = ScaledClock(), RecordingPlayer(), SentFrames()
    async with on_scaled_clock(provider, emu, clock, player, tap) as session:
        before = await long_reply_received(session)
        assert not session.conversation.generating  # the server is done...
        assert session.playout.audible(clock())  # ...the listener is not
        assert session.playout.pending_ms(clock()) > 3000
        heard_at_speech = session.playout.position(clock())
        speaking = asyncio.create_task(speak(session, "Stop please.", rate=24000))
        after = await until(session, lambda e: isinstance(e, ev.Interrupted), timeout=30)
        await speaking
        settle = await until(session, lambda e: isinstance(e, ev.TurnComplete), timeout=30)
    events = before + after + settle
    interrupted = [e for e in events if isinstance(e, ev.Interrupted)]
    assert len(interrupted) == 1, [e.kind for e in events]
    cut = interrupted[0]
    assert cut.heard_ms is not None and cut.heard_ms >= heard_at_speech - 1
    assert player.flushes == 1
    truncates = [f for f in tap.sent if f.get("type") == "conversation.item.truncate"]
    if session.capabilities.truncation:
        assert [(f["item_id"], f["audio_end_ms"]) for f in truncates] == [
            (cut.item_id, int(cut.heard_ms))
        ]
    else:
        assert truncates == []
    story = next(h for h in session.history if isinstance(h, AssistantText))
    assert story.interrupted
    tap.validate(provider)


async def test_speech_while_nothing_is_audible_is_not_an_interruption(
    provider: str, emu: Emulator
) -> None:
    clock, player, tap = ScaledClock(), RecordingPlayer(), SentFrames()
    async with on_scaled_clock(provider, emu, clock, player, tap) as session:
        await session.send_text("Hello there!")
        events = await until(session, lambda e: isinstance(e, ev.TurnComplete), timeout=30)
        await clock.sleep_until(session.playout.ends_at(clock()) + 0.2)
        assert not session.playout.audible(clock())
        await speak(session, "Hello there.", rate=24000)
        events += await until(session, lambda e: isinstance(e, ev.TurnComplete), timeout=30)
    assert not [e for e in events if isinstance(e, ev.Interrupted)]
    assert player.flushes == 0
    assert not [f for f in tap.sent if f.get("type") == "conversation.item.truncate"]


async def test_the_heard_position_comes_from_a_player_that_reports_it(
    provider: str, emu: Emulator
) -> None:
    clock, tap = ScaledClock(), SentFrames()
    player = SlowReportingPlayer(clock)
    async with on_scaled_clock(provider, emu, clock, player, tap) as session:
        await long_reply_received(session)
        await clock.sleep_until(clock() + 3.0)
        reported = player.tick()
        assert 0 < reported < session.playout.received_ms
        await session.interrupt()  # a "stop" button: the position is the player's
        events: list[Any] = []
        events += session.pending_events()
    [cut] = [e for e in events if isinstance(e, ev.Interrupted)]
    assert cut.reason == "client"
    assert cut.heard_ms == pytest.approx(reported, abs=SPEED * 15)  # report → interrupt slack
    if session.capabilities.truncation:
        truncate = next(f for f in tap.sent if f.get("type") == "conversation.item.truncate")
        assert truncate["audio_end_ms"] == int(cut.heard_ms)
    assert player.flushes == 1


class QuietSocket:
    """A connection whose server says nothing more: only the client can notice a barge-in."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, message: Any) -> None:
        self.sent.append(message)


async def test_a_local_barge_in_stops_the_player_before_send_audio_returns(provider: str) -> None:
    from realtimelab.emulator.voice import Voice
    from realtimelab.providers import make_codec

    now = [0.0]
    player = RecordingPlayer()
    session = RealtimeSession(
        make_codec(provider),
        QuietSocket(),  # type: ignore[arg-type]
        SessionConfig(),
        url="memory://",
        clock=lambda: now[0],
        player=player,
        local_barge_in=True,
    )
    session._started = True
    reply = ev.audio_chunk(provider, 0.0, (), bytes(24000 * 2 * 5), 24000, "item-1", "resp-1")  # type: ignore[arg-type]
    session._dispatch(ev.ResponseStarted(provider=provider, t=0.0, response_id="resp-1"))  # type: ignore[arg-type]
    session._dispatch(reply)
    assert session.playout.audible(0.5)
    rate = session.rate_guard.expected
    speech = Voice().synthesize("Stop please.", rate=rate)
    step = rate // 50 * 2
    for i in range(0, len(speech), step):
        now[0] = 0.5 + i / (rate * 2)
        await session.send_audio(speech[i : i + step], rate)
        if any(isinstance(e, ev.Interrupted) for e in session.pending_events()):
            break
    else:
        raise AssertionError("the client VAD never heard the speech")
    assert player.flushes == 1  # at once: no server frame came after the speech
