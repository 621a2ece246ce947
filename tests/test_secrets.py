"""Planted keys never reach an artifact: logs, reprs, error messages, tracebacks with locals
(and their `__context__` chains), websockets' DEBUG logging, or an event log fed a key split
across streamed deltas."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response

from realtimelab import events as ev
from realtimelab.auth import SecretHeaders, mint_token
from realtimelab.errors import RealtimeLabError
from realtimelab.observe import EventLog
from realtimelab.session import ConnectError, connect

OPENAI_KEY = "sk-proj-" + "PLANTEDopenaiKEY0123456789abcdefXYZ"
GEMINI_KEY = "AIza" + "PLANTEDgeminiKEY0123456789abcdefXYZ"
KEYS = (OPENAI_KEY, GEMINI_KEY)
TAILS = ("PLANTEDopenai", "PLANTEDgemini")  # no part of a key, however cut, may appear


def assert_clean(text: str, where: str) -> None:
    for fragment in (*KEYS, *TAILS):
        assert fragment not in text, f"a planted key leaked into {where}"


def with_locals(exc: BaseException) -> str:
    """What `traceback` prints with locals for the kit's own frames, following `__cause__` and
    `__context__` (the test's own frames hold the key in a variable: that is the caller's)."""
    out: list[str] = []
    te: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        exc, capture_locals=True
    )
    seen: set[int] = set()
    pending = [te]
    while pending:
        te = pending.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        out.extend(str(e) for e in te.format_exception_only())
        for frame in te.stack:
            if "/realtimelab/" in frame.filename.replace("\\", "/"):
                out.append(f"{frame.filename}:{frame.lineno} {frame.locals}")
        pending += [te.__cause__, te.__context__]
    return "\n".join(out)


async def test_connect_failures_leak_nothing_in_messages_or_tracebacks() -> None:
    failures: list[BaseException] = []
    # nothing listens: Unreachable
    for provider, key in (("openai", OPENAI_KEY), ("gemini", GEMINI_KEY)):
        with pytest.raises(ConnectError) as info:
            async with connect(provider, url="ws://192.0.2.1:9", api_key=key, ready_timeout=1):
                pass
        failures.append(info.value)

    # the server refuses the upgrade and echoes the request back in its body
    def refuse(connection: Any, request: Any) -> Response:
        return connection.respond(401, f"bad key: {request.headers.get('Authorization')}")

    async with serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(ConnectError) as info:
            async with connect("openai", url=f"ws://127.0.0.1:{port}", api_key=OPENAI_KEY):
                pass
        failures.append(info.value)

    # a key in the URL itself
    with pytest.raises(ConnectError) as info:
        async with connect(
            "gemini",
            url=f"ws://192.0.2.1:9/x?key={GEMINI_KEY}",
            api_key=GEMINI_KEY,
            ready_timeout=1,
        ):
            pass
    failures.append(info.value)

    # a refused query: the codec's frame (whose locals hold the key) must not travel along
    with pytest.raises(ValueError) as info:
        async with connect(
            "openai", url="ws://192.0.2.1:9", api_key=OPENAI_KEY, query={"key": "x"}
        ):
            pass
    failures.append(info.value)

    for failure in failures:
        assert_clean(str(failure), f"{type(failure).__name__} message")
        assert_clean(repr(failure), f"{type(failure).__name__} repr")
        assert_clean(with_locals(failure), f"{type(failure).__name__} traceback with locals")


async def test_token_minting_failures_leak_nothing() -> None:
    for provider, key in (("openai", OPENAI_KEY), ("gemini", GEMINI_KEY)):
        with pytest.raises(RealtimeLabError) as info:
            await mint_token(provider, key, base_url="http://127.0.0.1:9", timeout=1)
        assert_clean(str(info.value), "AuthError message")
        assert_clean(with_locals(info.value), "AuthError traceback with locals")


async def test_websockets_debug_logging_never_prints_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "session": {"id": "s"}}))
        await asyncio.sleep(0.2)

    caplog.set_level(logging.DEBUG)
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect("openai", url=f"ws://127.0.0.1:{port}", api_key=OPENAI_KEY) as s:
            assert_clean(repr(s), "session repr")
    # the client's records (the test server logs what it received: that is the server's)
    client = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any("Authorization" in r.getMessage() for r in client)  # it was logged...
    assert_clean("\n".join(r.getMessage() for r in client), "DEBUG log")  # ...redacted


def test_a_key_split_across_streamed_deltas_is_redacted_in_the_event_log() -> None:
    log = EventLog(secrets=[OPENAI_KEY])
    pieces = ["Your key is ", OPENAI_KEY[:11], OPENAI_KEY[11:27], OPENAI_KEY[27:], ". Done."]
    for i, piece in enumerate(pieces):
        frame = {
            "type": "response.output_audio_transcript.delta",
            "delta": piece,
            "item_id": "i",
            "response_id": "r",
        }
        log.frame("recv", frame, t=i * 0.01)
        log.event(ev.OutputTranscript(provider="openai", t=i * 0.01, text=piece, item_id="i"))
    # and a pattern-shaped key the log was not told about
    other = "sk-live-" + "PLANTEDopenai" + "9" * 20
    for i, piece in enumerate([other[:6], other[6:]]):
        log.event(ev.OutputTranscript(provider="openai", t=1 + i * 0.01, text=piece))
    text = json.dumps(log.lines)
    assert_clean(text, "event log")
    assert "Your key is" in text and "Done." in text  # the rest of the text survives


def test_secret_headers_print_redacted_but_send_the_value() -> None:
    headers = SecretHeaders({"Authorization": f"Bearer {OPENAI_KEY}", "X-Other": "fine"})
    assert headers["Authorization"].endswith(OPENAI_KEY)  # what the library sends
    assert_clean(repr(headers), "SecretHeaders repr")
    assert "fine" in repr(headers)
