"""The server shell: routing, plain HTTP on the WebSocket port, auth at the upgrade, isolation
between sessions, injected faults, TLS, the background-thread emulator and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator.faults import Fault, FaultKind
from realtimelab.emulator.server import (
    ConnectionContext,
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    json_response,
    normalise_path,
)

AUTH = {"Authorization": "Bearer sk-test"}
REALTIME = "/realtime?model=gpt-realtime-2"


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    context: Any = None,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class EchoDialect:
    """A test dialect: echoes frames, crashes on "boom", answers POST /echo."""

    name = "echo"

    def matches(self, path: str) -> bool:
        return path == "/echo"

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        async with ctx.session(ws, f"echo-{id(ws)}") as channel:
            async for message in ws:
                if message == "boom":
                    raise RuntimeError("boom")
                channel.send(message)

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        def echo(request: HttpRequest, ctx: HttpContext) -> HttpResponse:
            return json_response(200, {"got": request.json(), "path": request.path})

        return {("POST", r"/echo"): echo}


def test_paths_are_normalised() -> None:
    assert normalise_path("//ws//x") == "/ws/x"


def test_config_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmulatorConfig(host="0.0.0.0")
    assert EmulatorConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


async def test_plain_http_post_shares_the_websocket_port(make_emulator: Any) -> None:
    emu = await make_emulator()
    status, body = await asyncio.to_thread(
        http, "POST", emu.http_url + "/v1/realtime/client_secrets", {}, AUTH
    )
    assert status == 200 and body["value"].startswith("ek_")
    assert body["session"]["object"] == "realtime.session"
    status, body = await asyncio.to_thread(
        http, "POST", emu.http_url + "/v1/realtime/client_secrets", {}
    )
    assert status == 401
    status, body = await asyncio.to_thread(
        http,
        "POST",
        emu.http_url + "/v1/realtime/client_secrets",
        {"expires_after": {"anchor": "created_at", "seconds": 5}},
        AUTH,
    )
    assert status == 400 and body["error"]["param"] == "expires_after.seconds"
    status, body = await asyncio.to_thread(http, "POST", emu.http_url + "/nowhere", {}, AUTH)
    assert status == 404
    # websockets still works on the same port afterwards
    async with connect(emu.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_upgrade_auth_and_unknown_paths(make_emulator: Any) -> None:
    emu = await make_emulator(api_keys=frozenset({"sk-good"}))
    for headers, status, code in (
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer sk-bad"}, 401, "invalid_api_key"),
    ):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect(emu.openai_ws_base + REALTIME, additional_headers=headers):
                pass
        assert info.value.response.status_code == status
        assert json.loads(info.value.response.body)["error"]["code"] == code
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(emu.url + "/v2/nothing", additional_headers=AUTH):
            pass
    assert info.value.response.status_code == 404
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(
            emu.openai_ws_base + REALTIME + "&rtl_fault=oops:1",
            additional_headers={"Authorization": "Bearer sk-good"},
        ):
            pass
    assert info.value.response.status_code == 400
    # browser style: the key rides in a subprotocol, and `realtime` is selected
    async with connect(
        emu.url + "//v1/realtime?model=gpt-realtime-2",
        subprotocols=["realtime", "openai-insecure-api-key.sk-good"],
    ) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_a_crashing_session_closes_1011_and_others_continue(make_emulator: Any) -> None:
    emu = await make_emulator(dialects=[EchoDialect()])
    async with connect(emu.url + "/echo") as healthy, connect(emu.url + "/echo") as doomed:
        await doomed.send("boom")
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await asyncio.wait_for(doomed.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011
        await healthy.send("still here")
        assert await asyncio.wait_for(healthy.recv(), 5) == "still here"
    status, body = await asyncio.to_thread(http, "POST", emu.http_url + "/echo", {"a": 1})
    assert (status, body) == (200, {"got": {"a": 1}, "path": "/echo"})


async def test_openai_session_survives_garbage(emulator: Emulator) -> None:
    async with connect(emulator.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        await ws.recv()
        for frame in (
            "{",
            b"\xff\xfe",
            '{"type": 7}',
            "null",
            '{"type":"input_audio_buffer.append","audio":"%%%"}',
        ):
            await ws.send(frame)
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert error["type"] == "error", error
        await ws.send('{"type":"input_audio_buffer.clear"}')
        assert json.loads(await ws.recv())["type"] == "input_audio_buffer.cleared"


async def test_drop_after_frames_kills_the_tcp_connection(emulator: Emulator) -> None:
    url = emulator.openai_ws_base + REALTIME + "&rtl_fault=drop_after_frames:2"
    async with connect(url, additional_headers=AUTH) as ws:
        await ws.recv()
        await ws.send('{"type":"input_audio_buffer.clear"}')
        await ws.recv()
        await ws.send('{"type":"input_audio_buffer.clear"}')
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is None  # no close frame: an abnormal 1006 closure


async def test_injected_faults(emulator: Emulator) -> None:
    async with connect(emulator.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        await ws.recv()
        (session_id,) = emulator.sessions
        assert emulator.inject(session_id, Fault("malformed")) == 1
        with pytest.raises(json.JSONDecodeError):
            json.loads(await asyncio.wait_for(ws.recv(), 5))
        emulator.inject(None, Fault("expire"))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["error"]["code"] == "session_expired"
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 5)
    async with connect(emulator.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        await ws.recv()
        emulator.inject(None, Fault("close", code=1011))
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011


@pytest.mark.parametrize("kind", ["close", "close_now", "drop_now"])
async def test_now_faults_jump_the_queue_of_scheduled_frames(
    make_emulator: Any, kind: FaultKind
) -> None:
    """With 500 ms of latency, three replies are scheduled but not yet sent. `close` delivers
    them first, then closes; `close_now` / `drop_now` end the connection at once, so a test
    can hit a precise moment (e.g. from the frame tap, right after frame N)."""
    emu = await make_emulator(latency_ms=500)
    async with connect(emu.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        await ws.recv()
        for _ in range(3):
            await ws.send('{"type":"input_audio_buffer.clear"}')
        await asyncio.sleep(0.1)  # the emulator has read them and scheduled the replies
        t0 = time.monotonic()
        assert emu.inject(None, Fault(kind, code=1011)) == 1
        received: list[str] = []
        with pytest.raises(websockets.ConnectionClosedError) as info:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
        elapsed = time.monotonic() - t0
    if kind == "close":
        assert received == ["input_audio_buffer.cleared"] * 3 and elapsed >= 0.3
    else:
        assert received == [] and elapsed < 0.3
    if kind == "drop_now":
        assert info.value.rcvd is None  # no close frame: an abnormal 1006 closure
    else:
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011


async def test_latency_delays_every_frame_in_order(make_emulator: Any) -> None:
    emu = await make_emulator(latency_ms=150)
    t0 = time.monotonic()
    async with connect(emu.openai_ws_base + REALTIME, additional_headers=AUTH) as ws:
        await ws.recv()
        assert time.monotonic() - t0 >= 0.15
        t1 = time.monotonic()
        for _ in range(3):
            await ws.send('{"type":"input_audio_buffer.clear"}')
        for _ in range(3):
            assert json.loads(await ws.recv())["type"] == "input_audio_buffer.cleared"
        assert 0.15 <= time.monotonic() - t1 < 0.45  # delayed, but not serialised


async def test_tls_serves_wss_and_https(make_emulator: Any, tmp_path: Path) -> None:
    from realtimelab.emulator.tls import CertificatePaths, client_context

    emu = await make_emulator(tls=True, cert_dir=str(tmp_path))
    assert emu.url.startswith("wss://") and emu.cert_path is not None
    ctx = client_context(CertificatePaths(emu.cert_path, tmp_path / "emulator-key.pem"))
    async with connect(emu.openai_ws_base + REALTIME, additional_headers=AUTH, ssl=ctx) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
    status, body = await asyncio.to_thread(
        http, "POST", emu.http_url + "/v1/realtime/client_secrets", {}, AUTH, ctx
    )
    assert status == 200 and body["value"].startswith("ek_")


def test_emulator_thread_for_sync_code() -> None:
    from websockets.sync.client import connect as sync_connect

    with (
        EmulatorThread(EmulatorConfig(speed=20)) as emu,
        sync_connect(emu.openai_ws_base + REALTIME, additional_headers=AUTH) as ws,
    ):
        assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
        assert len(emu.sessions) == 1
        assert emu.inject(None, Fault("close", code=1011)) == 1


def test_cli_prints_the_url_and_exits_cleanly_on_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtimelab",
            "emulator",
            "--port",
            "0",
            "--speed",
            "10",
            "--max-session-s",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ws://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[4]
        from websockets.sync.client import connect as sync_connect

        with sync_connect(url + "/v1" + REALTIME, additional_headers=AUTH) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
