"""The emulator's server shell: one port, every dialect, WebSocket upgrades and plain HTTP.

How a connection travels:

1. TCP (optionally TLS) arrives at `_HttpAwareConnection`. A request line that does not start with
   `GET ` is a REST call (ephemeral tokens): it is parsed here and answered by the dialect's
   `http_routes()` (websockets' own parser only accepts GET). Everything else is a WebSocket
   upgrade handled by websockets.
2. `_process_request` normalises the path (duplicate slashes collapse), picks the first dialect
   whose `matches(path)` is true (404 JSON otherwise), parses per-session faults from the
   `rtl_fault` query parameter (400 on typos), and lets the dialect check auth
   (`check_upgrade` → an HTTP response to refuse, or None to accept).
3. `_handle` runs `dialect.handle(ws, ctx)` for the session. An exception there closes only that
   session with 1011 and is logged; other sessions carry on.

Dialects open their outgoing side with `ctx.session(ws, session_id)`, which gives a
`SessionChannel` (`channel.ChannelWriter`): a writer task that owns the socket's send side,
applies latency/jitter and injected faults, feeds `frame_tap`, and registers the session in
`Emulator.sessions`. What dialects receive and return is defined in `contract.py`; dialects never
import this module, so the import graph has no cycle (`server → dialects → contract`).

Entry points: `Emulator` (async context manager), `EmulatorThread` (its own loop on a thread,
for notebooks and sync code) and `main(argv)` (`python -m realtimelab emulator`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from realtimelab.emulator.channel import MALFORMED_FRAME, ChannelLimits, ChannelWriter
from realtimelab.emulator.config import LOOPBACK_HOSTS, EmulatorConfig
from realtimelab.emulator.contract import (
    INTERNAL_ERROR_REASON,
    ConnectionContext,
    Dialect,
    FrameTap,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    SessionChannel,
    SessionInfo,
    clamp_close_reason,
    error_body,
    json_response,
)
from realtimelab.emulator.dialects import builtin_dialects
from realtimelab.emulator.engine import Components, default_components
from realtimelab.emulator.faults import Fault, FaultPlan, parse_fault_query
from realtimelab.emulator.ids import IdSpace
from realtimelab.emulator.pacing import Clock, MonotonicClock

__all__ = [
    "DIALECTS",
    "LOOPBACK_HOSTS",
    "MALFORMED_FRAME",
    "STATS_PATH",
    "ChannelWriter",
    "ConnectionContext",
    "Dialect",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "FrameTap",
    "HttpContext",
    "HttpHandler",
    "HttpRequest",
    "HttpRequestParser",
    "HttpResponse",
    "SessionChannel",
    "SessionInfo",
    "close_within",
    "default_dialects",
    "json_response",
    "main",
    "normalise_path",
    "split_target",
]

log = logging.getLogger("realtimelab.emulator")

MAX_FRAME_BYTES = 16 * 2**20  # OpenAI allows 15 MiB per append event
MAX_HTTP_BODY = 2**20  # 413 above this: the JSON bodies of the REST routes are a few KiB
STATS_PATH = "/rtl/stats"  # GET: `Emulator.stats()` as JSON

_T = TypeVar("_T")


_TRIM_AFTER_BYTES = 2**20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None elsewhere (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def _trim_heap() -> None:
    """Give freed heap pages back to the OS after a session that queued a large backlog.

    Why: the frames of a backlog are many medium-sized strings; once freed, glibc keeps their
    pages for reuse, so the process's RSS stayed up after a slow client had left. Trimming
    costs about a millisecond and runs only after such sessions.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def normalise_path(path: str) -> str:
    """Collapse duplicate slashes: google-genai produces `//ws/…` from a trailing-slash base."""
    return re.sub(r"/{2,}", "/", path) or "/"


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """Request target → (normalised path, query). Not urlsplit: it reads `//ws` as a host."""
    path, _, query = target.partition("?")
    return normalise_path(path), parse_qs(query)


