"""The Gemini Live dialect: `BidiGenerateContent[Constrained]` on v1, v1beta and v1alpha.

This module is the thin asyncio shell. The wire rules live in sans-IO modules:

* `gemini_protocol.GeminiProtocol` — frames in → typed inputs, state → server frames;
* `gemini_setup` — setup validation and ephemeral-token constraints;
* `gemini_tokens` / `gemini_resumption` — the per-emulator token and handle stores;
* `gemini_wire` — spelling, base64, mime rates, constants.

`GeminiSession` drives the provider-neutral engine (VAD, hearing, brain, voice, pacing) and
decides *when* things happen: barge-in, tool scheduling (BLOCKING / NON_BLOCKING with SILENT,
WHEN_IDLE, INTERRUPT), resumption snapshots, the connection lifetime (`goAway` then close 1000),
and the session audio limit.

Choices where Google's behaviour is undocumented (reference §10), so tests pin them down:

* bad key → HTTP 403 at the upgrade; unknown/expired token → HTTP 401 at the upgrade; a token
  with no uses left, or past `newSessionExpireTime`, → close 1008 after `setup` (only then do we
  know whether it is a resumption, which is free);
* a message after the token's `expireTime` → close 1008 "Ephemeral token has expired.";
* session audio limit (15 min without `contextWindowCompression`) → close 1011
  "Deadline expired before operation could complete." (the wording Google uses for deadlines);
* `toolResponse` without `id` → 1007; a response for an unknown/cancelled id is ignored;
* resuming with a different model → 1007 (the model cannot change within a session).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from realtimelab.emulator.dialects.gemini import wire
from realtimelab.emulator.dialects.gemini.frames import (
    ActivityEnd,
    ActivityStart,
    AudioIn,
    AudioStreamEnd,
    Close,
    ContextUpdate,
    GeminiProtocol,
    Input,
    SetupReceived,
    TextIn,
    ToolResponses,
    TurnsIn,
    TurnState,
    UsageCounts,
    VideoIn,
)
from realtimelab.emulator.dialects.gemini.resumption import ResumptionStore, Snapshot
from realtimelab.emulator.dialects.gemini.setup import GeminiSetup
from realtimelab.emulator.dialects.gemini.tokens import TokenError, TokenStore
from realtimelab.emulator.engine import (
    Engine,
    InputAudio,
    PacedStream,
    SpeechBegan,
    SpeechEnded,
    TurnAudio,
    count_usage,
)
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    Item,
    SessionFacts,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.contract import (
    ConnectionContext,
    HttpContext,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    SessionChannel,
    json_response,
)

__all__ = ["DIALECT", "GeminiDialect", "GeminiSession", "go_away_lead_s"]

log = logging.getLogger("realtimelab.emulator.gemini")

INPUT_RATE = 16_000
_PATH = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\."
    r"GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_TOKENS_PATH = r"/(v1alpha|v1beta|v1)/auth_tokens"


def go_away_lead_s(lifetime_s: float) -> float:
    """How long before the close `goAway` is sent: min(60 s, 20 % of the lifetime)."""
    return min(60.0, 0.2 * lifetime_s)


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
    """Every way a Gemini client authenticates (reference §1.2); a token wins over a key."""
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
                    401, "Ephemeral tokens are only accepted on BidiGenerateContentConstrained.",
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
                403, "Method doesn't allow unregistered callers. Please use an API key.",
                "PERMISSION_DENIED",
            )
        if not ctx.config.key_allowed(creds.key):
            return _google_error(400, "API key not valid. Please pass a valid API key.",
                                 "INVALID_ARGUMENT")
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
# One session
# ------------------------------------------------------------------------------------------


class GeminiSession:
    """Drives one connection: protocol inputs → engine work → paced server frames."""

    def __init__(self, ws: ServerConnection, ctx: ConnectionContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.token_name: str | None = ctx.extras.get("token")
        token = _tokens(ctx.state).get(self.token_name) if self.token_name else None
        self.proto = GeminiProtocol(
            api_version=str(ctx.extras.get("api_version", "v1beta")),
            token_setup=token.setup if token else None,
            token_field_mask=token.field_mask if token else None,
            seed=ctx.config.seed,
        )
        self.channel: SessionChannel | None = None
        self.setup: GeminiSetup | None = None
        self.engine: Engine | None = None
        self.input: InputAudio | None = None
        self.history: list[Item] = []
        self.instructions = ""
        self.tools: tuple[ToolSpec, ...] = ()
        self.session_audio_ms = 0.0
        self.audio_limit_ms = 1000 * float(ctx.config.gemini_session_audio_s)
        self._resamplers: dict[int, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._stream: PacedStream | None = None
        self._turn_output = ""
        self._turn_audio_ms = 0.0
        self._followups = 0  # WHEN_IDLE results waiting for the current turn to end
        self._queued: list[TurnAudio] = []  # spoken turns held back under NO_INTERRUPTION
        self._last_turn_end_ms = 0.0
        self._timers: list[asyncio.Task[None]] = []
        self._closing = False
        self.lifetime_s = float(ctx.config.gemini_connection_s)
        self.started = time.monotonic()

    # -- the socket loop ---------------------------------------------------------------------
    async def run(self) -> None:
        session_id = f"gemini-{id(self):x}"
        async with self.ctx.session(self.ws, session_id, on_expire=self._expire_now) as channel:
            self.channel = channel
            self._timers.append(asyncio.create_task(self._lifetime()))
            try:
                async for frame in self.ws:
                    channel.tap_in(frame)
                    if self._closing:
                        continue
                    for event in self.proto.receive(frame):
                        await self._on(event)
                    if self._closing:
                        break
            except ConnectionClosed:
                pass
            finally:
                for timer in self._timers:
                    timer.cancel()
                if self._task is not None:
                    self._task.cancel()
                    with contextlib.suppress(BaseException):
                        await self._task
                if not channel.closed.is_set() and not self._closing:
                    channel.close(1000, "")

    def _send(self, message: Mapping[str, Any]) -> None:
        assert self.channel is not None
        if not self._closing:
            self.channel.send(self.proto.encode(message))

    def _close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.proto.close()
        if self._task is not None:
            self._task.cancel()
        assert self.channel is not None
        self.channel.close(code, reason)

    # -- lifetime and expiry -----------------------------------------------------------------
    async def _lifetime(self) -> None:
        lead = go_away_lead_s(self.lifetime_s)
        await asyncio.sleep(max(0.0, self.lifetime_s - lead))
        self._send(self.proto.go_away_frame(lead))
        await asyncio.sleep(lead)
        self._close(1000, "")

    def _expire_now(self) -> None:
        """The `expire` fault: the same goAway → close as the lifetime, starting now."""
        for timer in self._timers:
            timer.cancel()
        lead = min(1.0, go_away_lead_s(self.lifetime_s))

        async def expire() -> None:
            self._send(self.proto.go_away_frame(lead))
            await asyncio.sleep(lead)
            self._close(1000, "")

        self._timers.append(asyncio.create_task(expire()))

    # -- inputs --------------------------------------------------------------------------------
    async def _on(self, event: Input) -> None:
        if isinstance(event, Close):
            log.info("gemini: closing %s %s (%s)", event.code, event.reason, event.detail)
            self._close(event.code, event.reason)
            return
        if isinstance(event, SetupReceived):
            self._start(event.setup)
            return
        if self.token_name and not self._token_alive():
            return
        if isinstance(event, AudioIn):
            self._on_audio(event)
        elif isinstance(event, VideoIn):
            pass  # accepted and ignored: the emulator has no eyes
        elif isinstance(event, TextIn):
            self._interrupt()
            self.history.append(UserMessage(event.text))
            self._reply()
        elif isinstance(event, ActivityStart):
            assert self.input is not None
            if self.setup is not None and self.setup.barge_in:
                self._interrupt()
            if self.setup is not None and self.setup.turn_coverage == "TURN_INCLUDES_ONLY_ACTIVITY":
                self.input.clear()
        elif isinstance(event, ActivityEnd | AudioStreamEnd):
            assert self.input is not None
            if isinstance(event, AudioStreamEnd) and not self.input.in_speech:
                return
            turn = self.input.commit()
            if turn.pcm:
                self._reply(turn)
        elif isinstance(event, TurnsIn):
            self._interrupt()
            self.history.extend(event.items)
            if event.turn_complete:
                self._reply()
        elif isinstance(event, ToolResponses):
            self._on_tool_responses(event)
        elif isinstance(event, ContextUpdate):
            if event.instructions is not None:
                self.instructions = event.instructions
            if event.tools is not None:
                self.tools = event.tools

    def _token_alive(self) -> bool:
        assert self.token_name is not None
        try:
            _tokens(self.ctx.state).check_live(self.token_name)
        except TokenError as exc:
            self._close(1008, str(exc))
            return False
        return True

    def _start(self, setup: GeminiSetup) -> None:
        store = _handles(self.ctx.state)
        if setup.resume_handle is not None:
            snap = store.get(setup.resume_handle)
            if snap is None:
                self._close(1008, wire.SESSION_NOT_FOUND)
                return
            if snap.model != setup.model:
                self._close(1007, wire.INVALID_ARGUMENT)
                return
            self.history = list(snap.history)
            self.session_audio_ms = snap.session_audio_ms
        elif self.token_name is not None:
            try:
                _tokens(self.ctx.state).start_session(self.token_name)
            except TokenError as exc:
                self._close(exc.code, str(exc))
                return
        self.setup = setup
        self.instructions = setup.instructions
        self.tools = setup.tools
        cfg = self.ctx.config
        self.engine = Engine(
            components=self.ctx.components,
            input_rate=INPUT_RATE,
            output_rate=wire.OUTPUT_RATE,
            speed=cfg.speed,
            seed=cfg.seed,
            clock=self.ctx.clock,
        )
        self.input = self.engine.new_input(setup.vad.params())
        self._send(self.proto.accept_setup())
        if setup.resumption:
            self._send_resumption_update()

    def _on_audio(self, event: AudioIn) -> None:
        assert self.input is not None and self.setup is not None
        pcm = event.pcm
        if event.rate != INPUT_RATE:
            resampler = self._resamplers.get(event.rate)
            if resampler is None:
                from realtimelab.audio import StreamResampler

                resampler = self._resamplers[event.rate] = StreamResampler(event.rate, INPUT_RATE)
            pcm = resampler.process(pcm)
        self.session_audio_ms += len(event.pcm) / (event.rate * 2 / 1000)
        if self._over_audio_limit():
            return
        for ev in self.input.append(pcm):
            if isinstance(ev, SpeechBegan):
                if self.setup.barge_in:
                    self._interrupt()
            elif isinstance(ev, SpeechEnded) and ev.turn.pcm:
                self._reply(ev.turn)

    def _over_audio_limit(self) -> bool:
        assert self.setup is not None
        if self.setup.compression or self.session_audio_ms <= self.audio_limit_ms:
            return False
        self._close(1011, "Deadline expired before operation could complete.")
        return True

    def _on_tool_responses(self, event: ToolResponses) -> None:
        """Fold results into history and schedule generation as each response asks.

        An INTERRUPT result cuts the current answer *before* it is added, so the history reads
        "(interrupted answer), result" and the next turn is about the result.
        """
        known = [r for r in event.responses if r.known]
        for r in event.responses:
            if not r.known:
                log.info("gemini: ignoring response for unknown call %s", r.call_id)
        if any(r.non_blocking and r.scheduling == "INTERRUPT" for r in known):
            self._interrupt(cancel_calls=False)
        run_now = False
        for r in known:
            self.history.append(FunctionResult(r.call_id, r.name, r.output))
            if not r.non_blocking or r.scheduling == "SILENT":
                continue
            if self._busy() or self.proto.turn is not TurnState.IDLE:
                self._followups += 1  # WHEN_IDLE: after the current answer
            else:
                run_now = True
        blocking_done = any(not r.non_blocking for r in known)
        if blocking_done and self.proto.turn is TurnState.GENERATING and not self._busy():
            self._reply(continuing=True)  # every blocking call is answered: finish the turn
        elif run_now:
            self._followups = 0
            self._reply()

    def _busy(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- generation ----------------------------------------------------------------------------
    def _reply(self, turn: TurnAudio | None = None, *, continuing: bool = False) -> None:
        """Start a model turn (or continue the open one after blocking tool results).

        A spoken turn that ends while the model is still answering under NO_INTERRUPTION waits
        for that answer to finish instead of cutting it off.
        """
        if not continuing:
            assert self.setup is not None
            if turn is not None and not self.setup.barge_in and self.proto.turn is not (
                TurnState.IDLE
            ):
                self._queued.append(turn)
                return
            self._interrupt()
        self._task = asyncio.create_task(self._respond(turn, continuing))
        self._task.add_done_callback(self._respond_finished)

    def _respond_finished(self, task: asyncio.Task[None]) -> None:
        """A reply that crashed must not leave the client waiting forever: close 1011, as the
        real service does on an internal error."""
        if task.cancelled() or task.exception() is None:
            return
        log.exception("gemini: reply failed", exc_info=task.exception())
        self._close(1011, wire.INTERNAL_ERROR)

    def _interrupt(self, *, cancel_calls: bool = True) -> None:
        """Barge-in / new input: cut generation, cancel blocking calls, close the turn."""
        if self.proto.turn is TurnState.IDLE:
            return
        task, stream = self._task, self._stream
        if stream is not None:
            stream.cancel()
        if task is not None and not task.done():
            task.cancel()
        self._task = None
        if stream is not None and stream.sent_text:
            self.history.append(AssistantMessage(stream.sent_text, interrupted=True))
        self._stream = None
        if cancel_calls:
            cancel = self.proto.cancel_blocking_calls()
            if cancel is not None:
                self._send(cancel)
        self._send(self.proto.interrupted_frame())
        self._send(self.proto.turn_complete_frame(self._usage()))
        self._after_turn(start_next=False)  # the input that interrupted starts the next turn

    async def _respond(self, turn: TurnAudio | None, continuing: bool) -> None:
        engine, setup = self.engine, self.setup
        assert engine is not None and setup is not None and self.input is not None
        if not continuing:
            self.proto.begin_turn()
            self._turn_output, self._turn_audio_ms = "", 0.0
            if setup.resumption:
                self._send(self.proto.resumption_frame(None))
        if turn is not None:
            heard = await engine.hear(turn, self.tools)
            if setup.input_transcription and heard.text:
                self._send(self.proto.input_transcription_frame(heard.text))
            if setup.turn_coverage == "TURN_INCLUDES_ALL_INPUT":
                audio_ms = max(turn.duration_ms, turn.end_ms - self._last_turn_end_ms)
            else:
                audio_ms = turn.duration_ms
            self._last_turn_end_ms = turn.end_ms
            self.history.append(UserMessage(heard.text, audio_ms=audio_ms))
        facts = SessionFacts(
            provider="gemini", voice=setup.voice, modality=setup.modality, model=setup.model,
            vad={} if setup.vad.disabled else {"type": "automatic_activity_detection"},
        )
        reply = await engine.think(
            self.history, tools=self.tools, instructions=self.instructions, facts=facts
        )
        if reply.tool_calls:
            if reply.preamble:
                await self._speak(reply.preamble)
            calls = [
                FunctionCall(self.proto.new_call_id(), c.name, dict(c.arguments))
                for c in reply.tool_calls
            ]
            self.history.extend(calls)
            self._send(self.proto.tool_call_frame(calls))
            if self.proto.turn is TurnState.AWAITING_TOOLS:
                return  # the turn stays open until the blocking results arrive
        else:
            await self._speak(reply.text)
            if reply.text:
                self.history.append(AssistantMessage(reply.text))
        self._send(self.proto.generation_complete_frame())
        self._send(self.proto.turn_complete_frame(self._usage()))
        self._stream = None
        self._after_turn()

    async def _speak(self, text: str) -> None:
        engine, setup = self.engine, self.setup
        assert engine is not None and setup is not None
        if not text:
            return
        if setup.modality == "text":
            stream = engine.write(text)
        else:
            stream = await engine.speak(text, voice=setup.voice, speed=1.0)
        self._stream = stream
        # A second utterance in the same turn (the answer after a spoken acknowledgement) must
        # not glue its first word to the last one: real Gemini fragments carry their spacing.
        sep = " " if self._turn_output and not self._turn_output[-1].isspace() else ""
        async for piece in stream:
            if piece.kind == "audio":
                self._send(self.proto.audio_frame(piece.audio))
                self._turn_audio_ms += piece.audio_ms
                self.session_audio_ms += piece.audio_ms
            elif piece.kind == "text":
                self._send(self.proto.text_frame(sep + piece.text))
                self._turn_output += sep + piece.text
                sep = ""
            elif piece.kind == "transcript":
                self._turn_output += sep + piece.text
                if setup.output_transcription:
                    self._send(self.proto.output_transcription_frame(sep + piece.text))
                sep = ""

    def _usage(self) -> UsageCounts:
        context = [self.instructions]
        audio_ms = 0.0
        for item in self.history:
            if isinstance(item, UserMessage):
                context.append(item.text)
                audio_ms += item.audio_ms or 0.0
            elif isinstance(item, AssistantMessage):
                context.append(item.text)
            elif isinstance(item, FunctionCall):
                context.append(item.name + json.dumps(dict(item.arguments)))
            else:
                context.append(item.output)
        usage = count_usage(
            context_text="\n".join(context),
            context_audio_ms=audio_ms,
            output_text=self._turn_output,
            output_audio_ms=self._turn_audio_ms,
        )
        text_out = usage.output_text if self.setup and self.setup.modality == "text" else 0
        return UsageCounts(
            prompt_text=usage.input_text,
            prompt_audio=usage.input_audio,
            response_text=text_out,
            response_audio=usage.output_audio,
        )

    def _after_turn(self, *, start_next: bool = True) -> None:
        """Turn closed: publish a resumption handle, then run a queued turn or a follow-up."""
        if self.setup is not None and self.setup.resumption:
            self._send_resumption_update()
        if not start_next:
            return
        if self._queued:
            self._task = asyncio.create_task(self._respond(self._queued.pop(0), False))
        elif self._followups:
            self._followups = 0
            self._task = asyncio.create_task(self._respond(None, False))

    def _send_resumption_update(self) -> None:
        assert self.setup is not None
        if not self.proto.resumable:
            self._send(self.proto.resumption_frame(None))
            return
        handle = _handles(self.ctx.state).put(
            Snapshot(
                model=self.setup.model,
                history=tuple(self.history),
                session_audio_ms=self.session_audio_ms,
                last_client_index=self.proto.client_index,
                token_name=self.token_name,
            )
        )
        self._send(self.proto.resumption_frame(handle))
