"""Emulator: reply latency per dialect, how many real-time sessions one machine holds, and why.

The emulator runs in a subprocess, so clients and server compete for the 2 cores like a real
deployment on one box would.

**Latency method (real time, client clock).** Each client is a `RealtimeSession`
(`python -m realtimelab emulator --port 0` serves it). A client streams a short synthetic utterance
("Hello.", espeak via `realtimelab.emulator.voice.Voice`, since `data/speech/` has no fixture
yet) in 20 ms chunks on an absolute 1× schedule, then keeps streaming silence, as a microphone
would. End of speech is the moment the chunk holding the last voiced sample (last 10 ms frame
within 35 dB of the peak) was handed to the socket. Latency = arrival of the reply's first
audio delta − end of speech − `silence_duration_ms` (300 ms here): what is left is the VAD's
frame granularity plus the emulator's hear (pocketsphinx) → think → speak (espeak) → send.
The emulator runs with `--first-audio-ms 0` for this part: the *modelled* model latency (250 ms
by default, docs/emulator-timing.md) is a setting, not work, and would only add itself to every
number; what is measured is the emulator's own work. It runs at `--speed 10`: `speed`
compresses only the *pacing* of the reply, so turns are shorter but the latency is not.
On OpenAI the server's `speech_stopped` splits it into VAD wait and response time. The first
turn of each session loads the speech models and is reported apart, not in the percentiles.

**Capacity method (the ramp).** `python -m benchmarks.emulator_bench ramp` (and the
"emulator scale" section of `benchmarks.run`). Levels of 8, 16, 32, 64, 96, 128 concurrent
real-time sessions, half OpenAI and half Gemini, against emulator processes started apart
(`serve`, one or several on one port with SO_REUSEPORT) from raw-socket client processes
(`load`, at most 48 sessions each). Each session speaks a fixture from data/speech in 20 ms
frames on an absolute schedule, keeps streaming silence as a microphone would, lets server VAD
end its turn, reads the whole reply and waits until it would have finished playing, then
speaks the next fixture. The server stamps each input audio frame when the dialect takes it
off the socket; **input-frame lateness** = that stamp − the client's send time (one host, one
monotonic clock). A level passes when its p99 is under 20 ms with no errors. CPU comes from
/proc per level: the emulator's main thread (the event loop), its other threads, its hearing
helper processes, the clients, and the other tenants of the machine; RSS per session is the
emulator's peak RSS growth over the level / N. The machine is shared, so each level waits for
a quiet moment and is re-run (the quietest of 3 kept) when other tenants used over half a core.
Details are in the comment block above `RAMP_LEVELS`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import functools
import gc
import heapq
import itertools
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    ROOT,
    Child,
    child_process,
    cpu_seconds,
    dump_json,
    fmt,
    markdown_table,
    percentile,
    progress,
    rss_bytes,
)

RATES = {"openai": 24000, "gemini": 16000}
CHUNK_S = 0.020
SILENCE_MS = 300
UTTERANCE = "Hello."
LATENESS_LIMIT_MS = 20.0
GAP_AFTER_REPLY_S = 0.25


def speech(rate: int) -> tuple[bytes, float]:
    """The utterance at `rate`, cut right after its last voiced 10 ms frame, and its length
    in seconds (so the end of the PCM *is* the end of speech)."""
    from realtimelab.emulator.voice import Voice

    pcm = Voice().synthesize(UTTERANCE, rate=rate)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    hop = rate // 100
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    voiced = np.nonzero(20 * np.log10(rms / rms.max()) > -35.0)[0]
    end = (int(voiced[-1]) + 1) * hop if len(voiced) else len(x)
    return pcm[: end * 2], end / rate


@dataclass
class Recorder:
    """What one session saw; lists of seconds unless named *_ms."""

    provider: str
    latencies: list[float] = field(default_factory=list)  # first delta - end - silence
    first_turn_latency: float | None = None
    vad_wait: list[float] = field(default_factory=list)  # speech_stopped - end (OpenAI)
    respond: list[float] = field(default_factory=list)  # first delta - speech_stopped
    lateness_ms: list[float] = field(default_factory=list)
    send_lateness_ms: list[float] = field(default_factory=list)
    replies: int = 0
    errors: list[str] = field(default_factory=list)


async def converse(
    provider: str,
    url: str,
    rec: Recorder,
    *,
    turns: int,
    until: float,
    speed: float,
    start_delay: float = 0.0,
) -> None:
    """One session: speak, wait for the whole reply, pause, speak again (bounded by `turns`
    and the `until` deadline on the monotonic clock)."""
    from realtimelab import events as ev
    from realtimelab.config import SessionConfig, Vad
    from realtimelab.session import connect

    await asyncio.sleep(start_delay)
    rate = RATES[provider]
    utter, _ = speech(rate)
    step = round(rate * CHUNK_S) * 2
    speech_chunks = [utter[i : i + step] for i in range(0, len(utter), step)]
    silence = bytes(step)
    config = SessionConfig(vad=Vad(silence_duration_ms=SILENCE_MS), output_transcription=False)
    speak_now = asyncio.Event()
    speak_now.set()
    state: dict[str, Any] = {"end": None, "stopped": None, "first": None, "arrivals": []}
    done_turns = 0
    try:
        async with connect(provider, config, url=url, api_key="x") as session:

            async def sender() -> None:
                t0 = time.monotonic()
                k = 0
                queue: list[bytes] = []
                while time.monotonic() < until:
                    if not queue and speak_now.is_set():
                        speak_now.clear()
                        queue = list(speech_chunks)
                    pcm = queue.pop(0) if queue else silence
                    due = t0 + k * CHUNK_S
                    rec.send_lateness_ms.append(max(0.0, time.monotonic() - due) * 1000)
                    await session.send_audio(pcm, rate)
                    if pcm is speech_chunks[-1] and not queue:
                        state.update(end=time.monotonic(), stopped=None, first=None, arrivals=[])
                    k += 1
                    await asyncio.sleep(max(0.0, t0 + k * CHUNK_S - time.monotonic()))

            send_task = asyncio.create_task(sender())
            try:
                async for event in _until(session, until):
                    if isinstance(event, ev.SpeechStopped):
                        state["stopped"] = event.t
                    elif isinstance(event, ev.AudioChunk) and state["end"] is not None:
                        state["arrivals"].append((event.t, event.duration_ms))
                        if state["first"] is None:
                            state["first"] = event.t
                            _record_latency(rec, state, event.t, done_turns)
                    elif isinstance(event, ev.Error):
                        rec.errors.append(f"{event.code}: {event.message}")
                        if event.fatal:
                            break
                    elif isinstance(event, ev.TurnComplete) and state["first"] is not None:
                        rec.lateness_ms += _lateness(state["arrivals"], speed)
                        rec.replies += 1
                        done_turns += 1
                        state.update(end=None, first=None, arrivals=[])
                        if done_turns >= turns:
                            break
                        await asyncio.sleep(GAP_AFTER_REPLY_S)
                        speak_now.set()
            finally:
                send_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await send_task
    except Exception as e:  # a failed session fails the level; it must not kill the run
        rec.errors.append(f"{type(e).__name__}: {e}")


async def _until(session: Any, until: float) -> Any:
    """The session's events until the deadline (then stop iterating)."""
    it = session.__aiter__()
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        try:
            yield await asyncio.wait_for(it.__anext__(), left)
        except (StopAsyncIteration, TimeoutError):
            return


