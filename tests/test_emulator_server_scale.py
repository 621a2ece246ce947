"""Scaling out: several emulators on one port (SO_REUSEPORT), and the counters a benchmark or
an operator reads from `GET /rtl/stats`."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect

from realtimelab.emulator.server import Emulator, EmulatorConfig

AUTH = {"Authorization": "Bearer sk-test"}


@pytest.mark.skipif(not hasattr(__import__("socket"), "SO_REUSEPORT"), reason="no SO_REUSEPORT")
async def test_two_emulators_share_one_port(make_emulator: Any) -> None:
    first = await make_emulator(reuse_port=True)
    second = await make_emulator(reuse_port=True, port=first.port)
    assert second.port == first.port
    for _ in range(24):  # the kernel spreads connections by their source port
        async with connect(
            first.openai_ws_base + "/realtime?model=gpt-realtime", additional_headers=AUTH
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
    served = [first.counters["sessions_opened"], second.counters["sessions_opened"]]
    assert sum(served) == 24 and min(served) > 0, served


async def test_stats_count_frames_and_writes(emulator: Emulator) -> None:
    async with connect(
        emulator.openai_ws_base + "/realtime?model=gpt-realtime", additional_headers=AUTH
    ) as ws:
        await ws.recv()
        live = emulator.stats()
        assert live["sessions"] == 1
        (session,) = live["per_session"]
        assert session["frames_sent"] == 1 and session["socket_writes"] == 1
        assert session["queued_bytes"] == 0 and session["close_code"] is None
    for _ in range(100):
        if not emulator.sessions:
            break
        await asyncio.sleep(0.02)

    def fetch() -> Any:
        with urllib.request.urlopen(emulator.http_url + "/rtl/stats", timeout=5) as resp:
            return json.loads(resp.read())

    stats = await asyncio.to_thread(fetch)
    assert stats["sessions"] == 0 and stats["frames_sent"] == 1 and stats["socket_writes"] == 1
    assert stats["slow_reader_closes"] == 0 and stats["internal_errors"] == 0


def test_config_checks_the_transport_limits() -> None:
    for bad in ({"max_outbound_bytes": 0}, {"stall_timeout_s": 0}, {"close_timeout_s": -1}):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]
