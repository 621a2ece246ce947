"""Where the listener is in the assistant's audio: the client-side playout clock.

Both services *generate audio faster than real time*. A ten-second answer can be fully on the
wire after three seconds, and OpenAI's `response.done` (Gemini's `generationComplete`) then
arrives while the listener has heard only a third of it. So "what has the user heard?" is a
question only the client can answer, and it matters twice:

* **barge-in**: user speech while assistant audio is still audible must stop playback at once,
  whatever the server's response state (the response may be long finished), and
* **truncation**: OpenAI must be told how much of the item was heard
  (`conversation.item.truncate`), so the model's memory matches the listener's.

`Playout` keeps a timeline of the assistant audio received, item by item, and a *play cursor*
on it. The cursor comes from one of two sources:

* **a player that reports** (the in-browser player, a sound card stream): `report(played_ms)`
  gives the player's own count of audio actually played; between reports the cursor advances
  at real time while the player says it is playing;
* **the wall-clock model** when no player reports: each chunk starts playing when it arrives or
  when the audio before it ends, whichever is later, at real time. A notebook that collects the
  audio and plays it afterwards is not modelled, and says so by attaching no player.

It is sans-IO (h11 style): no clock of its own, every method takes the time `t` (seconds on the
session's clock), so it is tested without sleeping. `flush(t)` is the barge-in: it returns what
was heard of the item being played and discards the rest from the timeline.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["Cut", "Playout", "Segment"]


@dataclass
class Segment:
    """One assistant item's audio on the timeline: it starts at `start_ms`, is `length_ms`
    long so far (it grows while the item streams in)."""

    item_id: str | None
    start_ms: float
    length_ms: float = 0.0

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.length_ms


@dataclass(frozen=True)
class Cut:
    """What a flush (barge-in) found: the item being played and how much of it was heard.

    `heard_ms` is measured from the start of that item's audio. `discarded_ms` is the audio
    received but never to be played (of every item still queued)."""

    item_id: str | None
    heard_ms: float
    received_ms: float
    discarded_ms: float


class Playout:
    """The timeline of received assistant audio and the listener's position on it.

    Positions are milliseconds of *audio* (not wall time) from the first chunk of the session.
    `rate` is the playback speed relative to the session clock (1.0: a player plays one second
    of audio per second; a test that compresses time with a scaled clock keeps 1.0).
    """

    def __init__(self, *, rate: float = 1.0, keep_items: int = 64) -> None:
        if rate <= 0:
            raise ValueError(f"playout rate must be > 0, got {rate}")
        self.rate = rate
        self._segments: deque[Segment] = deque(maxlen=keep_items)
        self._by_item: dict[str | None, Segment] = {}
        self._total_ms = 0.0  # end of the timeline: everything received (played or not)
        # cursor = anchor_pos + elapsed since anchor_t (while audio remains), capped at total
        self._anchor_t: float | None = None
        self._anchor_pos = 0.0
        # a reporting player: its own count of audio played, and the audio we discarded
        self._reported: float | None = None
        self._reported_t = 0.0
        self._player_playing = False
        self._discarded_ms = 0.0
        self._floor_ms = 0.0  # a flush point: the cursor never goes back before it
        self._flushes = 0

    # ------------------------------------------------------------------ feeding

    def received(self, item_id: str | None, ms: float, t: float) -> None:
        """`ms` of audio for `item_id` arrived at `t` and is queued for playback."""
        if ms <= 0:
            return
        if self._reported is None:
            # wall-clock model: re-anchor at `t` before the timeline grows, so a gap in
            # arrivals (an underrun) is silence, not audio played in advance
            anchor_t = self._anchor_t
            if anchor_t is not None and t > anchor_t:
                pos = self._anchor_pos + (t - anchor_t) * 1000.0 * self.rate
                self._anchor_pos = pos if pos < self._total_ms else self._total_ms
            self._anchor_t = t
        segments = self._segments
        seg = segments[-1] if segments else None
        if seg is None or seg.item_id != item_id or seg.end_ms != self._total_ms:
            # a new item, or an item whose audio resumes after another one: a new segment
            seg = Segment(item_id, self._total_ms)
            if len(self._segments) == self._segments.maxlen:
                old = self._segments[0]
                if self._by_item.get(old.item_id) is old:
                    del self._by_item[old.item_id]
            self._segments.append(seg)
            self._by_item[item_id] = seg
        seg.length_ms += ms
        self._total_ms += ms

    def attach(self, t: float) -> None:
        """A player that reports its position takes over from the wall-clock model at `t`.

        Audio received before this is treated as already dealt with (it was never given to
        this player); the player's count starts at 0 here."""
        self._discarded_ms = self.position(t)
        self._reported = 0.0
        self._reported_t = t
        self._player_playing = False

    def report(self, played_ms: float, t: float, *, playing: bool = True) -> None:
        """A player's own count of audio it has played (cumulative since `attach`; audio it
        dropped on `flush` is simply never counted). Reports never move the cursor back."""
        if played_ms < 0 or played_ms != played_ms:  # negative or NaN: ignore
            return
        if self._reported is None:
            self.attach(t)
        self._reported = max(played_ms, self._reported or 0.0)
        self._reported_t = t
        self._player_playing = playing

    # ------------------------------------------------------------------ reading

    @property
    def received_ms(self) -> float:
        """All assistant audio received in the session (ms)."""
        return self._total_ms

    @property
    def reporting(self) -> bool:
        """True once a player reported its position (the wall-clock model is no longer used)."""
        return self._reported is not None

    def position(self, t: float) -> float:
        """Where the listener is on the timeline at `t` (ms of audio played or discarded)."""
        if self._reported is not None:
            pos = self._discarded_ms + self._reported
            if self._player_playing and t > self._reported_t:
                pos += (t - self._reported_t) * 1000.0 * self.rate
            return min(max(pos, self._floor_ms), self._total_ms)
        if self._anchor_t is None:
            return self._anchor_pos
        elapsed = max(0.0, t - self._anchor_t) * 1000.0 * self.rate
        return min(self._total_ms, self._anchor_pos + elapsed)

    def pending_ms(self, t: float) -> float:
        """Audio received but not yet played at `t`."""
        return max(0.0, self._total_ms - self.position(t))

    def audible(self, t: float, *, margin_ms: float = 0.0) -> bool:
        """True while assistant audio is playing or queued at `t` (more than `margin_ms`)."""
        return self.pending_ms(t) > margin_ms

    def current(self, t: float) -> Segment | None:
        """The segment under the cursor at `t` (the one being heard), or the next one queued;
        None when nothing is left to play."""
        pos = self.position(t)
        for seg in self._segments:
            if seg.end_ms > pos:
                return seg
        return None

    def heard_ms(self, item_id: str | None, t: float) -> float:
        """How much of `item_id`'s audio has been played at `t` (0 for an unknown item)."""
        seg = self._by_item.get(item_id)
        if seg is None:
            return 0.0
        return min(seg.length_ms, max(0.0, self.position(t) - seg.start_ms))

    def item_received_ms(self, item_id: str | None) -> float:
        seg = self._by_item.get(item_id)
        return seg.length_ms if seg is not None else 0.0

    def ends_at(self, t: float) -> float:
        """When (session clock) the audio received so far will have finished playing."""
        return t + self.pending_ms(t) / 1000.0 / self.rate

    @property
    def flushes(self) -> int:
        return self._flushes

    # ------------------------------------------------------------------ barge-in

    def flush(self, t: float) -> Cut | None:
        """Stop playback at `t`: return the item being heard and how much of it was heard, and
        drop everything not yet played. None when nothing was audible."""
        pos = self.position(t)
        seg = self.current(t)
        if seg is None:
            return None
        dropped = self._total_ms - pos
        cut = Cut(
            item_id=seg.item_id,
            heard_ms=max(0.0, min(seg.length_ms, pos - seg.start_ms)),
            received_ms=seg.length_ms,
            discarded_ms=dropped,
        )
        self._flushes += 1
        # the timeline keeps its length; the cursor jumps to its end (nothing left to play)
        if self._reported is not None:
            self._discarded_ms += dropped
            self._player_playing = False
        self._floor_ms = self._total_ms
        self._anchor_pos = self._total_ms
        self._anchor_t = t
        return cut

    # ------------------------------------------------------------------ internals

    def _last_segment(self) -> Segment | None:
        return self._segments[-1] if self._segments else None
