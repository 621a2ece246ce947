"""The Gemini Live dialect: `BidiGenerateContent[Constrained]` on v1, v1beta and v1alpha.

This module is the thin asyncio shell: it routes and authenticates the upgrade, serves the
ephemeral-token route, feeds frames to the sans-IO `protocol.LiveProtocol` and executes the
actions it returns (send, close, run the model, stop it, set timers). Every decision — barge-in,
tool scheduling, when `generationComplete` / `turnComplete` go out, resumption, lifetime —
is the protocol's. The wire itself is read by sans-IO modules too:

* `frames.GeminiFrames` — frames in → typed inputs, server messages out;
* `setup` (+ `schema`) — setup validation and ephemeral-token constraints;
* `tokens` / `resumption` — the per-emulator token and handle stores;
* `wire` — spelling, base64, mime rates, close reasons.

Choices where Google's behaviour is undocumented, so tests pin them down:

* bad key → HTTP 403 at the upgrade; unknown/expired token → HTTP 401 at the upgrade; a token
  with no uses left, or past `newSessionExpireTime`, → close 1008 after `setup` (only then do we
  know whether it is a resumption, which is free);
* a message after the token's `expireTime` → close 1008 "Ephemeral token has expired.";
* session audio limit (15 min without `contextWindowCompression`) → close 1011
  "Deadline expired before operation could complete." (the wording Google uses for deadlines);
* the connection lifetime ends with `goAway`, then close **1011** "Deadline expired before
  operation could complete." (the close observed in the wild after `goAway`);
* resuming a session another open connection still holds → close 1011 (see
  `protocol.RESUME_WHILE_OPEN`);
* `toolResponse` without `id` → 1007; a response for an unknown/cancelled id is ignored;
* resuming with a different model → 1007 (the model cannot change within a session);
* every close reason is cut to RFC 6455's 123 bytes on a UTF-8 boundary (`wire.close_reason`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.protocol import State

from realtimelab.emulator.contract import (
    ConnectionContext,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    SessionChannel,
    json_response,
)
from realtimelab.emulator.dialects.gemini import wire
from realtimelab.emulator.dialects.gemini.frames import GeminiFrames
from realtimelab.emulator.dialects.gemini.protocol import (
    INPUT_RATE,
    Action,
    CancelTimer,
    Close,
    Generate,
    LiveProtocol,
    Send,
    Speak,
    StartTimer,
    Stop,
    go_away_lead_s,
)
from realtimelab.emulator.dialects.gemini.resumption import ResumptionStore
from realtimelab.emulator.dialects.gemini.tokens import TokenError, TokenStore
from realtimelab.emulator.engine import Engine
from realtimelab.emulator.model import ToolSpec
from realtimelab.emulator.timing import GenerationTiming

__all__ = ["DIALECT", "GeminiDialect", "GeminiSession", "go_away_lead_s"]

log = logging.getLogger("realtimelab.emulator.gemini")

_PATH = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\."
    r"GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_TOKENS_PATH = r"/(v1alpha|v1beta|v1)/auth_tokens"


def _tokens(state: dict[str, Any]) -> TokenStore:
    store = state.get("tokens")
    if not isinstance(store, TokenStore):
        store = state["tokens"] = TokenStore()
    return store


def _handles(state: dict[str, Any]) -> ResumptionStore:
    store = state.get("resumption")
    if not isinstance(store, ResumptionStore):
        store = state["resumption"] = ResumptionStore()
    return store


def _google_error(status: int, message: str, code: str) -> HttpResponse:
    return json_response(status, {"error": {"code": status, "message": message, "status": code}})


# ------------------------------------------------------------------------------------------
# The dialect object the server registers
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Credentials:
    key: str | None
    is_token: bool


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _credentials(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> _Credentials:
    """Every way a Gemini client authenticates (header, query, token); a token wins over a key."""
    auth = headers.get("authorization", "")
    candidates: list[str | None] = [
        auth[6:].strip() if auth.lower().startswith("token ") else None,
        _first(query, "access_token"),
        headers.get("x-goog-api-key"),
        _first(query, "key"),
    ]
    values = [c for c in candidates if c]
    token = next((c for c in values if c.startswith("auth_tokens/")), None)
    if token:
        return _Credentials(token, True)
    return _Credentials(values[0] if values else None, False)


class GeminiDialect:
    """Routing, auth and the ephemeral-token route; sessions run in `GeminiSession`."""

    name = "gemini"

    def matches(self, path: str) -> bool:
        return _PATH.match(path) is not None

    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        creds = _credentials(headers, ctx.query)
        match = _PATH.match(ctx.path)
        assert match is not None  # matches() routed us here
        ctx.extras["api_version"] = match.group(1)
        constrained = match.group(2).endswith("Constrained")
        if creds.is_token:
            assert creds.key is not None
            if not constrained:
                return _google_error(
                    401,
                    "Ephemeral tokens are only accepted on BidiGenerateContentConstrained.",
                    "UNAUTHENTICATED",
                )
            try:
                _tokens(ctx.state).check_live(creds.key)
            except TokenError as exc:
                return _google_error(exc.status, str(exc), "UNAUTHENTICATED")
            ctx.extras["token"] = creds.key
            return None
        if not ctx.config.key_allowed(creds.key):
            return _google_error(
                403, "API key not valid. Please pass a valid API key.", "PERMISSION_DENIED"
            )
        return None

    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        await GeminiSession(ws, ctx).run()

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        return {("POST", _TOKENS_PATH): self._create_token}

    def _create_token(self, request: HttpRequest, ctx: HttpContext) -> HttpResponse:
        creds = _credentials(dict(request.headers), request.query)
        if creds.is_token or not creds.key:
            return _google_error(
                403,
                "Method doesn't allow unregistered callers. Please use an API key.",
                "PERMISSION_DENIED",
            )
        if not ctx.config.key_allowed(creds.key):
            return _google_error(
                400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"
            )
        try:
            body = request.json()
        except ValueError:
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if not isinstance(body, Mapping):
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        try:
            token = _tokens(ctx.state).create(body)
        except TokenError as exc:
            return _google_error(exc.status, str(exc), "INVALID_ARGUMENT")
        return json_response(200, token.public())


DIALECT = GeminiDialect()


# ------------------------------------------------------------------------------------------
# One session: execute what the protocol decides
# ------------------------------------------------------------------------------------------


class GeminiSession:
    """Drives one connection: frames → `LiveProtocol` → actions, executed here.

    The model's work for a job (hear → think → speak) runs in one task per job; a `Stop`
    cancels it. Timers are tasks sleeping on the emulator's clock, then calling back into the
    protocol (so a `ManualClock` drives them too). All
    times given to the protocol come from the emulator's clock.
    """

    def __init__(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        self.ws = ws
        self.ctx = ctx
        cfg = ctx.config
        token_name: str | None = ctx.extras.get("token")
        tokens = _tokens(ctx.state)
        token = tokens.get(token_name) if token_name else None
        frames = GeminiFrames(
            api_version=str(ctx.extras.get("api_version", "v1beta")),
            token_setup=token.setup if token else None,
            token_field_mask=token.field_mask if token else None,
            today=cfg.model_day(),
        )
        timing = GenerationTiming(
            rate=cfg.gemini_generation_rate,
            first_audio_ms=cfg.gemini_first_audio_ms,
            speed=cfg.speed,
        )
        self.proto = LiveProtocol(
            frames=frames,
            handles=_handles(ctx.state),
            ids=ctx.ids,
            vad_factory=ctx.components.vad,
            timing=timing,
            alive=self._alive,
            tokens=tokens,
            token_name=token_name,
            lifetime_s=float(cfg.gemini_connection_s),
            session_audio_s=float(cfg.gemini_session_audio_s),
        )
        self.engine = Engine(
            components=ctx.components,
            input_rate=INPUT_RATE,
            output_rate=wire.OUTPUT_RATE,
            timing=timing,
            seed=cfg.seed,
            clock=ctx.clock,
        )
        self.channel: SessionChannel | None = None
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    def _alive(self) -> bool:
        """Whether this connection's socket is still open (it then holds its session)."""
        return self.ws.protocol.state is State.OPEN

    def _now(self) -> float:
        return self.ctx.clock.now()

    def _tools(self) -> tuple[ToolSpec, ...]:
        return self.proto.tools

    # -- the socket loop ---------------------------------------------------------------------
    async def run(self) -> None:
        _, ids = self.ctx.ids.connection("gemini")
        session_id = ids.new("gemini")
        async with self.ctx.session(self.ws, session_id, on_expire=self._expire_now) as channel:
            self.channel = channel
            self.execute(self.proto.open(self._now()))
            try:
                async for frame in self.ws:
                    channel.tap_in(frame)
                    self.execute(self.proto.receive(frame, self._now()))
                    if self.proto.input is not None:
                        self.engine.listen(self.proto.input, self._tools)
                    if self._closing:
                        break
            except ConnectionClosed:
                pass
            except Exception:
                # An emulator bug outside the protocol (which never raises): answer as the
                # service answers its internal errors, never with a normal 1000.
                log.exception("gemini: session failed")
                if not self._closing:
                    self._closing = True
                    channel.close(1011, wire.INTERNAL_ERROR)
            finally:
                self.proto.closed()
                self.engine.close()
                tasks = [*self._timers.values(), *self._jobs.values()]
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                for task in tasks:
                    if task is not asyncio.current_task():
                        with contextlib.suppress(BaseException):
                            await task
                if not channel.closed.is_set() and not self._closing:
                    channel.close(1000, "")

    def execute(self, actions: list[Action]) -> Speak | None:
        """Run actions in order; a `Speak` is handed back to the job that asked for it."""
        assert self.channel is not None
        speak: Speak | None = None
        for action in actions:
            if isinstance(action, Send):
                if not self._closing:
                    self.channel.send(self.proto.encode(action.message))
            elif isinstance(action, Close):
                if not self._closing:
                    self._closing = True
                    self.channel.close(action.code, wire.close_reason(action.reason))
            elif isinstance(action, Generate):
                job = asyncio.create_task(self._run_job(action), name=f"gemini-job:{action.job}")
                self._jobs[action.job] = job
                job.add_done_callback(functools.partial(self._job_done, action.job))
            elif isinstance(action, Stop):
                stopped = self._jobs.pop(action.job, None)
                if stopped is not None and stopped is not asyncio.current_task():
                    stopped.cancel()
            elif isinstance(action, StartTimer):
                old = self._timers.pop(action.name, None)
                if old is not None and old is not asyncio.current_task():
                    old.cancel()
                self._timers[action.name] = asyncio.create_task(
                    self._fire(action.name, action.at), name=f"gemini-timer:{action.name}"
                )
            elif isinstance(action, CancelTimer):
                timer = self._timers.pop(action.name, None)
                if timer is not None and timer is not asyncio.current_task():
                    timer.cancel()
            elif isinstance(action, Speak):
                speak = action
        return speak

    async def _fire(self, name: str, at: float) -> None:
        delay = at - self._now()
        if delay > 0:
            await self.ctx.clock.sleep(delay)
        if self._timers.get(name) is asyncio.current_task():
            del self._timers[name]
        self.execute(self.proto.timer(name, self._now()))

    def _job_done(self, job: int, task: asyncio.Task[None]) -> None:
        if self._jobs.get(job) is task:
            del self._jobs[job]

    def _expire_now(self) -> None:
        """The `expire` fault: the protocol's goAway → close, starting now."""
        self.execute(self.proto.expire(self._now()))

    # -- the model's work for one job ----------------------------------------------------------
    async def _run_job(self, job: Generate) -> None:
        """Hear → think → speak, reporting every step to the protocol."""
        proto, engine = self.proto, self.engine
        try:
            if job.turn is not None:
                heard = await engine.hear(job.turn, proto.tools)
                self.execute(proto.heard(job.job, heard, self._now()))
            request = proto.context(job.job)
            if request is None:
                return
            reply = await engine.think(
                request.history,
                tools=request.tools,
                instructions=request.instructions,
                facts=request.facts,
            )
            speak = self.execute(proto.replied(job.job, reply, self._now()))
            while speak is not None:
                if speak.modality == "text":
                    stream = engine.write(speak.text, start=speak.start, cold=speak.cold)
                else:
                    stream = await engine.speak(
                        speak.text, voice=speak.voice, start=speak.start, cold=speak.cold
                    )
                async for piece in stream:
                    self.execute(proto.piece(job.job, piece, self._now()))
                speak = self.execute(proto.spoken(job.job, self._now()))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gemini: reply failed")
            self.execute(proto.failed(job.job))
