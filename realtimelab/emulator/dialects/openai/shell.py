"""OpenAI Realtime (GA) dialect: `/v1/realtime?model=…` and `POST /v1/realtime/client_secrets`.

The protocol logic lives in `protocol.RealtimeProtocol` (sans-IO); this module is the thin
asyncio shell around it:

* the upgrade check (Bearer key, browser subprotocol `openai-insecure-api-key.<KEY>`, minted
  `ek_` keys and their expiry → 401 JSON before the WebSocket opens),
* a read loop that feeds frames to the protocol and executes the returned actions in order,
* one runner task per response (hear → think → speak, paced by the engine) and one task per
  committed turn being transcribed. The runner streams audio as the emulated model generates
  it: after `openai_first_audio_ms`, at `openai_generation_rate` × real time (4× by default),
  so `response.done` arrives while a listener is still hearing the reply — as on the real
  service, where barge-in after `response.done` is the client's to handle (stop playback,
  truncate),
* the session-duration timer (`EmulatorConfig.openai_max_session_s`): `error
  session_expired`, then close with **1000** (the real close code is undocumented; 1000 keeps
  the SDK's auto-reconnect, which only retries 1001/1005/1006/1011-1015, from hammering a
  session that cannot be resumed).

Decisions where the real server is not documented: malformed JSON → `error`
code `invalid_json`; unknown item ids → `item_not_found`; `conversation.created` is not sent
(absent from live GA captures); `rate_limits.updated` follows `response.done`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtimelab.emulator.contract import (
    ConnectionContext,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    SessionChannel,
    json_response,
)
from realtimelab.emulator.dialects.openai import config as cfg
from realtimelab.emulator.dialects.openai.protocol import (
    Action,
    CancelResponse,
    Close,
    Hear,
    Judge,
    RealtimeProtocol,
    Send,
    StartResponse,
)
from realtimelab.emulator.engine import Engine, Heard
from realtimelab.emulator.ids import IdMint, secret_token
from realtimelab.emulator.timing import GenerationTiming

log = logging.getLogger("realtimelab.emulator.openai")

DEFAULT_MODEL = cfg.DEFAULT_MODEL
EK_DEFAULT_S = 600
EK_RANGE_S = (10, 7200)


def _error(
    message: str,
    code: str | None = None,
    param: str | None = None,
    type_: str = "invalid_request_error",
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _bearer(headers: Mapping[str, str] | Any) -> str | None:
    """The key from `Authorization: Bearer …` or the browser subprotocol trick."""
    auth = headers.get("Authorization") or headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return str(auth[7:].strip()) or None
    protocols = headers.get("Sec-WebSocket-Protocol") or headers.get("sec-websocket-protocol")
    for proto in (protocols or "").split(","):
        proto = proto.strip()
        if proto.startswith("openai-insecure-api-key."):
            return proto.removeprefix("openai-insecure-api-key.") or None
    return None


class OpenAIDialect:
    """The GA realtime protocol on the shared emulator port."""

    name = "openai"

    def matches(self, path: str) -> bool:
        return path.rstrip("/") == "/v1/realtime"

    def http_routes(self) -> Mapping[tuple[str, str], HttpHandler]:
        return {("POST", r"/v1/realtime/client_secrets/?"): self.create_client_secret}

    # -- auth ----------------------------------------------------------------------------------
    def check_upgrade(self, request: Request, ctx: ConnectionContext) -> HttpResponse | None:
        key = _bearer(request.headers)
        if key is None:
            return json_response(
                401,
                _error(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code="missing_api_key",
                ),
            )
        if key.startswith("ek_"):
            minted = ctx.state.setdefault("ephemeral", {}).get(key)
            if minted is None or minted["expires_at"] <= time.time():
                return json_response(
                    401,
                    _error(
                        "The ephemeral key is invalid or has expired. Mint a new one with "
                        "POST /v1/realtime/client_secrets.",
                        code="invalid_api_key",
                    ),
                )
            ctx.extras["initial_session"] = minted["session"]
            ctx.extras["model"] = minted["model"]
        elif not ctx.config.key_allowed(key):
            return json_response(
                401,
                _error(
                    f"Incorrect API key provided: {key[:4]}****{key[-4:]}.", code="invalid_api_key"
                ),
            )
        intent = ctx.param("intent") or "realtime"
        if intent not in ("realtime", "transcription"):
            return json_response(
                400,
                _error(
                    f"Invalid value: '{intent}'. Supported values "
                    "are: 'realtime' and 'transcription'.",
                    code="invalid_value",
                    param="intent",
                ),
            )
        return None

    # -- ephemeral keys ------------------------------------------------------------------------
    def create_client_secret(self, request: HttpRequest, ctx: HttpContext) -> HttpResponse:
        key = _bearer(request.headers)
        if key is None or key.startswith("ek_") or not ctx.config.key_allowed(key):
            return json_response(401, _error("Missing or invalid API key.", code="invalid_api_key"))
        try:
            body = request.json()
        except ValueError:
            return json_response(
                400,
                _error("We could not parse the JSON body of your request.", code="invalid_json"),
            )
        if not isinstance(body, Mapping):
            return json_response(400, _error("The body must be a JSON object."))
        expires = body.get("expires_after") or {}
        seconds = expires.get("seconds", EK_DEFAULT_S) if isinstance(expires, Mapping) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not EK_RANGE_S[0] <= seconds <= EK_RANGE_S[1]
        ):
            return json_response(
                400,
                _error(
                    f"Invalid 'expires_after.seconds': must be an integer in {EK_RANGE_S[0]}.."
                    f"{EK_RANGE_S[1]}.",
                    code="invalid_value",
                    param="expires_after.seconds",
                ),
            )
        update = body.get("session") or {"type": "realtime"}
        intent = update.get("type", "realtime") if isinstance(update, Mapping) else "realtime"
        model = (
            str(update.get("model", DEFAULT_MODEL))
            if isinstance(update, Mapping)
            else DEFAULT_MODEL
        )
        refusal = cfg.model_refusal(model, ctx.config.model_day()) if intent == "realtime" else None
        if refusal is not None:  # REST convention for an unknown model: 404 model_not_found
            return json_response(
                404, _error(refusal, code="model_not_found", param="session.model")
            )
        now = time.time()
        ids = IdMint()
        try:
            session = cfg.default_session(
                session_id=ids.new("sess"),
                model=model,
                expires_at=int(now + ctx.config.openai_max_session_s),
                intent=str(intent),
            )
            session = cfg.apply_update(session, update)
        except cfg.ConfigError as exc:
            return json_response(400, _error(exc.message, code=exc.code, param=exc.param))
        value = secret_token("ek")
        expires_at = int(now + seconds)
        ctx.state.setdefault("ephemeral", {})[value] = {
            "expires_at": now + seconds,
            "session": dict(update),
            "model": model,
        }
        return json_response(200, {"value": value, "expires_at": expires_at, "session": session})

    # -- the session -----------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        _, ids = ctx.ids.connection("openai")
        session_id = ids.new("sess")
        timing = GenerationTiming(
            rate=ctx.config.openai_generation_rate,
            first_audio_ms=ctx.config.openai_first_audio_ms,
            speed=ctx.config.speed,
        )
        engine = Engine(
            ctx.components,
            input_rate=cfg.AUDIO_RATE,
            output_rate=cfg.AUDIO_RATE,
            timing=timing,
            seed=ctx.config.seed,
            clock=ctx.clock,
        )
        runner = _SessionRunner(ctx, engine)
        async with ctx.session(ws, session_id, on_expire=runner.expire_now) as channel:
            runner.channel = channel
            if ws.request is not None and ws.request.headers.get("OpenAI-Beta", "").startswith(
                "realtime"
            ):
                channel.send_json(_beta_error(ids))
                channel.close(4000, "beta_api_shape_disabled")
                await _drain_until_closed(ws)
                return
            try:
                proto = RealtimeProtocol(
                    ids=ids,
                    input_audio=engine.new_input(None),
                    session_id=session_id,
                    model=ctx.param("model") or ctx.extras.get("model") or DEFAULT_MODEL,
                    created_at=time.time(),
                    max_session_s=ctx.config.openai_max_session_s,
                    intent=ctx.param("intent") or "realtime",
                    initial_session=ctx.extras.get("initial_session"),
                    model_day=ctx.config.model_day(),
                )
            except cfg.ConfigError as exc:  # a minted key's session no longer validates
                channel.send_json(
                    {
                        "type": "error",
                        "event_id": ids.new("event"),
                        "error": {
                            "type": "invalid_request_error",
                            "code": exc.code,
                            "message": exc.message,
                            "param": exc.param,
                            "event_id": None,
                        },
                    }
                )
                channel.close(1008, "invalid session")
                return
            runner.proto = proto
            await runner.run(ws)


def _beta_error(ids: IdMint) -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": ids.new("event"),
        "error": {
            "type": "invalid_request_error",
            "code": "beta_api_shape_disabled",
            "message": "The Realtime API beta shape (OpenAI-Beta: realtime=v1) is no longer "
            "supported. Remove the header and use the GA interface.",
            "param": None,
            "event_id": None,
        },
    }


async def _drain_until_closed(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            async for _ in ws:
                pass


class _SessionRunner:
    """Executes protocol actions: the asyncio part of one OpenAI session."""

    def __init__(self, ctx: ConnectionContext, engine: Engine) -> None:
        self.ctx = ctx
        self.engine = engine
        self.channel: SessionChannel | None = None
        self.proto: RealtimeProtocol | None = None
        self.runners: dict[str, asyncio.Task[None]] = {}
        self.hearing: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def _p(self) -> RealtimeProtocol:
        assert self.proto is not None
        return self.proto

    async def run(self, ws: ServerConnection) -> None:
        proto, channel = self._p(), self.channel
        assert channel is not None
        await self.execute(proto.open())
        timer = asyncio.create_task(self._expire_after(self.ctx.config.openai_max_session_s))
        try:
            async for message in ws:
                channel.tap_in(message)
                await self.execute(proto.receive(message))
                self.engine.listen(proto.input, proto.tools)
        finally:
            timer.cancel()
            self.engine.close()
            tasks = [*self.runners.values(), *self.hearing.values(), *self._background]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def execute(self, actions: list[Action]) -> None:
        """Run actions in order. Only a cancel awaits (the runner must stop before `done`)."""
        channel, proto = self.channel, self._p()
        assert channel is not None
        for action in actions:
            if isinstance(action, Send):
                channel.send_json(action.event)
            elif isinstance(action, Close):
                channel.close(action.code, action.reason)
            elif isinstance(action, Hear):
                self.hearing[action.item_id] = asyncio.create_task(self._hear(action))
            elif isinstance(action, Judge):
                judging = asyncio.create_task(self._judge(action))
                self._background.add(judging)
                judging.add_done_callback(self._background.discard)
            elif isinstance(action, StartResponse):
                self.runners[action.response_id] = asyncio.create_task(
                    self._respond(action.response_id), name=f"response:{action.response_id}"
                )
            elif isinstance(action, CancelResponse):
                task = self.runners.pop(action.response_id, None)
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                if proto.responses[action.response_id].status == "in_progress":
                    await self.execute(proto.response_cancelled(action.response_id, action.reason))

    def _send(self, actions: list[Action]) -> None:
        """Runner-side sends: only `Send` actions come out of the output-building methods."""
        assert self.channel is not None
        for action in actions:
            assert isinstance(action, Send)
            self.channel.send_json(action.event)

    async def _hear(self, action: Hear) -> None:
        proto = self._p()
        try:
            heard = await self.engine.hear(action.turn, proto.tools())
        except Exception as exc:
            log.exception("hearing failed for %s", action.item_id)
            self._send(proto.hearing_failed(action.item_id, str(exc)))
            heard = Heard("", False, 0.0)
        self._send(proto.heard(action.item_id, heard, action.source))

    async def _judge(self, action: Judge) -> None:
        """semantic_vad: hear the paused turn so far, then let the protocol decide."""
        proto = self._p()
        try:
            heard = await self.engine.hear(action.turn, proto.tools(), final=False)
        except Exception:
            log.exception("hearing a paused turn failed")
            heard = Heard("", False, 0.0)
        await self.execute(proto.judged(action.turn, heard))

    async def _respond(self, response_id: str) -> None:
        proto = self._p()
        try:
            pending = [t for t in self.hearing.values() if not t.done()]
            if pending:
                await asyncio.wait(pending)  # wait() never cancels them if we are cancelled
            started = self.ctx.clock.now()  # the model starts here: first-audio latency counts
            plan = proto.plan(response_id)
            reply = await self.engine.think(
                plan.history, tools=plan.tools, instructions=plan.instructions, facts=plan.facts
            )
            reply = proto.settle(plan, reply)
            spoken = reply.preamble if reply.tool_calls else reply.text
            spoken = proto.limit_text(response_id, spoken)
            if spoken:
                self._send(proto.open_message(response_id))
                stream = (
                    await self.engine.speak(
                        spoken, voice=plan.voice, speed=plan.speed, start=started
                    )
                    if plan.modality == "audio"
                    else self.engine.write(spoken, start=started)
                )
                async for piece in stream:
                    self._send(proto.piece(response_id, piece))
                self._send(proto.close_message(response_id))
            for call in reply.tool_calls:
                self._send(proto.function_call(response_id, call))
            self._send(proto.finish_response(response_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("response %s failed", response_id)
            self._send(proto.response_failed(response_id, f"The emulator failed: {exc}"))
        finally:
            if self.runners.get(response_id) is asyncio.current_task():
                del self.runners[response_id]

    async def _expire_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.execute(self._p().expire())

    def expire_now(self) -> None:
        """Fault injection (`Fault("expire")` / `expire_after_s`): expire immediately."""
        if self.proto is None:
            return
        task = asyncio.create_task(self.execute(self.proto.expire()))
        self._background.add(task)
        task.add_done_callback(self._background.discard)


DIALECT = OpenAIDialect()
