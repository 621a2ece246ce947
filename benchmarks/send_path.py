"""Send path: client CPU per 20 ms audio chunk, realtimelab vs the official SDKs vs the floor.

Audio is already at the provider's input rate (OpenAI 24 kHz, Gemini 16 kHz), so realtimelab's
resampler is a passthrough and what is measured is the client's own work per chunk: building
the frame, base64, JSON, the WebSocket framing and the socket write. Chunks go out as fast as
the sink drains them (no pacing) to a sink in another process (`benchmarks.sink`).

CPU is `time.process_time()` of this process around the whole 60 s of chunks, plus a short idle
wait at the end so writes still queued in the event loop are flushed *inside* the window (idle
time costs no CPU). All connections are opened first; then each round runs every variant once,
in a rotated order, and the per-variant median over rounds is reported.

Variants per provider:
* `realtimelab`: `RealtimeSession.send_audio(pcm, rate)` through the codec and session shell.
* SDK: openai `conn.input_audio_buffer.append(audio=b64)` (base64 by the caller, as the SDK
  requires); google-genai `session.send_realtime_input(audio=Blob(...))`, once against a sink
  that accepts permessage-deflate (google-genai offers it; the other clients disable it) and
  once against one that refuses it, to separate the SDK's Python cost from compression.
* `floor`: raw `websockets` (compression=None) + `json.dumps` + `base64.b64encode`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    child_process,
    chunks,
    median,
    progress,
    rotated,
    test_tone,
)

RATES = {"openai": 24000, "gemini": 16000}
CHUNK_MS = 20.0
GEMINI_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
GEMINI_MIME = "audio/pcm;rate=16000"

Sender = Callable[[bytes], Awaitable[None]]


@dataclass
class Variant:
    provider: str
    name: str
    send: Sender


async def _run_once(send: Sender, audio: list[bytes]) -> float:
    """CPU seconds to send every chunk, including the flush of queued writes."""
    t0 = time.process_time()
    for pcm in audio:
        await send(pcm)
    await asyncio.sleep(0.05)  # let queued writes reach the socket; idle costs no CPU
    return time.process_time() - t0


async def _open_variants(stack: contextlib.AsyncExitStack, urls: dict[str, str]) -> list[Variant]:
    """Open one connection per variant (untimed); they stay open for all rounds."""
    from websockets.asyncio.client import connect as ws_connect

    from realtimelab.config import SessionConfig
    from realtimelab.session import connect

    plain = urls["plain"]
    out: list[Variant] = []

    # --- realtimelab --------------------------------------------------------------------
    for provider, rate in RATES.items():
        session = await stack.enter_async_context(
            connect(provider, SessionConfig(), url=plain, api_key="x")
        )

        async def send_rtl(pcm: bytes, s: Any = session, r: int = rate) -> None:
            await s.send_audio(pcm, r)

        out.append(Variant(provider, "realtimelab", send_rtl))

    # --- floor: raw websockets + json + base64 ------------------------------------------
    ws_o = await stack.enter_async_context(
        ws_connect(plain + "/v1/realtime?model=gpt-realtime", compression=None, max_size=None)
    )
    await ws_o.recv()  # session.created

    async def send_floor_o(pcm: bytes) -> None:
        await ws_o.send(
            json.dumps(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
            )
        )

    out.append(Variant("openai", "floor", send_floor_o))

    ws_g = await stack.enter_async_context(
        ws_connect(
            plain + "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
            compression=None,
            max_size=None,
        )
    )
    await ws_g.send(json.dumps({"setup": {"model": f"models/{GEMINI_MODEL}"}}))
    await ws_g.recv()

    async def send_floor_g(pcm: bytes) -> None:
        await ws_g.send(
            json.dumps(
                {
                    "realtimeInput": {
                        "audio": {"data": base64.b64encode(pcm).decode(), "mimeType": GEMINI_MIME}
                    }
                }
            )
        )

    out.append(Variant("gemini", "floor", send_floor_g))

    # --- openai SDK ---------------------------------------------------------------------
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="x", websocket_base_url=plain + "/v1")
    conn = await stack.enter_async_context(client.realtime.connect(model="gpt-realtime"))

    async def send_openai_sdk(pcm: bytes) -> None:
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())

    out.append(Variant("openai", "openai SDK", send_openai_sdk))

    # --- google-genai SDK (it accepts a plain ws:// base URL, so no TLS in the way) --------
    from google import genai
    from google.genai import types

    for sink, label in (
        ("deflate", "google-genai SDK"),
        ("plain", "google-genai SDK, deflate refused"),
    ):
        base = urls[sink]
        gclient = genai.Client(
            api_key="x",
            http_options={"base_url": base.replace("ws://", "http://"), "api_version": "v1beta"},
        )
        api = gclient._api_client
        api._websocket_base_url = lambda http_options=None, b=base: b  # type: ignore[method-assign]
        api._websocket_ssl_ctx = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gsession = await stack.enter_async_context(
                gclient.aio.live.connect(
                    model=GEMINI_MODEL, config={"response_modalities": ["AUDIO"]}
                )
            )

        async def send_genai(pcm: bytes, s: Any = gsession) -> None:
            await s.send_realtime_input(audio=types.Blob(data=pcm, mime_type=GEMINI_MIME))

        out.append(Variant("gemini", label, send_genai))
    return out


async def run(*, quick: bool) -> dict[str, Any]:
    """Returns {provider: {variant: {"us_per_chunk": median, "runs": [...]}}, ...}."""
    seconds = 10.0 if quick else 60.0
    rounds = 3 if quick else 7
    audio = {p: chunks(test_tone(seconds, r), r, CHUNK_MS) for p, r in RATES.items()}
    warm = {p: a[:100] for p, a in audio.items()}
    results: dict[str, dict[str, list[float]]] = {p: {} for p in RATES}
    async with child_process(["-m", "benchmarks.sink"]) as sink:
        urls = json.loads(sink.first_line)
        async with contextlib.AsyncExitStack() as stack:
            variants = await _open_variants(stack, urls)
            by_name = {f"{v.provider}/{v.name}": v for v in variants}
            for v in variants:  # warm-up: imports, caches, first-call paths
                await _run_once(v.send, warm[v.provider])
            for i in range(rounds):
                progress(
                    f"send path: round {i + 1}/{rounds} ({len(by_name)} variants, "
                    f"{seconds:g} s of audio each)"
                )
                for key in rotated(sorted(by_name), i):
                    v = by_name[key]
                    cpu = await _run_once(v.send, audio[v.provider])
                    results[v.provider].setdefault(v.name, []).append(
                        cpu / len(audio[v.provider]) * 1e6
                    )
    out: dict[str, Any] = {
        "audio_s": seconds,
        "chunk_ms": CHUNK_MS,
        "rounds": rounds,
        "providers": {},
    }
    for provider, per in results.items():
        floor = median(per["floor"])
        rows = {}
        for name, runs in per.items():
            us = median(runs)
            rows[name] = {"us_per_chunk": us, "x_floor": us / floor, "runs_us": runs}
        rtl = rows["realtimelab"]["us_per_chunk"]
        for row in rows.values():
            row["realtimelab_over_this"] = rtl / row["us_per_chunk"]
        out["providers"][provider] = rows
    return out


def table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["provider", "client", "CPU µs/chunk (median)", "× floor", "realtimelab ÷ this"]
    rows: list[list[Any]] = []
    for provider, per in res["providers"].items():
        order = sorted(per, key=lambda n: (n != "realtimelab", n == "floor", n))
        for name in order:
            r = per[name]
            rows.append(
                [
                    provider,
                    name,
                    r["us_per_chunk"],
                    f"{r['x_floor']:.2f}",
                    f"{r['realtimelab_over_this']:.2f}",
                ]
            )
    return headers, rows
