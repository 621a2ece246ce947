"""Helpers for the emulator's Gemini tests: signals (`tone`, `silence`, `chunks`) and a raw
client (`open_ws`, `recv_json`, `collect_until`, `close_code`, `post_json`).

The scripted brain, voice and ears these tests run the emulator with live with the other fakes
in `support/fakes.py` (`scripted_components`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

GEMINI_PATH = "/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent"
MODEL = "models/gemini-3.8-live"


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


def audio_msg(pcm: bytes, rate: int = 16000) -> str:
    """A `realtimeInput.audio` message carrying `pcm` (PCM16 at `rate`)."""
    blob = {"data": base64.b64encode(pcm).decode(), "mimeType": f"audio/pcm;rate={rate}"}
    return json.dumps({"realtimeInput": {"audio": blob}})


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