def _record_latency(rec: Recorder, state: dict[str, Any], first: float, turn: int) -> None:
    latency = first - state["end"] - SILENCE_MS / 1000
    if turn == 0:
        rec.first_turn_latency = latency
        return
    rec.latencies.append(latency)
    if state["stopped"] is not None:
        rec.vad_wait.append(state["stopped"] - state["end"])
        rec.respond.append(first - state["stopped"])


def _lateness(arrivals: list[tuple[float, float]], speed: float) -> list[float]:
    """Per-frame lateness (ms) against the reply's best anchor; see the module docstring."""
    offsets: list[float] = []
    media_ms = 0.0
    for t, duration_ms in arrivals:
        offsets.append(t - media_ms / 1000 / speed)
        media_ms += duration_ms
    if not offsets:
        return []
    anchor = min(offsets)
    return [(o - anchor) * 1000 for o in offsets]


@contextlib.asynccontextmanager
async def _emulator(speed: float, *extra: str) -> Any:
    async with child_process(
        ["-m", "realtimelab", "emulator", "--port", "0", "--speed", str(speed), *extra]
    ) as child:
        match = re.search(r"(ws://\S+)", child.first_line)
        if not match:
            raise RuntimeError(f"unexpected emulator banner: {child.first_line!r}")
        yield child, match.group(1)


def _ms(values: list[float]) -> list[float]:
    return [v * 1000 for v in values]


async def latency(*, quick: bool) -> dict[str, Any]:
    """Sequential turns per dialect (one session each), measured in real time."""
    turns = 3 if quick else 21
    out: dict[str, Any] = {
        "turns_measured": turns - 1,
        "silence_duration_ms": SILENCE_MS,
        "utterance": UTTERANCE,
        "emulator_speed": 10.0,
        "first_audio_ms": 0.0,
        "providers": {},
    }
    async with _emulator(10.0, "--first-audio-ms", "0") as (_, url):
        for provider in RATES:
            _, seconds = speech(RATES[provider])
            progress(f"emulator latency: {provider}, {turns} turns (first one is warm-up)")
            rec = Recorder(provider)
            await converse(
                provider, url, rec, turns=turns, until=time.monotonic() + turns * 6, speed=10.0
            )
            lat = _ms(rec.latencies)
            out["providers"][provider] = {
                "utterance_s": round(seconds, 3),
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
                "max_ms": max(lat) if lat else float("nan"),
                "n": len(lat),
                "first_turn_ms": (rec.first_turn_latency or float("nan")) * 1000,
                "vad_wait_p50_ms": percentile(_ms(rec.vad_wait), 50),
                "respond_p50_ms": percentile(_ms(rec.respond), 50),
                "latencies_ms": lat,
                "errors": rec.errors[:5],
            }
    return out


# ==========================================================================================
# The ramp: how many real-time sessions one emulator process holds, and what limits it
# ==========================================================================================
#
# Method (also in the module docstring and benchmarks/README.md):
#
# * Server: `python -m benchmarks.emulator_bench serve`, an `Emulator` in its own process
#   with a probe on each session's *inbound* side only (the channel's `tap_in`), so the send
#   path keeps its fast path. The probe stamps `time.monotonic()` when the dialect takes each
#   `input_audio_buffer.append` / `realtimeInput` frame off the socket; on SIGUSR1 it dumps
#   the stamps (keyed by the `rtl_bench` tag each client puts in its URL), a 10 ms loop-lag
#   ticker and `Emulator.stats()` counters to a JSON file, then starts afresh.
# * Clients: `python -m benchmarks.emulator_bench load`, raw `websockets` clients (no SDK,
#   frames pre-encoded) in one or more processes, alternating OpenAI and Gemini. Each speaks a
#   fixture from data/speech (hello, weather in Paris, time in Tokyo, which voice, weather and
#   time) in 20 ms frames on an absolute real-time schedule, keeps streaming silence like a
#   microphone, lets server VAD end the turn, reads the reply, waits until its audio would have
#   finished playing (OpenAI: from the first audio frame plus its duration; Gemini's
#   `turnComplete` already waits for that), pauses 0.5 s and speaks the next fixture. The
#   schedules of the sessions are spread evenly over the 20 ms period, as independent
#   microphones would be.
# * Input-frame lateness of frame k of a session = server stamp k − client send time k (both
#   CLOCK_MONOTONIC on one host; TCP keeps the order). It is how late the emulator gets to
#   each 20 ms frame; a frame due while the loop is busy with other sessions waits. Frames of
#   the first `WARMUP_S` of a level (connections and set-up) are left out.
# * CPU: user+system seconds over the level from /proc (psutil when installed): the emulator's
#   main thread (the event loop and everything holding the GIL there), its other threads
#   (synthesis and brain in `asyncio.to_thread`), its hearing helper processes, and the client
#   processes; the machine's busy share from /proc/stat (other tenants included). RSS per
#   session = (peak RSS of the emulator process during the level − its RSS before) / N.
# * Limiting resource: "event loop" when the main thread is above 85 % of a core, "CPU" when
#   the machine is above 90 % busy, "hearing workers" when they are above 85 % busy together;
#   the first one reached as sessions grow is the ceiling's cause.

