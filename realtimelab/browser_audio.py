"""Live audio in the browser: play model audio as it arrives, capture the microphone.

Why this exists: ``sounddevice`` opens the sound card of the machine the *kernel* runs on. On
JupyterHub, a remote or containerised kernel, or VS Code remote, that is not the machine the
learner is sitting at, so the answer plays nowhere (or in a server room) and there is no way to
speak to the model. :class:`BrowserAudio` is an `anywidget <https://anywidget.dev>`_ that moves
both ends into the page showing the notebook:

* **playback**: :meth:`BrowserAudio.play` sends PCM16 chunks to the browser as binary message
  buffers (no base64); an AudioWorklet plays them gaplessly, resampling from the chunk's rate
  to the AudioContext's, and reports several times a second how much *source* audio it has
  actually rendered. That played position is the number a realtime session needs when the user
  interrupts (OpenAI's ``conversation.item.truncate(audio_end_ms)``), and :meth:`flush`
  silences the page at once and reports what it threw away.
* **microphone**: ``getUserMedia`` in the page (echo cancellation, noise suppression and
  automatic gain as visible options), converted in an AudioWorklet to PCM16 at
  :attr:`mic_rate` and streamed to the kernel as 20 ms frames; hands-free or push-to-talk,
  mute, a level meter.

Every failure the browser can meet (no permission, no Web Audio, an insecure page, the kernel
restarted) becomes a one-line :attr:`error` shown in the widget and readable from Python.

The played position is designed to drive a *playout clock*: :attr:`played_ms` counts source
milliseconds rendered since the widget was created. It never goes back: a flush does not
rewind it (flushed audio is simply never played); the flush's :class:`FlushReport` says how
much was discarded. So ``sent - played - discarded`` is what is still queued (in the page, or
for a few ms in the kernel while :meth:`BrowserAudio.play` coalesces a burst).

Threading: JupyterLab (>= 4.4 with ipykernel 7) delivers widget messages on a kernel
*subshell* thread, other front ends on the main thread; either way the widget hands them to the
asyncio loop it was created on (the kernel's, when created in a cell), so callbacks, trait
changes and :meth:`wait_played` all happen on that loop, next to a notebook's session tasks.
:meth:`play` and :meth:`flush` may be called from that loop or from any other thread: sends are
serialised under a lock and ipykernel's IOPub socket is thread-safe.

Wire protocol (ipywidgets custom messages; audio always as binary buffers, never base64):

==========================  ====================================================================
kernel → page               ``play {seq, rate, item, t}`` + one PCM16 LE mono buffer (≤ 1 s);
                            ``flush {seq}``; ``owner {client}``; ``ping {t0}``; ``hb {n}``
page → kernel               ``hello {client, secure, origin}``; ``claim {client}``;
                            ``played {client, played_ms, playing, queued_ms, item_id, item_ms,
                            discarded_total_ms, gaps, chunk_seq, t, latency_ms[, starts]}``;
                            ``flushed {client, seq, discarded_ms, played_ms, ...}``;
                            ``mic {client, rate, frames: [[seq, t], ...], ts}`` + one 20 ms
                            buffer per frame; ``capture {client, capturing, seq}``;
                            ``pong {t0, tb}``; ``hb {client, n}``
==========================  ====================================================================

Positions in ``played``/``flushed`` are the page's own (from 0 when the page started); the
kernel adds what earlier pages played (a reload) so :attr:`played_ms` stays monotonic. Settings
are ordinary synced traits; ``status``, ``error``, ``capturing``, ``context_rate`` and
``mic_settings`` are written by the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets as t

__all__ = [
    "FRAME_MS",
    "MIC_RATES",
    "BrowserAudio",
    "BrowserAudioStats",
    "ChunkTrace",
    "FlushReport",
    "PlayedReport",
]

STATIC = Path(__file__).resolve().with_name("static")
FRAME_MS = 20
"""Length of every microphone frame the browser sends (the last one of a push-to-talk turn is
padded with silence to this length)."""
MIC_RATES = (16000, 24000)
"""Rates the microphone can be converted to: Gemini Live takes 16 kHz, OpenAI Realtime 24 kHz."""
MAX_CHUNK_MS = 1000.0
"""play() splits longer audio into pieces of this length: no message grows without bound and
the first second starts playing while the rest is still on the wire."""
STALE_S = 2.5
"""A page that has not reported for this long is considered gone (it heartbeats every <= 1 s);
another page of the same widget may then take the audio over."""

log = logging.getLogger(__name__)

PlayedCallback = Callable[[float, float], Any]
MicCallback = Callable[[bytes, int], Any]
FlushCallback = Callable[["FlushReport"], Any]
CaptureCallback = Callable[[bool], Any]


@dataclass(frozen=True)
class PlayedReport:
    """One played-position report from the browser, as the kernel received it.

    ``played_ms`` is cumulative source ms rendered since the widget was created (monotonic,
    across flushes and across a page reload); ``item_played_ms`` is how much of ``item_id``
    (the ``item_id`` given to :meth:`BrowserAudio.play`) has been rendered, which is OpenAI's
    ``audio_end_ms`` when that item is interrupted. ``t`` is ``time.monotonic()`` in the kernel
    when the report arrived; ``latency_ms`` is the browser's estimate of how long rendered audio
    takes to reach the speaker (``AudioContext.baseLatency + outputLatency``), not included in
    ``played_ms``.
    """

    played_ms: float
    playing: bool
    queued_ms: float
    item_id: str | None
    item_played_ms: float
    discarded_ms: float
    gaps: int
    latency_ms: float
    t: float
    browser_ms: float
    running: bool = True
    """The page's AudioContext is running (a suspended one, waiting for a click, plays
    nothing: its reports say so rather than go quiet)."""


@dataclass(frozen=True)
class FlushReport:
    """What one :meth:`BrowserAudio.flush` did in the page.

    ``discarded_ms`` is the source audio thrown away (queued, never played); ``played_ms`` the
    cumulative played position right after the flush (it includes the 5 ms fade-out that
    avoids a click). ``sent_t`` and ``t`` are ``time.monotonic()`` when the flush was sent and
    when its report came back: their difference is the flush's round trip.
    """

    seq: int
    discarded_ms: float
    played_ms: float
    sent_t: float
    t: float


@dataclass(frozen=True)
class ChunkTrace:
    """Timing of one played chunk (recorded only while :attr:`BrowserAudio.trace` is on).

    ``sent_ms`` is the kernel's wall clock when :meth:`BrowserAudio.play` sent it; ``arrive_ms``
    and ``render_ms`` are the browser's wall clock when the chunk reached the page and when the
    worklet rendered its first sample; ``latency_ms`` is the browser's output latency estimate.
    Kernel and browser clocks differ by :attr:`BrowserAudioStats.clock_offset_ms` (measured by
    :meth:`BrowserAudio.ping`; ~0 when both run on one machine).
    """

    seq: int
    sent_ms: float
    arrive_ms: float
    render_ms: float
    latency_ms: float


@dataclass(frozen=True)
class BrowserAudioStats:
    """Counters, for a notebook's status line and for tests. All durations in ms."""

    chunks_sent: int
    sent_ms: float
    played_ms: float
    discarded_ms: float
    lost_ms: float
    queued_ms: float
    flushes: int
    gaps: int
    reports: int
    mic_frames: int
    mic_ms: float
    mic_missing_frames: int
    mic_lag_ms: float | None
    rtt_ms: float | None
    clock_offset_ms: float | None
    context_rate: int
    connected: bool
    callback_errors: int


