"""Plain HTTP on the emulator's port, from raw sockets: framing is strict (Content-Length
digits only, chunked decoded, anything ambiguous refused) and bodies are capped.

Raw sockets because every HTTP client library normalises exactly the requests under test
(negative lengths, both framing headers, bad chunk sizes)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator.contract import (
    ConnectionContext,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    json_response,
)
from realtimelab.emulator.server import MAX_HTTP_BODY, Emulator, HttpRequestParser


class EchoRoute:
    """A test dialect with one REST route that echoes the body it was given."""

    name = "echo-http"

    def matches(self, path: str) -> bool:
        return False

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        return None

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        def echo(request: HttpRequest, ctx: HttpContext) -> HttpResponse:
            return json_response(200, {"len": len(request.body), "body": request.json()})

        return {("POST", r"/echo"): echo}


def exchange(port: int, raw: bytes, *, dribble: bool = False) -> tuple[int, bytes]:
    """Send `raw` on a fresh connection, read until the server closes: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if dribble:
            for i in range(len(raw)):
                sock.sendall(raw[i : i + 1])
        else:
            sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def post(body: bytes, *headers: str, path: str = "/echo") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


@pytest.fixture
async def emu(make_emulator: Any) -> Emulator:
    return await make_emulator(dialects=[EchoRoute()])


async def ask(emu: Emulator, raw: bytes, **kwargs: Any) -> tuple[int, Any]:
    status, body = await asyncio.to_thread(exchange, emu.port, raw, **kwargs)
    return status, json.loads(body) if body else None


BODY = b'{"a": 1}'


async def test_content_length_bodies_are_read_exactly(emu: Emulator) -> None:
    assert await ask(emu, post(BODY, f"Content-Length: {len(BODY)}")) == (
        200,
        {"len": 8, "body": {"a": 1}},
    )
    # every copy agreeing is fine (RFC 9112 §6.3), and so is a request without a body
    assert (await ask(emu, post(BODY, "Content-Length: 8, 8")))[0] == 200
    assert await ask(emu, post(b"")) == (200, {"len": 0, "body": {}})


@pytest.mark.parametrize("value", ["-1", "-8", "abc", "+8", "0x8", "8 8", "8, 9", "", "1e3", "８"])
async def test_a_bad_content_length_is_400(emu: Emulator, value: str) -> None:
    status, body = await ask(emu, post(BODY, f"Content-Length: {value}"))
    assert status == 400 and "Content-Length" in body["error"]["message"]


async def test_conflicting_content_length_headers_are_400(emu: Emulator) -> None:
    status, _ = await ask(emu, post(BODY, "Content-Length: 8", "Content-Length: 9"))
    assert status == 400


async def test_an_oversize_body_is_413_before_it_is_read(emu: Emulator) -> None:
    status, body = await ask(emu, post(b"", f"Content-Length: {MAX_HTTP_BODY + 1}"))
    assert status == 413 and str(MAX_HTTP_BODY) in body["error"]["message"]
    status, _ = await ask(emu, post(b"", "Content-Length: 99999999999999999999999"))
    assert status == 413


async def test_chunked_bodies_are_decoded(emu: Emulator) -> None:
    raw = post(chunked(b'{"a"', b": ", b"1}"), "Transfer-Encoding: chunked")
    assert await ask(emu, raw) == (200, {"len": 8, "body": {"a": 1}})
    # extensions are ignored, trailers skipped, the coding name is case-insensitive
    raw = post(
        b'4;name=value\r\n{"a"\r\n4\r\n: 1}\r\n0\r\nX-Trailer: yes\r\n\r\n',
        "Transfer-Encoding: Chunked",
    )
    assert await ask(emu, raw) == (200, {"len": 8, "body": {"a": 1}})


async def test_a_request_dribbled_byte_by_byte_is_answered(emu: Emulator) -> None:
    raw = post(chunked(BODY[:3], BODY[3:]), "Transfer-Encoding: chunked")
    assert await ask(emu, raw, dribble=True) == (200, {"len": 8, "body": {"a": 1}})


@pytest.mark.parametrize(
    ("raw_body", "status"),
    [
        (b"zz\r\n{}\r\n0\r\n\r\n", 400),  # not hex
        (b"-2\r\n{}\r\n0\r\n\r\n", 400),  # negative
        (b"0x2\r\n{}\r\n0\r\n\r\n", 400),
        (b"2\r\n{}XX0\r\n\r\n", 400),  # data not followed by CRLF
        (b"11111111111111111\r\n", 400),  # 17 hex digits
        (b"%x\r\n" % (MAX_HTTP_BODY + 1), 413),  # one chunk over the cap
    ],
)
async def test_bad_chunked_bodies_are_refused(emu: Emulator, raw_body: bytes, status: int) -> None:
    assert (await ask(emu, post(raw_body, "Transfer-Encoding: chunked")))[0] == status


async def test_chunks_adding_up_over_the_cap_are_413(emu: Emulator) -> None:
    piece = b"x" * 65536
    raw = post(chunked(*[piece] * 17), "Transfer-Encoding: chunked")  # 1 MiB + 64 KiB
    assert (await ask(emu, raw))[0] == 413


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (("Transfer-Encoding: chunked", "Content-Length: 8"), 400),  # the smuggling pair
        (("Transfer-Encoding: gzip, chunked",), 501),
        (("Transfer-Encoding: gzip",), 501),
        (("Transfer-Encoding: chunked, chunked",), 501),
    ],
)
async def test_transfer_codings_other_than_chunked_are_refused(
    emu: Emulator, headers: tuple[str, ...], status: int
) -> None:
    assert (await ask(emu, post(chunked(BODY), *headers)))[0] == status


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /echo HTTP/2.0\r\n\r\n", 505),
        (b"POST /echo\r\n\r\n", 400),
        (b"POST echo HTTP/1.1\r\n\r\n", 400),
        (b"PO(ST /echo HTTP/1.1\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nContent-Length : 0\r\n\r\n", 400),  # space before colon
        (b"POST /echo HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400),  # obsolete line folding
        (b"POST /echo HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nX: " + b"a" * 70000, 431),
    ],
)
async def test_malformed_heads_are_refused(emu: Emulator, raw: bytes, status: int) -> None:
    assert (await ask(emu, raw))[0] == status


async def test_a_get_that_is_not_an_upgrade_gets_the_same_strict_parser(emu: Emulator) -> None:
    for header, status in (("Content-Length: -1", 400), ("Transfer-Encoding: gzip", 501)):
        raw = f"GET /rtl/stats HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode()
        assert (await ask(emu, raw))[0] == status, header
    raw = b"GET /rtl/stats HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    assert (await ask(emu, raw))[0] == 200


async def test_head_gets_no_body_and_stats_are_served(emu: Emulator) -> None:
    status, body = await asyncio.to_thread(
        exchange, emu.port, b"HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert (status, body) == (404, b"")
    status, stats = await ask(emu, b"GET /rtl/stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and stats["sessions"] == 0
    assert stats["limits"]["max_outbound_bytes"] == emu.config.max_outbound_bytes


def test_the_parser_takes_a_request_in_any_split() -> None:
    raw = post(chunked(b'{"a"', b": 1}"), "Transfer-Encoding: chunked")
    for cut in range(1, len(raw)):
        parser = HttpRequestParser()
        assert parser.feed(raw[:cut]) is None, cut
        request = parser.feed(raw[cut:])
        assert isinstance(request, HttpRequest) and request.body == BODY, cut
