"""The emulator's clock model of a realtime model: how fast it generates, what the server assumes
the listener has heard. Sans-IO: every method takes the time it should reason about.

Two sides of the same reply:

* **Generation** (`GenerationTiming`): the model starts a reply, waits `first_audio_ms` of model
  time, then produces audio `rate` times faster than real time, sending as it generates. What
  the server *sent* is what its positions refer to: OpenAI truncation bounds, Gemini usage.
* **Assumed playback** (`Playout`): the listener the server assumes plays every audio chunk at
  real time from the moment it is sent, back to back. Gemini sends `turnComplete` when that
  playback ends (`generationComplete` marks the end of generation, earlier), and an
  interruption keeps in the history only what had been heard by then.

`speed` compresses all of it (latency, generation and playback): with `speed=20` a second of
audio "plays" in 50 ms of wall time, so tests stay quick and keep the proportions.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from realtimelab.emulator.pacing import Clock, Pacer

__all__ = ["GenerationTiming", "Playout"]


@dataclass(frozen=True)
class GenerationTiming:
    """How fast a dialect's model produces a reply (see `EmulatorConfig` for the defaults).

    `rate`: media ms generated per ms of model time (1.0 = real time). `first_audio_ms`: model
    time before the first audio of a reply. `speed`: the emulator-wide time compression.
    """

    rate: float = 1.0
    first_audio_ms: float = 0.0
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.speed <= 0 or self.first_audio_ms < 0:
            raise ValueError(f"invalid generation timing {self}")

    def pacer(
        self, clock: Clock, *, start: float | None = None, audio: bool = True, cold: bool = True
    ) -> Pacer:
        """A pacer for one utterance. `audio=False` paces text deltas (their positions are
        already model time, so the rate does not apply); `cold=False` continues a reply that
        already paid its first-audio latency."""
        return Pacer(
            speed=self.speed,
            clock=clock,
            rate=self.rate if audio else 1.0,
            first_ms=self.first_audio_ms if cold else 0.0,
            start=start,
        )

    def generation_s(self, media_ms: float) -> float:
        """Wall seconds to generate `media_ms` of audio once it has started."""
        return media_ms / self.rate / 1000.0 / self.speed

    def playback_s(self, media_ms: float) -> float:
        """Wall seconds a listener needs to play `media_ms` of audio."""
        return media_ms / 1000.0 / self.speed


@dataclass
class Playout:
    """The playback the server assumes: chunks play back to back, each no earlier than sent.

    `add(now, ms)` records an audio chunk as sent at clock time `now`; `end` is when the last
    one finishes playing; `heard_ms(now)` is how much of the (concatenated) audio a listener
    has heard by `now`. Times are clock seconds; media is ms; `speed` compresses playback.
    """

    speed: float = 1.0
    _starts: list[float] = field(default_factory=list)  # clock time each chunk starts playing
    _media: list[float] = field(default_factory=list)  # media position where each chunk starts
    _lengths: list[float] = field(default_factory=list)  # media ms of each chunk
    end: float | None = None  # clock time the last chunk finishes
    total_ms: float = 0.0

    def add(self, now: float, audio_ms: float) -> None:
        if audio_ms <= 0:
            return
        start = now if self.end is None else max(self.end, now)
        self._starts.append(start)
        self._media.append(self.total_ms)
        self._lengths.append(audio_ms)
        self.total_ms += audio_ms
        self.end = start + audio_ms / 1000.0 / self.speed

    @property
    def first_sent(self) -> float | None:
        return self._starts[0] if self._starts else None

    def heard_ms(self, now: float) -> float:
        """Media ms heard by clock time `now` (0 before the first chunk, all after `end`)."""
        i = bisect.bisect_right(self._starts, now) - 1
        if i < 0:
            return 0.0
        played = (now - self._starts[i]) * 1000.0 * self.speed
        return self._media[i] + min(self._lengths[i], max(0.0, played))

    def finished(self, now: float) -> bool:
        return self.end is None or now >= self.end