#: Extra dialects registered by code (appended to the built-in ones by `default_dialects`).
DIALECTS: list[Dialect] = []


def default_dialects() -> list[Dialect]:
    """OpenAI, then Gemini, then any dialects registered in `DIALECTS`."""
    return [*builtin_dialects(), *DIALECTS]


# ------------------------------------------------------------------------------------------
# Plain HTTP before the WebSocket handshake
# ------------------------------------------------------------------------------------------

MAX_HTTP_HEAD = 65536
MAX_HTTP_HEADERS = 100
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(rb"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class HttpRequestParser:
    """Incremental, strict parser for one HTTP/1.x request that is not a WebSocket upgrade.

    `feed(data)` returns None while more bytes are needed, then either the `HttpRequest` or the
    `HttpResponse` that refuses it. Why strict: these endpoints mint credentials, and a request
    the server frames differently from a proxy in front of it is how requests get smuggled, so
    anything ambiguous is refused rather than guessed (RFC 9112):

    * `Content-Length` must be digits only (no sign, no spaces inside, no hex) and every copy
      must agree: negative or invalid → 400.
    * `Transfer-Encoding: chunked` is decoded (RFC 9112 §7.1: a recipient MUST be able to parse
      it; httpx and requests use it for streamed bodies). Any other coding → 501; both headers
      at once → 400 (§6.3 allows rejecting it, and it is the classic smuggling vector).
    * Bodies over `MAX_HTTP_BODY` (1 MiB; the JSON these routes take is a few KiB) → 413, as
      soon as the declared length or the decoded chunks say so. Heads over 64 KiB → 431.
    * Without either header a request has no body (§6.3).

    The buffer is a bytearray searched from where the last search stopped, so a client that
    sends one byte at a time costs linear, not quadratic, time; websockets' opening timeout
    bounds how long it may take.
    """

    def __init__(self, max_body: int = MAX_HTTP_BODY) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._scanned = 0
        self._head: tuple[str, str, dict[str, str]] | None = None
        self._pos = 0
        self._length = 0
        self._chunked = False
        self._chunk_left: int | None = None  # bytes of the current chunk still to come
        self._in_trailer = False
        self._trailer_start = 0
        self._body = bytearray()
        self.method = ""

    def feed(self, data: bytes) -> HttpRequest | HttpResponse | None:
        self._buf += data
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0:
                self._scanned = len(self._buf)
                if len(self._buf) > MAX_HTTP_HEAD:
                    return _refuse(431, "request head too large")
                return None
            refusal = self._parse_head(bytes(self._buf[:end]))
            if refusal is not None:
                return refusal
            self._pos = end + 4
        if self._chunked:
            return self._feed_chunked()
        if len(self._buf) - self._pos < self._length:
            return None
        return self._request(bytes(self._buf[self._pos : self._pos + self._length]))

    def _parse_head(self, head: bytes) -> HttpResponse | None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith(b"/"):
            return _refuse(400, "bad request line")
        if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return _refuse(505, "only HTTP/1.0 and HTTP/1.1 are served")
        if len(lines) - 1 > MAX_HTTP_HEADERS:
            return _refuse(431, "too many header fields")
        headers: dict[str, str] = {}
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
                return _refuse(400, "bad header field")
            value = value.strip(b" \t")
            key = name.decode("ascii").lower()
            if key == "content-length":
                lengths += [v.strip(b" \t") for v in value.split(b",")]
            elif key == "transfer-encoding":
                codings += [v.strip(b" \t").lower() for v in value.split(b",")]
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if codings and lengths:
            return _refuse(400, "Content-Length and Transfer-Encoding together")
        if codings:
            if codings != [b"chunked"]:
                return _refuse(501, "only Transfer-Encoding: chunked is implemented")
            self._chunked = True
        elif lengths:
            if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
                return _refuse(400, "bad Content-Length")
            if len(lengths[0]) > 12 or int(lengths[0]) > self.max_body:
                return _refuse(413, f"body over {self.max_body} bytes")
            self._length = int(lengths[0])
        self.method = parts[0].decode("ascii").upper()
        self._head = (self.method, parts[1].decode("latin-1"), headers)
        return None

    def _feed_chunked(self) -> HttpRequest | HttpResponse | None:
        buf = self._buf
        if len(buf) > MAX_HTTP_HEAD + 2 * self.max_body:  # chunk framing overhead included
            return _refuse(413, f"body over {self.max_body} bytes")
        while True:
            if self._in_trailer:  # trailer fields, ignored, then an empty line
                nl = buf.find(b"\r\n", self._pos)
                if nl == self._pos:
                    return self._request(bytes(self._body))
                if nl < 0 or nl - self._trailer_start > MAX_HTTP_HEAD:
                    too_long = len(buf) - self._trailer_start > MAX_HTTP_HEAD
                    return _refuse(431, "trailer too large") if too_long else None
                self._pos = nl + 2
                continue
            if self._chunk_left is None:  # a chunk-size line: HEX [;extensions] CRLF
                nl = buf.find(b"\r\n", self._pos)
                if nl < 0:
                    return _refuse(400, "bad chunk size") if len(buf) - self._pos > 1024 else None
                size = bytes(buf[self._pos : nl]).split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size):
                    return _refuse(400, "bad chunk size")
                self._chunk_left = int(size, 16)
                if len(self._body) + self._chunk_left > self.max_body:
                    return _refuse(413, f"body over {self.max_body} bytes")
                self._pos = nl + 2
                if self._chunk_left == 0:
                    self._in_trailer = True
                    self._trailer_start = self._pos
                continue
            if len(buf) - self._pos < self._chunk_left + 2:
                return None
            end = self._pos + self._chunk_left
            if buf[end : end + 2] != b"\r\n":
                return _refuse(400, "chunk data not followed by CRLF")
            self._body += buf[self._pos : end]
            self._pos = end + 2
            self._chunk_left = None

    def _request(self, body: bytes) -> HttpRequest:
        assert self._head is not None
        method, target, headers = self._head
        path, query = split_target(target)
        return HttpRequest(method, path, query, headers, body)


