"""Release media at the pace a real server would, compressed by a `speed` factor.

A real realtime model streams audio roughly as fast as it is played back. The emulator does the
same so that barge-in, truncation and latency measurements mean something: after `t` seconds of
wall time a stream has released `t * 1000 * speed` ms of media (plus an optional burst lead).
`speed=2.0` plays twice as fast as real time; tests use 20–50 to stay quick.

The clock is injectable so the pacing rule can be unit-tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: `time.monotonic()` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class ManualClock:
    """A clock for tests: `sleep` advances time instantly and records what was asked."""

    t: float = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class Pacer:
    """Waits until `media_ms` of output may be released.

    The schedule starts at the first `wait_until` call. `lead_ms` lets a stream run that far
    ahead of real time (a burst at the start, as real servers do), which keeps the first chunk
    instant without letting the whole reply arrive at once.
    """

    def __init__(self, *, speed: float = 1.0, clock: Clock | None = None, lead_ms: float = 0.0):
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self.clock: Clock = clock or MonotonicClock()
        self.lead_ms = lead_ms
        self._t0: float | None = None

    def delay_for(self, media_ms: float) -> float:
        """Seconds to wait before media position `media_ms` may be released (0 if due)."""
        if self._t0 is None:
            self._t0 = self.clock.now()
        due = self._t0 + max(0.0, media_ms - self.lead_ms) / 1000.0 / self.speed
        return max(0.0, due - self.clock.now())

    async def wait_until(self, media_ms: float) -> None:
        delay = self.delay_for(media_ms)
        if delay > 0:
            await self.clock.sleep(delay)