RAMP_LEVELS = (8, 16, 32, 64, 96, 128)
LEVEL_S = 24.0
WARMUP_S = 6.0
# First turns start spread over this long (seeded per session): students do not all speak in
# the same 20 ms. A synchronised start is a different test (see benchmarks/README.md).
FIRST_TURN_SPREAD_S = 4.0
SESSIONS_PER_CLIENT = 48
FIXTURES = ("hello", "weather_paris", "time_tokyo", "which_voice", "weather_and_time")
GAP_S = 0.5
SEND_EARLY_S = 0.001
QUIET_OTHERS_PCT = 40.0  # a level starts when other tenants use less than this (% of a core)
NOISY_OTHERS_PCT = 50.0  # ... and is run again (quietest of MAX_ATTEMPTS kept) above this
MAX_ATTEMPTS = 3
NO_REPLY_S = 15.0
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SPEECH_DIR = ROOT / "data" / "speech"
OPENAI_AUDIO = b'{"type":"response.output_audio.delta"'
GEMINI_AUDIO = b'"inlineData"'
AUDIO_PREFIX = {"openai": '{"type":"input_audio_buffer.append"', "gemini": '{"realtimeInput":'}


def _wav(name: str, rate: int) -> bytes:
    with wave.open(str(SPEECH_DIR / f"{name}_{rate // 1000}k.wav")) as w:
        assert w.getframerate() == rate and w.getsampwidth() == 2 and w.getnchannels() == 1
        return w.readframes(w.getnframes())


def audio_frame(provider: str, pcm: bytes) -> str:
    """One 20 ms input frame as the provider's JSON text (built once, sent many times)."""
    data = base64.b64encode(pcm).decode()
    if provider == "openai":
        return f'{AUDIO_PREFIX["openai"]},"audio":"{data}"}}'
    return (
        f'{AUDIO_PREFIX["gemini"]}{{"audio":{{"data":"{data}",'
        f'"mimeType":"audio/pcm;rate={RATES[provider]}"}}}}}}'
    )


@functools.cache
def fixture_frames(provider: str) -> tuple[tuple[tuple[bytes, ...], ...], bytes]:
    """Every fixture as 20 ms frames, and one frame of silence, for `provider`'s input rate.

    Each fixture is cut after its last voiced 10 ms (within 35 dB of its peak), so the moment
    its last frame is sent is the end of speech (the silence that follows is the stream's)."""
    rate = RATES[provider]
    step = round(rate * CHUNK_S) * 2
    speeches = []
    for name in FIXTURES:
        pcm = _wav(name, rate)
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        hop = rate // 100
        levels = np.sqrt((x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)) + 1e-9
        voiced = np.nonzero(20 * np.log10(levels / levels.max()) > -35.0)[0]
        pcm = pcm[: (int(voiced[-1]) + 1) * hop * 2]
        pcm += bytes(-len(pcm) % step)
        speeches.append(
            tuple(
                ws_frame(audio_frame(provider, pcm[i : i + step]).encode())
                for i in range(0, len(pcm), step)
            )
        )
    return tuple(speeches), ws_frame(audio_frame(provider, bytes(step)).encode())


# ------------------------------------------------------------------------------------------
# the server child
# ------------------------------------------------------------------------------------------


class _Probe:
    """Inbound audio-frame stamps per tagged session, and the event loop's lag."""

    def __init__(self) -> None:
        self.sessions: dict[str, list[float]] = {}
        self.loop_lag_ms: list[float] = []
        self.gc_ms: list[tuple[int, float]] = []  # (generation, pause) of every collection
        self._gc_t0 = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.gc_ms.append((info["generation"], (time.perf_counter() - self._gc_t0) * 1000))

    def tap(self, tag: str, provider: str) -> Callable[[str | bytes], None]:
        stamps = self.sessions.setdefault(tag, [])
        append, now, prefix = stamps.append, time.monotonic, AUDIO_PREFIX[provider]

        def tap_in(frame: str | bytes) -> None:
            if isinstance(frame, str) and frame.startswith(prefix):
                append(now())

        return tap_in

    async def tick(self) -> None:
        """Lateness of a 10 ms sleep: what any callback waits for the loop right now."""
        while True:
            due = time.monotonic() + 0.010
            await asyncio.sleep(0.010)
            self.loop_lag_ms.append((time.monotonic() - due) * 1000)


def _log_slow_callbacks(limit_s: float) -> None:
    """Print every event-loop callback that runs longer than `limit_s` (a diagnosis aid)."""
    original = asyncio.events.Handle._run

    def timed(handle: asyncio.Handle) -> None:
        t0 = time.perf_counter()
        original(handle)
        took = time.perf_counter() - t0
        if took > limit_s:
            what = repr(handle)[:200]
            task = getattr(getattr(handle, "_callback", None), "__self__", None)
            if isinstance(task, asyncio.Task):
                frames = task.get_stack(limit=3)
                where = [f"{f.f_code.co_qualname}:{f.f_lineno}" for f in frames]
                what = f"task {task.get_name()} now at {where}"
            print(f"slow callback {took * 1000:.0f} ms: {what}", file=sys.stderr)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]