def _refuse(status: int, message: str) -> HttpResponse:
    return json_response(status, error_body(message))


_UPGRADE = re.compile(rb"\r\nupgrade[ \t]*:[^\r\n]*websocket", re.IGNORECASE)


class _HttpAwareConnection(ServerConnection):
    """A websockets connection that answers plain HTTP requests itself.

    The request head decides: a `GET` asking to upgrade to WebSocket goes to websockets (whose
    parser takes nothing else), every other request (POST for tokens, `GET /rtl/stats`, a GET
    with a body) to `HttpRequestParser`. One request per connection (`Connection: close`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sniff = bytearray()
        self._mode: Literal["?", "ws", "http", "done"] = "?"
        self._http: HttpRequestParser | None = None
        self._answering = False
        self.rtl_dialect: Dialect | None = None
        self.rtl_ctx: ConnectionContext | None = None
        self.rtl_failure_logged = False

    async def http_dispatch(self, request: HttpRequest) -> HttpResponse:
        """Answer a plain HTTP request; the Emulator subclasses this per instance."""
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        if self._mode == "ws":
            super().data_received(data)
            return
        if self._mode == "done":
            return  # one request per connection; the rest is ignored
        if self._mode == "?":
            scanned = max(0, len(self._sniff) - 3)
            self._sniff += data
            end = self._sniff.find(b"\r\n\r\n", scanned)
            if end < 0 and len(self._sniff) <= MAX_HTTP_HEAD:
                return  # the parser refuses a longer head with 431
            data, self._sniff = bytes(self._sniff), bytearray()
            if end >= 0 and data.startswith(b"GET ") and _UPGRADE.search(data, 0, end + 2):
                self._mode = "ws"
                super().data_received(data)
                return
            self._mode = "http"
            self._http = HttpRequestParser()
        assert self._http is not None
        result = self._http.feed(data)
        if result is None:
            return
        self._mode = "done"
        if isinstance(result, HttpResponse):
            self._write_http(result)
        else:
            self._answering = True
            self.loop.create_task(self._answer(result))

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio reads it
        if self._mode in ("http", "done"):
            if self._answering:
                return True  # half-closed after its request: keep the socket for the answer
            self.transport.close()
            return None
        return super().eof_received()

    async def _answer(self, request: HttpRequest) -> None:
        try:
            response = await self.http_dispatch(request)
        except Exception:
            log.exception("HTTP handler failed for %s %s", request.method, request.path)
            response = json_response(500, error_body("internal error", "server_error"))
        if request.method == "HEAD":
            response = HttpResponse(
                response.status, b"", response.content_type, {**response.headers}
            )
        self._write_http(response)

    def _write_http(self, response: HttpResponse) -> None:
        self._mode = "done"
        if not self.transport.is_closing():
            self.transport.write(response.encode())
            self.transport.close()


# ------------------------------------------------------------------------------------------
# The emulator
# ------------------------------------------------------------------------------------------


def _report_warm_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("warming the emulator's voice and hearing failed: %s", exc)


class Emulator:
    """The in-process server: `async with Emulator(config) as emu:` then connect to `emu.url`.

    `frame_tap(info, direction, frame)` sees every frame a session sends ("out") and, where
    the dialect reports them, receives ("in") — conformance recorders hook in here.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        dialects: Sequence[Dialect] | None = None,
        components: Components | None = None,
        frame_tap: FrameTap | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.dialects = list(dialects) if dialects is not None else default_dialects()
        self.components = components or default_components()
        self.frame_tap = frame_tap
        self.clock: Clock = clock or MonotonicClock()
        self.ids = IdSpace(self.config.seed)
        self.sessions: dict[str, ChannelWriter] = {}
        self.counters: dict[str, int] = {
            "sessions_opened": 0,
            "slow_reader_closes": 0,
            "internal_errors": 0,
            # totals over ended sessions: how many frames went out in how many socket writes
            "frames_sent": 0,
            "bytes_sent": 0,
            "socket_writes": 0,
        }
        self.state: dict[str, dict[str, Any]] = {d.name: {} for d in self.dialects}
        self.cert_path: Path | None = None
        self._server: Server | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._warming: asyncio.Future[None] | None = None
        self.port = 0

    # -- addresses --------------------------------------------------------------------------
    @property
    def _host(self) -> str:
        h = self.config.host
        return f"[{h}]" if ":" in h else h

    @property
    def url(self) -> str:
        return f"{'wss' if self.config.tls else 'ws'}://{self._host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.config.tls else 'http'}://{self._host}:{self.port}"

    @property
    def openai_ws_base(self) -> str:
        return self.url + "/v1"

    @property
    def openai_http_base(self) -> str:
        return self.http_url + "/v1"

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> Emulator:
        ssl_ctx = None
        if self.config.tls:
            from realtimelab.emulator import tls

            directory = self.config.cert_dir
            if directory is None:
                self._tempdir = tempfile.TemporaryDirectory(prefix="rtl-tls-")
                directory = self._tempdir.name
            paths = tls.ensure_certificate(directory)
            self.cert_path = paths.cert
            ssl_ctx = tls.server_context(paths)
        emulator = self

        class Connection(_HttpAwareConnection):
            async def http_dispatch(self, request: HttpRequest) -> HttpResponse:
                return await emulator._dispatch_http(request)

        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            create_connection=Connection,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            compression=None,
            max_size=MAX_FRAME_BYTES,
            ping_interval=20,
            ping_timeout=60,
            close_timeout=self.config.close_timeout_s,
            ssl=ssl_ctx,
            reuse_port=self.config.reuse_port,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        if self.components.warm is not None:
            # Fire and forget: sessions work before it finishes, the first turn is just faster.
            self._warming = asyncio.get_running_loop().run_in_executor(None, self.components.warm)
            self._warming.add_done_callback(_report_warm_failure)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.asynccontextmanager
    async def open_session(
        self,
        ws: ServerConnection,
        info: SessionInfo,
        faults: FaultPlan,
        on_expire: Callable[[], None] | None,
    ) -> AsyncIterator[SessionChannel]:
        """`SessionHost`: start a session's writer and register it until the session ends.

        The server-level guard lives here: an exception escaping the dialect's session (other
        than the socket closing) is logged once and ends the session with 1011 "Internal error
        encountered.", replacing whatever close the dialect had queued on its way out.
        """
        config = self.config
        channel = ChannelWriter(
            ws,
            info,
            faults,
            tap=self.frame_tap,
            clock=self.clock,
            seed=config.seed,
            on_expire=on_expire,
            limits=ChannelLimits(
                max_bytes=config.max_outbound_bytes,
                max_frames=config.max_outbound_frames,
                stall_timeout_s=config.stall_timeout_s,
                close_timeout_s=config.close_timeout_s,
            ),
            on_count=self._count,
        )
        self.sessions[info.session_id] = channel
        self.counters["sessions_opened"] += 1
        channel.start()
        try:
            yield channel
        except ConnectionClosed:
            raise
        except Exception:
            log.exception(
                "session %s (%s) failed; closing it with 1011", info.session_id, info.dialect
            )
            if isinstance(ws, _HttpAwareConnection):
                ws.rtl_failure_logged = True
            self.counters["internal_errors"] += 1
            channel.fail()
            raise
        finally:
            self.sessions.pop(info.session_id, None)
            await channel.stop()
            self.counters["frames_sent"] += channel.frames_sent
            self.counters["bytes_sent"] += channel.bytes_sent
            self.counters["socket_writes"] += channel.socket_writes
            if channel.peak_queued_bytes > _TRIM_AFTER_BYTES:
                _trim_heap()

    def _count(self, name: str) -> None:
        self.counters[name] += 1

    def stats(self) -> dict[str, Any]:
        """What the server holds right now: sessions, their unsent backlogs, counters, RSS.

        Served as JSON at `GET /rtl/stats` too, so a test or a benchmark can watch an emulator
        running in another process.
        """
        per_session = [asdict(c.stats()) for c in list(self.sessions.values())]
        return {
            "pid": os.getpid(),
            "rss_bytes": _rss_bytes(),
            "sessions": len(per_session),
            "queued_bytes": sum(s["queued_bytes"] for s in per_session),
            "queued_frames": sum(s["queued_frames"] for s in per_session),
            "peak_queued_bytes": max((s["peak_queued_bytes"] for s in per_session), default=0),
            "limits": {
                "max_outbound_bytes": self.config.max_outbound_bytes,
                "max_outbound_frames": self.config.max_outbound_frames,
                "stall_timeout_s": self.config.stall_timeout_s,
                "close_timeout_s": self.config.close_timeout_s,
            },
            **self.counters,
            "per_session": per_session,
        }

    def inject(self, session_id: str | None, fault: Fault) -> int:
        """Inject a fault into one session (or every live one when None); returns how many."""
        targets = (
            list(self.sessions.values()) if session_id is None else [self.sessions[session_id]]
        )
        for channel in targets:
            channel.inject(fault)
        return len(targets)

    # -- routing ----------------------------------------------------------------------------
    def _route(self, path: str) -> Dialect | None:
        return next((d for d in self.dialects if d.matches(path)), None)

    async def _dispatch_http(self, request: HttpRequest) -> HttpResponse:
        if request.path == STATS_PATH and request.method in ("GET", "HEAD"):
            return json_response(200, self.stats())
        for dialect in self.dialects:
            for (method, pattern), handler in dialect.http_routes().items():
                if method.upper() == request.method and re.fullmatch(pattern, request.path):
                    ctx = HttpContext(
                        self.config, self.state.setdefault(dialect.name, {}), self.ids
                    )
                    result = handler(request, ctx)
                    if isinstance(result, Awaitable):
                        result = await result
                    return result
        return json_response(404, error_body(f"No route for {request.method} {request.path}"))

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path, query = split_target(request.path)
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            headers = {k.lower(): v for k, v in request.headers.raw_items()}
            http = HttpRequest("GET", path, query, headers)
            try:
                return (await self._dispatch_http(http)).to_websockets()
            except Exception:
                log.exception("HTTP handler failed for GET %s", path)
                failed = json_response(500, error_body("internal error", "server_error"))
                return failed.to_websockets()
        dialect = self._route(path)
        if dialect is None:
            return json_response(404, error_body(f"Unknown path {path}")).to_websockets()
        try:
            session_faults = parse_fault_query(query.get("rtl_fault", []))
        except ValueError as exc:
            return json_response(400, error_body(str(exc))).to_websockets()
        ctx = ConnectionContext(
            config=self.config,
            dialect=dialect.name,
            path=path,
            query=query,
            faults=self.config.fault_plan().merged(session_faults),
            state=self.state.setdefault(dialect.name, {}),
            components=self.components,
            clock=self.clock,
            ids=self.ids,
            host=self,
        )
        refusal = dialect.check_upgrade(request, ctx)
        if refusal is not None:
            return refusal.to_websockets()
        assert isinstance(conn, _HttpAwareConnection)
        conn.rtl_dialect, conn.rtl_ctx = dialect, ctx
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, _HttpAwareConnection)
        dialect, ctx = ws.rtl_dialect, ws.rtl_ctx
        if dialect is None or ctx is None:  # pragma: no cover - process_request guarantees it
            await close_within(ws, 1011, INTERNAL_ERROR_REASON, self.config.close_timeout_s)
            return
        try:
            await dialect.handle(ws, ctx)
        except ConnectionClosed:
            pass
        except Exception:
            if not ws.rtl_failure_logged:  # raised before the session's channel was opened
                log.exception("session on %s failed; closing it with 1011", ctx.path)
                self.counters["internal_errors"] += 1
            await close_within(ws, 1011, INTERNAL_ERROR_REASON, self.config.close_timeout_s)


