"""The client's own ears: where the user's speech started and ended, from the audio it sent.

Two needs, one detector (the same `realtimelab.vad.StreamingVad` the emulator and notebook 03
use, so there is one definition of "speech"):

* **barge-in where the server is silent about speech.** Gemini reports no speech events;
  its `interrupted` covers its generation and its *assumed* playback, but a client still
  playing after the server's `turnComplete` hears nothing from the server when the user talks
  over it. The session runs this detector while assistant audio is audible and stops the
  player when speech starts.
* **a comparable "end of speech" mark** for perceived-latency metrics: the same detector for
  every provider, back-dated to where speech really ended (the detector only *decides* after
  its silence window).

Positions are mapped back to the session clock through the times the frames were sent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from realtimelab.vad import SpeechStarted, SpeechStopped, StreamingVad, VadParams

__all__ = ["CLIENT_VAD", "ClientSpeech", "SpeechMark"]

CLIENT_VAD = VadParams(silence_duration_ms=500)
"""The detector's settings: default threshold and padding, 500 ms of silence to decide."""


@dataclass(frozen=True)
class SpeechMark:
    """Speech started or ended at `t` (session clock), at `stream_ms` of the sent audio."""

    kind: Literal["start", "end"]
    t: float
    stream_ms: float


class ClientSpeech:
    """A streaming VAD over the audio the client sends (see the module docstring)."""

    def __init__(self, params: VadParams = CLIENT_VAD, *, keep_marks: int = 3000) -> None:
        self.params = params
        self.rate = 0
        self._vad: StreamingVad | None = None
        self.sent_ms = 0.0
        self._marks: deque[tuple[float, float]] = deque(maxlen=keep_marks)

    @property
    def in_speech(self) -> bool:
        return self._vad is not None and self._vad.in_speech

    def reset(self) -> None:
        """Forget the stream (e.g. the detector was paused while nothing was audible)."""
        self._vad = None
        self.sent_ms = 0.0
        self._marks.clear()

    def feed(self, pcm: bytes, rate: int, t: float) -> list[SpeechMark]:
        """One chunk of sent audio (sent at `t`); returns where speech started/ended in it."""
        if self._vad is None or rate != self.rate:
            self._vad, self.rate, self.sent_ms = StreamingVad(rate, self.params), rate, 0.0
            self._marks.clear()
        self.sent_ms += len(pcm) / 2 / rate * 1000.0
        self._marks.append((self.sent_ms, t))  # stream position at the end of this chunk
        out: list[SpeechMark] = []
        for event in self._vad.feed(pcm):
            if isinstance(event, SpeechStarted):
                pos = float(event.audio_start_ms)
                out.append(SpeechMark("start", self._time_at(pos), pos))
            elif isinstance(event, SpeechStopped):
                pos = float(event.audio_end_ms - self.params.silence_duration_ms)
                out.append(SpeechMark("end", self._time_at(pos), pos))
        return out

    def _time_at(self, stream_ms: float) -> float:
        for end_ms, t in self._marks:
            if end_ms >= stream_ms:
                return t
        return self._marks[-1][1]
