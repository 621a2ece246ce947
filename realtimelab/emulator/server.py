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
`SessionChannel`: a writer task that owns the socket's send side, applies latency/jitter and
injected faults, feeds `frame_tap`, and registers the session in `Emulator.sessions`.

Entry points: `Emulator` (async context manager), `EmulatorThread` (its own loop on a thread,
for notebooks and sync code) and `main(argv)` (`python -m realtimelab emulator`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from realtimelab.emulator.engine import Components, default_components
from realtimelab.emulator.faults import Fault, FaultPlan, parse_fault_query
from realtimelab.emulator.pacing import Clock, MonotonicClock

log = logging.getLogger("realtimelab.emulator")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_FRAME_BYTES = 16 * 2**20  # OpenAI allows 15 MiB per append event
MAX_HTTP_BODY = 2**20

# ------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes an emulator instance. Tests shrink `speed` and the limits."""

    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0  # pacing factor: 2.0 releases media twice as fast as real time
    openai_max_session_s: float = 3600.0
    gemini_connection_s: float = 600.0
    gemini_session_audio_s: float = 900.0  # audio-only limit without contextWindowCompression
    seed: int = 0
    api_keys: frozenset[str] | None = None  # None: any non-empty key is accepted
    faults: FaultPlan | None = None
    latency_ms: float = 0.0  # extra delay on every server frame (order preserved)
    jitter_ms: float = 0.0
    allow_remote: bool = False
    tls: bool = False
    cert_dir: str | None = None  # where --tls keeps its self-signed cert (default: temp dir)

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"refusing to listen on {self.host!r}: the emulator accepts any key, so it binds "
                "to loopback only unless allow_remote=True"
            )
        if self.speed <= 0:
            raise ValueError("speed must be > 0")

    def fault_plan(self) -> FaultPlan:
        base = FaultPlan(latency_ms=self.latency_ms, jitter_ms=self.jitter_ms)
        return base.merged(self.faults)

    def key_allowed(self, key: str | None) -> bool:
        if not key:
            return False
        return self.api_keys is None or key in self.api_keys


# ------------------------------------------------------------------------------------------
# HTTP values
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # normalised, without the query
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (ValueError on bad JSON; {} for an empty body)."""
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        phrase = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ \
            else "Unknown"
        lines = [f"HTTP/1.1 {self.status} {phrase}", f"Content-Type: {self.content_type}",
                 f"Content-Length: {len(self.body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def to_websockets(self) -> Response:
        headers = Headers([("Content-Type", self.content_type),
                           ("Content-Length", str(len(self.body))), ("Connection", "close")])
        for k, v in self.headers.items():
            headers[k] = v
        phrase = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ \
            else "Unknown"
        return Response(self.status, phrase, headers, self.body)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None
                  ) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload).encode(), headers=dict(headers or {}))


def normalise_path(path: str) -> str:
    """Collapse duplicate slashes: google-genai produces `//ws/…` from a trailing-slash base."""
    return re.sub(r"/{2,}", "/", path) or "/"


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """Request target → (normalised path, query). Not urlsplit: it reads `//ws` as a host."""
    path, _, query = target.partition("?")
    return normalise_path(path), parse_qs(query)


# ------------------------------------------------------------------------------------------
# Dialects
# ------------------------------------------------------------------------------------------

HttpHandler = Callable[[HttpRequest, "HttpContext"], Awaitable[HttpResponse] | HttpResponse]


@runtime_checkable
class Dialect(Protocol):
    """A provider's wire protocol, served on the shared port.

    `http_routes()` maps `(METHOD, regex)` to a handler; the regex must match the whole
    normalised path, e.g. `("POST", r"/(v1alpha|v1beta|v1)/auth_tokens")`.
    """

    name: str

    def matches(self, path: str) -> bool: ...

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None: ...

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None: ...

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]: ...


#: Extra dialects registered by code (appended to the built-in ones by `default_dialects`).
DIALECTS: list[Dialect] = []


def default_dialects() -> list[Dialect]:
    """OpenAI, then Gemini if `realtimelab.emulator.dialects.gemini` defines `DIALECT`, then extras.

    Imported lazily because dialect modules import this module for its types.
    """
    found: list[Dialect] = []
    for module in ("realtimelab.emulator.dialects.openai", "realtimelab.emulator.dialects.gemini"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        dialect = getattr(mod, "DIALECT", None)
        if dialect is not None:
            found.append(dialect)
    return found + DIALECTS


# ------------------------------------------------------------------------------------------
# Per-connection context and the session channel
# ------------------------------------------------------------------------------------------

FrameTap = Callable[["SessionInfo", Literal["in", "out"], "str | bytes"], None]


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    dialect: str
    path: str
    started_at: float  # time.time()


@dataclass
class HttpContext:
    """What an HTTP route handler may use: config and the dialect's per-emulator state."""

    config: EmulatorConfig
    state: dict[str, Any]


