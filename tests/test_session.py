"""The asyncio shell against a tiny in-test server that replays recorded frames (loopback only).

These tests are about the shell (reader task, send lock, taps, history, resampling, failures),
not about a provider: the server is a script, so every event is predictable.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

import realtimelab.session as session_module
from realtimelab import events as ev
from realtimelab.audio import SampleRateError
from realtimelab.config import SessionConfig, Vad
from realtimelab.providers.base import AssistantText, ToolCallRecord, ToolResultRecord, UserText
from realtimelab.session import (
    ConnectError,
    HandshakeRefused,
    RealtimeSession,
    SessionClosedError,
    SessionRefused,
    SetupTimeout,
    Unreachable,
    connect,
)

FRAMES = Path(__file__).parent / "frames"
Handler = Callable[[ServerConnection, list[dict[str, Any]]], Awaitable[None]]


def load(name: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((FRAMES / name).read_text())["frames"]
    return frames


class FakeServer:
    """Runs `script(ws, received)`; `received` collects every client frame (parsed)."""

    def __init__(self, script: Handler) -> None:
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.headers: dict[str, str] = {}
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers = dict(ws.request.headers.raw_items())

        async def collect() -> None:
            async for message in ws:
                self.received.append(json.loads(message))

        collector = asyncio.create_task(collect())
        try:
            await self.script(ws, self.received)
            await ws.wait_closed()
        finally:
            collector.cancel()

    def types(self) -> list[str]:
        return [f.get("type") or next(iter(f)) for f in self.received]


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Handler], Awaitable[FakeServer]]]:
    servers = []

    async def start(script: Handler) -> FakeServer:
        fake = FakeServer(script)
        server = await serve(fake._handle, "127.0.0.1", 0, compression=None)
        servers.append(server)
        fake.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return fake

    yield start
    for s in servers:
        s.close()
        await s.wait_closed()


async def wait_for(received: list[dict[str, Any]], n: int, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while len(received) < n:
            await asyncio.sleep(0.005)


async def collect_until(
    session: RealtimeSession, kind: type[ev.Event], timeout: float = 5
) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
            if isinstance(event, kind):
                break
    return out


def openai_script(
    frames: list[dict[str, Any]],
    *,
    extra: list[str | bytes] = (),  # type: ignore[assignment]
    close: tuple[int, str] | None = None,
) -> Handler:
    """A server that opens an OpenAI session, sends `extra` (raw) then `frames`, and closes
    with `close` (code, reason) when given."""

    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await ws.send(json.dumps(load("openai_audio_turn.json")[0]))  # session.created
        await wait_for(received, 1)  # session.update
        for raw in extra:
            await ws.send(raw)
        for f in frames:
            await ws.send(json.dumps(f))
        if close is not None:
            await ws.close(*close)

    return script


async def test_openai_replay_events_history_and_taps(fake_server: Any) -> None:
    server = await fake_server(
        openai_script(load("openai_audio_turn.json")[1:], extra=["{oops", '{"type": 1}'])
    )
    tapped: list[tuple[str, dict[str, Any], float]] = []
    ticks = iter(range(10_000))
    async with connect(
        "openai",
        url=server.url,
        api_key="sk-test-0123456789abcdefghij",
        frame_tap=lambda d, f, t: tapped.append((d, f, t)),
        clock=lambda: float(next(ticks)),
    ) as session:
        assert session.capabilities.truncation and session.model == "gpt-realtime-2"
        await session.send_audio(b"\x00\x00" * 2400, 24000)
        events = await collect_until(session, ev.TurnComplete)
    kinds = [e.kind for e in events]
    assert kinds[:4] == [
        "SessionStarted",
        "Error",
        "Error",
        "SpeechStarted",
    ]  # malformed: kept going
    assert kinds[-3:] == ["OutputTranscript", "GenerationComplete", "TurnComplete"]
    assert server.headers["Authorization"] == "Bearer sk-test-0123456789abcdefghij"
    assert "OpenAI-Beta" not in server.headers
    assert server.types() == ["session.update", "input_audio_buffer.append"]
    assert {d for d, _, _ in tapped} == {"send", "recv"}
    assert [t for _, _, t in tapped] == sorted(t for _, _, t in tapped)  # injected clock
    assert list(session.frames) == tapped[-len(session.frames) :]
    assert session.history == (AssistantText("Claro."),)
    assert session.closed and "sk-test" not in repr(session)


async def test_user_transcript_is_placed_before_the_reply_it_caused(fake_server: Any) -> None:
    frames = load("openai_audio_turn.json")[1:]
    transcript = {
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": "e",
        "item_id": "item_Ct1OhV",
        "content_index": 0,
        "transcript": "Can you help?",
        "usage": {"type": "duration", "seconds": 1},
    }
    server = await fake_server(openai_script([*frames, transcript]))
    async with connect("openai", url=server.url) as session:
        await session.send_audio(b"\x00\x00" * 2400, 24000)
        await collect_until(session, ev.InputTranscript)
    assert session.history == (UserText("Can you help?", spoken=True), AssistantText("Claro."))


async def test_send_audio_resamples_and_guard_rejects_without_resampling(
    fake_server: Any,
) -> None:
    server = await fake_server(openai_script([]))
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype("<i2").tobytes()
    async with connect("openai", url=server.url) as session:
        for i in range(0, len(tone), 1920):  # 20 ms chunks at 48 kHz
            await session.send_audio(tone[i : i + 1920], 48000)
        await session.commit()
        await wait_for(server.received, 3)
        await asyncio.sleep(0.05)
    appended = b"".join(
        base64.b64decode(f["audio"])
        for f in server.received
        if f["type"] == "input_audio_buffer.append"
    )
    assert abs(len(appended) - 48000) <= 4  # 1 s at 24 kHz, after the flush
    assert server.types()[-1] == "input_audio_buffer.commit"
    assert session.rate_guard.findings[0].action == "resampled"

    strict = await fake_server(openai_script([]))
    async with connect("openai", url=strict.url, resample=False) as session:
        with pytest.raises(SampleRateError, match=r"48000 Hz.*24000 Hz"):
            await session.send_audio(b"\x00\x00" * 960, 48000)
        await session.send_audio(b"\x00\x00" * 480, 24000)  # the right rate passes
        await wait_for(strict.received, 2)


async def test_output_audio_is_resampled_for_the_player(fake_server: Any) -> None:
    server = await fake_server(openai_script(load("openai_audio_turn.json")[1:]))
    async with connect("openai", url=server.url, player_rate=48000) as session:
        events = await collect_until(session, ev.TurnComplete)
    audio = [e for e in events if isinstance(e, ev.AudioChunk)]
    assert audio and all(a.rate == 48000 for a in audio)
    total = sum(len(a.pcm) for a in audio)
    assert abs(total - 2 * 2 * 4800) <= 8  # 200 ms at 48 kHz, tail flushed at TurnComplete


async def test_deferred_response_create_is_sent_by_the_reader(fake_server: Any) -> None:
    call = load("openai_function_call.json")

    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await ws.send(json.dumps(load("openai_audio_turn.json")[0]))
        await wait_for(received, 1)
        for f in call[:4]:  # the reply is still active after arguments.done
            await ws.send(json.dumps(f))
        await wait_for(received, 2)  # the function_call_output
        for f in call[4:]:
            await ws.send(json.dumps(f))

    server = await fake_server(script)
    async with connect("openai", url=server.url) as session:
        events = await collect_until(session, ev.ToolCall)
        tool_call = events[-1]
        assert isinstance(tool_call, ev.ToolCall)
        await session.send_tool_response(tool_call.call_id, {"temp_c": 21})
        # the reply that called the tool ended; the answer (a new reply) is still owed
        await collect_until(session, ev.GenerationComplete)
        assert session.conversation.answering
        await wait_for(server.received, 3)
    assert server.types() == ["session.update", "conversation.item.create", "response.create"]
    assert session.history == (
        ToolCallRecord("call_9Q9eysr6LstYMEx6", "get_weather", '{"city":"Tokyo"}'),
        ToolResultRecord("call_9Q9eysr6LstYMEx6", "get_weather", '{"temp_c": 21}'),
    )


async def test_interrupt_truncates_clamped_and_history_keeps_heard_part(fake_server: Any) -> None:
    barge = load("openai_barge_in.json")
    transcript = {
        "type": "response.output_audio_transcript.done",
        "event_id": "e",
        "response_id": "resp_B",
        "item_id": "item_A",
        "output_index": 0,
        "content_index": 0,
        "transcript": "one two three four five six seven eight",
    }
    manual = SessionConfig(vad=Vad(mode="manual"))
    server = await fake_server(openai_script([*barge[:3], transcript]))
    async with connect("openai", manual, url=server.url) as s:
        await collect_until(s, ev.OutputTranscript)
        await s.interrupt(heard_ms=50)  # half of the 100 ms received
        await s.interrupt(heard_ms=50)  # said twice: nothing is audible, nothing cancelled twice
        await wait_for(server.received, 3)
        await asyncio.sleep(0.05)
    assert server.types() == ["session.update", "response.cancel", "conversation.item.truncate"]
    assert server.received[2]["audio_end_ms"] == 50
    assert s.history == (AssistantText("one two three four", interrupted=True),)

    unheard = await fake_server(openai_script([*barge[:3], transcript]))
    async with connect("openai", manual, url=unheard.url) as s:
        await collect_until(s, ev.OutputTranscript)
        events = []
        await s.interrupt(heard_ms=0)  # nothing heard: the item is cut to nothing
        await wait_for(unheard.received, 3)
        events += s.pending_events()
    assert unheard.types() == ["session.update", "response.cancel", "conversation.item.truncate"]
    assert unheard.received[2]["audio_end_ms"] == 0
    assert [e.kind for e in events if e is not None] == ["Interrupted"]
    assert s.history == ()


async def test_concurrent_verbs_do_not_interleave(fake_server: Any) -> None:
    server = await fake_server(openai_script([]))
    async with connect("openai", url=server.url) as session:
        await asyncio.gather(*(session.send_text(f"msg {i}") for i in range(20)))
        await wait_for(server.received, 41)
    pairs = list(zip(server.types()[1::2], server.types()[2::2], strict=True))
    assert pairs == [("conversation.item.create", "response.create")] * 20


async def test_gemini_binary_frames_and_setup_first(fake_server: Any) -> None:
    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await wait_for(received, 1)
        assert "setup" in received[0]
        for f in load("gemini_audio_turn.json"):
            await ws.send(json.dumps(f).encode())

    server = await fake_server(script)
    async with connect("gemini", url=server.url, api_key="AIza-test-key-000000000000") as session:
        events = await collect_until(session, ev.ResumptionUpdate)
        assert session.resumption_handle == "Cj0handle"
    assert server.headers["x-goog-api-key"] == "AIza-test-key-000000000000"
    assert "/ws/google.ai.generativelanguage.v1beta" in session.url
    assert events[0].kind == "SessionStarted"
    assert session.history == (
        AssistantText("It is sunny"),
        UserText("what's the weather", spoken=True),
    )  # no user audio was sent through this session, so no slot was reserved before the reply


async def test_setup_rejected_by_close_raises_with_reason(fake_server: Any) -> None:
    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await wait_for(received, 1)
        await ws.close(1007, "Request contains an invalid argument.")

    server = await fake_server(script)
    with pytest.raises(ConnectionError, match=r"1007.*invalid argument") as info:
        async with connect("gemini", url=server.url):
            pass
    refused = info.value
    assert isinstance(refused, SessionRefused) and isinstance(refused, ConnectError)
    assert (refused.code, refused.error_code, refused.retryable, refused.label) == (
        1007,
        None,
        False,
        "1007",
    )
    assert refused.reason == "Request contains an invalid argument."


async def test_a_retryable_close_during_setup_is_a_retryable_refusal(fake_server: Any) -> None:
    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await wait_for(received, 1)
        await ws.close(1011, "Internal error encountered.")

    server = await fake_server(script)
    with pytest.raises(SessionRefused) as info:
        async with connect("gemini", url=server.url):
            pass
    assert (info.value.code, info.value.retryable) == (1011, True)


async def test_an_error_frame_then_close_4000_is_refused_with_both_codes(
    fake_server: Any,
) -> None:
    """OpenAI's beta-shape refusal: an `error` frame, then close 4000. The exception waits
    for the close so it carries the error code and the close code."""
    key = "sk-proj-SECRET-abcdefghijklmnop"

    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        error = {"code": "beta_api_shape_disabled", "message": f"beta shape (key {key})"}
        await ws.send(json.dumps({"type": "error", "event_id": "e1", "error": error}))
        await asyncio.sleep(0.05)
        await ws.close(4000, "beta_api_shape_disabled")

    server = await fake_server(script)
    with pytest.raises(SessionRefused) as info:
        async with connect("openai", url=server.url, api_key=key):
            pass
    refused = info.value
    assert (refused.code, refused.error_code, refused.retryable) == (
        4000,
        "beta_api_shape_disabled",
        False,
    )
    assert refused.label == "beta_api_shape_disabled"
    assert "SECRET" not in str(refused) and "SECRET" not in refused.reason


async def test_no_confirmation_is_a_setup_timeout(fake_server: Any) -> None:
    async def script(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await asyncio.sleep(5)

    server = await fake_server(script)
    with pytest.raises(SetupTimeout) as info:
        async with connect("openai", url=server.url, ready_timeout=0.2):
            pass
    assert info.value.retryable and info.value.label == "setup_timeout"


async def test_no_server_is_unreachable_and_retryable() -> None:
    with pytest.raises(Unreachable) as info:
        async with connect("openai", url="ws://127.0.0.1:9", api_key="sk-x-SECRET-0000000000"):
            pass
    assert info.value.retryable and "could not connect" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_connect_errors_survive_pickling_and_are_exported() -> None:
    import pickle

    import realtimelab

    refused = SessionRefused("m", code=1008, reason="r", error_code=None, retryable=False)
    copy = pickle.loads(pickle.dumps(refused))
    assert (type(copy), copy.args, copy.code, copy.retryable, copy.label) == (
        SessionRefused,
        ("m",),
        1008,
        False,
        "1008",
    )
    http = pickle.loads(pickle.dumps(HandshakeRefused("h", status=503, body_summary="busy")))
    assert (http.status, http.body_summary, http.retryable) == (503, "busy", True)
    for name in (
        "ConnectError",
        "HandshakeRefused",
        "SessionRefused",
        "SetupTimeout",
        "Unreachable",
    ):
        assert getattr(realtimelab, name) is getattr(session_module, name)
        assert name in realtimelab.__all__


async def test_http_refusal_is_a_connection_error_without_the_key() -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    key = "sk-live-SECRET-abcdefghijklmnop"

    def refuse(conn: Any, request: Any) -> Response:
        body = f'{{"error": "bad key {key}"}}'.encode()
        return Response(401, "Unauthorized", Headers({"Content-Length": str(len(body))}), body)

    async with serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=refuse) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        with pytest.raises(ConnectionError) as info:
            async with connect("openai", url=url, api_key=key):
                pass
    assert "401" in str(info.value)
    assert key not in str(info.value) and "SECRET" not in str(info.value)
    # no chained exception at all: its frames would hold the request headers
    assert info.value.__cause__ is None and info.value.__context__ is None
    refused = info.value
    assert isinstance(refused, HandshakeRefused)
    assert (refused.status, refused.retryable, refused.label) == (401, False, "http_401")
    assert "bad key" in refused.body_summary and "SECRET" not in refused.body_summary


@pytest.mark.parametrize(
    ("status", "retryable"), [(403, False), (404, False), (429, True), (503, True)]
)
async def test_http_refusals_say_whether_a_retry_can_help(status: int, retryable: bool) -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def refuse(conn: Any, request: Any) -> Response:
        return Response(status, "No", Headers({"Content-Length": "2"}), b"no")

    async with serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=refuse) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        with pytest.raises(HandshakeRefused) as info:
            async with connect("gemini", url=url):
                pass
    assert (info.value.status, info.value.retryable, info.value.body_summary) == (
        status,
        retryable,
        "no",
    )


async def test_verbs_record_history_before_sending(fake_server: Any) -> None:
    """The contract resilience relies on: a text or tool result sent into a dead socket is
    still in `history` (so a reconnect replays it), even though the verb raised."""
    server = await fake_server(openai_script([], close=(1011, "gone")))
    async with connect("openai", url=server.url) as session:
        await collect_until(session, ev.Closed)
        with pytest.raises(SessionClosedError):
            await session.send_text("are you there?")
        with pytest.raises(SessionClosedError):
            await session.send_tool_response("c1", {"ok": 1}, name="f")
        with pytest.raises(SessionClosedError):
            await session.send_late_tool_result("c1", {"ok": 2}, name="f")
        with pytest.raises(SessionClosedError):
            await session.send_late_tool_result("c2", "boom", name="g", is_error=True)
    assert session.history == (
        UserText("are you there?"),
        ToolResultRecord("c1", "f", '{"ok": 1}'),
        ToolResultRecord("c1", "f", '{"ok": 2}'),
        ToolResultRecord("c2", "g", '{"error": "boom"}'),
    )


async def test_server_close_ends_iteration_with_error_and_closed(fake_server: Any) -> None:
    server = await fake_server(openai_script([], close=(1011, "Internal error encountered.")))
    async with connect("openai", url=server.url) as session:
        events = [e async for e in session]
        with pytest.raises(SessionClosedError):
            await session.send_text("anyone?")
    assert [e.kind for e in events] == ["SessionStarted", "Error", "Closed"]
    closed = events[-1]
    assert isinstance(closed, ev.Closed) and closed.code == 1011 and not closed.expected


async def test_socket_settings(fake_server: Any) -> None:
    server = await fake_server(openai_script([]))
    async with connect("openai", url=server.url) as session:
        ws = session._ws
        assert (ws.ping_interval, ws.ping_timeout) == (20.0, 60.0)
        # websockets 17 calls it max_message_size, 15 max_size
        limit = getattr(ws.protocol, "max_message_size", None) or ws.protocol.max_size
        assert limit == 16 * 2**20
        assert "permessage-deflate" not in server.headers.get("Sec-WebSocket-Extensions", "")


async def test_a_broken_frame_tap_is_reported_and_disabled(fake_server: Any) -> None:
    server = await fake_server(openai_script(load("openai_text_turn.json")))
    calls: list[str] = []

    def tap(direction: str, frame: dict[str, Any], t: float) -> None:
        calls.append(direction)
        raise RuntimeError("disk full")

    async with connect("openai", url=server.url, frame_tap=tap) as session:
        events = await collect_until(session, ev.TurnComplete)
    errors = [e for e in events if isinstance(e, ev.Error)]
    assert [e.code for e in errors] == ["frame_tap_failed"] and "disk full" in errors[0].message
    assert len(calls) == 1  # disabled after the first failure; the turn still completed
    assert events[-1].kind == "TurnComplete"


async def test_update_is_sent_where_supported_and_refused_where_not(fake_server: Any) -> None:
    server = await fake_server(openai_script([]))
    async with connect("openai", url=server.url) as session:
        await session.update(SessionConfig(instructions="Speak French."))
        await wait_for(server.received, 2)
        assert session.config.instructions == "Speak French."
    assert server.received[1]["session"]["instructions"] == "Speak French."

    async def gemini(ws: ServerConnection, received: list[dict[str, Any]]) -> None:
        await wait_for(received, 1)
        await ws.send(b'{"setupComplete": {}}')

    gserver = await fake_server(gemini)
    async with connect("gemini", url=gserver.url) as session:
        assert not session.capabilities.session_update
        with pytest.raises(NotImplementedError, match="reconnect"):
            await session.update(SessionConfig(instructions="Speak French."))
        assert session.config.instructions == ""
