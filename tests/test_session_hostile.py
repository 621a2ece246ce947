"""A session under hostile conditions: a reader that fails closes its socket, oversize input
is refused before it reaches the wire, nothing is sent after close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.errors import FrameError, SessionClosedError
from realtimelab.session import connect

pytestmark = pytest.mark.timeout(30)


async def test_a_reader_failure_closes_the_websocket(emulator: Any) -> None:
    async with connect("openai", SessionConfig(), url=emulator.url) as session:

        def broken(event: ev.Event) -> list[ev.Event]:
            raise RuntimeError("a bug in event handling")

        session.conversation.observe = broken  # type: ignore[method-assign]
        await session.send_text("hello there")
        events = []
        async with asyncio.timeout(10):
            async for event in session:
                events.append(event)
        ws = session._ws
        assert ws.close_code is not None  # the socket is closed, not leaked
        kinds = [e.kind for e in events]
        assert "Error" in kinds and kinds[-1] == "Closed"
        [failure] = [e for e in events if isinstance(e, ev.Error) and e.code == "client_error"]
        assert failure.fatal and "reader failed" in failure.message
        with pytest.raises(SessionClosedError):
            await session.send_text("anyone?")


async def test_oversize_text_is_a_typed_error_and_nothing_is_sent(emulator: Any) -> None:
    sent: list[dict[str, Any]] = []
    async with connect(
        "gemini",
        SessionConfig(),
        url=emulator.url,
        frame_tap=lambda d, f, t: sent.append(f) if d == "send" else None,
    ) as session:
        before = len(sent)
        with pytest.raises(FrameError, match="characters"):
            await session.send_text("x" * (17 * 2**20))
        assert len(sent) == before
        await session.send_text("hello there")  # the session is still fine
        async with asyncio.timeout(10):
            async for event in session:
                if isinstance(event, ev.TurnComplete):
                    break


async def test_a_frame_nested_too_deeply_is_an_error_event_not_a_dead_reader() -> None:
    from support.mutate import deep_nesting
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        import json

        await ws.send(json.dumps({"type": "session.created", "session": {"id": "s"}}))
        await ws.recv()
        await ws.send(deep_nesting())
        await ws.send(json.dumps({"type": "rate_limits.updated", "rate_limits": []}))
        await asyncio.sleep(5)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect("openai", url=f"ws://127.0.0.1:{port}") as session:
            kinds = []
            async with asyncio.timeout(5):
                async for event in session:
                    kinds.append(event.kind)
                    if isinstance(event, ev.RateLimits):
                        break
    assert kinds == ["SessionStarted", "Error", "RateLimits"]
