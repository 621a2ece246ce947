"""Microphone and speaker, with a headless twin for every device.

Why this module looks the way it does:

* ``sounddevice`` needs the PortAudio C library and raises ``OSError`` *at import time* when it
  is missing (the usual state of CI machines, containers and this lab's own box). So it is
  imported lazily, only when a device is actually opened, and every failure becomes one
  :class:`DeviceUnavailable` that says what failed, what to install and what to use instead.
* Every device has a headless stand-in with the same interface: :meth:`Microphone.from_wav`
  for input and :class:`BufferPlayer` for output. Notebooks and tests run the same code paths
  with or without a sound card; :func:`open_player` picks one and :func:`device_status` says
  which in one line.
* Barge-in needs two numbers from the output side: how much queued audio was thrown away
  (:meth:`Player.flush`) and how much of the current model item the listener actually heard
  (:attr:`Player.played_ms`, counted from :meth:`Player.mark`), which becomes ``audio_end_ms``
  of OpenAI's ``conversation.item.truncate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

from realtimelab.audio import AudioFormat, iter_frames, read_wav, resample, wav_bytes, write_wav
from realtimelab.errors import RealtimeLabError

__all__ = [
    "BufferPlayer",
    "DeviceStatus",
    "DeviceUnavailable",
    "Microphone",
    "Player",
    "Speaker",
    "WavMicrophone",
    "device_status",
    "open_player",
]

Kind = Literal["input", "output"]

_INSTALL_HINT = (
    "To use a real device install PortAudio (Debian/Ubuntu: `sudo apt-get install "
    "libportaudio2`; macOS: `brew install portaudio`), connect a sound device and check it "
    "with `python -m sounddevice`."
)
_FALLBACK_HINT = {
    "output": "Without a device use realtimelab.devices.BufferPlayer (or open_player(), which "
    "falls back to it) and save or play the audio from the notebook.",
    "input": "Without a device use Microphone.from_wav(path) or read a WAV file with "
    "realtimelab.audio.read_wav().",
}


class DeviceUnavailable(RealtimeLabError, RuntimeError):
    """No usable sound device: PortAudio missing, no device, or the device refused to open.

    ``reason`` is the original failure; the message adds the install hint and the headless
    alternative so a notebook user can act on it without searching.
    """

    def __init__(self, kind: Kind, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(
            f"no audio {kind} device available: {reason}. {_INSTALL_HINT} {_FALLBACK_HINT[kind]}"
        )


def _load_sounddevice(kind: Kind) -> ModuleType:
    """Import sounddevice now, turning "no PortAudio" into :class:`DeviceUnavailable`."""
    try:
        return importlib.import_module("sounddevice")
    except OSError as e:  # sounddevice raises OSError('PortAudio library not found')
        raise DeviceUnavailable(kind, f"sounddevice could not load PortAudio ({e})") from e
    except ImportError as e:
        raise DeviceUnavailable(
            kind, f"the sounddevice package is not installed ({e}); `pip install sounddevice`"
        ) from e


def _device_errors(sd: ModuleType) -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this device cannot be used" (ValueError: no device by that name)."""
    pa_error = getattr(sd, "PortAudioError", None)
    errors: tuple[type[BaseException], ...] = (ValueError, OSError)
    if isinstance(pa_error, type) and issubclass(pa_error, BaseException):
        errors = (pa_error, *errors)
    return errors


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a real device of ``kind`` can be used, and why (one line for a notebook)."""

    available: bool
    reason: str
    kind: Kind = "output"

    def __str__(self) -> str:
        if self.available:
            return f"audio {self.kind}: sound device ({self.reason})"
        stand_in = "BufferPlayer" if self.kind == "output" else "Microphone.from_wav"
        return f"audio {self.kind}: {stand_in}, headless ({self.reason})"


def device_status(kind: Kind = "output") -> DeviceStatus:
    """Probe for a default ``kind`` device without opening a stream."""
    try:
        sd = _load_sounddevice(kind)
    except DeviceUnavailable as e:
        return DeviceStatus(False, e.reason, kind)
    try:
        info = sd.query_devices(kind=kind)
    except _device_errors(sd) as e:
        return DeviceStatus(False, f"PortAudio found no default {kind} device ({e})", kind)
    name = info.get("name", "?") if isinstance(info, dict) else str(info)
    return DeviceStatus(True, f"default {kind} device {name!r}", kind)


# --------------------------------------------------------------------------------------------
# players
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Player(Protocol):
    """What the session needs from an audio output (a speaker or a headless stand-in)."""

    @property
    def rate(self) -> int:
        """Sample rate of the PCM16 mono audio passed to :meth:`write`."""
        ...

    def write(self, pcm: bytes) -> None:
        """Queue audio for playback; never blocks."""
        ...

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        """Queue audio at any `rate` (resampled to :attr:`rate`): what a session calls when the
        player is attached (`realtimelab.contract.Player`)."""
        ...

    def flush(self) -> float:
        """Barge-in: drop everything queued but not yet played; return the ms dropped."""
        ...

    @property
    def played_ms(self) -> float:
        """Ms of audio written after the last :meth:`mark` that has actually been played."""
        ...

    def mark(self) -> None:
        """A new model item starts with the next write: count :attr:`played_ms` from here."""
        ...

    def close(self) -> None:
        """Release the device (idempotent)."""
        ...


def _check_pcm(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise ValueError(
            f"PCM16 audio must have an even number of bytes, got {len(pcm)}; the stream was cut "
            "mid-sample (realtimelab.audio.Chunker carries the dangling byte for you)"
        )


class _Ledger:
    """Byte positions in the played stream, shared by Speaker and BufferPlayer.

    ``written`` and ``played`` are positions in the stream of audio that is (or will be)
    played; a flush moves ``written`` back to ``played``, because discarded audio never enters
    that stream. ``mark`` remembers where the current item begins, so audio of the previous
    item still draining from the buffer is not counted as the new item's.
    """

    def __init__(self, fmt: AudioFormat) -> None:
        self.fmt = fmt
        self.written = 0
        self.played = 0
        self.mark = 0

    def played_ms(self) -> float:
        return self.fmt.duration_ms(max(0, self.played - self.mark))


class _Resampling:
    """`play()` for the players: resample to the device rate, then `write()`."""

    _fmt: AudioFormat
    _resamplers: dict[int, Any]

    def write(self, pcm: bytes) -> None:  # pragma: no cover - implemented by the players
        raise NotImplementedError

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
        if rate != self._fmt.rate:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                from realtimelab.audio import StreamResampler

                resampler = self._resamplers[rate] = StreamResampler(rate, self._fmt.rate)
            pcm = resampler.process(pcm)
        if pcm:
            self.write(pcm)


class BufferPlayer(_Resampling):
    """Headless player for CI and notebooks: keeps the audio, simulates real-time playback.

    With ``realtime=True`` audio is "played" at 1x speed from the moment it is written (or
    from when the audio queued before it ends), measured with the injected ``clock``. So after
    a barge-in, :attr:`played_ms` is what a listener would have heard and :meth:`flush`
    discards the rest, exactly like a speaker would. With ``realtime=False`` everything
    written counts as played at once (fast collection of a whole reply; ``flush`` drops nothing).

    :meth:`audio` returns what was (or, for audio still queued, would be) heard; use
    :meth:`to_ipython` or :meth:`save` to listen. Not thread-safe: use it from one thread
    (the event loop).
    """

    def __init__(
        self,
        rate: int = 24000,
        realtime: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fmt = AudioFormat(rate)
        self._resamplers: dict[int, Any] = {}
        self._realtime = realtime
        self._clock = clock
        self._heard = bytearray()
        self._queue = bytearray()
        self._queue_start = 0.0  # clock time at which the first queued byte starts playing
        self._ledger = _Ledger(self._fmt)
        self._discarded_bytes = 0
        self._closed = False

    @property
    def rate(self) -> int:
        return self._fmt.rate

    @property
    def realtime(self) -> bool:
        return self._realtime

    def _advance(self) -> None:
        if not self._queue:
            return
        if not self._realtime:
            n = len(self._queue)
        else:
            elapsed = self._clock() - self._queue_start
            samples = int(max(0.0, elapsed) * self._fmt.rate)
            n = min(len(self._queue), samples * 2)
        if n:
            self._heard += self._queue[:n]
            del self._queue[:n]
            self._queue_start += n / 2 / self._fmt.rate
            self._ledger.played += n

    def write(self, pcm: bytes) -> None:
        if self._closed:
            raise RuntimeError("BufferPlayer is closed; create a new one to play more audio")
        _check_pcm(pcm)
        if not pcm:
            return
        self._advance()
        if not self._queue:
            self._queue_start = self._clock()
        self._queue += pcm
        self._ledger.written += len(pcm)
        self._advance()

    def flush(self) -> float:
        self._advance()
        dropped = len(self._queue)
        self._queue.clear()
        self._discarded_bytes += dropped
        self._ledger.written = self._ledger.played
        return self._fmt.duration_ms(dropped)

    @property
    def played_ms(self) -> float:
        self._advance()
        return self._ledger.played_ms()

    def mark(self) -> None:
        self._advance()
        self._ledger.mark = self._ledger.written

    @property
    def pending_ms(self) -> float:
        """Ms queued but not yet played."""
        self._advance()
        return self._fmt.duration_ms(len(self._queue))

    @property
    def discarded_ms(self) -> float:
        """Total ms thrown away by :meth:`flush` so far."""
        return self._fmt.duration_ms(self._discarded_bytes)

    def audio(self) -> bytes:
        """Everything heard so far plus what is still queued (i.e. would be heard)."""
        self._advance()
        return bytes(self._heard + self._queue)

    def to_ipython(self, autoplay: bool = False) -> Any:
        """An ``IPython.display.Audio`` of :meth:`audio` (IPython imported only here)."""
        try:
            from IPython.display import Audio
        except ImportError as e:
            raise RuntimeError(
                "to_ipython() needs IPython (`pip install ipython`); use save(path) instead"
            ) from e
        return Audio(data=wav_bytes(self.audio(), self.rate), autoplay=autoplay)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`audio` as a WAV file."""
        return write_wav(path, self.audio(), self.rate)

    def close(self) -> None:
        """Stop accepting audio; what was written stays available."""
        self._closed = True

    def __repr__(self) -> str:
        return (
            f"BufferPlayer(rate={self.rate}, realtime={self._realtime}, "
            f"heard={self._fmt.duration_ms(len(self._heard)):.0f} ms, "
            f"queued={self._fmt.duration_ms(len(self._queue)):.0f} ms)"
        )


