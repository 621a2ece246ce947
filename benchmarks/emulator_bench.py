"""Emulator: reply latency per dialect, how many real-time sessions one machine holds, RSS.

The emulator runs in a subprocess (`python -m realtimelab emulator --port 0`), so the client
and the server compete for the 2 cores like a real deployment on one box would; each client is
a `RealtimeSession`.

**Latency method (real time, client clock).** A client streams a short synthetic utterance
("Hello.", espeak via `realtimelab.emulator.voice.Voice`, since `data/speech/` has no fixture
yet) in 20 ms chunks on an absolute 1× schedule, then keeps streaming silence, as a microphone
would. End of speech is the moment the chunk holding the last voiced sample (last 10 ms frame
within 35 dB of the peak) was handed to the socket. Latency = arrival of the reply's first
audio delta − end of speech − `silence_duration_ms` (300 ms here): what is left is the VAD's
frame granularity plus the emulator's hear (pocketsphinx) → think → speak (espeak) → send.
The emulator runs at `--speed 10` for this part: `speed` compresses only the *pacing* of the
reply (its first chunk is due at once either way), so turns are shorter but the latency is not.
On OpenAI the server's `speech_stopped` splits it into VAD wait and response time. The first
turn of each session loads the speech models and is reported apart, not in the percentiles.

**Scale method.** Levels of 1, 2, 4, 8, 16, 32 concurrent sessions (alternating dialects,
starts staggered), each talking turn after turn with 1×-paced input and 1×-paced output
(`--speed 1`). Frame lateness of an output audio frame = its arrival − (the reply's anchor +
its media position), where the anchor is the reply's earliest arrival-minus-position: i.e. how
much jitter buffer a player would need. A level passes when the p99 is under 20 ms and every
session got at least one reply without errors; the ramp stops at the first failing level. RSS
per session = (peak emulator RSS during the level − its RSS idle after a warm-up session) / N.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.common import (
    Child,
    child_process,
    cpu_seconds,
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


async def converse(provider: str, url: str, rec: Recorder, *, turns: int, until: float,
                   speed: float, start_delay: float = 0.0) -> None:
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
                        state.update(end=time.monotonic(), stopped=None, first=None,
                                     arrivals=[])
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
async def _emulator(speed: float) -> Any:
    async with child_process(["-m", "realtimelab", "emulator", "--port", "0",
                              "--speed", str(speed)]) as child:
        match = re.search(r"(ws://\S+)", child.first_line)
        if not match:
            raise RuntimeError(f"unexpected emulator banner: {child.first_line!r}")
        yield child, match.group(1)


def _ms(values: list[float]) -> list[float]:
    return [v * 1000 for v in values]


async def latency(*, quick: bool) -> dict[str, Any]:
    """Sequential turns per dialect (one session each), measured in real time."""
    turns = 3 if quick else 21
    out: dict[str, Any] = {"turns_measured": turns - 1, "silence_duration_ms": SILENCE_MS,
                           "utterance": UTTERANCE, "emulator_speed": 10.0, "providers": {}}
    async with _emulator(10.0) as (_, url):
        for provider in RATES:
            _, seconds = speech(RATES[provider])
            progress(f"emulator latency: {provider}, {turns} turns (first one is warm-up)")
            rec = Recorder(provider)
            await converse(provider, url, rec, turns=turns, until=time.monotonic() + turns * 6,
                           speed=10.0)
            lat = _ms(rec.latencies)
            out["providers"][provider] = {
                "utterance_s": round(seconds, 3),
                "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
                "max_ms": max(lat) if lat else float("nan"), "n": len(lat),
                "first_turn_ms": (rec.first_turn_latency or float("nan")) * 1000,
                "vad_wait_p50_ms": percentile(_ms(rec.vad_wait), 50),
                "respond_p50_ms": percentile(_ms(rec.respond), 50),
                "latencies_ms": lat,
                "errors": rec.errors[:5],
            }
    return out


async def scale(*, quick: bool) -> dict[str, Any]:
    levels = [1, 2] if quick else [1, 2, 4, 8, 16, 32]
    level_s = 5.0 if quick else 16.0
    out: dict[str, Any] = {"level_seconds": level_s, "limit_ms": LATENESS_LIMIT_MS,
                           "levels": [], "max_passing": 0}
    async with _emulator(1.0) as (child, url):
        progress("emulator scale: warm-up session (loads the speech models)")
        warm = Recorder("openai")
        await converse("openai", url, warm, turns=1, until=time.monotonic() + 15, speed=1.0)
        await asyncio.sleep(0.5)
        idle_rss = rss_bytes(child.pid)
        out["idle_rss_mb"] = idle_rss / 2**20
        for n in levels:
            progress(f"emulator scale: {n} concurrent session(s) for {level_s:g} s")
            row = await _level(child, url, n, level_s, idle_rss)
            out["levels"].append(row)
            if not row["passed"]:
                break
            out["max_passing"] = n
    return out


async def _level(child: Child, url: str, n: int, seconds: float, idle_rss: int
                 ) -> dict[str, Any]:
    start = time.monotonic()
    until = start + seconds
    recs = [Recorder("openai" if i % 2 == 0 else "gemini") for i in range(n)]
    stagger = min(3.0, seconds / 4)
    tasks = [
        asyncio.create_task(converse(r.provider, url, r, turns=1000, until=until, speed=1.0,
                                     start_delay=stagger * i / n))
        for i, r in enumerate(recs)
    ]
    cpu_emu0, cpu_me0 = cpu_seconds(child.pid), time.process_time()
    peak = 0
    while not all(t.done() for t in tasks) and time.monotonic() < until + 20:
        peak = max(peak, rss_bytes(child.pid))
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.monotonic() - start
    lateness = [x for r in recs for x in r.lateness_ms]
    send_late = [x for r in recs for x in r.send_lateness_ms]
    errors = [e for r in recs for e in r.errors]
    p99 = percentile(lateness, 99)
    silent = sum(1 for r in recs if r.replies == 0)
    passed = bool(lateness) and p99 < LATENESS_LIMIT_MS and not errors and silent == 0
    reason = ("ok" if passed else
              "errors" if errors else
              f"{silent} session(s) got no reply" if silent else
              f"p99 lateness {p99:.1f} ms" if not math.isnan(p99) else "no output frames")
    return {
        "sessions": n, "passed": passed, "reason": reason,
        "lateness_p50_ms": percentile(lateness, 50), "lateness_p99_ms": p99,
        "lateness_max_ms": max(lateness) if lateness else float("nan"),
        "frames": len(lateness), "replies": sum(r.replies for r in recs),
        "reply_latency_p50_ms": percentile(_ms([x for r in recs for x in r.latencies]), 50),
        "send_lateness_p99_ms": percentile(send_late, 99),
        "emulator_cpu_pct": (cpu_seconds(child.pid) - cpu_emu0) / wall * 100,
        "client_cpu_pct": (time.process_time() - cpu_me0) / wall * 100,
        "peak_rss_mb": peak / 2**20,
        "rss_per_session_mb": (peak - idle_rss) / n / 2**20,
        "errors": errors[:5],
    }


async def run(*, quick: bool) -> dict[str, Any]:
    return {"latency": await latency(quick=quick), "scale": await scale(quick=quick)}


def latency_table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["dialect", "turns", "p50 ms", "p99 ms", "max ms", "first turn ms",
               "VAD wait p50 ms", "speech_stopped→delta p50 ms"]
    rows = [[p, r["n"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["first_turn_ms"],
             r["vad_wait_p50_ms"], r["respond_p50_ms"]]
            for p, r in res["latency"]["providers"].items()]
    return headers, rows


def scale_table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["sessions", "result", "lateness p50 ms", "p99 ms", "max ms", "frames",
               "replies", "reply latency p50 ms", "client send lag p99 ms", "emulator CPU %",
               "client CPU %", "emulator RSS MB", "RSS/session MB"]
    rows = [[r["sessions"], "pass" if r["passed"] else f"FAIL ({r['reason']})",
             r["lateness_p50_ms"], r["lateness_p99_ms"], r["lateness_max_ms"], r["frames"],
             r["replies"], r["reply_latency_p50_ms"], r["send_lateness_p99_ms"],
             r["emulator_cpu_pct"], r["client_cpu_pct"], r["peak_rss_mb"],
             r["rss_per_session_mb"]]
            for r in res["scale"]["levels"]]
    return headers, rows

