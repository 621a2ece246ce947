"""Fault parameters are checked before they reach a socket, and whatever close a dialect asks
for, the writer ends the session.

Before: `rtl_fault=close_code:99999` (or 1005, or 0) was accepted at the upgrade; the close
then raised inside the writer task, which died, and the session never closed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator.contract import ConnectionContext, HttpHandler, HttpResponse
from realtimelab.emulator.faults import (
    Fault,
    FaultPlan,
    is_sendable_close_code,
    parse_fault_query,
)
from realtimelab.lab import wait_until

AUTH = {"Authorization": "Bearer sk-test"}
REALTIME = "/realtime?model=gpt-realtime"


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 4999])
def test_codes_a_server_may_send(code: int) -> None:
    assert is_sendable_close_code(code)
    assert FaultPlan(close_code=code).close_code == code
    assert Fault("close", code=code).code == code


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 99999, -1])
def test_codes_no_server_may_send(code: int) -> None:
    assert not is_sendable_close_code(code)
    with pytest.raises(ValueError, match="cannot be sent"):
        FaultPlan(close_code=code)
    with pytest.raises(ValueError, match="cannot be sent"):
        Fault("close_now", code=code)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("close_code:99999", "cannot be sent"),
        ("close_code:1005", "reserved"),
        ("close_code:0", "cannot be sent"),
        ("close_code:1006,close_after_frames:1", "cannot be sent"),
        ("latency_ms:nan", "latency_ms"),
        ("latency_ms:-5", "latency_ms"),
        ("jitter_ms:1e9", "jitter_ms"),
        ("close_after_s:inf", "close_after_s"),
        ("drop_after_frames:-1", "drop_after_frames"),
        ("close_code:10.5", "needs a number"),
        ("oops:1", "unknown rtl_fault key"),
        ("close_code", "not key:value"),
    ],
)
def test_bad_fault_queries_are_refused(query: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_fault_query([query])


def test_good_fault_queries_still_parse() -> None:
    plan = parse_fault_query(["latency_ms:80,jitter_ms:20", "close_after_s:1.5,close_code:4001"])
    assert plan == FaultPlan(latency_ms=80, jitter_ms=20, close_after_s=1.5, close_code=4001)
    assert parse_fault_query([""]) is None


@pytest.mark.parametrize("code", ["99999", "1005", "0", "1006", "1015"])
async def test_a_bad_close_code_in_the_url_is_an_http_400(make_emulator: Any, code: str) -> None:
    emu = await make_emulator()
    url = emu.openai_ws_base + REALTIME + f"&rtl_fault=close_code:{code},close_after_frames:1"
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(url, additional_headers=AUTH):
            pass
    assert info.value.response.status_code == 400
    assert b"cannot be sent" in info.value.response.body


@pytest.mark.parametrize("code", [1000, 1013, 4001])
async def test_a_good_close_code_in_the_url_closes_with_it(make_emulator: Any, code: int) -> None:
    emu = await make_emulator()
    url = emu.openai_ws_base + REALTIME + f"&rtl_fault=close_code:{code},close_after_frames:1"
    async with connect(url, additional_headers=AUTH) as ws:
        await ws.recv()  # session.created, then the close
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


class CloseDialect:
    """A test dialect that closes with whatever code and reason the client names."""

    name = "closer"

    def matches(self, path: str) -> bool:
        return path == "/close"

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        async with ctx.session(ws, f"closer-{id(ws)}") as channel:
            async for message in ws:
                code, _, reason = str(message).partition(" ")
                channel.send("closing")
                channel.close(int(code), reason)

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        return {}


@pytest.mark.parametrize("tapped", [False, True])  # the writer's direct and queued paths
@pytest.mark.parametrize("code", [1005, 1006, 1015, 0, 99999, 2000])
async def test_a_close_no_server_may_send_still_ends_the_session(
    make_emulator: Any, caplog: pytest.LogCaptureFixture, code: int, tapped: bool
) -> None:
    """A dialect asking for an unsendable code: logged, and the session ends with 1011."""
    tap = (lambda info, direction, frame: None) if tapped else None
    emu = await make_emulator(dialects=[CloseDialect()], frame_tap=tap)
    with caplog.at_level(logging.ERROR, logger="realtimelab.emulator"):
        async with connect(emu.url + "/close") as ws:
            await ws.send(f"{code} please")
            assert await asyncio.wait_for(ws.recv(), 5) == "closing"
            with pytest.raises(websockets.ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 5)
        await wait_until(lambda: not emu.sessions, 2.0, 0.02)  # the assert below says why
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    assert info.value.rcvd.reason == "Internal error encountered."
    assert not emu.sessions and emu.counters["internal_errors"] == 1
    assert any("cannot be sent" in r.getMessage() for r in caplog.records)
