"""Server-side voice activity detection: the emulator's ears and the VAD-tuning notebook's engine.

One detector, two uses:

* the emulator runs a :class:`StreamingVad` per session on whatever PCM16 the client sends
  (OpenAI ``server_vad``/``semantic_vad``, Gemini ``automaticActivityDetection``), turning
  audio into :class:`SpeechStarted` / :class:`SpeechStopped` / :class:`IdleTimeout`;
* the notebook calls :func:`detect_segments` / :func:`detect_events` over a recording while
  sliders move. Those functions simply feed the same streaming detector, so what the notebook
  shows is exactly what the emulator would do.

How a frame becomes a decision (the one paragraph the notebook explains):

1. **Level.** Audio is cut into frames (20 ms by default) and each frame's loudness is its RMS
   in dBFS (:func:`frame_levels`); digital silence is clamped to ``LEVEL_FLOOR_DB``.
2. **Noise floor.** The background level is the quietest frame of the last
   ``NOISE_WINDOW_MS`` (3 s), a "minimum statistics" estimate: speech has pauses between
   words, so the minimum tracks the room, not the talker (:func:`noise_floor`).
3. **Probability.** A frame is 50 % likely to be speech when it is at least
   ``REFERENCE_LEVEL_DB`` (-30 dBFS) loud *and* ``SNR_REFERENCE_DB`` (10 dB) above the noise
   floor; a logistic curve with a ``SLOPE_DB`` (3 dB) scale turns the distance from that
   reference into a number in 0..1 (:func:`speech_probability`). Louder means more likely.
4. **Threshold.** A frame counts as speech when its probability exceeds
   :attr:`VadParams.threshold` — so, as on OpenAI, a higher threshold needs louder speech.
5. **Turns.** Speech starts once ``min_speech_ms`` of consecutive speech frames have been
   heard, and stops after ``silence_duration_ms`` of non-speech frames.

This is an energy detector, not a neural one: it is deterministic, explainable and ~10 000x
real time, but it hears a loud cough or a door slam as speech. Real providers use learned
models; the parameters mean the same thing, the exact decision points will differ.

All positions are integer milliseconds of the input stream since the detector was created or
last :meth:`StreamingVad.reset`, counted in whole frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "LEVEL_FLOOR_DB",
    "NOISE_PRIOR_DB",
    "NOISE_WINDOW_MS",
    "REFERENCE_LEVEL_DB",
    "SEMANTIC_SILENCE_MS",
    "SLOPE_DB",
    "SNR_REFERENCE_DB",
    "IdleTimeout",
    "Segment",
    "SegmentScore",
    "SpeechStarted",
    "SpeechStopped",
    "StreamingVad",
    "VadEvent",
    "VadParams",
    "check_ms",
    "detect_events",
    "detect_segments",
    "frame_levels",
    "noise_floor",
    "segment_scores",
    "speech_probability",
]

# --- the level -> probability model (module constants so the notebook can show them) ----------

LEVEL_FLOOR_DB: Final = -100.0
"""Level reported for digital silence (log of zero would be -inf)."""

REFERENCE_LEVEL_DB: Final = -30.0
"""Absolute loudness (dBFS) at which a frame over a quiet background is 50 % speech.

Chosen so that steady background noise up to about -35 dBFS stays below the default threshold
even before the noise-floor estimate has adapted, while normal speech (-30..-15 dBFS) passes.
"""

SNR_REFERENCE_DB: Final = 10.0
"""Distance above the estimated noise floor at which a frame is 50 % speech."""

SLOPE_DB: Final = 3.0
"""Logistic scale: every 3 dB above the reference multiplies the odds of speech by e."""

NOISE_WINDOW_MS: Final = 3000
"""The noise floor is the quietest frame within this look-back window."""

NOISE_PRIOR_DB: Final = -60.0
"""Assumed floor before any audio arrived: a quiet room, so speech at stream start is heard."""


# --- parameters -------------------------------------------------------------------------------


def check_ms(name: str, value: object, *, allow_none: bool = False, positive: bool = False) -> None:
    """Reject non-integer or negative durations with a message naming the field."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an int or None" if allow_none else "an int"
        raise ValueError(f"{name} must be {kind} (milliseconds), got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0 ms, got {value}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 ms, got {value}")