class _Callbacks:
    """A list of callbacks where one that raises is logged and counted but never stops the
    others, nor the widget's message handler (which would silently stop all reports)."""

    def __init__(self, owner: BrowserAudio, name: str) -> None:
        self._owner = owner
        self._name = name
        self._items: list[Callable[..., Any]] = []

    def register(self, callback: Callable[..., Any], remove: bool) -> None:
        if remove:
            with contextlib.suppress(ValueError):
                self._items.remove(callback)
        elif callback not in self._items:
            self._items.append(callback)

    def __call__(self, *args: Any) -> None:
        for callback in list(self._items):
            try:
                callback(*args)
            except Exception:  # a notebook's callback must not kill the comm handler
                self._owner._callback_errors += 1
                log.exception("BrowserAudio %s callback %r failed", self._name, callback)


class BrowserAudio(anywidget.AnyWidget):
    """Speaker and microphone in the page that shows the notebook (see the module docstring).

    Display it (``display(audio)`` or as a cell's last value) so the page can play and the
    learner can switch the microphone on; the audio engine lives in the widget *model*, so a
    second display of the same widget does not play twice. When the same notebook is open in
    two browser tabs, one page owns the audio (the first to answer); the other shows "use audio
    here" and takes over when clicked or when the owner has been silent for ``STALE_S``.
    """

    _esm = STATIC / "browser_audio.js"
    _css = STATIC / "browser_audio.css"
    _worklet = t.Unicode((STATIC / "browser_audio_worklet.js").read_text()).tag(sync=True)

    # -- settings: kernel -> browser (the widget's controls write them too) --------------------
    label = t.Unicode("", help="A title shown at the start of the widget's status line.").tag(
        sync=True
    )
    microphone = t.Bool(
        True, help="Show the microphone controls (False: a speaker only, with a sound switch)."
    ).tag(sync=True)
    mic_enabled = t.Bool(False, help="Open the microphone in the page.").tag(sync=True)
    mic_rate = t.Int(16000, help="Rate of the PCM16 frames sent to the kernel.").tag(sync=True)
    mode = t.Enum(
        ("hands_free", "push_to_talk"),
        "hands_free",
        help="hands_free streams while the mic is on; push_to_talk only while the "
        "talk button (or Space on it) is held.",
    ).tag(sync=True)
    muted = t.Bool(False, help="Keep the mic open but send nothing.").tag(sync=True)
    echo_cancellation = t.Bool(True).tag(sync=True)
    noise_suppression = t.Bool(True).tag(sync=True)
    auto_gain_control = t.Bool(True).tag(sync=True)
    volume = t.Float(1.0, min=0.0, max=2.0).tag(sync=True)
    report_ms = t.Int(
        100,
        help="Played-position report period while playing (20-1000). Each report costs the "
        "kernel a message's CPU; estimate_played_ms() interpolates between reports.",
    ).tag(sync=True)
    prebuffer_ms = t.Int(
        60,
        help="After an underrun inside an item (a source sending at about real time, with "
        "jitter), queue this much before resuming, so the next hiccup is not heard. The first "
        "chunk of an item always plays at once. 0 disables.",
    ).tag(sync=True)
    coalesce_ms = t.Int(
        250,
        help="While the page already holds more than this much audio, play() calls are merged "
        "into messages of up to this length, each sent within half of it (0: one message per "
        "call). Kernel-side only.",
    )
    mic_batch = t.Int(
        1,
        help="Microphone frames per message (1-10). Each message costs the kernel about the "
        "same CPU whatever it carries; 3 frames per message cut that cost about threefold and "
        "add up to 40 ms of latency. on_mic still gets 20 ms frames.",
    ).tag(sync=True)
    trace = t.Bool(False, help="Record per-chunk timing (ChunkTrace) for benchmarks.").tag(
        sync=True
    )

    # -- state: browser -> kernel --------------------------------------------------------------
    status = t.Unicode("", help="One line: speaker and microphone state.").tag(sync=True)
    error = t.Unicode("", help="One line when something is wrong, else empty.").tag(sync=True)
    capturing = t.Bool(False, help="Frames are flowing to the kernel right now.").tag(sync=True)
    context_rate = t.Int(0, help="The page's AudioContext sample rate.").tag(sync=True)
    mic_settings = t.Dict(
        help="What getUserMedia actually granted (label, rate, the three processing options)."
    ).tag(sync=True)

    # -- kernel-side, observable, not synced ----------------------------------------------------
    played_ms = t.Float(
        0.0, read_only=True, help="Cumulative source ms played since creation (monotonic)."
    )
    playing = t.Bool(False, read_only=True, help="The page is rendering audio right now.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self._play_seq = 0
        self._flush_seq = 0
        self._chunks_sent = 0
        self._sent_ms = 0.0
        self._sent_at: dict[int, float] = {}  # trace: seq -> kernel wall ms when sent
        self._flush_sent: dict[int, float] = {}
        self._owner: str | None = None
        self._owner_seen = 0.0
        self._offset_ms = 0.0  # played by pages that owned the audio before the current one
        self._lost_ms = 0.0  # sent to a page that went away before playing it
        self._discarded_ms = 0.0
        # audio passed to play() but held in the kernel, to be sent as one message (coalescing)
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._held_rate = 0
        self._held_item: str | None = None
        self._held_since_ms = 0.0  # kernel wall ms of the earliest play() held (for traces)
        self._held_timer = False
        self._held_dropped: dict[int, float] = {}  # flush seq -> held ms the flush dropped
        self._flushes = 0
        self._reports = 0
        self._last_report: PlayedReport | None = None
        self._last_flush: FlushReport | None = None
        self._chunk_seq = -1  # last chunk the page had received at its last report
        self._mic_frames = 0
        self._mic_ms = 0.0
        self._mic_missing = 0
        self._mic_next_seq: int | None = None
        self._callback_errors = 0
        self._rtt_ms: float | None = None
        self._offset_clock_ms: float | None = None
        self.front_end: dict[str, Any] = {}
        """What the owning page said about itself: origin, secure context."""
        self.mic_lags_ms: deque[float] = deque(maxlen=5000)
        """Kernel receipt minus the frame's completion in the page's worklet, per mic frame
        (wall clocks, corrected by the ping's clock offset when one was measured)."""
        self.mic_transport_ms: deque[float] = deque(maxlen=5000)
        """The part of :attr:`mic_lags_ms` after the page sent the message (websocket, Jupyter
        server, kernel): the rest was spent inside the page (audio thread to main thread,
        batching)."""
        self.chunk_traces: deque[ChunkTrace] = deque(maxlen=5000)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool], int]] = []
        self._played_cbs = _Callbacks(self, "on_played")
        self._mic_cbs = _Callbacks(self, "on_mic")
        self._flush_cbs = _Callbacks(self, "on_flushed")
        self._capture_cbs = _Callbacks(self, "on_capture")
        # The loop (and thread) this widget was created on: the kernel's asyncio loop when
        # made in a notebook cell; None in a plain script, where messages are handled inline.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._loop_thread = threading.get_ident()
        self.on_msg(self._on_custom)

    # ------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------

    @t.validate("mic_rate")
    def _check_mic_rate(self, proposal: dict[str, Any]) -> int:
        rate = int(proposal["value"])
        if rate not in MIC_RATES:
            raise t.TraitError(f"mic_rate must be one of {MIC_RATES}, got {rate}")
        return rate

    #: Allowed ranges of the integer settings, with their unit, for one validator.
    _RANGES: ClassVar[dict[str, tuple[int, int, str]]] = {
        "report_ms": (20, 1000, "ms"),
        "mic_batch": (1, 10, "frames"),
        "coalesce_ms": (0, 1000, "ms"),
        "prebuffer_ms": (0, 2000, "ms"),
    }

    @t.validate(*_RANGES)
    def _check_range(self, proposal: dict[str, Any]) -> int:
        name = proposal["trait"].name
        low, high, unit = self._RANGES[name]
        value = int(proposal["value"])
        if not low <= value <= high:
            raise t.TraitError(f"{name} must be between {low} and {high} {unit}, got {value}")
        return value

    # ------------------------------------------------------------------------------------------
    # playback
    # ------------------------------------------------------------------------------------------

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        """Queue PCM16 mono little-endian audio at ``rate`` Hz for playback in the page.

        Returns at once; the page plays chunks back to back in the order sent. ``item_id``
        labels the audio (a model's response item) so reports can say how much of *that item*
        was heard. Safe from an asyncio task or another thread.

        Every message costs the kernel CPU (about half a millisecond to send, more than the
        audio's bytes), and the services send answers several times faster than real time, in
        20-40 ms pieces. So while the page already holds more than :attr:`coalesce_ms` of
        audio, calls are merged and sent as one message when that much has gathered or half
        of :attr:`coalesce_ms` has passed: the page never waits for them (it still has more
        than that queued), and a burst costs a tenth of the messages. A stream paced at real
        time never reaches that depth and goes out call by call.
        """
        data = memoryview(pcm).cast("B")
        if len(data) % 2:
            raise ValueError(
                f"PCM16 audio must have an even number of bytes, got {len(data)} (the stream "
                "was cut mid-sample; realtimelab.audio.Chunker carries the dangling byte)"
            )
        if not isinstance(rate, int) or not 8000 <= rate <= 192000:
            raise ValueError(f"rate must be an int between 8000 and 192000 Hz, got {rate!r}")
        if not data:
            return
        ms = len(data) / 2 / rate * 1000
        with self._lock:
            hold = self._should_hold(ms)
            if self._held and (not hold or rate != self._held_rate or item_id != self._held_item):
                self._send_held()  # order is kept: what was held goes first
            self._sent_ms += ms
            if not hold:
                self._send_pieces(data, rate, item_id, time.time() * 1000)
                return
            if not self._held:
                self._held_rate, self._held_item = rate, item_id
                self._held_since_ms = time.time() * 1000
            self._held.append(bytes(data))
            self._held_bytes += len(data)
            if self._held_ms() >= self.coalesce_ms:
                self._send_held()
            elif not self._held_timer:
                self._arm_timer()

    def _held_ms(self) -> float:
        return self._held_bytes / 2 / self._held_rate * 1000 if self._held else 0.0

    def _page_ahead_ms(self) -> float:
        """Audio sent to the page and not yet played there (an estimate between reports)."""
        sent = self._sent_ms - self._held_ms()
        return sent - self.estimate_played_ms() - self._discarded_ms - self._lost_ms

    def _should_hold(self, ms: float) -> bool:
        loop = self._loop
        if self.coalesce_ms <= 0 or ms >= self.coalesce_ms or loop is None:
            return False
        if loop.is_closed() or not loop.is_running():
            return False  # nothing would send what is held
        return self._page_ahead_ms() > self.coalesce_ms

    def _arm_timer(self) -> None:
        """Send what is held after half of coalesce_ms, on the widget's loop."""
        loop = self._loop
        assert loop is not None
        self._held_timer = True
        delay = self.coalesce_ms / 2000
        if threading.get_ident() == self._loop_thread:
            loop.call_later(delay, self._timer_fired)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, self._timer_fired)

    def _timer_fired(self) -> None:
        with self._lock:
            self._held_timer = False
            self._send_held()

    def _take_held(self) -> bytes:
        """What the kernel holds, emptied out (the caller holds the lock)."""
        data = b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        return data

    def _send_held(self) -> None:
        if self._held:
            data = memoryview(self._take_held())
            self._send_pieces(data, self._held_rate, self._held_item, self._held_since_ms)

    def _send_pieces(self, data: memoryview, rate: int, item_id: str | None, t_ms: float) -> None:
        """Send audio as play messages of at most MAX_CHUNK_MS (the caller holds the lock).
        ``t_ms``: when the audio was given to :meth:`play` (the trace's start)."""
        step = int(rate * MAX_CHUNK_MS / 1000) * 2
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            self._play_seq += 1
            if self.trace:
                self._sent_at[self._play_seq] = t_ms
            self.send(
                {
                    "type": "play",
                    "seq": self._play_seq,
                    "rate": rate,
                    "item": item_id,
                    "t": time.time() * 1000,
                },
                buffers=[piece],
            )
            self._chunks_sent += 1

    def flush(self) -> None:
        """Barge-in: silence the page now and drop everything queued there.

        Audio passed to :meth:`play` before this call is discarded (in the page after a 5 ms
        fade-out; what the kernel still held for coalescing, at once); audio played after it
        plays normally. The page answers with a :class:`FlushReport` (``on_flushed``,
        :attr:`last_flush`), and its next played report reflects the flush.
        """
        with self._lock:
            self._flush_seq += 1
            dropped = self._held_ms()  # held in the kernel: dropped here, never sent
            if dropped:
                self._take_held()
                self._discarded_ms += dropped
                self._held_dropped[self._flush_seq] = dropped
            self._flush_sent[self._flush_seq] = time.monotonic()
            self._flushes += 1
            self.send({"type": "flush", "seq": self._flush_seq})

    def ping(self) -> None:
        """Ask the page for its clock: fills ``stats().rtt_ms`` and ``clock_offset_ms``."""
        self.send({"type": "ping", "t0": time.time() * 1000})

    async def wait_played(self, timeout: float | None = None) -> bool:
        """Wait until the page has played (or discarded) everything sent so far.

        True when done, False on timeout. Useful in a notebook cell (``await
        audio.wait_played()``): ipykernel keeps handling widget messages while a cell awaits.
        """
        with self._lock:
            self._send_held()
            target = self._play_seq
            if self._idle_after(target):
                return True
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[bool] = loop.create_future()
            self._waiters.append((loop, fut, target))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters = [w for w in self._waiters if w[1] is not fut]

    def _idle_after(self, seq: int) -> bool:
        report = self._last_report
        return (
            report is not None
            and self._chunk_seq >= seq
            and not report.playing
            and report.queued_ms <= 0.0
        )

    # ------------------------------------------------------------------------------------------
    # hooks
    # ------------------------------------------------------------------------------------------

    def on_played(self, callback: PlayedCallback, remove: bool = False) -> None:
        """Call ``callback(played_ms, t)`` on every played-position report (every
        :attr:`report_ms` while playing, about every 0.5 s while idle). ``t`` is the kernel's
        ``time.monotonic()`` at receipt: together they are one sample of a playout clock."""
        self._played_cbs.register(callback, remove)

    def on_mic(self, callback: MicCallback, remove: bool = False) -> None:
        """Call ``callback(pcm, rate)`` for every 20 ms microphone frame (PCM16 mono)."""
        self._mic_cbs.register(callback, remove)

    def on_flushed(self, callback: FlushCallback, remove: bool = False) -> None:
        """Call ``callback(report)`` with a :class:`FlushReport` when a flush took effect."""
        self._flush_cbs.register(callback, remove)

    def on_capture(self, callback: CaptureCallback, remove: bool = False) -> None:
        """Call ``callback(capturing)`` when frames start or stop flowing (push-to-talk press
        and release, mute, mic on/off). ``False`` arrives after the turn's last frame, so a
        push-to-talk client can commit its input buffer right there."""
        self._capture_cbs.register(callback, remove)

    # ------------------------------------------------------------------------------------------
    # readings
    # ------------------------------------------------------------------------------------------

    @property
    def mic_ms(self) -> float:
        """Ms of microphone audio received by the kernel so far."""
        return self._mic_ms

    @property
    def discarded_ms(self) -> float:
        """Total source ms thrown away by flushes so far."""
        return self._discarded_ms

    @property
    def sent_ms(self) -> float:
        """Total source ms passed to :meth:`play` so far."""
        return self._sent_ms

    @property
    def last_report(self) -> PlayedReport | None:
        return self._last_report

    @property
    def last_flush(self) -> FlushReport | None:
        return self._last_flush

    @property
    def item_id(self) -> str | None:
        """The item playing (or last played), as of the last report."""
        return self._last_report.item_id if self._last_report else None

    @property
    def item_played_ms(self) -> float:
        """Ms of :attr:`item_id` played, as of the last report."""
        return self._last_report.item_played_ms if self._last_report else 0.0

    def estimate_played_ms(self, now: float | None = None) -> float:
        """The played position *now*, between reports: the last report plus the time since,
        while the page was playing, capped at what it can have (sent − discarded − lost).

        Reports come every :attr:`report_ms`; a playout clock that needs a value at any
        instant (a barge-in between two reports) reads this instead of :attr:`played_ms`.
        ``now`` is a ``time.monotonic()`` value (default: now).
        """
        report = self._last_report
        if report is None:
            return self.played_ms
        if not report.playing:
            return self.played_ms
        now = time.monotonic() if now is None else now
        ceiling = self._sent_ms - self._held_ms() - self._discarded_ms - self._lost_ms
        guess = self.played_ms + max(0.0, now - report.t) * 1000
        return max(self.played_ms, min(guess, ceiling))

    @property
    def connected(self) -> bool:
        """A page is showing this widget and reported within the last ``STALE_S`` seconds."""
        return self._owner is not None and time.monotonic() - self._owner_seen < STALE_S

    def stats(self) -> BrowserAudioStats:
        """A snapshot of the counters."""
        report = self._last_report
        lags = sorted(self.mic_lags_ms)
        return BrowserAudioStats(
            chunks_sent=self._chunks_sent,
            sent_ms=self._sent_ms,
            played_ms=self.played_ms,
            discarded_ms=self._discarded_ms,
            lost_ms=self._lost_ms,
            queued_ms=report.queued_ms if report else 0.0,
            flushes=self._flushes,
            gaps=report.gaps if report else 0,
            reports=self._reports,
            mic_frames=self._mic_frames,
            mic_ms=self._mic_ms,
            mic_missing_frames=self._mic_missing,
            mic_lag_ms=lags[len(lags) // 2] if lags else None,
            rtt_ms=self._rtt_ms,
            clock_offset_ms=self._offset_clock_ms,
            context_rate=self.context_rate,
            connected=self.connected,
            callback_errors=self._callback_errors,
        )

    # ------------------------------------------------------------------------------------------
    # messages from the page
    # ------------------------------------------------------------------------------------------

    def _on_custom(self, _widget: Any, content: Any, buffers: Sequence[Any] | None) -> None:
        """Entry point for every custom message from the page (ipywidgets' ``on_msg``).

        Where this runs depends on the front end: JupyterLab >= 4.4 with ipykernel 7 sends
        widget messages on a kernel *subshell*, so they arrive on a thread of their own; other
        front ends deliver them on the main thread. Everything past the liveness answer is
        therefore handed to the loop the widget was created on (the kernel's asyncio loop, where
        a notebook's session tasks run), so callbacks and trait changes always happen there.
        """
        if not isinstance(content, dict):
            return
        if content.get("type") == "hb":  # the page checks the kernel is alive: answer at once
            self.send({"type": "hb", "n": content.get("n")})
            return
        data = [bytes(b) for b in buffers or ()]  # out of the transport's frames before a hop
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            try:
                loop.call_soon_threadsafe(self._dispatch, content, data)
                return
            except RuntimeError:  # that loop is closed: nobody to hand over to
                self._loop = None
        self._dispatch(content, data)

    def _dispatch(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        kind = content.get("type")
        client = content.get("client")
        now = time.monotonic()
        if kind == "claim" and isinstance(client, str):
            self._switch_owner(client, now)
            return
        if kind == "pong":
            self._on_pong(content)
            return
        if not isinstance(client, str) or not self._admit(client, now, content):
            return
        if kind == "played":
            self._on_played(content, now)
        elif kind == "mic":
            self._on_mic(content, buffers)
        elif kind == "flushed":
            self._on_flushed(content, now)
        elif kind == "capture":
            self._capture_cbs(bool(content.get("capturing")))

    def _admit(self, client: str, now: float, content: dict[str, Any]) -> bool:
        """Whether ``client`` (one page) speaks for this widget's audio; makes it the owner when
        there is none or the owner went quiet. Other pages are told who the owner is."""
        with self._lock:
            if client == self._owner:
                self._owner_seen = now
            elif self._owner is None or now - self._owner_seen > STALE_S:
                self._switch_owner(client, now)
            else:
                if content.get("type") == "hello":
                    self.send({"type": "owner", "client": self._owner})
                return False
            if content.get("type") == "hello":
                self.front_end = {k: content.get(k) for k in ("origin", "secure")}
            return True

    def _switch_owner(self, client: str, now: float) -> None:
        with self._lock:
            if client == self._owner:
                return
            if self._owner is not None:
                # The old page's queue is gone with it: what it never played is lost, and the
                # new page's positions start at 0, so carry the played position over.
                self._offset_ms = self.played_ms
                self._lost_ms += max(
                    0.0,
                    self._sent_ms
                    - self._held_ms()
                    - self.played_ms
                    - self._discarded_ms
                    - self._lost_ms,
                )
            self._owner = client
            self._owner_seen = now
            self.send({"type": "owner", "client": client})

    def _on_played(self, c: dict[str, Any], now: float) -> None:
        played = max(self.played_ms, self._offset_ms + float(c.get("played_ms", 0.0)))
        report = PlayedReport(
            played_ms=played,
            playing=bool(c.get("playing")),
            queued_ms=float(c.get("queued_ms", 0.0)),
            item_id=c.get("item_id"),
            item_played_ms=float(c.get("item_ms", 0.0)),
            discarded_ms=self._discarded_ms,
            gaps=int(c.get("gaps", 0)),
            latency_ms=float(c.get("latency_ms", 0.0)),
            t=now,
            browser_ms=float(c.get("t", 0.0)),
            running=bool(c.get("running", True)),
        )
        with self._lock:
            self._reports += 1
            self._last_report = report
            self._chunk_seq = max(self._chunk_seq, int(c.get("chunk_seq", -1)))
            for seq, arrive, render in c.get("starts") or ():
                sent = self._sent_at.pop(int(seq), None)
                if sent is not None:
                    self.chunk_traces.append(
                        ChunkTrace(int(seq), sent, float(arrive), float(render), report.latency_ms)
                    )
            done = [(loop, fut) for loop, fut, target in self._waiters if self._idle_after(target)]
        self.set_trait("played_ms", played)
        self.set_trait("playing", report.playing)
        for loop, fut in done:
            _resolve(loop, fut)
        self._played_cbs(played, now)

    def _on_flushed(self, c: dict[str, Any], now: float) -> None:
        seq = int(c.get("seq", -1))
        discarded = float(c.get("discarded_ms", 0.0))
        played = max(self.played_ms, self._offset_ms + float(c.get("played_ms", 0.0)))
        with self._lock:
            sent_t = self._flush_sent.pop(seq, now)
            self._discarded_ms += discarded  # what the kernel held was counted at the flush
            discarded += self._held_dropped.pop(seq, 0.0)
            report = FlushReport(seq, discarded, played, sent_t, now)
            self._last_flush = report
        self.set_trait("played_ms", played)
        self._flush_cbs(report)

    def _on_mic(self, c: dict[str, Any], buffers: list[bytes]) -> None:
        """One message carries ``mic_batch`` frames: ``frames`` lists ``[seq, t]`` per buffer.
        Each frame is counted and handed to ``on_mic`` on its own, 20 ms at a time."""
        rate = int(c.get("rate", self.mic_rate))
        now_ms = time.time() * 1000
        offset = self._offset_clock_ms or 0.0
        if "ts" in c:
            self.mic_transport_ms.append(now_ms - float(c["ts"]) + offset)
        for (seq, t_ms), pcm in zip(c.get("frames") or (), buffers, strict=False):
            expected = self._mic_next_seq
            if expected is not None and seq > expected:
                self._mic_missing += seq - expected  # frames lost between worklet and kernel
            self._mic_next_seq = seq + 1  # a smaller seq means the page reopened the mic
            self._mic_frames += 1
            self._mic_ms += len(pcm) / 2 / rate * 1000
            self.mic_lags_ms.append(now_ms - float(t_ms) + offset)
            self._mic_cbs(pcm, rate)

    def _on_pong(self, c: dict[str, Any]) -> None:
        t1 = time.time() * 1000
        t0 = float(c.get("t0", t1))
        self._rtt_ms = t1 - t0
        self._offset_clock_ms = float(c.get("tb", t1)) - (t0 + t1) / 2


def _resolve(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[bool]) -> None:
    """Complete a waiter on its own loop (the report may arrive on another thread)."""

    def done() -> None:
        if not fut.done():
            fut.set_result(True)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        done()
    else:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(done)
