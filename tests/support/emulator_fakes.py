"""Helpers for the emulator's Gemini tests: scripted components, signals, a raw client.

The fakes keep the tests deterministic and fast: the brain follows a few scripted rules
(`ScriptedBrain`), the voice renders 60 ms of tone per word (`ToneVoice`), the ears return
whatever the test queued (`QueuedHearing`). The real VAD is used (it is cheap and its
parameters are part of what the dialect must honour). `scripted_components(hearing)` bundles
them for `Emulator(components=...)`.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtimelab.emulator.engine import Components
from realtimelab.emulator.model import (
    FunctionResult,
    Item,
    PlannedCall,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)

GEMINI_PATH = "/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent"
MODEL = "models/gemini-3.8-live"


class ScriptedBrain:
    """Scripted replies keyed on the last history item (tools called by keyword)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def respond(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply:
        last = history[-1] if history else None
        if isinstance(last, FunctionResult):
            # Outputs arrive unwrapped from Gemini's {"output": ...} envelope: plain text or JSON.
            return Reply(text=f"Result {last.output} noted.")
        text = last.text.lower() if isinstance(last, UserMessage) else ""
        names = {t.name for t in tools}
        if "weather" in text and "get_weather" in names:
            calls = [PlannedCall("get_weather", {"city": "Paris"})]
            if "time" in text and "get_time" in names:
                calls.append(PlannedCall("get_time", {"tz": "CET"}))
            return Reply(tool_calls=tuple(calls))
        if "long" in text:
            return Reply(text=" ".join(["word"] * 80))
        if "how many" in text:
            users = sum(isinstance(i, UserMessage) for i in history)
            return Reply(text=f"You sent {users} messages.")
        return Reply(text=f"You said {text}." if text else "Hello.")


class ToneVoice:
    """60 ms of a 220 Hz tone per word, one segment per phrase."""

    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]:
        words = text.split()
        n = int(rate * 0.06 * max(1, len(words)))
        t = np.arange(n) / rate
        pcm = (0.2 * np.sin(2 * math.pi * 220 * t) * 32767).astype("<i2").tobytes()
        return [(text, pcm)]


@dataclass
class Transcript:
    text: str
    recognised: bool = True
    confidence: float = 1.0


@dataclass
class QueuedHearing:
    """Returns queued texts in order, then `default`."""

    queue: list[str] = field(default_factory=list)
    default: str = "hello there"
    heard: list[tuple[int, int]] = field(default_factory=list)  # (bytes, rate) per call

    def transcribe(self, pcm: bytes, rate: int) -> Transcript:
        self.heard.append((len(pcm), rate))
        return Transcript(self.queue.pop(0) if self.queue else self.default)


def scripted_components(hearing: QueuedHearing | None = None) -> Components:
    ears = hearing or QueuedHearing()

    def vad(rate: int, params: Any) -> Any:
        from realtimelab.vad import StreamingVad

        return StreamingVad(rate, params)

    return Components(
        brain=lambda seed: ScriptedBrain(seed),
        voice=ToneVoice,
        hearing=lambda tools, brain: ears,
        vad=vad,
    )


def tone(ms: int, rate: int = 16000, amp: float = 0.3, hz: float = 300.0) -> bytes:
    """A loud tone the energy VAD takes for speech."""
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    return (amp * np.sin(2 * math.pi * hz * t) * 32767).astype("<i2").tobytes()


def silence(ms: int, rate: int = 16000) -> bytes:
    return bytes(2 * int(rate * ms / 1000))


def chunks(pcm: bytes, rate: int, ms: int = 40) -> list[bytes]:
    step = int(rate * ms / 1000) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


async def open_ws(
    base_url: str, *, version: str = "v1beta", key: str = "k", path: str | None = None, **kw: Any
) -> ClientConnection:
    url = base_url + (path or GEMINI_PATH.format(v=version)) + (f"?key={key}" if key else "")
    return await connect(url, max_size=2**20, open_timeout=5, **kw)


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, bytes), "server frames must be binary"
    return json.loads(raw)  # type: ignore[no-any-return]


async def collect_until(
    ws: ClientConnection,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 8.0,
    limit: int = 2000,
) -> list[dict[str, Any]]:
    """Frames up to and including the first one where `done` is true (bounded)."""
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(limit):
        msg = await recv_json(ws, max(0.01, deadline - loop.time()))
        out.append(msg)
        if done(msg):
            return out
    raise AssertionError(f"no terminating frame in {limit} frames")


def turn_complete(msg: dict[str, Any]) -> bool:
    return bool(msg.get("serverContent", {}).get("turnComplete"))


async def close_code(ws: ClientConnection, timeout: float = 5.0) -> tuple[int, str]:
    """Drain until the server closes; return (code, reason)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        assert exc.rcvd is not None
        return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError("unreachable")


def setup_msg(**extra: Any) -> str:
    body: dict[str, Any] = {"model": MODEL}
    body.update(extra)
    return json.dumps({"setup": body})


async def post_json(
    host: str, port: int, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A minimal HTTP/1.1 POST over loopback (no proxy, no extra dependency)."""
    reader, writer = await asyncio.open_connection(host, port)
    payload = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    _, _, body_bytes = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body_bytes or b"null")


def trust_emulator_tls(monkeypatch: Any, cert_path: Any) -> None:
    """Let google-genai (always wss://) reach a `tls=True` emulator on loopback.

    `SSL_CERT_FILE` must be set before `genai.Client(...)` builds its SSL context; proxies from
    the environment would intercept loopback traffic, so they are removed for the test.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