@dataclass(frozen=True)
class VadParams:
    """Turn-detection settings, in OpenAI ``server_vad`` terms (Gemini maps onto them).

    threshold: 0..1, compared with :func:`speech_probability`; higher needs louder speech.
    prefix_padding_ms: audio kept before the detected onset; reported in
        ``SpeechStarted.audio_start_ms`` so the turn's audio does not clip the first syllable.
    silence_duration_ms: non-speech needed before the turn ends.
    idle_timeout_ms: after :meth:`StreamingVad.arm_idle_timer`, emit :class:`IdleTimeout` if no
        speech starts within this much stream audio; None disables it.
    min_speech_ms: consecutive speech needed before speech "starts", so clicks and short
        blips do not barge in (Gemini's ``prefixPaddingMs`` per its API reference).
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    min_speech_ms: int = 0

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ValueError(f"threshold must be a number in 0..1, got {t!r}")
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be in the range 0..1, got {t}")
        check_ms("prefix_padding_ms", self.prefix_padding_ms)
        check_ms("silence_duration_ms", self.silence_duration_ms)
        check_ms("idle_timeout_ms", self.idle_timeout_ms, allow_none=True, positive=True)
        check_ms("min_speech_ms", self.min_speech_ms)


# --- events and segments ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began (the barge-in signal).

    audio_start_ms: onset minus ``prefix_padding_ms`` (OpenAI semantics), clamped so it is
        never below 0 nor before the previous turn's ``audio_end_ms`` (that audio already
        belongs to the previous turn).
    detected_at_ms: stream position when the decision was made (onset + ``min_speech_ms``,
        rounded up to a frame): when a real server would send ``speech_started``.
    """

    audio_start_ms: int
    detected_at_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Speech ended.

    audio_end_ms: end of the last speech frame plus ``silence_duration_ms`` — OpenAI's
        ``speech_stopped.audio_end_ms`` "includes the min silence duration": it is the end of
        the audio that goes to the model. After :meth:`StreamingVad.force_end` it is the
        stream position instead.
    detected_at_ms: stream position when the decision was made (equal to ``audio_end_ms``
        when ``silence_duration_ms`` is a multiple of the frame length).
    """

    audio_end_ms: int
    detected_at_ms: int


@dataclass(frozen=True)
class IdleTimeout:
    """No speech started within ``idle_timeout_ms`` after the idle timer was armed.

    Mirrors OpenAI ``input_audio_buffer.timeout_triggered`` (``audio_start_ms`` = where the
    timer was armed, ``audio_end_ms`` = where it fired).
    """

    audio_start_ms: int
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped | IdleTimeout


@dataclass(frozen=True)
class Segment:
    """A stretch of detected (or labelled) speech, [start_ms, end_ms), without padding."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise ValueError(f"Segment end_ms {self.end_ms} is before start_ms {self.start_ms}")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


# --- level, floor, probability ----------------------------------------------------------------


def _samples_per_frame(rate: int, frame_ms: int) -> int:
    """Validate rate/frame length and return the whole number of samples in one frame."""
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"rate must be a positive int (Hz), got {rate!r}")
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, int) or frame_ms <= 0:
        raise ValueError(f"frame_ms must be a positive int, got {frame_ms!r}")
    n, rem = divmod(rate * frame_ms, 1000)
    if rem or n == 0:
        raise ValueError(
            f"frame_ms={frame_ms} at rate={rate} Hz is not a whole number of samples; "
            "use 10, 20 or 30 ms"
        )
    return n


