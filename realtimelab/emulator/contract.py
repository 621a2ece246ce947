"""What a dialect is given and what it gives back: the contract between server and dialects.

Why a separate module: the server routes connections to dialects, so it must import them; if
dialects imported the server for its types, the two would form an import cycle (which the
server used to hide behind `importlib`). Everything a dialect touches lives here instead, and
the import graph is a tree: `server → dialects → contract`.

A dialect (`Dialect`) is one provider's wire protocol on the shared port. The server:

1. asks every dialect whether it `matches(path)`; the first one owns the connection;
2. builds a `ConnectionContext` (config, query, faults, per-dialect state, components, clock,
   id space) and calls `check_upgrade(request, ctx)`: an `HttpResponse` refuses the upgrade;
3. runs `handle(ws, ctx)` for the session. The dialect opens its send side with
   `ctx.session(ws, session_id)`, which yields a `SessionChannel`: an ordered, fault-injected,
   tapped writer that the server registers so faults can be injected by session id;
4. answers plain HTTP requests (ephemeral tokens) through `http_routes()`.

Whatever a dialect does, the server keeps the wire legal: every close reason is clamped to
RFC 6455's 123 bytes (`clamp_close_reason`), a close code a server may not send becomes 1011,
and an exception escaping a session ends it with 1011 "Internal error encountered."
(`INTERNAL_ERROR_REASON`), logged, instead of an empty 1000.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol, runtime_checkable

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from realtimelab.emulator.config import EmulatorConfig
from realtimelab.emulator.engine import Components
from realtimelab.emulator.faults import Fault, FaultPlan
from realtimelab.emulator.ids import IdSpace
from realtimelab.emulator.pacing import Clock

__all__ = [
    "INTERNAL_ERROR_REASON",
    "MAX_CLOSE_REASON_BYTES",
    "ChannelStats",
    "ConnectionContext",
    "Dialect",
    "FrameTap",
    "HttpContext",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "Request",
    "ServerConnection",
    "SessionChannel",
    "SessionHost",
    "SessionInfo",
    "clamp_close_reason",
    "error_body",
    "json_response",
]

# ------------------------------------------------------------------------------------------
# HTTP values
# ------------------------------------------------------------------------------------------


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"


@dataclass(frozen=True)
class HttpRequest:
    """A plain HTTP request (or a WebSocket upgrade seen as one), already parsed."""

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
    """An HTTP answer: to a REST call, or a refused WebSocket upgrade."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_phrase(self.status)}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def to_websockets(self) -> Response:
        headers = Headers(
            [
                ("Content-Type", self.content_type),
                ("Content-Length", str(len(self.body))),
                ("Connection", "close"),
            ]
        )
        for k, v in self.headers.items():
            headers[k] = v
        return Response(self.status, _phrase(self.status), headers, self.body)


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload).encode(), headers=dict(headers or {}))


def error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body, also used by the server for routing errors."""
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


@dataclass
class HttpContext:
    """What an HTTP route handler may use: config, the dialect's per-emulator state, ids."""

    config: EmulatorConfig
    state: dict[str, Any]
    ids: IdSpace


HttpHandler = Callable[[HttpRequest, HttpContext], Awaitable[HttpResponse] | HttpResponse]

# ------------------------------------------------------------------------------------------
# Sessions
# ------------------------------------------------------------------------------------------

#: RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the close code.
MAX_CLOSE_REASON_BYTES = 123

#: The reason Google's services give with an internal error; the emulator closes any session
#: whose code raised with 1011 and this reason (OpenAI documents no close reason for it).
INTERNAL_ERROR_REASON = "Internal error encountered."


def clamp_close_reason(reason: str, limit: int = MAX_CLOSE_REASON_BYTES) -> str:
    """`reason` cut to at most `limit` UTF-8 bytes, on a character boundary.

    Why centrally: a reason over 123 bytes cannot be put in a close frame at all, and the
    WebSocket layer then fails the connection with 1011 instead of the code the dialect chose
    (a 45-character unknown model name made Gemini's 1008 "not found" reason 133 bytes). Cutting
    keeps the code and the start of the message; it never splits a multi-byte character.
    """
    data = reason.encode("utf-8", "replace")
    if len(data) <= limit:
        return reason
    return data[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    dialect: str
    path: str
    started_at: float  # time.time()


FrameTap = Callable[[SessionInfo, Literal["in", "out"], "str | bytes"], None]


@dataclass(frozen=True)
class ChannelStats:
    """A snapshot of one session's send side (`ChannelWriter.stats()`, `Emulator.stats()`).

    `queued_*` is what the dialect has sent that is not yet handed to the socket (bounded by
    `EmulatorConfig.max_outbound_bytes` / `max_outbound_frames`: a client that does not read is
    closed with 1008 once over); `socket_buffered_bytes` is what the socket itself still holds
    (bounded by the WebSocket write limit); `socket_writes` counts the writes that carried
    `frames_sent` (frames sent in one turn of the event loop share one). Sizes of text frames
    count characters, which for the ASCII JSON both dialects send are bytes.
    """

    session_id: str
    dialect: str
    frames_sent: int
    bytes_sent: int
    socket_writes: int
    queued_frames: int
    queued_bytes: int
    peak_queued_bytes: int
    socket_buffered_bytes: int
    close_code: int | None
    close_reason: str | None
    slow_reader: bool
    closed: bool


@runtime_checkable
class SessionChannel(Protocol):
    """The send side of one session, as the server gives it to a dialect.

    `send` never blocks (frames are queued in order; latency and faults are applied by the
    writer); `close` closes after everything queued so far; `tap_in` reports a received frame
    to the frame tap so recorders see both directions; `closed` is set once the socket is gone.
    """

    info: SessionInfo
    closed: asyncio.Event

    @property
    def session_id(self) -> str: ...

    def send(self, frame: str | bytes) -> None: ...

    def send_json(self, payload: Mapping[str, Any], *, binary: bool = False) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...

    def tap_in(self, frame: str | bytes) -> None: ...

    def inject(self, fault: Fault) -> None: ...


class SessionHost(Protocol):
    """What opens and registers session channels (the `Emulator`)."""

    def open_session(
        self,
        ws: ServerConnection,
        info: SessionInfo,
        faults: FaultPlan,
        on_expire: Callable[[], None] | None,
    ) -> AbstractAsyncContextManager[SessionChannel]: ...


@dataclass
class ConnectionContext:
    """Everything a dialect's session may use, resolved at the upgrade.

    `state` is the dialect's per-emulator dictionary (minted tokens, resumption handles);
    `extras` carries values from `check_upgrade` to `handle` (e.g. the authenticated token).
    """

    config: EmulatorConfig
    dialect: str
    path: str
    query: Mapping[str, list[str]]
    faults: FaultPlan
    state: dict[str, Any]
    components: Components
    clock: Clock
    ids: IdSpace
    host: SessionHost
    extras: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def session(
        self,
        ws: ServerConnection,
        session_id: str,
        *,
        on_expire: Callable[[], None] | None = None,
        started_at: float = 0.0,
    ) -> AbstractAsyncContextManager[SessionChannel]:
        """Open the session's writer and register it; closes and unregisters on exit.

        `on_expire` is called for the `expire` fault (the provider's own expiry message).
        """
        info = SessionInfo(session_id, self.dialect, self.path, started_at or time.time())
        return self.host.open_session(ws, info, self.faults, on_expire)


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