class Speaker(_Resampling):
    """A sound card output: a PortAudio callback stream fed from an internal jitter buffer.

    Model audio arrives in bursts, faster than real time (docs/timing.md), so :meth:`write`
    only appends to a buffer and the device callback takes exactly what it needs, playing silence on
    underrun. :attr:`played_ms` counts audio handed to the device (which adds its own small
    output latency). Raises :class:`DeviceUnavailable` when PortAudio or an output device is
    missing.
    """

    def __init__(
        self, rate: int = 24000, device: int | str | None = None, *, blocksize_ms: float = 20.0
    ) -> None:
        self._fmt = AudioFormat(rate)
        self._resamplers: dict[int, Any] = {}
        self._reports: list[Callable[[float], None]] = []
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._ledger = _Ledger(self._fmt)
        self._underruns = 0
        self._closed = False
        sd = _load_sounddevice("output")
        try:
            self._stream = sd.RawOutputStream(
                samplerate=rate,
                channels=1,
                dtype="int16",
                device=device,
                blocksize=self._fmt.nbytes(blocksize_ms) // 2,
                callback=self._callback,
            )
            self._stream.start()
        except _device_errors(sd) as e:
            raise DeviceUnavailable("output", f"could not open the output device ({e})") from e

    @property
    def rate(self) -> int:
        return self._fmt.rate

    @property
    def underruns(self) -> int:
        """Callbacks that ran out of audio mid-block (the buffer emptied while playing)."""
        return self._underruns

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        need = frames * 2
        with self._lock:
            chunk = bytes(self._buf[:need])
            del self._buf[:need]
            self._ledger.played += len(chunk)
        if 0 < len(chunk) < need:
            self._underruns += 1
        outdata[:need] = chunk + b"\x00" * (need - len(chunk))
        if chunk and self._reports:
            played = self._fmt.duration_ms(self._ledger.played)
            for report in self._reports:
                with contextlib.suppress(Exception):  # never raise in the audio thread
                    report(played)

    def on_played(self, callback: Callable[[float], None]) -> None:
        """Report the cumulative ms handed to the device after each block (from the audio
        thread): a session's playout clock then follows what the speaker really played."""
        self._reports.append(callback)

    def write(self, pcm: bytes) -> None:
        if self._closed:
            raise RuntimeError("Speaker is closed; open a new one to play more audio")
        _check_pcm(pcm)
        with self._lock:
            self._buf += pcm
            self._ledger.written += len(pcm)

    def flush(self) -> float:
        with self._lock:
            dropped = len(self._buf)
            self._buf.clear()
            self._ledger.written = self._ledger.played
        return self._fmt.duration_ms(dropped)

    @property
    def played_ms(self) -> float:
        with self._lock:
            return self._ledger.played_ms()

    def mark(self) -> None:
        with self._lock:
            self._ledger.mark = self._ledger.written

    @property
    def pending_ms(self) -> float:
        """Ms buffered but not yet handed to the device."""
        with self._lock:
            return self._fmt.duration_ms(len(self._buf))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stream.stop()
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_player(rate: int = 24000, prefer_device: bool = True) -> Player:
    """A :class:`Speaker` when a device works, else a :class:`BufferPlayer`.

    Print :func:`device_status` next to it to tell the user which path is used and why.
    """
    if prefer_device:
        try:
            return Speaker(rate)
        except DeviceUnavailable:
            pass
    return BufferPlayer(rate)


