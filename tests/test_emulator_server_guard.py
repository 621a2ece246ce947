"""The server-level guard: whatever raises inside a session ends it with 1011 "Internal error
encountered." and one logged traceback — never a clean 1000 with an empty reason.

The crashing dialect is registered the way a plug-in dialect would be, through
`server.DIALECTS` (which `default_dialects()` appends to the built-in ones), so the real
OpenAI and Gemini dialects are served next to it and keep working."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator import server
from realtimelab.emulator.contract import ConnectionContext, HttpHandler, HttpResponse
from realtimelab.lab import wait_until

AUTH = {"Authorization": "Bearer sk-test"}


class CrashDialect:
    """Raises where the client says: before the session opens, inside it, after queueing a
    clean close (what Gemini's shell does on its way out), or from the frame tap's writer."""

    name = "crash"

    def matches(self, path: str) -> bool:
        return path.startswith("/crash/")

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        where = ctx.path.removeprefix("/crash/")
        if where == "early":
            raise RuntimeError("crash before the session opened")
        async with ctx.session(ws, f"crash-{id(ws)}") as channel:
            channel.send("ready")
            async for message in ws:
                if where == "inside":
                    raise KeyError(message)
                if where == "after-close":
                    try:
                        raise ValueError(message)
                    finally:
                        channel.close(1000, "")
                if where == "unsendable":
                    channel.send({"not": "a frame"})  # type: ignore[arg-type]

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        return {}


@pytest.fixture
def crash_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "DIALECTS", [CrashDialect()])


@pytest.mark.parametrize("tapped", [False, True])
@pytest.mark.parametrize("where", ["early", "inside", "after-close", "unsendable"])
async def test_an_exception_in_a_session_closes_1011_and_is_logged(
    make_emulator: Any,
    caplog: pytest.LogCaptureFixture,
    crash_registered: None,
    where: str,
    tapped: bool,
) -> None:
    tap = (lambda info, direction, frame: None) if tapped else None
    emu = await make_emulator(frame_tap=tap)
    assert [d.name for d in emu.dialects] == ["openai", "gemini", "crash"]
    with caplog.at_level(logging.ERROR, logger="realtimelab.emulator"):
        async with connect(emu.url + f"/crash/{where}") as ws:
            if where != "early":
                assert await asyncio.wait_for(ws.recv(), 5) == "ready"
                await ws.send("boom")
            with pytest.raises(websockets.ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 5)
        await wait_until(lambda: not emu.sessions, 2.0, 0.02)  # the assert below says why
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "Internal error encountered.")
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1, [r.getMessage() for r in caplog.records]
    assert emu.counters["internal_errors"] == 1 and not emu.sessions


async def test_the_real_dialects_are_served_next_to_a_crashing_one(
    make_emulator: Any, crash_registered: None
) -> None:
    emu = await make_emulator()
    async with connect(emu.url + "/crash/inside") as doomed:
        await doomed.recv()
        await doomed.send("boom")
        async with connect(
            emu.openai_ws_base + "/realtime?model=gpt-realtime", additional_headers=AUTH
        ) as healthy:
            assert json.loads(await healthy.recv())["type"] == "session.created"
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(doomed.recv(), 5)