def frame_levels(pcm: bytes, rate: int, frame_ms: int = 20) -> np.ndarray:
    """RMS level of each whole frame of mono PCM16 little-endian audio, in dBFS.

    0 dBFS is a full-scale square wave (a full-scale sine reads -3 dBFS). A trailing partial
    frame is ignored: :class:`StreamingVad` carries it over to the next chunk instead.
    """
    n = _samples_per_frame(rate, frame_ms)
    usable = (len(pcm) // (2 * n)) * n
    if usable == 0:
        return np.zeros(0, dtype=np.float64)
    x = np.frombuffer(pcm, dtype="<i2", count=usable).astype(np.float32).reshape(-1, n)
    ms = np.einsum("ij,ij->i", x, x, dtype=np.float64) / (n * 32768.0 * 32768.0)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(ms)
    return np.maximum(db, LEVEL_FLOOR_DB)


def _window_frames(frame_ms: int) -> int:
    return max(1, NOISE_WINDOW_MS // frame_ms)


def _floor_with_history(levels_db: np.ndarray, history_db: np.ndarray) -> np.ndarray:
    """Sliding minimum over ``history + levels``; history holds the previous window-1 frames."""
    ext = np.concatenate([history_db, levels_db])
    window = len(history_db) + 1
    if len(levels_db) <= 8:  # streaming: a frame or a few; skip the strided view's overhead
        return np.array([ext[j : j + window].min() for j in range(len(levels_db))])
    return sliding_window_view(ext, window).min(axis=1)


def noise_floor(levels_db: np.ndarray, frame_ms: int = 20) -> np.ndarray:
    """Estimated background level per frame: the quietest frame in the last ``NOISE_WINDOW_MS``.

    Before 3 s of audio exist the window is topped up with ``NOISE_PRIOR_DB`` (a quiet room), so
    someone who talks from the first frame is still heard. A steady sound lasting longer than
    the window (a hum, a held tone) becomes "background" by design.
    """
    levels = np.asarray(levels_db, dtype=np.float64)
    prior = np.full(_window_frames(frame_ms) - 1, NOISE_PRIOR_DB)
    return _floor_with_history(levels, prior)


def speech_probability(
    levels_db: np.ndarray, floor_db: np.ndarray | None = None, *, frame_ms: int = 20
) -> np.ndarray:
    """Map frame levels (dBFS) to a speech probability in 0..1.

    ``p = 1 / (1 + exp(-(level - ref) / SLOPE_DB))`` with
    ``ref = max(REFERENCE_LEVEL_DB, floor + SNR_REFERENCE_DB)``: a frame is 50 % speech when it
    is both reasonably loud and clearly above the background. For a fixed floor the mapping is
    strictly increasing in level. ``floor_db`` defaults to :func:`noise_floor` of the same
    levels (``frame_ms`` tells it how many frames make the look-back window).
    """
    levels = np.asarray(levels_db, dtype=np.float64)
    floor = noise_floor(levels, frame_ms) if floor_db is None else np.asarray(floor_db)
    if floor.shape != levels.shape:
        raise ValueError(f"floor_db shape {floor.shape} differs from levels {levels.shape}")
    ref = np.maximum(REFERENCE_LEVEL_DB, floor + SNR_REFERENCE_DB)
    z = np.clip((levels - ref) / SLOPE_DB, -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(-z))


# --- the streaming detector -------------------------------------------------------------------


class StreamingVad:
    """Frame-by-frame turn detector over a PCM16 mono stream of arbitrary chunk sizes.

    The emulator owns one per session: ``feed`` every ``input_audio_buffer.append`` /
    ``realtimeInput.audio`` chunk, forward the returned events, ``update`` on
    ``session.update``, ``arm_idle_timer`` when the model's audio finishes, ``force_end`` on
    Gemini ``audioStreamEnd``. Results do not depend on how the stream was chunked.
    """

    def __init__(self, rate: int, params: VadParams, frame_ms: int = 20) -> None:
        self._n = _samples_per_frame(rate, frame_ms)
        if not isinstance(params, VadParams):
            raise TypeError(f"params must be VadParams, got {type(params).__name__}")
        self.rate = rate
        self.frame_ms = frame_ms
        self._params = params
        self.reset()

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything heard: position back to 0, floor back to the quiet-room prior."""
        self._buf = b""
        self._frames = 0
        self._history = np.full(_window_frames(self.frame_ms) - 1, NOISE_PRIOR_DB)
        self._in_speech = False
        self._run_start: int | None = None  # onset (ms) of a not-yet-confirmed speech run
        self._onset_ms = 0
        self._last_speech_end = 0
        self._prev_stop = 0
        self._idle_armed_at: int | None = None
        self._segments: list[Segment] = []

    @property
    def params(self) -> VadParams:
        return self._params

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio processed (whole frames; a partial frame waits for more)."""
        return self._frames * self.frame_ms

    @property
    def in_speech(self) -> bool:
        """True between a SpeechStarted and the matching SpeechStopped."""
        return self._in_speech

    def update(self, params: VadParams) -> None:
        """Change settings mid-stream (``session.update``); they apply from the next frame.

        An open turn keeps its onset; a shorter ``silence_duration_ms`` can end it on the next
        non-speech frame. The noise-floor estimate is kept: it does not depend on parameters.
        """
        if not isinstance(params, VadParams):
            raise TypeError(f"params must be VadParams, got {type(params).__name__}")
        self._params = params

    def arm_idle_timer(self) -> None:
        """Start the idle clock (the model just finished speaking).

        If no speech starts within ``idle_timeout_ms`` of further stream audio, the next
        ``feed`` returns one :class:`IdleTimeout`. Ignored while the user is speaking (they are
        not idle); re-arming restarts the clock. With ``idle_timeout_ms=None`` it never fires.
        """
        if not self._in_speech:
            self._idle_armed_at = self.position_ms

    def pop_segments(self) -> list[Segment]:
        """Speech segments completed since the last call, [onset, end of last speech frame).

        Handy for the emulator (which audio was the user's) and used by :func:`detect_segments`.
        """
        out, self._segments = self._segments, []
        return out

    def force_end(self) -> SpeechStopped | None:
        """End an open turn now (Gemini ``audioStreamEnd``, end of a file).

        Returns the SpeechStopped (``audio_end_ms`` = current position) or None when no turn was
        open; a speech run still shorter than ``min_speech_ms`` is discarded.
        """
        self._run_start = None
        if not self._in_speech:
            return None
        pos = self.position_ms
        return self._stop(pos, pos)

    def _stop(self, audio_end_ms: int, detected_at_ms: int) -> SpeechStopped:
        self._in_speech = False
        self._segments.append(Segment(self._onset_ms, self._last_speech_end))
        self._prev_stop = audio_end_ms
        return SpeechStopped(audio_end_ms, detected_at_ms)

    # -- the loop ------------------------------------------------------------------------------

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Consume a chunk of PCM16 LE mono audio; return the events it completed, in order."""
        data = self._buf + bytes(pcm)
        frame_bytes = 2 * self._n
        whole = len(data) - len(data) % frame_bytes
        self._buf = data[whole:]
        if whole == 0:
            return []
        levels = frame_levels(data[:whole], self.rate, self.frame_ms)
        floor = _floor_with_history(levels, self._history)
        if len(self._history):
            self._history = np.concatenate([self._history, levels])[-len(self._history) :]
        speech = (speech_probability(levels, floor) > self._params.threshold).tolist()
        return self._run(speech)

    def _run(self, speech_frames: list[bool]) -> list[VadEvent]:
        """The turn state machine over per-frame speech decisions (plain Python, ~1 µs/frame)."""
        p = self._params
        f = self.frame_ms
        events: list[VadEvent] = []
        end = self._frames * f
        for is_speech in speech_frames:
            start, end = end, end + f
            if self._in_speech:
                if is_speech:
                    self._last_speech_end = end
                elif end - self._last_speech_end >= p.silence_duration_ms:
                    events.append(self._stop(self._last_speech_end + p.silence_duration_ms, end))
                continue
            if is_speech:
                if self._run_start is None:
                    self._run_start = start
                if end - self._run_start >= p.min_speech_ms:
                    self._in_speech = True
                    self._onset_ms = self._run_start
                    self._last_speech_end = end
                    self._run_start = None
                    self._idle_armed_at = None
                    audio_start = max(0, self._prev_stop, self._onset_ms - p.prefix_padding_ms)
                    events.append(SpeechStarted(audio_start, end))
                continue
            self._run_start = None
            armed = self._idle_armed_at
            if armed is not None and p.idle_timeout_ms is not None:
                deadline = armed + p.idle_timeout_ms
                if end >= deadline:
                    self._idle_armed_at = None
                    events.append(IdleTimeout(armed, deadline))
        self._frames = end // f
        return events


# --- offline helpers (same code path as streaming) --------------------------------------------


def detect_events(
    pcm: bytes, rate: int, params: VadParams, frame_ms: int = 20, *, finish: bool = True
) -> list[VadEvent]:
    """The wire view of a recording: the events a server would send while it streams in.

    With ``finish`` (default) a turn still open at the end is closed by
    :meth:`StreamingVad.force_end`, as if the client sent ``audioStreamEnd``.
    """
    vad = StreamingVad(rate, params, frame_ms)
    events = vad.feed(pcm)
    if finish and (last := vad.force_end()) is not None:
        events.append(last)
    return events


def detect_segments(pcm: bytes, rate: int, params: VadParams, frame_ms: int = 20) -> list[Segment]:
    """The speech view of a recording: [onset, end of last speech frame) per detected turn.

    No padding and no trailing silence: these are what the detector judged to be speech, for
    plotting against ground truth. A turn open at the end of the audio is closed there.
    """
    vad = StreamingVad(rate, params, frame_ms)
    vad.feed(pcm)
    vad.force_end()
    return vad.pop_segments()


@dataclass(frozen=True)
class SegmentScore:
    """How detected segments compare with labelled ones (for the tuning notebook).

    accuracy / precision / recall are over milliseconds (speech vs non-speech), from 0 to
    ``duration_ms``. Turns are matched one-to-one by largest overlap; the boundary errors are
    mean absolute differences of matched starts and ends (None when nothing matched).
    """

    accuracy: float
    precision: float
    recall: float
    detected_count: int
    true_count: int
    matched_count: int
    mean_start_error_ms: float | None
    mean_end_error_ms: float | None


def _mask(segments: Sequence[Segment], duration_ms: int) -> np.ndarray:
    m = np.zeros(duration_ms, dtype=bool)
    for s in segments:
        m[max(0, s.start_ms) : max(0, min(s.end_ms, duration_ms))] = True
    return m


def segment_scores(
    detected: Sequence[Segment], truth: Sequence[Segment], duration_ms: int | None = None
) -> SegmentScore:
    """Score ``detected`` against ``truth``; ``duration_ms`` defaults to the latest end.

    Conventions for empty cases: nothing detected → precision 1.0 (no false alarms); no true
    speech → recall 1.0 (nothing missed).
    """
    if duration_ms is None:
        duration_ms = max((s.end_ms for s in (*detected, *truth)), default=0)
    check_ms("duration_ms", duration_ms)
    d, t = _mask(detected, duration_ms), _mask(truth, duration_ms)
    tp = int(np.count_nonzero(d & t))
    nd, nt = int(np.count_nonzero(d)), int(np.count_nonzero(t))
    accuracy = float(np.count_nonzero(d == t)) / duration_ms if duration_ms else 1.0
    precision = tp / nd if nd else 1.0
    recall = tp / nt if nt else 1.0

    pairs: list[tuple[int, int, int]] = []  # (overlap, i_detected, i_truth)
    for i, ds in enumerate(detected):
        for j, ts in enumerate(truth):
            overlap = min(ds.end_ms, ts.end_ms) - max(ds.start_ms, ts.start_ms)
            if overlap > 0:
                pairs.append((overlap, i, j))
    used_d: set[int] = set()
    used_t: set[int] = set()
    start_err: list[int] = []
    end_err: list[int] = []
    for _, i, j in sorted(pairs, reverse=True):
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
        start_err.append(abs(detected[i].start_ms - truth[j].start_ms))
        end_err.append(abs(detected[i].end_ms - truth[j].end_ms))
    return SegmentScore(
        accuracy=accuracy,
        precision=precision,
        recall=recall,
        detected_count=len(detected),
        true_count=len(truth),
        matched_count=len(used_t),
        mean_start_error_ms=float(np.mean(start_err)) if start_err else None,
        mean_end_error_ms=float(np.mean(end_err)) if end_err else None,
    )


# --- turn length per eagerness (a neutral `Vad` setting) --------------------------------------

SEMANTIC_SILENCE_MS: Final[Mapping[str, int]] = MappingProxyType(
    {"high": 250, "medium": 700, "auto": 700, "low": 1500}
)
"""Silence that ends a turn for each ``Vad.eagerness`` (our approximation of a semantic VAD).

Providers with a real semantic detector judge *meaning*; this energy detector cannot, so
eagerness only picks how long a pause ends the turn. The provider folders use it where they
need a number: OpenAI's ``semantic_vad`` in the emulator, Gemini's approximation on the wire.
"""