async def _serve(args: argparse.Namespace) -> int:
    from urllib.parse import parse_qs, urlsplit

    from realtimelab.emulator.server import Emulator, EmulatorConfig

    probe = _Probe()
    if args.slow_ms is not None:
        _log_slow_callbacks(args.slow_ms / 1000)

    class ProbedEmulator(Emulator):
        @contextlib.asynccontextmanager
        async def open_session(
            self, ws: Any, info: Any, faults: Any, on_expire: Any
        ) -> AsyncIterator[Any]:
            async with super().open_session(ws, info, faults, on_expire) as channel:
                query = parse_qs(urlsplit(ws.request.path).query)
                tag = (query.get("rtl_bench") or [""])[0]
                if tag:  # shadows the method on this instance only; out frames stay untapped
                    channel.tap_in = probe.tap(tag, info.dialect)
                yield channel

    timing: dict[str, float] = {
        "openai_generation_rate": args.openai_rate,
        "gemini_generation_rate": args.gemini_rate,
    }
    if args.first_audio_ms is not None:
        timing |= {
            "openai_first_audio_ms": args.first_audio_ms,
            "gemini_first_audio_ms": args.first_audio_ms,
        }
    if args.reuse_port:  # only then: the probe also runs against servers from before it
        timing["reuse_port"] = True
    config = EmulatorConfig(port=args.port, **timing)  # type: ignore[arg-type]
    emu = await ProbedEmulator(config).start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    dumps = itertools.count(1)

    previous: dict[str, Any] = {}

    def dump() -> None:
        nonlocal previous
        n = next(dumps)
        full = emu.stats() if hasattr(emu, "stats") else {}
        stats = {k: v for k, v in full.items() if k != "per_session"}
        payload = {
            "n": n,
            "pid": os.getpid(),
            "sessions": probe.sessions,
            "loop_lag_ms": probe.loop_lag_ms,
            "gc_ms": probe.gc_ms,
            "stats": stats,
            "previous": previous,  # counters are totals: a level is the difference
        }
        previous = stats
        if args.gc_freeze and n == 1:  # after the warm-up level: models and caches are loaded
            gc.collect()
            gc.freeze()
        tmp = Path(f"{args.dump}.tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(f"{args.dump}.{n}")
        probe.sessions, probe.loop_lag_ms, probe.gc_ms = {}, [], []

    loop.add_signal_handler(signal.SIGUSR1, dump)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(probe.tick())
    renicer = asyncio.create_task(_renice_children(args.nice_workers))
    print(f"listening on {emu.url} pid {os.getpid()}", flush=True)
    try:
        await stop.wait()
    finally:
        ticker.cancel()
        renicer.cancel()
        await emu.stop()
    return 0


async def _renice_children(increment: int) -> None:
    """Experiment: lower the priority of this process's helper processes (hearing workers), so
    the event loop wins the CPU when decodes pile up at turn ends."""
    if not increment:
        return
    import psutil

    done: set[int] = set()
    while True:
        for child in psutil.Process().children(recursive=True):
            if child.pid not in done:
                with contextlib.suppress(psutil.Error):
                    child.nice(child.nice() + increment)
                    done.add(child.pid)
        await asyncio.sleep(1.0)


# ------------------------------------------------------------------------------------------
# the load child
# ------------------------------------------------------------------------------------------


@dataclass
class _Talker:
    """One raw client session: what it sends when, and what came back."""

    tag: str
    provider: str
    phase: float
    fixture: int
    sent: list[float] = field(default_factory=list)
    queue: collections.deque[bytes] = field(default_factory=collections.deque)
    speak_at: float | None = 0.0
    end_of_speech: float | None = None
    first_audio: float | None = None
    audio_bytes: int = 0
    reply_ms: list[float] = field(default_factory=list)
    turns: int = 0
    no_reply: int = 0
    errors: list[str] = field(default_factory=list)
    ws: Any = None
    on_first: asyncio.Future[bytes] | None = None

    def next_frame(self, now: float) -> bytes:
        speeches, silence = fixture_frames(self.provider)
        if self.speak_at is not None and now >= self.speak_at and not self.queue:
            self.queue.extend(speeches[self.fixture % len(speeches)])
            self.fixture += 1
            self.speak_at = None
            self.end_of_speech = self.first_audio = None
            self.audio_bytes = 0
        if self.queue:
            frame = self.queue.popleft()
            if not self.queue:
                self.end_of_speech = now
            return frame
        if (
            self.speak_at is None
            and self.end_of_speech is not None
            and self.first_audio is None
            and now - self.end_of_speech > NO_REPLY_S
        ):
            self.no_reply += 1
            self.speak_at = now
        return silence

    def turn_done(self, now: float) -> None:
        if self.first_audio is None:
            return
        self.turns += 1
        played = self.first_audio + self.audio_bytes / (2 * 24000)
        self.speak_at = (max(now, played) if self.provider == "openai" else now) + GAP_S
        self.end_of_speech = None

    def on_message(self, msg: bytes, now: float) -> None:
        if self.on_first is not None:  # session.created / setupComplete
            if not self.on_first.done():
                self.on_first.set_result(msg)
            self.on_first = None
            return
        if msg.startswith(OPENAI_AUDIO) or GEMINI_AUDIO in msg[:96]:
            if self.first_audio is None and self.end_of_speech is not None:
                self.first_audio = now
                self.reply_ms.append((now - self.end_of_speech) * 1000)
            self.audio_bytes += len(msg) * 3 // 4  # base64: close enough for a playback wait
            return
        event = json.loads(msg)
        if self.provider == "openai":
            kind = event.get("type")
            if kind == "response.done":
                self.turn_done(now)
            elif kind == "error":
                self.errors.append(str(event.get("error", {}).get("code")))
        elif event.get("serverContent", {}).get("turnComplete"):
            self.turn_done(now)


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A complete client frame, masked with the all-zero key (legal framing, and the payload
    needs no XOR), so a 20 ms frame is built once and sent by every session as it is."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 2**16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class _RawClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455) for the load generator: a few microseconds per
    frame instead of the tens a full client library spends, so the clients leave the two cores
    to the emulator. It handles exactly what the emulator sends: unfragmented text and binary
    frames, pings (answered) and the close handshake."""

    def __init__(self, talker: _Talker, target: str, headers: dict[str, str]) -> None:
        self.talker, self.target, self.headers = talker, target, headers
        self.buf = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.messages: collections.deque[bytes] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        transport.write(
            f"GET {self.target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.opened.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(bytes(buf[:80]).decode("latin-1")))
                return
            del buf[: end + 4]
            self.opened.set_result(None)
        pos, n = 0, len(buf)
        now = time.monotonic()
        while n - pos >= 2:
            opcode, size = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            start = pos + 2
            if size == 126:
                if n - pos < 4:
                    break
                size, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if n < start + size:
                break
            payload = bytes(buf[start : start + size])
            pos = start + size
            if opcode in (0x1, 0x2):
                self.talker.on_message(payload, now)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(ws_frame(payload, 0xA))
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if code != 1000:
                    self.talker.errors.append(f"closed {code}")
                self.close()
        del buf[:pos]

    def send(self, frame: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(frame)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.write(ws_frame(b"\x03\xe8", 0x8))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed"))


async def _open(t: _Talker, url: str) -> None:
    """Connect `t` and do its provider's set-up, leaving it ready to stream audio."""
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    if t.provider == "openai":
        target = f"/v1/realtime?model=gpt-realtime&rtl_bench={t.tag}"
        headers = {"Authorization": "Bearer sk-bench"}
    else:
        target, headers = f"{GEMINI_PATH}?key=bench&rtl_bench={t.tag}", {}
    loop = asyncio.get_running_loop()
    first: asyncio.Future[bytes] = loop.create_future()
    t.on_first = first
    _, client = await loop.create_connection(
        lambda: _RawClient(t, target, headers), host, int(port)
    )
    await asyncio.wait_for(client.opened, 10)
    if t.provider == "gemini":
        client.send(ws_frame(json.dumps({"setup": {"model": "models/gemini-3.8-live"}}).encode()))
    reply = json.loads(await asyncio.wait_for(first, 10))
    if (
        ("setupComplete" not in reply)
        if t.provider == "gemini"
        else (reply.get("type") != "session.created")
    ):
        raise RuntimeError(f"unexpected first frame {str(reply)[:80]}")
    t.ws = client


async def _load(args: argparse.Namespace) -> int:
    """Run sessions `first..first+count-1` of a level of `total` from `start` to `until`."""
    talkers = [
        _Talker(
            f"{args.level}-{i}",
            "openai" if i % 2 == 0 else "gemini",
            phase=CHUNK_S * i / args.total,
            fixture=i,
            speak_at=args.start + random.Random(i).uniform(0, args.spread),
        )
        for i in range(args.first, args.first + args.count)
    ]
    start, until = args.start, args.start + args.seconds
    lag: list[float] = []

    async def connect_later(t: _Talker, delay: float) -> None:
        await asyncio.sleep(max(0.0, start - time.monotonic()) + delay)
        try:
            await _open(t, args.url)
        except Exception as exc:  # a failed session is reported, the level goes on
            t.errors.append(f"connect: {type(exc).__name__}: {exc}")

    stagger = min(2.0, args.seconds / 8)
    openers = [
        asyncio.create_task(connect_later(t, stagger * (i / len(talkers))))
        for i, t in enumerate(talkers)
    ]
    heap = [(start + t.phase, i) for i, t in enumerate(talkers)]
    heapq.heapify(heap)
    while heap:
        due, i = heap[0]
        if due >= until:
            break
        now = time.monotonic()
        if due > now + SEND_EARLY_S:  # one wake-up sends every frame due within 1 ms
            await asyncio.sleep(due - now)
            continue
        heapq.heapreplace(heap, (due + CHUNK_S, i))
        t = talkers[i]
        if t.ws is None:
            continue
        if t.ws.closed:
            t.ws = None
            continue
        frame = t.next_frame(now)
        lag.append((now - due) * 1000)
        t.sent.append(time.monotonic())
        t.ws.send(frame)
    for task in openers:
        task.cancel()
    await asyncio.gather(*openers, return_exceptions=True)
    for t in talkers:
        if t.ws is not None:
            t.ws.close()
    await asyncio.sleep(0.5)  # let the close frames go out
    out = {
        "cpu_s": time.process_time(),
        "send_lag_ms": lag,
        "talkers": {
            t.tag: {
                "provider": t.provider,
                "sent": t.sent,
                "reply_ms": t.reply_ms,
                "turns": t.turns,
                "no_reply": t.no_reply,
                "errors": t.errors,
            }
            for t in talkers
        },
    }
    Path(args.out).write_text(json.dumps(out))
    return 0


# ------------------------------------------------------------------------------------------
# the controller
# ------------------------------------------------------------------------------------------


class _Usage:
    """CPU seconds and RSS of the server processes (main thread apart) and the clients."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids

    @staticmethod
    def _threads(pid: int) -> tuple[float, float]:
        """(main-thread CPU s, other threads' CPU s) of `pid`."""
        tick = os.sysconf("SC_CLK_TCK")
        main = other = 0.0
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / tick
                if int(task.name) == pid:
                    main += cpu
                else:
                    other += cpu
        return main, other

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            import psutil

            return [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except Exception:
            kids = Path(f"/proc/{pid}/task/{pid}/children")
            return [int(x) for x in kids.read_text().split()] if kids.exists() else []

    def snapshot(self) -> dict[str, float]:
        main = threads = workers = 0.0
        rss = 0
        n_workers = 0
        for pid in self.server_pids:
            m, o = self._threads(pid)
            main, threads = main + m, threads + o
            rss += rss_bytes(pid)
            for kid in self._children(pid):
                workers += cpu_seconds(kid)
                n_workers += 1
        return {
            "main": main,
            "threads": threads,
            "workers": workers,
            "rss": rss,
            "n_workers": n_workers,
            "machine": _machine_busy(),
            "t": time.monotonic(),
        }


async def _wait_quiet(limit_pct: float = QUIET_OTHERS_PCT, patience_s: float = 180.0) -> float:
    """Wait (at most `patience_s`) until the rest of the machine uses under `limit_pct` of a
    core over 2 s; returns what it used. Nothing of ours runs between levels, so all of it is
    other tenants."""
    used = 100.0
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        t0, b0 = time.monotonic(), _machine_busy()
        await asyncio.sleep(2.0)
        used = (_machine_busy() - b0) / (time.monotonic() - t0) * 100
        if used < limit_pct:
            break
    return used


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (all tenants), from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return 0.0


@contextlib.asynccontextmanager
async def _servers(
    n: int, rates: dict[str, Any], dump_dir: Path
) -> AsyncIterator[tuple[str, list[Child], list[Path]]]:
    """`n` emulator processes on one port (SO_REUSEPORT when n > 1)."""
    extra = [f"--openai-rate={rates['openai']}", f"--gemini-rate={rates['gemini']}"]
    if rates.get("nice_workers"):
        extra.append(f"--nice-workers={rates['nice_workers']}")
    if rates.get("gc_freeze"):
        extra.append("--gc-freeze")
    if rates.get("first_audio_ms") is not None:
        extra.append(f"--first-audio-ms={rates['first_audio_ms']}")
    async with contextlib.AsyncExitStack() as stack:
        children: list[Child] = []
        dumps: list[Path] = []
        port = 0
        url = ""
        for i in range(n):
            dump = dump_dir / f"server{i}"
            args = [
                "-m",
                "benchmarks.emulator_bench",
                "serve",
                f"--port={port}",
                f"--dump={dump}",
                *extra,
            ] + (["--reuse-port"] if n > 1 else [])
            child = await stack.enter_async_context(child_process(args))
            match = re.search(r"(ws://\S+)", child.first_line)
            if not match:
                raise RuntimeError(f"unexpected banner {child.first_line!r}")
            url = match.group(1)
            port = int(url.rsplit(":", 1)[1])
            children.append(child)
            dumps.append(dump)
        yield url, children, dumps


async def _collect(children: list[Child], dumps: list[Path], n: int) -> list[dict[str, Any]]:
    """Ask every server for its probe (SIGUSR1) and read the n-th dump of each."""
    out = []
    for child, dump in zip(children, dumps, strict=True):
        child.proc.send_signal(signal.SIGUSR1)
        path = Path(f"{dump}.{n}")
        for _ in range(200):
            if path.exists():
                break
            await asyncio.sleep(0.05)
        out.append(json.loads(path.read_text()))
    return out


async def _run_level(
    url: str,
    children: list[Child],
    dumps: list[Path],
    level: int,
    sessions: int,
    seconds: float,
    dump_n: int,
    work: Path,
) -> dict[str, Any]:
    usage = _Usage([c.pid for c in children])
    n_clients = max(1, math.ceil(sessions / SESSIONS_PER_CLIENT))
    start = time.monotonic() + 2.0
    procs = []
    outs = []
    per = math.ceil(sessions / n_clients)
    for k in range(n_clients):
        first, count = k * per, min(per, sessions - k * per)
        out = work / f"load-{level}-{k}.json"
        outs.append(out)
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.emulator_bench",
                "load",
                f"--url={url}",
                f"--level={level}",
                f"--first={first}",
                f"--count={count}",
                f"--total={sessions}",
                f"--start={start}",
                f"--seconds={seconds}",
                f"--out={out}",
                cwd=str(ROOT),
                env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
            )
        )
    await asyncio.sleep(max(0.0, start + WARMUP_S - time.monotonic()))
    before = usage.snapshot()
    clients0 = sum(cpu_seconds(p.pid) for p in procs)
    peak_rss = before["rss"]
    idle_rss = before["rss"]
    samples: list[dict[str, float]] = [before]
    while time.monotonic() < start + seconds - 0.25:
        await asyncio.sleep(0.25)
        samples.append(usage.snapshot())
        peak_rss = max(peak_rss, samples[-1]["rss"])
    after = usage.snapshot()
    cores = os.cpu_count() or 1
    # share of 250 ms slices in which the machine (all tenants) had no idle core left
    busy = [
        (b["machine"] - a["machine"]) / (b["t"] - a["t"]) / cores
        for a, b in itertools.pairwise(samples)
        if b["t"] > a["t"]
    ]
    saturated = sum(x >= 0.95 for x in busy) / max(1, len(busy)) * 100
    clients1 = sum(cpu_seconds(p.pid) for p in procs)
    for p in procs:
        try:
            await asyncio.wait_for(p.wait(), seconds + 60)
        except TimeoutError:
            p.kill()
            await p.wait()
    probes = await _collect(children, dumps, dump_n)
    window = after["t"] - before["t"]
    return _analyse(
        level=level,
        sessions=sessions,
        start=start,
        seconds=seconds,
        outs=[json.loads(o.read_text()) for o in outs if o.exists()],
        probes=probes,
        before=before,
        after=after,
        window=window,
        clients_cpu=clients1 - clients0,
        idle_rss=idle_rss,
        peak_rss=peak_rss,
        n_servers=len(children),
        saturated_pct=saturated,
    )


def _analyse(
    *,
    level: int,
    sessions: int,
    start: float,
    seconds: float,
    outs: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    before: dict[str, float],
    after: dict[str, float],
    window: float,
    clients_cpu: float,
    idle_rss: float,
    peak_rss: float,
    n_servers: int,
    saturated_pct: float = 0.0,
) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = {}
    lag: list[float] = []
    counters: dict[str, int] = collections.Counter()
    gc_pauses: list[tuple[int, float]] = []
    for probe in probes:
        arrivals.update(probe["sessions"])
        lag += probe["loop_lag_ms"]
        gc_pauses += [tuple(x) for x in probe.get("gc_ms", [])]
        for key in ("slow_reader_closes", "internal_errors", "frames_sent", "socket_writes"):
            now, then = probe["stats"].get(key, 0), probe.get("previous", {}).get(key, 0)
            counters[key] += int(now) - int(then)
    received = sum(
        1 for stamps in arrivals.values() for t in stamps if before["t"] <= t <= after["t"]
    )
    lateness: list[float] = []
    worst: list[tuple[float, str, str, int, int]] = []  # (max ms, tag, provider, sent, stamped)
    per_provider: dict[str, list[float]] = {"openai": [], "gemini": []}
    reply: list[float] = []
    send_lag: list[float] = []
    errors: list[str] = []
    turns = no_reply = 0
    steady = start + WARMUP_S
    for out in outs:
        send_lag += out["send_lag_ms"]
        for tag, talker in out["talkers"].items():
            got = arrivals.get(tag, [])
            mine = []
            for sent, arrived in zip(talker["sent"], got, strict=False):
                if steady <= sent <= start + seconds:
                    mine.append((arrived - sent) * 1000)
            lateness += mine
            per_provider[talker["provider"]] += mine
            if mine:
                worst.append((max(mine), tag, talker["provider"], len(talker["sent"]), len(got)))
            reply += talker["reply_ms"]
            turns += talker["turns"]
            no_reply += talker["no_reply"]
            errors += talker["errors"]
    cores = os.cpu_count() or 1

    def pct(key: str) -> float:
        return (after[key] - before[key]) / window * 100

    main_pct, workers_pct = pct("main"), pct("workers")
    machine_pct = pct("machine") / cores
    limits = []
    if main_pct >= 85 * n_servers:
        limits.append(
            f"event loop (main thread{'s' if n_servers > 1 else ''} {main_pct:.0f}% of a core)"
        )
    if machine_pct >= 90 or saturated_pct >= 10:
        limits.append(
            f"CPU (machine {machine_pct:.0f}% busy, saturated {saturated_pct:.0f}% of the time)"
        )
    if after["n_workers"] and workers_pct >= 85 * after["n_workers"]:
        limits.append(f"hearing workers ({workers_pct:.0f}% over {after['n_workers']:.0f})")
    p99 = percentile(lateness, 99)
    passed = bool(lateness) and p99 < LATENESS_LIMIT_MS and not errors
    if passed and not any(x.startswith("event loop") for x in limits):
        limits = []  # the cause of a ceiling is only worth naming where the level failed
    return {
        "sessions": sessions,
        "servers": n_servers,
        "passed": passed,
        "lateness_p50_ms": percentile(lateness, 50),
        "lateness_p99_ms": p99,
        "lateness_max_ms": max(lateness) if lateness else float("nan"),
        "openai_p99_ms": percentile(per_provider["openai"], 99),
        "gemini_p99_ms": percentile(per_provider["gemini"], 99),
        "frames": len(lateness),
        "turns": turns,
        "no_reply": no_reply,
        "reply_p50_ms": percentile(reply, 50),
        "loop_lag_p99_ms": percentile(lag, 99),
        "gc_per_s": len(gc_pauses) / max(1e-9, seconds),
        "gc_max_ms": max((ms for _, ms in gc_pauses), default=0.0),
        "gc2_ms": sorted(ms for g, ms in gc_pauses if g == 2)[-5:],
        "send_lag_p99_ms": percentile(send_lag, 99),
        "main_thread_pct": main_pct,
        "other_threads_pct": pct("threads"),
        "workers_pct": workers_pct,
        "emulator_cpu_pct": main_pct + pct("threads") + workers_pct,
        "cpu_per_session_pct": (main_pct + pct("threads") + workers_pct) / sessions,
        "main_us_per_input_frame": (after["main"] - before["main"]) / max(1, received) * 1e6,
        "frames_per_write": counters["frames_sent"] / max(1, counters["socket_writes"]),
        "client_cpu_pct": clients_cpu / window * 100,
        # what other tenants of the machine used meanwhile (the machine is shared)
        "others_cpu_pct": pct("machine")
        - (main_pct + pct("threads") + workers_pct + clients_cpu / window * 100),
        "machine_busy_pct": machine_pct,
        "saturated_pct": saturated_pct,
        "rss_mb": peak_rss / 2**20,
        "rss_per_session_mb": (peak_rss - idle_rss) / sessions / 2**20,
        "limits": limits or (["—"] if passed else ["none of the three reached"]),
        "worst_sessions": sorted(worst, reverse=True)[:4],
        "errors": errors[:5],
        "n_errors": len(errors),
        **counters,
    }


async def ramp(
    *,
    levels: Sequence[int] = RAMP_LEVELS,
    seconds: float = LEVEL_S,
    servers: int = 1,
    rates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ramp against `servers` emulator processes sharing one port."""
    from realtimelab.emulator.config import EmulatorConfig

    defaults = EmulatorConfig()
    rates = rates or {
        "openai": defaults.openai_generation_rate,
        "gemini": defaults.gemini_generation_rate,
        "first_audio_ms": None,
    }
    out: dict[str, Any] = {
        "servers": servers,
        "rates": rates,
        "level_seconds": seconds,
        "warmup_seconds": WARMUP_S,
        "limit_ms": LATENESS_LIMIT_MS,
        "load_at_start": os.getloadavg(),
        "levels": [],
        "max_passing": 0,
    }
    with tempfile.TemporaryDirectory(prefix="rtl-ramp-") as tmp:
        work = Path(tmp)
        async with _servers(servers, rates, work) as (url, children, dumps):
            progress(f"ramp: {servers} server(s) at {url}; warm-up level (speech models)")
            await _run_level(url, children, dumps, 1, 2 * servers, 12.0, 1, work)
            dump_n = 1
            for sessions in levels:
                runs = []
                for attempt in range(1, MAX_ATTEMPTS + 1):
                    others = await _wait_quiet()
                    progress(
                        f"ramp: {sessions} sessions for {seconds:g} s, attempt {attempt} "
                        f"(other tenants {others:.0f}% of a core; load {os.getloadavg()[0]:.2f})"
                    )
                    dump_n += 1
                    row = await _run_level(
                        url, children, dumps, dump_n, sessions, seconds, dump_n, work
                    )
                    row["attempt"], row["load_1m"] = attempt, os.getloadavg()[0]
                    runs.append(row)
                    progress(
                        f"  p50 {row['lateness_p50_ms']:.1f} ms p99 "
                        f"{row['lateness_p99_ms']:.1f} ms, main {row['main_thread_pct']:.0f}%,"
                        f" others {row['others_cpu_pct']:.0f}%, loop lag p99 "
                        f"{row['loop_lag_p99_ms']:.1f} ms, gc {row['gc_per_s']:.1f}/s max "
                        f"{row['gc_max_ms']:.1f} ms, limits {row['limits']}"
                    )
                    if row["others_cpu_pct"] <= NOISY_OTHERS_PCT:
                        break
                row = min(runs, key=lambda r: r["others_cpu_pct"])  # the quietest attempt
                row["attempts"] = len(runs)
                out["levels"].append(row)
                if row["passed"]:
                    out["max_passing"] = sessions
                elif row["lateness_p99_ms"] > 50 * LATENESS_LIMIT_MS:
                    break  # far past the ceiling: higher levels only measure a queue
    return out


async def scale(*, quick: bool) -> dict[str, Any]:
    """`benchmarks.run`'s emulator scale section: the ramp (default rates, one process)."""
    if quick:
        return await ramp(levels=(8, 16), seconds=10.0)
    return await ramp()


def scale_table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return ramp_table(res["scale"])


def ramp_table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = [
        "sessions",
        "result",
        "input lateness p50 ms",
        "p99 ms",
        "max ms",
        "OpenAI / Gemini p99 ms",
        "loop lag p99 ms",
        "turns",
        "reply p50 ms",
        "main thread %",
        "main µs/input frame",
        "frames/write",
        "other threads %",
        "hearing %",
        "CPU/session %",
        "client CPU %",
        "others CPU %",
        "machine busy %",
        "saturated %",
        "RSS/session MB",
        "limit",
    ]
    rows = [
        [
            r["sessions"],
            "pass" if r["passed"] else "FAIL",
            r["lateness_p50_ms"],
            r["lateness_p99_ms"],
            r["lateness_max_ms"],
            f"{fmt(r['openai_p99_ms'])} / {fmt(r['gemini_p99_ms'])}",
            r["loop_lag_p99_ms"],
            r["turns"],
            r["reply_p50_ms"],
            r["main_thread_pct"],
            r["main_us_per_input_frame"],
            r["frames_per_write"],
            r["other_threads_pct"],
            r["workers_pct"],
            r["cpu_per_session_pct"],
            r["client_cpu_pct"],
            r.get("others_cpu_pct", float("nan")),
            r["machine_busy_pct"],
            r.get("saturated_pct", float("nan")),
            r["rss_per_session_mb"],
            "; ".join(r["limits"]),
        ]
        for r in res["levels"]
    ]
    return headers, rows


async def run(*, quick: bool) -> dict[str, Any]:
    return {"latency": await latency(quick=quick), "scale": await scale(quick=quick)}


def latency_table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = [
        "dialect",
        "turns",
        "p50 ms",
        "p99 ms",
        "max ms",
        "first turn ms",
        "VAD wait p50 ms",
        "speech_stopped→delta p50 ms",
    ]
    rows = [
        [
            p,
            r["n"],
            r["p50_ms"],
            r["p99_ms"],
            r["max_ms"],
            r["first_turn_ms"],
            r["vad_wait_p50_ms"],
            r["respond_p50_ms"],
        ]
        for p, r in res["latency"]["providers"].items()
    ]
    return headers, rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="an emulator with an inbound probe (the ramp's server)")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--reuse-port", action="store_true")
    serve.add_argument("--dump", required=True)
    serve.add_argument("--profile", default=None, help="write a cProfile (thread CPU time) here")
    serve.add_argument(
        "--slow-ms", type=float, default=None, help="log event-loop callbacks slower than this"
    )
    serve.add_argument(
        "--gc-freeze", action="store_true", help="experiment: gc.freeze() after the warm-up"
    )
    serve.add_argument(
        "--nice-workers",
        type=int,
        default=0,
        help="experiment: renice the hearing helper processes by this much",
    )
    load = sub.add_parser("load", help="one client process of a ramp level")
    for arg in ("url", "out"):
        load.add_argument(f"--{arg}", required=True)
    for arg in ("level", "first", "count", "total"):
        load.add_argument(f"--{arg}", type=int, required=True)
    for arg in ("start", "seconds"):
        load.add_argument(f"--{arg}", type=float, required=True)
    load.add_argument("--spread", type=float, default=FIRST_TURN_SPREAD_S)
    rp = sub.add_parser("ramp", help="run the ramp and print its table")
    rp.add_argument("--levels", default=",".join(map(str, RAMP_LEVELS)))
    rp.add_argument("--seconds", type=float, default=LEVEL_S)
    rp.add_argument("--servers", type=int, default=1)
    rp.add_argument("--json", default=None, help="also write the raw results here")
    rp.add_argument("--nice-workers", type=int, default=0, help="experiment (see serve)")
    rp.add_argument("--gc-freeze", action="store_true", help="experiment (see serve)")
    for p in (serve, rp):
        p.add_argument("--openai-rate", type=float, default=4.0)
        p.add_argument("--gemini-rate", type=float, default=3.0)
        p.add_argument("--first-audio-ms", type=float, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        if not args.profile:
            return asyncio.run(_serve(args))
        import cProfile

        # thread_time: CPU seconds of the event loop's thread only (not wall, not helpers)
        profiler = cProfile.Profile(time.thread_time)
        try:
            return profiler.runcall(asyncio.run, _serve(args))
        finally:
            profiler.dump_stats(args.profile)
    if args.command == "load":
        return asyncio.run(_load(args))
    rates = {
        "openai": args.openai_rate,
        "gemini": args.gemini_rate,
        "first_audio_ms": args.first_audio_ms,
        "nice_workers": args.nice_workers,
        "gc_freeze": args.gc_freeze,
    }
    res = asyncio.run(
        ramp(
            levels=[int(x) for x in args.levels.split(",")],
            seconds=args.seconds,
            servers=args.servers,
            rates=rates,
        )
    )
    headers, rows = ramp_table(res)
    print(
        f"\n{args.servers} server process(es), rates {rates}, load at start "
        f"{res['load_at_start']}\n"
    )
    print(markdown_table(headers, rows))
    if args.json:
        dump_json(Path(args.json), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