# --------------------------------------------------------------------------------------------
# microphones
# --------------------------------------------------------------------------------------------


class Microphone:
    """Async iterator of PCM16 mono frames from the default (or given) input device.

    The PortAudio callback runs on its own thread; it hands each block to the event loop with
    ``loop.call_soon_threadsafe``. The queue is bounded (``max_queued_ms``): if the consumer
    falls behind, the oldest frames are dropped and counted in :attr:`dropped_frames` rather
    than growing memory forever or blocking the audio thread. Capture starts at the first
    ``async for`` / ``async with``, on the running loop.
    """

    def __init__(
        self,
        rate: int = 16000,
        frame_ms: float = 20.0,
        device: int | str | None = None,
        *,
        max_queued_ms: float = 2000.0,
    ) -> None:
        self._fmt = AudioFormat(rate)
        self._frame_ms = float(frame_ms)
        frame_samples = self._fmt.nbytes(frame_ms) // 2
        if frame_samples <= 0:
            raise ValueError(f"frame_ms={frame_ms} is shorter than one sample at {rate} Hz")
        self._max_frames = max(1, round(max_queued_ms / frame_ms))
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dropped = 0
        self._overflows = 0
        self._closed = False
        sd = _load_sounddevice("input")
        try:
            self._stream = sd.RawInputStream(
                samplerate=rate,
                channels=1,
                dtype="int16",
                device=device,
                blocksize=frame_samples,
                callback=self._callback,
            )
        except _device_errors(sd) as e:
            raise DeviceUnavailable("input", f"could not open the input device ({e})") from e

    @classmethod
    def from_wav(
        cls,
        path: str | os.PathLike[str],
        frame_ms: float = 20.0,
        realtime: bool = True,
        speed: float = 1.0,
        *,
        rate: int | None = None,
    ) -> WavMicrophone:
        """A file that behaves like a microphone (see :class:`WavMicrophone`)."""
        return WavMicrophone(path, frame_ms, realtime, speed, rate=rate)

    @property
    def rate(self) -> int:
        return self._fmt.rate

    @property
    def frame_ms(self) -> float:
        return self._frame_ms

    @property
    def dropped_frames(self) -> int:
        """Frames discarded because the consumer did not keep up."""
        return self._dropped

    @property
    def overflows(self) -> int:
        """Blocks where PortAudio itself reported lost input (status flags)."""
        return self._overflows

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self._overflows += 1
        loop = self._loop
        if loop is None or self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us during shutdown
            loop.call_soon_threadsafe(self._enqueue, bytes(indata))

    def _enqueue(self, frame: bytes | None) -> None:
        if frame is not None:
            while self._queue.qsize() >= self._max_frames:
                self._queue.get_nowait()
                self._dropped += 1
        self._queue.put_nowait(frame)

    def _start(self) -> None:
        if self._loop is None and not self._closed:
            self._loop = asyncio.get_running_loop()
            self._stream.start()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        self._start()
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        frame = await self._queue.get()
        if frame is None:
            raise StopAsyncIteration
        return frame

    def close(self) -> None:
        """Stop capture; frames already queued are still delivered, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._stream.stop()
        self._stream.close()
        self._queue.put_nowait(None)

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class WavMicrophone:
    """A WAV file as a microphone: same async-iterator interface as :class:`Microphone`.

    Frames are ``frame_ms`` long (the last one may be shorter: the file's exact content is
    delivered, nothing padded or dropped). With ``realtime=True`` frame *k* is released when
    a live mic would have finished capturing it, ``(k + 1) * frame_ms / speed`` after the first
    read, on a fixed schedule so sleeps do not accumulate drift. ``rate`` resamples the file
    to the session's rate; by default the file's own rate is used.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        frame_ms: float = 20.0,
        realtime: bool = True,
        speed: float = 1.0,
        *,
        rate: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0 (1.0 = real time), got {speed}")
        pcm, fmt = read_wav(path)
        if rate is not None and rate != fmt.rate:
            pcm = resample(pcm, fmt.rate, rate)
            fmt = AudioFormat(rate)
        self.path = Path(path)
        self._fmt = fmt
        self._frame_ms = float(frame_ms)
        self._frames = list(iter_frames(pcm, fmt.rate, frame_ms, pad_last=False))
        # When each frame is complete, in ms from the start: the real-time release schedule.
        self._ends_ms = list(accumulate(fmt.duration_ms(len(f)) for f in self._frames))
        self._realtime = realtime
        self._speed = float(speed)
        self._index = 0
        self._t0: float | None = None
        self._closed = False

    @property
    def rate(self) -> int:
        return self._fmt.rate

    @property
    def frame_ms(self) -> float:
        return self._frame_ms

    @property
    def duration_ms(self) -> float:
        return self._ends_ms[-1] if self._ends_ms else 0.0

    @property
    def dropped_frames(self) -> int:
        """Always 0: a file never overruns (kept for interface parity with Microphone)."""
        return 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed or self._index >= len(self._frames):
            raise StopAsyncIteration
        frame = self._frames[self._index]
        if self._realtime:
            loop = asyncio.get_running_loop()
            if self._t0 is None:
                self._t0 = loop.time()
            delay = self._t0 + self._ends_ms[self._index] / 1000.0 / self._speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
