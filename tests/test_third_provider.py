"""A provider that exists only in this test runs through the whole kit.

`tests/support/toy_provider.py` is a complete `ProviderSpec` (codec, voices, tool schema,
frame describer...) registered at runtime; a tiny loopback server speaks its made-up protocol.
If adding a provider needed a change anywhere in the package, something here would fail:
`connect`, `ResilientSession` (with a reconnect), the conversation core, the event log and
metrics, config and voices all meet the toy only through the registry and its capabilities.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from support.toy_provider import NAME, RATE, toy_spec
from websockets.asyncio.server import ServerConnection, serve

from realtimelab import events as ev
from realtimelab import lab
from realtimelab.config import SessionConfig
from realtimelab.metrics import turn_metrics
from realtimelab.observe import EventLog
from realtimelab.providers import get, names, register, unregister
from realtimelab.providers.base import AssistantText, UserText
from realtimelab.resilience import ReconnectPolicy, ResilientSession, RotationPolicy
from realtimelab.session import connect
from realtimelab.voices import resolve_voice

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def toy() -> Iterator[None]:
    register(toy_spec())
    try:
        yield
    finally:
        unregister(NAME)


class ToyServer:
    """The toy protocol's server: `hello` → `hello`; `say` → `say` + 100 ms audio + `done`.
    `drop_after` closes the first connection abruptly after that many replies."""

    def __init__(self, drop_after: int | None = None) -> None:
        self.drop_after = drop_after
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        first = self.connections == 1
        replies = 0
        async for raw in ws:
            msg = json.loads(raw)
            self.received.append(msg)
            if msg.get("toy") == "hello":
                await ws.send(json.dumps({"toy": "hello"}))
            elif msg.get("toy") == "say":
                await ws.send(json.dumps({"toy": "say", "text": f"You said: {msg['text']}"}))
                audio = base64.b64encode(b"\x01\x00" * (RATE // 10)).decode()
                await ws.send(json.dumps({"toy": "audio", "audio": audio}))
                await ws.send(json.dumps({"toy": "done"}))
                replies += 1
                if first and self.drop_after is not None and replies >= self.drop_after:
                    ws.transport.abort()  # a network drop: no close frame
                    return


@pytest.fixture
async def server() -> AsyncIterator[ToyServer]:
    toy = ToyServer(drop_after=1)
    async with serve(toy.handle, "127.0.0.1", 0) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        toy.url = f"ws://127.0.0.1:{port}"
        yield toy


async def until_done(session: Any) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(10):
        async for event in session:
            out.append(event)
            if isinstance(event, ev.TurnComplete):
                return out
    return out


async def test_the_toy_is_known_everywhere_through_the_registry(toy: None) -> None:
    assert NAME in names() and get(NAME).title == "Toy Live"
    assert NAME in lab.PROVIDERS
    assert resolve_voice("deep", NAME) == "Bob"
    SessionConfig(extra={NAME: {"text": "hi"}})  # its escape hatch validates


async def test_a_session_log_and_metrics_over_the_toy(toy: None, server: ToyServer) -> None:
    log = EventLog(provider=NAME)
    async with connect(
        NAME, SessionConfig(), url=server.url, api_key="toy-key", frame_tap=log.frame
    ) as session:
        log.attach(session)  # trace points (user_end...) from the start
        await session.send_text("hello there")
        events = [e async for e in _until(log.tap(session))]
    kinds = [e.kind for e in events]
    assert kinds[-1] == "TurnComplete" and "AudioChunk" in kinds
    assert session.history == (UserText("hello there"), AssistantText("You said: hello there"))
    assert not session.playout.audible(session.now() + 1.0)
    (turn,) = turn_metrics(log.lines)
    assert turn.user_input == "text" and turn.ttfb_ms is not None
    assert {line["provider"] for line in log.lines} == {NAME}


async def _until(events: AsyncIterator[ev.Event]) -> AsyncIterator[ev.Event]:
    async with asyncio.timeout(10):
        async for event in events:
            yield event
            if isinstance(event, ev.TurnComplete):
                return


async def test_a_resilient_toy_session_reconnects_and_replays(toy: None, server: ToyServer) -> None:
    session = ResilientSession(
        NAME,
        SessionConfig(),
        url=server.url,
        api_key="toy-key",
        policy=ReconnectPolicy(base_delay_s=0.01, seed=1),
        rotation=RotationPolicy(enabled=False),
    )
    async with session:
        await session.send_text("first")
        await until_done(session)
        async with asyncio.timeout(10):  # the server dropped the first connection
            async for event in session:
                if isinstance(event, ev.Reconnected):
                    assert event.state_restored == "replayed"
                    break
        await session.send_text("second")
        await until_done(session)
    assert server.connections == 2
    assert [h.text for h in session.history] == [
        "first",
        "You said: first",
        "second",
        "You said: second",
    ]
    replayed = [m for m in server.received if m.get("toy") == "history"]
    assert replayed and replayed[0]["items"] == ["user", "assistant"]
