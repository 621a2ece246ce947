"""Live speakers for the lessons: each provider's answers play in the page as they arrive.

A lesson runs many short sessions, sometimes two at once (one per provider). Each provider gets
one speaker-only :class:`~realtimelab.browser_audio.BrowserAudio` on the page, and each session
borrows it through :meth:`Speakers.player`, which hands the session a fresh player:

* **a reporting player** when the page is showing the speaker and its AudioContext runs: the
  page's own count of audio played drives the session's playout clock (rebased to 0 when the
  session attaches, because the page counts from its creation, across sessions);
* **a plain player** otherwise (no page yet, a suspended context, nbval's headless kernel): the
  audio still goes to the page if one appears, and the session keeps its wall-clock model of
  playback. A page that never plays must not freeze the clock: a session whose audio is
  "never heard" would treat every later word from the user as a barge-in.

Two speakers playing at once would talk over each other, so only the first is audible by
default; each has a *sound* switch. A silenced speaker still plays (at volume 0), so its
position stays true.

One session per speaker at a time: a new player for a speaker detaches the previous one's
reports (its session has ended in every lesson that uses this).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from realtimelab.browser_audio import BrowserAudio, PlayedCallback

__all__ = ["ReportingSpeaker", "Speaker", "Speakers"]


class Speaker:
    """A session's view of a page speaker: plays and flushes, reports nothing."""

    def __init__(self, audio: BrowserAudio) -> None:
        self.audio = audio

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        self.audio.play(pcm, rate, item_id=item_id)

    def flush(self) -> None:
        self.audio.flush()

    def close(self) -> None:
        """Nothing to undo for a player that never reported."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.audio.label!r})"


class ReportingSpeaker(Speaker):
    """A session's view of a page speaker that is playing: reports drive its playout clock.

    The page's :attr:`~BrowserAudio.played_ms` counts from the widget's creation; the session's
    playout counts from when it attached this player, and its audio plays after whatever an
    earlier session left queued in the page. So reports are passed on as the played position
    minus the end of the page's queue at registration. Reports from a suspended page are not
    passed on (they would only repeat the last position).
    """

    def __init__(self, audio: BrowserAudio) -> None:
        super().__init__(audio)
        self._callbacks: list[PlayedCallback] = []
        self._base = 0.0  # set when a session registers (on_played)
        audio.on_played(self._forward)

    def _queue_end(self) -> float:
        audio = self.audio
        return max(audio.played_ms, audio.sent_ms - audio.discarded_ms)

    def on_played(self, callback: PlayedCallback, remove: bool = False) -> None:
        if remove:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
            return
        self._base = self._queue_end()
        self._callbacks.append(callback)

    def close(self) -> None:
        """Stop passing the page's reports on (a newer session has the speaker)."""
        self.audio.on_played(self._forward, remove=True)
        self._callbacks.clear()

    def _forward(self, played_ms: float, t: float) -> None:
        report = self.audio.last_report
        if report is not None and not report.running:
            return
        for callback in list(self._callbacks):
            callback(max(0.0, played_ms - self._base), t)


class Speakers:
    """One speaker-only :class:`BrowserAudio` per name (a provider), shown side by side.

    ``audible``: the names that start with their sound on (default: the first one only).
    """

    def __init__(self, names: Iterable[str], *, audible: Iterable[str] | None = None) -> None:
        self.names = tuple(names)
        if not self.names:
            raise ValueError("Speakers needs at least one name")
        loud = set(self.names[:1] if audible is None else audible)
        self.audio: dict[str, BrowserAudio] = {
            name: BrowserAudio(label=name, microphone=False, volume=1.0 if name in loud else 0.0)
            for name in self.names
        }
        self._current: dict[str, Speaker] = {}
        self._box: Any = None

    def widget(self) -> Any:
        """The speakers in one row (an ipywidgets ``HBox``, made once)."""
        if self._box is None:
            import ipywidgets as w

            self._box = w.HBox(list(self.audio.values()), layout=w.Layout(flex_flow="row wrap"))
        return self._box

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # The widget's own text fallback is a repr with memory addresses; a front end without
        # widgets shows this line instead (and a saved notebook stays comparable).
        bundle = dict(self.widget()._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = f"live speakers: {', '.join(self.names)} (they play in a browser)"
        return bundle

    def playing(self, name: str) -> bool:
        """A page shows this speaker and its AudioContext runs (reports will be true)."""
        audio = self.audio[name]
        report = audio.last_report
        return audio.connected and report is not None and report.running

    def player(self, name: str) -> Speaker | None:
        """A player for one session of `name` (None for a name without a speaker)."""
        audio = self.audio.get(name)
        if audio is None:
            return None
        previous = self._current.pop(name, None)
        if previous is not None:
            previous.close()
        player = ReportingSpeaker(audio) if self.playing(name) else Speaker(audio)
        self._current[name] = player
        return player

    def close(self) -> None:
        for player in self._current.values():
            player.close()
        self._current.clear()
        for audio in self.audio.values():
            audio.close()
        if self._box is not None:
            self._box.close()
