"""The session writer under hostile clients: bounded backlogs, slow readers closed with 1008
even when the socket's buffer is full, legal close frames whatever a dialect passes, and a
writer that always ends its session.

Raw sockets stand in for the hostile clients: a websockets client would read (and answer the
closing handshake) behind the test's back. Nothing here asserts a duration: waits are bounded
so a regression fails instead of hanging, and the timeouts under test are shrunk by config.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator.contract import (
    MAX_CLOSE_REASON_BYTES,
    ConnectionContext,
    HttpHandler,
    HttpResponse,
    clamp_close_reason,
)
from realtimelab.emulator.server import Emulator
from realtimelab.lab import wait_until

AUTH = {"Authorization": "Bearer sk-test"}
STORY_ITEM = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "tell me a story"}],
    },
}

#: Poll a condition for at most 30 s (a bound, so a regression fails instead of hanging).
soon = functools.partial(wait_until, timeout=30.0, interval=0.02)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------------
# a raw WebSocket client that never reads
# ------------------------------------------------------------------------------------------


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 §5.2), FIN set."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 2**16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class DeafClient:
    """A WebSocket client on a raw socket with a tiny receive buffer that never reads after
    the handshake (so the server's socket fills up and stays full)."""

    def __init__(self, port: int, target: str) -> None:
        self.port, self.target = port, target
        self.sock: socket.socket | None = None

    async def open(self, headers: Mapping[str, str] | None = None) -> None:
        def run() -> None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            sock.settimeout(10)
            sock.connect(("127.0.0.1", self.port))
            key = base64.b64encode(os.urandom(16)).decode()
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            sock.sendall(
                f"GET {self.target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                byte = sock.recv(1)
                if not byte:
                    raise ConnectionError("closed during the handshake")
                head += byte
            assert head.startswith(b"HTTP/1.1 101"), head
            self.sock = sock

        await asyncio.to_thread(run)

    async def send_json(self, payload: Any) -> bool:
        """Send one text frame; False once the server has dropped the connection."""
        assert self.sock is not None
        data = client_frame(json.dumps(payload).encode())
        try:
            await asyncio.to_thread(self.sock.sendall, data)
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()


# ------------------------------------------------------------------------------------------
# a client that never reads (the hostile-input issue's 922 MB)
# ------------------------------------------------------------------------------------------


async def test_a_client_that_never_reads_is_closed_1008_and_its_memory_bounded(
    make_emulator: Any,
) -> None:
    """Stories asked for again and again, never read: the backlog stays under the limit, the
    session is closed with 1008 (and the TCP connection aborted when the client does not
    answer the close), memory comes back, and another session is served meanwhile."""
    limit = 512 * 1024
    emu = await make_emulator(speed=50, max_outbound_bytes=limit, close_timeout_s=0.5)
    baseline = rss_bytes()
    deaf = DeafClient(emu.port, "/v1/realtime?model=gpt-realtime")
    await deaf.open(AUTH)
    try:
        assert await deaf.send_json(STORY_ITEM)
        peak_queued = 0
        peak_rss = baseline
        canary: asyncio.Task[str] = asyncio.create_task(canary_turn(emu))
        for _ in range(600):  # at most ~60 s; ends as soon as the emulator gives up on us
            if not await deaf.send_json({"type": "response.create"}):
                break
            stats = emu.stats()
            peak_queued = max(peak_queued, stats["queued_bytes"])
            peak_rss = max(peak_rss, rss_bytes())
            if emu.counters["slow_reader_closes"] or (
                not stats["sessions"] and emu.counters["sessions_opened"] >= 2
            ):
                break
            await asyncio.sleep(0.1)
        assert await soon(lambda: emu.counters["slow_reader_closes"] == 1), emu.stats()
        assert await asyncio.wait_for(canary, 30) == "response.done"
        assert await soon(lambda: not emu.sessions)
    finally:
        deaf.close()
    # a single frame may land on top of the limit before the check closes the session
    assert peak_queued <= limit + 256 * 1024, peak_queued
    assert emu.stats()["queued_bytes"] == 0 and emu.counters["internal_errors"] == 0
    # tolerant bounds: the emulator, its speech models and the client share this process
    assert peak_rss - baseline < 96 * 2**20, (peak_rss - baseline) / 2**20
    assert rss_bytes() - baseline < 96 * 2**20


async def canary_turn(emu: Emulator) -> str:
    """A well-behaved session's text turn: the type of the frame that ends it."""
    async with connect(
        emu.openai_ws_base + "/realtime?model=gpt-realtime", additional_headers=AUTH
    ) as ws:
        await ws.send(
            json.dumps(
                {
                    **STORY_ITEM,
                    "item": {
                        **STORY_ITEM["item"],
                        "content": [{"type": "input_text", "text": "hello"}],
                    },
                }
            )
        )
        await ws.send(json.dumps({"type": "response.create"}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if event["type"] in ("response.done", "error"):
                return str(event["type"])


class FloodDialect:
    """A test dialect: "flood N" sends N frames of 64 KiB; "stall" sends a few and stops."""

    name = "flood"

    def __init__(self) -> None:
        self.closes: list[tuple[int | None, str | None]] = []

    def matches(self, path: str) -> bool:
        return path == "/flood"

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        async with ctx.session(ws, f"flood-{id(ws)}") as channel:
            async for message in ws:
                verb, _, arg = str(message).partition(" ")
                if verb == "flood":
                    for i in range(int(arg)):
                        channel.send(f"{i:08d}" + "x" * (64 * 1024 - 8))
                elif verb == "close":
                    channel.close(1008, arg)

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        return {}


async def test_the_backlog_limit_closes_1008_even_with_a_full_socket(make_emulator: Any) -> None:
    emu = await make_emulator(
        dialects=[FloodDialect()], max_outbound_bytes=2 * 2**20, close_timeout_s=0.3
    )
    deaf = DeafClient(emu.port, "/flood")
    await deaf.open()
    try:
        assert deaf.sock is not None
        deaf.sock.sendall(client_frame(b"flood 400"))  # 25 MiB, never read
        assert await soon(lambda: emu.counters["slow_reader_closes"] == 1)
        assert await soon(lambda: not emu.sessions)
    finally:
        deaf.close()


async def test_a_stalled_socket_is_closed_after_the_stall_timeout(make_emulator: Any) -> None:
    """Under the byte limit but never drained: the writer gives up after `stall_timeout_s`
    (which the keepalive could not do: its ping waits for the same full buffer)."""
    emu = await make_emulator(
        dialects=[FloodDialect()],
        max_outbound_bytes=256 * 2**20,
        stall_timeout_s=0.3,
        close_timeout_s=0.3,
    )
    deaf = DeafClient(emu.port, "/flood")
    await deaf.open()
    try:
        assert deaf.sock is not None
        deaf.sock.sendall(client_frame(b"flood 160"))  # 10 MiB: fills the socket, not the limit
        assert await soon(lambda: emu.counters["slow_reader_closes"] == 1), emu.stats()
        assert await soon(lambda: not emu.sessions)
    finally:
        deaf.close()


async def test_a_reading_client_sees_the_1008_after_its_backlog(make_emulator: Any) -> None:
    """A client that is merely slow gets what was already on the wire, then 1008."""
    emu = await make_emulator(
        dialects=[FloodDialect()], max_outbound_bytes=1 * 2**20, close_timeout_s=5
    )
    async with connect(emu.url + "/flood", max_size=None) as ws:
        ws.transport.pause_reading()
        await ws.send("flood 200")  # 12.5 MiB while we do not read
        assert await soon(lambda: emu.counters["slow_reader_closes"] == 1)
        ws.transport.resume_reading()
        with pytest.raises(websockets.ConnectionClosedError) as info:
            for _ in range(1000):
                await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert "slow reader" in info.value.rcvd.reason


# ------------------------------------------------------------------------------------------
# close reasons are clamped centrally
# ------------------------------------------------------------------------------------------


def test_clamp_close_reason_cuts_on_a_character_boundary() -> None:
    assert clamp_close_reason("short") == "short"
    reason = "é" * 100  # 200 bytes of two-byte characters
    clamped = clamp_close_reason(reason)
    assert len(clamped.encode()) == 122 and clamped == "é" * 61
    emoji = "x" + "🎙" * 40  # 1 + 160 bytes: the cut falls inside a four-byte character
    assert clamp_close_reason(emoji) == "x" + "🎙" * 30
    assert len("a" * 200) > MAX_CLOSE_REASON_BYTES
    assert clamp_close_reason("a" * 200) == "a" * 123


@pytest.mark.parametrize("reason", ["models/" + "é" * 80, "🎙" * 50 + " not found", "a" * 500])
async def test_a_long_close_reason_keeps_its_code(make_emulator: Any, reason: str) -> None:
    """A dialect closing 1008 with an over-long (multi-byte) reason: the client gets 1008
    and the reason cut to 123 bytes, not 1011."""
    emu = await make_emulator(dialects=[FloodDialect()])
    async with connect(emu.url + "/flood") as ws:
        await ws.send(f"close {reason}")
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert info.value.rcvd.reason == clamp_close_reason(reason)
    assert len(info.value.rcvd.reason.encode()) <= 123


async def test_gemini_unknown_long_model_name_closes_1008(make_emulator: Any) -> None:
    """The issue's case: a 45-character unknown model made a 133-byte reason (→ 1011)."""
    model = "models/" + "gemini-unknown-model-with-a-very-long-name-x"  # 45 characters after /
    emu = await make_emulator()
    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    async with connect(emu.url + path + "?key=k") as ws:
        await ws.send(json.dumps({"setup": {"model": model}}))
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert len(info.value.rcvd.reason.encode()) <= 123