@dataclass
class ConnectionContext:
    """Everything a dialect's session may use, resolved at the upgrade."""

    config: EmulatorConfig
    path: str
    query: Mapping[str, list[str]]
    faults: FaultPlan
    state: dict[str, Any]  # the dialect's per-emulator state (e.g. minted ephemeral keys)
    components: Components
    clock: Clock
    emulator: Emulator
    extras: dict[str, Any] = field(default_factory=dict)  # check_upgrade → handle hand-over

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @contextlib.asynccontextmanager
    async def session(
        self, ws: ServerConnection, session_id: str, *, on_expire: Callable[[], None] | None = None
    ) -> AsyncIterator[SessionChannel]:
        """Open the session's writer and register it; closes and unregisters on exit."""
        info = SessionInfo(session_id, self.extras.get("dialect", "?"), self.path, time.time())
        channel = SessionChannel(ws, info, self.faults, tap=self.emulator.frame_tap,
                                 clock=self.clock, seed=self.config.seed, on_expire=on_expire)
        self.emulator.sessions[session_id] = channel
        channel.start()
        try:
            yield channel
        finally:
            self.emulator.sessions.pop(session_id, None)
            await channel.stop()


_CLOSE = object()


class SessionChannel:
    """The send side of one session: ordered, delayed, fault-injected, tapped.

    Dialects call `send(frame)` (non-blocking; the frame is queued) and `close(code, reason)`.
    Keeping one writer task per socket means a slow client never blocks the protocol logic and
    frames can never interleave. A frame "sent" here has been handed to the socket.
    """

    def __init__(
        self,
        ws: ServerConnection,
        info: SessionInfo,
        plan: FaultPlan,
        *,
        tap: FrameTap | None,
        clock: Clock,
        seed: int = 0,
        on_expire: Callable[[], None] | None = None,
    ) -> None:
        self.ws = ws
        self.info = info
        self.plan = plan
        self._tap = tap
        self._clock = clock
        self._rng = random.Random(f"{seed}:{info.session_id}")
        self.on_expire = on_expire
        self._queue: asyncio.Queue[tuple[float, object]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._last_due = 0.0
        self._malformed_sent = False
        self.frames_sent = 0
        self.closed = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.info.session_id

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer:{self.session_id}")
        p = self.plan
        for delay, action in (
            (p.drop_after_s, self.abort),
            (p.close_after_s, lambda: self.close(p.close_code, "fault injected")),
            (p.expire_after_s, self._expire),
        ):
            if delay is not None:
                self._timers.append(asyncio.create_task(self._after(delay, action)))

    async def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        if self._writer is not None and not self._writer.done():
            self._queue.put_nowait((0.0, _CLOSE))
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=5)
            except (TimeoutError, ConnectionClosed):
                self._writer.cancel()
        self.closed.set()

    async def _after(self, delay: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(delay)
        action()

    # -- sending ----------------------------------------------------------------------------
    def send(self, frame: str | bytes) -> None:
        if self.closed.is_set():
            return
        delay = self.plan.latency_ms
        if self.plan.jitter_ms:
            delay += self._rng.uniform(0, self.plan.jitter_ms)
        due = max(self._last_due, self._clock.now() + delay / 1000)
        self._last_due = due
        self._queue.put_nowait((due, frame))

    def send_json(self, payload: Mapping[str, Any], *, binary: bool = False) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        self.send(text.encode() if binary else text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after everything queued so far has been sent."""
        self._queue.put_nowait((self._last_due, ("close", code, reason)))

    def abort(self) -> None:
        """Drop the TCP connection now, without a close frame (a network failure)."""
        log.info("session %s: dropping connection (fault)", self.session_id)
        self.closed.set()
        self.ws.transport.abort()

    def close_now(self, code: int, reason: str = "fault injected") -> None:
        """Write a close frame *now*, ahead of everything queued (the `close_now` fault).

        Synchronous, so a frame tap can end the session right after the frame it just saw;
        the writer's next send then fails and it stops, so queued frames are never sent.
        """
        from websockets.protocol import State

        log.info("session %s: closing now with %d (fault)", self.session_id, code)
        self.closed.set()  # send() drops from now on
        if self.ws.protocol.state is State.OPEN:
            self.ws.protocol.send_close(code, reason)
            self.ws.send_data()

    def inject(self, fault: Fault) -> None:
        if fault.kind in ("drop", "drop_now"):
            self.abort()
        elif fault.kind == "close_now":
            self.close_now(fault.code)
        elif fault.kind == "close":
            self._queue.put_nowait((0.0, ("close", fault.code, "fault injected")))
        elif fault.kind == "malformed":
            self._malformed_sent = False
            self.send(MALFORMED_FRAME)
        elif fault.kind == "expire":
            self._expire()
        elif fault.kind == "latency":
            from dataclasses import replace

            self.plan = replace(self.plan, latency_ms=fault.latency_ms, jitter_ms=fault.jitter_ms)

    def tap_in(self, frame: str | bytes) -> None:
        """Dialects report received frames here so recorders see both directions."""
        if self._tap is not None:
            self._tap(self.info, "in", frame)

    def _expire(self) -> None:
        if self.on_expire is not None:
            self.on_expire()
        else:
            self.close(1000, "session expired")

    async def _write_loop(self) -> None:
        try:
            while True:
                due, frame = await self._queue.get()
                if frame is _CLOSE:
                    return
                wait = due - self._clock.now()
                if wait > 0:
                    await self._clock.sleep(wait)
                if isinstance(frame, tuple):
                    _, code, reason = frame
                    await self.ws.close(code, reason)
                    return
                assert isinstance(frame, str | bytes)
                await self.ws.send(frame)
                self.frames_sent += 1
                if self._tap is not None:
                    self._tap(self.info, "out", frame)
                if self._after_frame():
                    return
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _after_frame(self) -> bool:
        """Apply frame-count faults; True when the connection is gone."""
        p, n = self.plan, self.frames_sent
        if p.malformed_after_frames is not None and n == p.malformed_after_frames \
                and not self._malformed_sent:
            self._malformed_sent = True
            self._queue.put_nowait((0.0, MALFORMED_FRAME))
        if p.drop_after_frames is not None and n >= p.drop_after_frames:
            self.abort()
            return True
        if p.close_after_frames is not None and n >= p.close_after_frames:
            self._queue.put_nowait((0.0, ("close", p.close_code, "fault injected")))
        return False


MALFORMED_FRAME = '{"type": "response.output_audio.delta", "delta": '  # truncated JSON


# ------------------------------------------------------------------------------------------
# The connection class: plain HTTP before the WebSocket handshake
# ------------------------------------------------------------------------------------------


class _HttpAwareConnection(ServerConnection):
    """A websockets connection that answers non-GET HTTP requests itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sniff = b""
        self._mode: Literal["?", "ws", "http"] = "?"
        self.rtl_dialect: Dialect | None = None
        self.rtl_ctx: ConnectionContext | None = None

    async def http_dispatch(self, request: HttpRequest) -> HttpResponse:
        """Answer a plain HTTP request; the Emulator subclasses this per instance."""
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        if self._mode == "ws":
            super().data_received(data)
            return
        self._sniff += data
        if self._mode == "?":
            if len(self._sniff) < 4 and b"GET ".startswith(self._sniff):
                return
            if self._sniff.startswith(b"GET "):
                self._mode = "ws"
                buffered, self._sniff = self._sniff, b""
                super().data_received(buffered)
                return
            self._mode = "http"
        self._try_http()

    def eof_received(self) -> None:
        if self._mode == "http":
            self.transport.close()
            return
        super().eof_received()

    def _try_http(self) -> None:
        head, sep, rest = self._sniff.partition(b"\r\n\r\n")
        if not sep:
            if len(self._sniff) > 65536:
                self._write_http(json_response(431, _error_body("headers too large")))
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._write_http(json_response(400, _error_body("bad request line")))
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._write_http(json_response(400, _error_body("bad Content-Length")))
            return
        if length > MAX_HTTP_BODY:
            self._write_http(json_response(413, _error_body("body too large")))
            return
        if len(rest) < length:
            return  # wait for the rest of the body
        self._mode = "ws"  # stop sniffing; further bytes go nowhere useful
        path, query = split_target(parts[1])
        request = HttpRequest(parts[0].upper(), path, query, headers, bytes(rest[:length]))
        self.loop.create_task(self._answer(request))

    async def _answer(self, request: HttpRequest) -> None:
        try:
            response = await self.http_dispatch(request)
        except Exception:
            log.exception("HTTP handler failed for %s %s", request.method, request.path)
            response = json_response(500, _error_body("internal error", "server_error"))
        self._write_http(response)

    def _write_http(self, response: HttpResponse) -> None:
        self._mode = "ws"
        if not self.transport.is_closing():
            self.transport.write(response.encode())
            self.transport.close()


def _error_body(message: str, type_: str = "invalid_request_error", code: str | None = None
                ) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


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
        self.sessions: dict[str, SessionChannel] = {}
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
            ssl=ssl_ctx,
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

    def inject(self, session_id: str | None, fault: Fault) -> int:
        """Inject a fault into one session (or every live one when None); returns how many."""
        targets = list(self.sessions.values()) if session_id is None \
            else [self.sessions[session_id]]
        for channel in targets:
            channel.inject(fault)
        return len(targets)

    # -- routing ----------------------------------------------------------------------------
    def _route(self, path: str) -> Dialect | None:
        return next((d for d in self.dialects if d.matches(path)), None)

    async def _dispatch_http(self, request: HttpRequest) -> HttpResponse:
        for dialect in self.dialects:
            for (method, pattern), handler in dialect.http_routes().items():
                if method.upper() == request.method and re.fullmatch(pattern, request.path):
                    ctx = HttpContext(self.config, self.state.setdefault(dialect.name, {}))
                    result = handler(request, ctx)
                    if isinstance(result, Awaitable):
                        result = await result
                    return result
        return json_response(404, _error_body(f"No route for {request.method} {request.path}"))

    async def _process_request(self, conn: ServerConnection, request: Request
                               ) -> Response | None:
        path, query = split_target(request.path)
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            headers = {k.lower(): v for k, v in request.headers.raw_items()}
            http = HttpRequest("GET", path, query, headers)
            return (await self._dispatch_http(http)).to_websockets()
        dialect = self._route(path)
        if dialect is None:
            return json_response(404, _error_body(f"Unknown path {path}")).to_websockets()
        try:
            session_faults = parse_fault_query(query.get("rtl_fault", []))
        except ValueError as exc:
            return json_response(400, _error_body(str(exc))).to_websockets()
        ctx = ConnectionContext(
            config=self.config, path=path, query=query,
            faults=self.config.fault_plan().merged(session_faults),
            state=self.state.setdefault(dialect.name, {}), components=self.components,
            clock=self.clock, emulator=self, extras={"dialect": dialect.name},
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
            await ws.close(1011, "no dialect")
            return
        try:
            await dialect.handle(ws, ctx)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("session on %s failed; closing it with 1011", ctx.path)
            with contextlib.suppress(Exception):
                await ws.close(1011, "internal error")


def _select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]
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
        self._thread = threading.Thread(target=self._run, name="realtimelab-emulator",
                                        daemon=True)
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
    def sessions(self) -> dict[str, SessionChannel]:
        return self._emu().sessions

    def inject(self, session_id: str | None, fault: Fault) -> int:
        emu, loop = self._emu(), self._loop
        assert loop is not None
        fut = asyncio.run_coroutine_threadsafe(_call(lambda: emu.inject(session_id, fault)), loop)
        return fut.result(5)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(fn: Callable[[], int]) -> int:
    return fn()


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m realtimelab emulator …`: print the URL once serving, run until SIGINT/TERM."""
    parser = argparse.ArgumentParser(prog="realtimelab emulator",
                                     description="Local OpenAI Realtime / Gemini Live emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="pacing factor: 2.0 streams audio twice as fast as real time")
    parser.add_argument("--tls", action="store_true",
                        help="serve wss:// with a self-signed certificate (for google-genai)")
    parser.add_argument("--cert-dir", default=None)
    parser.add_argument("--max-session-s", type=float, default=3600.0,
                        help="OpenAI session limit in seconds (real: 3600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = EmulatorConfig(host=args.host, port=args.port, speed=args.speed, tls=args.tls,
                                cert_dir=args.cert_dir, openai_max_session_s=args.max_session_s,
                                seed=args.seed, allow_remote=args.allow_remote)
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
    try:
        await stop.wait()
    finally:
        await emu.stop()
    return 0
