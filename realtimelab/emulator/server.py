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
import logging
import re
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from realtimelab.emulator.channel import MALFORMED_FRAME, ChannelWriter
from realtimelab.emulator.config import LOOPBACK_HOSTS, EmulatorConfig
from realtimelab.emulator.contract import (
    ConnectionContext,
    Dialect,
    FrameTap,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    SessionChannel,
    SessionInfo,
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
    "HttpResponse",
    "SessionChannel",
    "SessionInfo",
    "default_dialects",
    "json_response",
    "main",
    "normalise_path",
    "split_target",
]

log = logging.getLogger("realtimelab.emulator")

MAX_FRAME_BYTES = 16 * 2**20  # OpenAI allows 15 MiB per append event
MAX_HTTP_BODY = 2**20


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
                self._write_http(json_response(431, error_body("headers too large")))
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._write_http(json_response(400, error_body("bad request line")))
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._write_http(json_response(400, error_body("bad Content-Length")))
            return
        if length > MAX_HTTP_BODY:
            self._write_http(json_response(413, error_body("body too large")))
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
            response = json_response(500, error_body("internal error", "server_error"))
        self._write_http(response)

    def _write_http(self, response: HttpResponse) -> None:
        self._mode = "ws"
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

    @contextlib.asynccontextmanager
    async def open_session(
        self,
        ws: ServerConnection,
        info: SessionInfo,
        faults: FaultPlan,
        on_expire: Callable[[], None] | None,
    ) -> AsyncIterator[SessionChannel]:
        """`SessionHost`: start a session's writer and register it until the session ends."""
        channel = ChannelWriter(
            ws,
            info,
            faults,
            tap=self.frame_tap,
            clock=self.clock,
            seed=self.config.seed,
            on_expire=on_expire,
        )
        self.sessions[info.session_id] = channel
        channel.start()
        try:
            yield channel
        finally:
            self.sessions.pop(info.session_id, None)
            await channel.stop()

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
            return (await self._dispatch_http(http)).to_websockets()
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
    try:
        await stop.wait()
    finally:
        await emu.stop()
    return 0