async def close_within(ws: ServerConnection, code: int, reason: str, timeout: float) -> None:
    """Close `ws` with `code`, aborting the TCP connection if that takes over `timeout` s.

    Not `ws.close()` alone: it waits for the socket's buffer to drain before its own timeout
    starts, which a client that does not read never lets happen.
    """
    try:
        if ws.protocol.state is State.OPEN:
            ws.protocol.send_close(code, clamp_close_reason(reason))
            ws.send_data()
        await asyncio.wait_for(ws.wait_closed(), timeout)
    except Exception:
        ws.transport.abort()


def _select_subprotocol(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Browsers offer `realtime` + `openai-insecure-api-key.<KEY>`: answer with `realtime`."""
    return Subprotocol("realtime") if "realtime" in offered else None


# ------------------------------------------------------------------------------------------
# A background-thread emulator for notebooks and sync code
# ------------------------------------------------------------------------------------------


class EmulatorThread:
    """Runs an `Emulator` on its own event loop in a daemon thread.

    Jupyter's kernel already runs a loop, and sync code has none; this gives both a server that
    keeps going between cells. `start()` returns once connections are accepted.
    """

    def __init__(self, config: EmulatorConfig | None = None, **kwargs: Any) -> None:
        self._config = config
        self._kwargs = kwargs
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.emulator: Emulator | None = None

    def start(self, timeout: float = 30.0) -> EmulatorThread:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="realtimelab-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("emulator did not start in time")
        if self._error is not None:
            raise RuntimeError("emulator failed to start") from self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            try:
                self.emulator = await Emulator(self._config, **self._kwargs).start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                await self.emulator.stop()

        asyncio.run(main())

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        self._thread = None

    def _emu(self) -> Emulator:
        if self.emulator is None:
            raise RuntimeError("emulator thread not started")
        return self.emulator

    @property
    def url(self) -> str:
        return self._emu().url

    @property
    def http_url(self) -> str:
        return self._emu().http_url

    @property
    def openai_ws_base(self) -> str:
        return self._emu().openai_ws_base

    @property
    def sessions(self) -> dict[str, ChannelWriter]:
        return self._emu().sessions

    def stats(self) -> dict[str, Any]:
        """`Emulator.stats()`, read on the emulator's own loop."""
        emu, loop = self._emu(), self._loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(_call(emu.stats), loop).result(5)

    def inject(self, session_id: str | None, fault: Fault) -> int:
        emu, loop = self._emu(), self._loop
        assert loop is not None
        fut = asyncio.run_coroutine_threadsafe(_call(lambda: emu.inject(session_id, fault)), loop)
        return fut.result(5)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(fn: Callable[[], _T]) -> _T:
    return fn()


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m realtimelab emulator …`: print the URL once serving, run until SIGINT/TERM."""
    parser = argparse.ArgumentParser(
        prog="realtimelab emulator", description="Local OpenAI Realtime / Gemini Live emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="compress all emulated time (latency, generation, assumed playback) by this factor",
    )
    defaults = EmulatorConfig()
    parser.add_argument(
        "--openai-rate",
        type=float,
        default=defaults.openai_generation_rate,
        help="OpenAI audio generation rate, x real time (1 = old real-time release)",
    )
    parser.add_argument(
        "--gemini-rate",
        type=float,
        default=defaults.gemini_generation_rate,
        help="Gemini audio generation rate, x real time",
    )
    parser.add_argument(
        "--first-audio-ms",
        type=float,
        default=None,
        help="model latency before the first audio of a reply, both dialects (default 250)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a self-signed certificate (for google-genai)",
    )
    parser.add_argument("--cert-dir", default=None)
    parser.add_argument(
        "--max-session-s",
        type=float,
        default=3600.0,
        help="OpenAI session limit in seconds (real: 3600)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT: start several emulators on one --port (not --port 0) and "
        "the kernel spreads connections over them (see benchmarks/README.md for what is shared)",
    )
    parser.add_argument(
        "--max-outbound-bytes",
        type=int,
        default=defaults.max_outbound_bytes,
        help="unsent bytes a session may queue before it is closed as a slow reader (1008)",
    )
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            speed=args.speed,
            tls=args.tls,
            cert_dir=args.cert_dir,
            openai_max_session_s=args.max_session_s,
            seed=args.seed,
            allow_remote=args.allow_remote,
            reuse_port=args.reuse_port,
            max_outbound_bytes=args.max_outbound_bytes,
            openai_generation_rate=args.openai_rate,
            gemini_generation_rate=args.gemini_rate,
            **(
                {}
                if args.first_audio_ms is None
                else {
                    "openai_first_audio_ms": args.first_audio_ms,
                    "gemini_first_audio_ms": args.first_audio_ms,
                }
            ),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve_until_signalled(config))


async def _serve_until_signalled(config: EmulatorConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        emu = await Emulator(config).start()
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    line = f"realtimelab emulator listening on {emu.url}  (OpenAI base: {emu.openai_ws_base})"
    if emu.cert_path is not None:
        line += f"  SSL_CERT_FILE={emu.cert_path}"
    print(line, flush=True)
    freezer = asyncio.create_task(_freeze_heap_after_warm(emu))
    try:
        await stop.wait()
    finally:
        freezer.cancel()
        await emu.stop()
    return 0


async def _freeze_heap_after_warm(emu: Emulator) -> None:
    """In the CLI's server process only: once the speech models are warm, move everything
    allocated so far out of the garbage collector's reach (`gc.freeze`).

    Why: a full (generation 2) collection walks every tracked object, and the start-up heap
    (modules, models, caches: ~36k objects) made each one cost ~10 ms before a single session
    existed; under load these pauses showed up as input-frame lateness. Frozen objects are never
    freed, which is what start-up objects of a server are anyway. Not done by `Emulator` itself:
    inside a notebook or a test the process is not the emulator's to tune.
    """
    if emu._warming is not None:
        with contextlib.suppress(Exception):
            await emu._warming
    gc.collect()
    gc.freeze()
