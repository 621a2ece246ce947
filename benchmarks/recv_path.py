"""Receive path: CPU per output-audio frame, from wire text to PCM bytes, no socket involved.

The frames are built once, shaped exactly as the emulator sends them (compact JSON; OpenAI
`response.output_audio.delta` as text frames, Gemini `serverContent.modelTurn.parts[]
.inlineData` as binary frames), 60 s of 24 kHz audio in chunks cycling 20/40/30/40 ms.

Variants (all must end with the PCM bytes in hand, so the SDK rows include the caller's
`b64decode` where the SDK leaves base64 to the caller):
* `floor`: `json.loads` + `base64.b64decode` of the one field.
* `realtimelab codec`: `codec.decode(frame, t)` → `AudioChunk` (the sans-IO codec alone).
* `realtimelab session reader`: the real `RealtimeSession._read_loop` over an in-memory socket:
  frame tap parse + codec + history/queue dispatch, i.e. what a user of the session pays.
* openai SDK: the real `AsyncRealtimeConnection.recv()` over an in-memory socket (json.loads +
  `construct_type_unchecked` into the event union), then `b64decode(event.delta)`.
* google-genai SDK: the real `AsyncSession._receive()` over an in-memory socket (json.loads, the
  mldev converter, `LiveServerMessage._from_response`; bytes are decoded by pydantic), and
  `LiveServerMessage.model_validate_json` (pydantic's strict path, as the conformance oracle).
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.common import median, progress, rotated, test_tone

RATE = 24000
CHUNK_CYCLE_MS = (20, 40, 30, 40)

Runner = Callable[[list[Any]], Awaitable[int]]


def build_frames(seconds: float) -> dict[str, list[Any]]:
    """Pre-built server frames: {"openai": [str, ...], "gemini": [bytes, ...]}."""
    pcm = test_tone(seconds, RATE, seed=1)
    pieces: list[bytes] = []
    pos, i = 0, 0
    while pos < len(pcm):
        n = RATE * CHUNK_CYCLE_MS[i % len(CHUNK_CYCLE_MS)] // 1000 * 2
        pieces.append(pcm[pos : pos + n])
        pos += n
        i += 1
    compact = {"separators": (",", ":")}
    openai = [
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": f"event_{k:06d}",
                "response_id": "resp_bench",
                "item_id": "item_bench",
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(p).decode("ascii"),
            },
            **compact,
        )
        for k, p in enumerate(pieces)
    ]
    gemini = [
        json.dumps(
            {
                "serverContent": {
                    "modelTurn": {
                        "role": "model",
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": "audio/pcm;rate=24000",
                                    "data": base64.b64encode(p).decode("ascii"),
                                }
                            }
                        ],
                    }
                }
            },
            **compact,
        ).encode()
        for p in pieces
    ]
    return {"openai": openai, "gemini": gemini}


class _FakeSocket:
    """Just enough of a websockets connection for the readers under test: `recv`, async
    iteration, close state. Frames come from memory, so only parsing is timed."""

    close_code = 1000
    close_reason = ""

    def __init__(self, frames: list[Any]) -> None:
        self._frames = frames
        self._i = 0

    async def recv(self, decode: bool | None = None) -> Any:
        frame = self._frames[self._i]
        self._i += 1
        return frame

    def __aiter__(self) -> _FakeSocket:
        return self

    async def __anext__(self) -> Any:
        if self._i >= len(self._frames):
            raise StopAsyncIteration
        return await self.recv()

    async def send(self, message: Any) -> None:
        return None

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------------------------------
# variants: each returns the number of PCM bytes it produced (a check that all agree)
# ------------------------------------------------------------------------------------------


async def floor_openai(frames: list[Any]) -> int:
    n = 0
    for f in frames:
        n += len(base64.b64decode(json.loads(f)["delta"]))
    return n


async def floor_gemini(frames: list[Any]) -> int:
    n = 0
    for f in frames:
        msg = json.loads(f)
        for part in msg["serverContent"]["modelTurn"]["parts"]:
            n += len(base64.b64decode(part["inlineData"]["data"]))
    return n


def _codec_runner(provider: str) -> Runner:
    from realtimelab import events as ev
    from realtimelab.providers import make_codec

    async def run(frames: list[Any]) -> int:
        codec = make_codec(provider, None)
        n = 0
        for f in frames:
            for e in codec.decode(f, 0.0):
                if isinstance(e, ev.AudioChunk):
                    n += len(e.pcm)
        return n

    return run


OPENING = {
    "openai": json.dumps(
        {
            "type": "session.created",
            "event_id": "event_start",
            "session": {"type": "realtime", "id": "sess_bench", "model": "gpt-realtime"},
        }
    ),
    "gemini": json.dumps({"setupComplete": {}}).encode(),
}


def _session_runner(provider: str) -> Runner:
    from realtimelab import events as ev
    from realtimelab.config import SessionConfig
    from realtimelab.providers import make_codec
    from realtimelab.session import RealtimeSession

    async def run(frames: list[Any]) -> int:
        # a real connection opens with the server's session frame; without it the reader
        # would treat every frame as arriving before the session started
        session = RealtimeSession(
            make_codec(provider, None),
            _FakeSocket([OPENING[provider], *frames]),  # type: ignore[arg-type]
            SessionConfig(),
            url="memory://",
        )
        await session._read_loop()
        n = 0
        for e in session.pending_events():
            if isinstance(e, ev.AudioChunk):
                n += len(e.pcm)
        return n

    return run


def _openai_sdk_runner() -> Runner:
    from openai.resources.realtime.realtime import AsyncRealtimeConnection

    async def run(frames: list[Any]) -> int:
        conn = AsyncRealtimeConnection(_FakeSocket(frames))  # type: ignore[arg-type]
        n = 0
        for _ in range(len(frames)):
            event = await conn.recv()
            n += len(base64.b64decode(event.delta))  # type: ignore[union-attr]
        return n

    return run


def _genai_receive_runner() -> Runner:
    from google import genai
    from google.genai.live import AsyncSession

    api = genai.Client(api_key="x")._api_client

    async def run(frames: list[Any]) -> int:
        session = AsyncSession(api_client=api, websocket=_FakeSocket(frames))  # type: ignore[arg-type]
        n = 0
        for _ in range(len(frames)):
            msg = await session._receive()
            assert msg.server_content is not None and msg.server_content.model_turn is not None
            for part in msg.server_content.model_turn.parts or ():
                n += len(part.inline_data.data or b"") if part.inline_data else 0
        return n

    return run


def _genai_validate_runner() -> Runner:
    from google.genai import types

    async def run(frames: list[Any]) -> int:
        n = 0
        for f in frames:
            msg = types.LiveServerMessage.model_validate_json(f)
            assert msg.server_content is not None and msg.server_content.model_turn is not None
            for part in msg.server_content.model_turn.parts or ():
                n += len(part.inline_data.data or b"") if part.inline_data else 0
        return n

    return run


def variants() -> dict[str, dict[str, Runner]]:
    return {
        "openai": {
            "floor": floor_openai,
            "realtimelab codec": _codec_runner("openai"),
            "realtimelab session reader": _session_runner("openai"),
            "openai SDK recv()": _openai_sdk_runner(),
        },
        "gemini": {
            "floor": floor_gemini,
            "realtimelab codec": _codec_runner("gemini"),
            "realtimelab session reader": _session_runner("gemini"),
            "google-genai _receive()": _genai_receive_runner(),
            "google-genai model_validate_json": _genai_validate_runner(),
        },
    }


async def run(*, quick: bool) -> dict[str, Any]:
    seconds = 10.0 if quick else 60.0
    rounds = 3 if quick else 7
    frames = build_frames(seconds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table_ = variants()
        keys = [(p, n) for p, per in table_.items() for n in per]
        times: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
        sizes: dict[tuple[str, str], int] = {}
        for p, n in keys:  # warm-up and a correctness check: every variant yields the PCM
            sizes[(p, n)] = await table_[p][n](frames[p][:50])
        for i in range(rounds):
            progress(f"receive path: round {i + 1}/{rounds} ({len(keys)} variants)")
            for label in rotated([f"{p}|{n}" for p, n in keys], i):
                p, n = label.split("|")
                t0 = time.process_time()
                sizes[(p, n)] = await table_[p][n](frames[p])
                times[(p, n)].append((time.process_time() - t0) / len(frames[p]) * 1e6)
    out: dict[str, Any] = {
        "audio_s": seconds,
        "frames": {p: len(f) for p, f in frames.items()},
        "rounds": rounds,
        "providers": {},
    }
    for p in table_:
        floor = median(times[(p, "floor")])
        rtl = median(times[(p, "realtimelab codec")])
        pcm_sizes = {sizes[(p, n)] for n in table_[p]}
        if len(pcm_sizes) != 1:
            raise RuntimeError(f"receive variants disagree on the PCM size for {p}: {sizes}")
        out["providers"][p] = {
            n: {
                "us_per_frame": median(times[(p, n)]),
                "x_floor": median(times[(p, n)]) / floor,
                "codec_over_this": rtl / median(times[(p, n)]),
                "runs_us": times[(p, n)],
            }
            for n in table_[p]
        }
    return out


def table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["provider", "decoder", "CPU µs/frame (median)", "× floor", "codec ÷ this"]
    rows: list[list[Any]] = []
    for provider, per in res["providers"].items():
        for name, r in per.items():
            rows.append(
                [
                    provider,
                    name,
                    r["us_per_frame"],
                    f"{r['x_floor']:.2f}",
                    f"{r['codec_over_this']:.2f}",
                ]
            )
    return headers, rows
