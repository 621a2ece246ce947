"""Release media when the emulated model has generated it: a clock, and a pacer on that clock.

Real realtime models generate audio *faster* than it plays: after a first-audio latency they
stream at some multiple of real time (the generation rate), and the client buffers the rest.
A `Pacer` reproduces that schedule: media position `m` (ms of output) is released at

    start + (first_ms + m / rate) / 1000 / speed        (seconds on the clock)

where `start` is when the model began the reply, `first_ms` the latency before its first
audio, `rate` the generation rate (1.0 = real time) and `speed` the emulator-wide factor that
compresses all time (tests use 8–50 to stay quick). `lead_ms` lets a stream start that far
ahead of the schedule (a burst). See `timing.py` for the defaults and docs/emulator-timing.md
for where they come from.

The clock is injectable (`ManualClock`) so every schedule can be unit-tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Clock", "ManualClock", "MonotonicClock", "Pacer"]


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
    """Waits until `media_ms` of output may be released (see the module docstring).

    `start` defaults to the clock's time at the first `delay_for` call, so a pacer made just
    before streaming behaves like the old real-time pacer; pass the reply's start time to make
    `first_ms` a floor under the work done before streaming (hearing, thinking, synthesis).
    """

    def __init__(
        self,
        *,
        speed: float = 1.0,
        clock: Clock | None = None,
        lead_ms: float = 0.0,
        rate: float = 1.0,
        first_ms: float = 0.0,
        start: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.speed = speed
        self.rate = rate
        self.first_ms = max(0.0, first_ms)
        self.clock: Clock = clock or MonotonicClock()
        self.lead_ms = lead_ms
        self._t0: float | None = start

    @property
    def started(self) -> float | None:
        return self._t0

    def due(self, media_ms: float) -> float:
        """The clock time at which media position `media_ms` is generated."""
        if self._t0 is None:
            self._t0 = self.clock.now()
        model_ms = self.first_ms + max(0.0, media_ms - self.lead_ms) / self.rate
        return self._t0 + model_ms / 1000.0 / self.speed

    def delay_for(self, media_ms: float) -> float:
        """Seconds to wait before media position `media_ms` may be released (0 if due)."""
        return max(0.0, self.due(media_ms) - self.clock.now())

    async def wait_until(self, media_ms: float) -> None:
        delay = self.delay_for(media_ms)
        if delay > 0:
            await self.clock.sleep(delay)
