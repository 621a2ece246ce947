"""OpenAI Realtime (GA) as a sans-IO codec: verbs → JSON frames, frames → unified events.

GA only: the URL is `wss://api.openai.com/v1/realtime?model=…`, auth is `Authorization: Bearer`
(an API key or an `ek_…` client secret), and `OpenAI-Beta` is never sent (the live server
closes beta-shaped sessions with 4000).

State kept here, and why:
- the active response id: `response.create` must wait for it to finish, and a barge-in
  cancels it unless server VAD (`interrupt_response`) already does;
- milliseconds of audio received per assistant item: `conversation.item.truncate` with an
  `audio_end_ms` past the audio the server sent is an error, so truncation is clamped to it;
- pending tool calls: the follow-up `response.create` is sent once, after the last result,
  and a call is announced once although both `function_call_arguments.done` and
  `output_item.done` describe it;
- late tool results sent during a reply, held with their `response.create` until it is done.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from realtimelab import events as ev
from realtimelab.catalogue import default_model
from realtimelab.config import SessionConfig, deep_merge, warn_unsupported
from realtimelab.providers import wire
from realtimelab.providers.base import (
    AssistantText,
    Capabilities,
    ConnectRequest,
    Frame,
    HistoryItem,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserText,
    close_events,
    with_query,
)
from realtimelab.providers.openai.session_config import turn_detection, unsupported_settings
from realtimelab.providers.openai.tools import wire_tool
from realtimelab.providers.openai.voices import voice_wire

__all__ = ["CAPABILITIES", "DEFAULT_MODEL", "TITLE", "OpenAICodec"]

TITLE = "OpenAI Realtime"
DEFAULT_URL = "wss://api.openai.com"
#: The model a codec opens when none is named: the catalogue's current recommendation.
DEFAULT_MODEL = default_model("openai").name
TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
RATE = 24000
_BYTES_PER_MS = RATE * 2 / 1000
#: Error codes after which the session cannot go on.
FATAL_CODES = frozenset(
    {"session_expired", "beta_api_shape_disabled", "invalid_api_key", "insufficient_quota"}
)
#: How many assistant items to remember audio lengths for (truncation targets recent items).
_AUDIO_ITEMS_KEPT = 32

CAPABILITIES = Capabilities(
    provider="openai",
    input_rate=RATE,
    output_rate=RATE,
    server_vad=True,
    semantic_vad=True,
    speech_started_events=True,
    manual_commit=True,
    manual_activity=False,
    truncation=True,
    client_cancel=True,
    session_update=True,
    resumption=False,
    go_away=False,
    non_blocking_tools=False,
    text_output=True,
    ephemeral_tokens=True,
    max_connection_s=3600.0,
    tool_call_ends_turn=True,
)


def _text_output(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output)


class OpenAICodec:
    """Sans-IO OpenAI Realtime GA codec. One instance per connection."""

    provider: ev.Provider = "openai"
    capabilities = CAPABILITIES

    def __init__(self, model: str | None = None) -> None:
        self.model = model or DEFAULT_MODEL
        self._active_response: str | None = None
        self._interrupted: set[str] = set()  # responses the server cancels itself (VAD)
        self._audio_ms: OrderedDict[str, float] = OrderedDict()
        self._last_audio_item: str | None = None
        self._announced_calls: set[str] = set()
        self._pending_calls: dict[str, str] = {}  # call_id -> name, awaiting a result
        self._response_calls: dict[str, list[str]] = {}  # response_id -> its call ids
        self._create_after_done = False
        self._late_items: list[Frame] = []  # late tool results held until the reply is done
        self._cancel_requested: str | None = None  # the reply our response.cancel targets
        self._server_interrupts = True  # server VAD cancels replies itself (interrupt_response)
        self._outgoing: list[Frame] = []

    # ------------------------------------------------------------------ connection & config

    def connect_request(
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ConnectRequest:
        credential = token or api_key
        if not credential:
            raise ValueError("OpenAI needs an api_key or an ephemeral token (ek_…)")
        base = (base_url or DEFAULT_URL).rstrip("/")
        if base.startswith("http"):
            base = "ws" + base[len("http") :]
        path = "/realtime" if base.endswith("/v1") else "/v1/realtime"
        url = with_query(f"{base}{path}?model={quote(self.model, safe='')}", query)
        return ConnectRequest(url=url, headers={"Authorization": f"Bearer {credential}"})

    def _session(self, config: SessionConfig) -> dict[str, Any]:
        # stacklevel 4: past this helper and initial_frames/update_frames, to their caller
        warn_unsupported(self.provider, unsupported_settings(config), title=TITLE, stacklevel=4)
        detection = turn_detection(config.vad)
        self._server_interrupts = bool(
            detection is not None and detection.get("interrupt_response", True)
        )
        audio_in: dict[str, Any] = {
            "format": {"type": "audio/pcm", "rate": RATE},
            "turn_detection": detection,
        }
        if config.input_transcription:
            # A model must be named; pick a current one (override via config.extra["openai"]).
            audio_in["transcription"] = {"model": TRANSCRIPTION_MODEL}
        audio_out: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": RATE}}
        voice = voice_wire(config.voice)
        if voice is not None:
            audio_out["voice"] = voice
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["text" if config.output == "text" else "audio"],
            "audio": {"input": audio_in, "output": audio_out},
        }
        if config.instructions:
            session["instructions"] = config.instructions
        session["tools"] = [wire_tool(t) for t in config.tools]
        session["tool_choice"] = config.tool_choice
        if config.max_output_tokens is not None:
            session["max_output_tokens"] = config.max_output_tokens
        # GA removed `temperature` from the session: not sent (warned above).
        extra = config.extra.get(self.provider)
        if extra:
            session = deep_merge(session, extra)
        return session

    def initial_frames(self, config: SessionConfig, *, resume: str | None = None) -> list[Frame]:
        return [{"type": "session.update", "session": self._session(config)}]

    def update_frames(self, config: SessionConfig) -> list[Frame]:
        return [{"type": "session.update", "session": self._session(config)}]

    # ------------------------------------------------------------------ verbs

    def encode_audio(self, pcm: bytes) -> list[Frame]:
        return [{"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}]

    def encode_text(self, text: str) -> list[Frame]:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        return [{"type": "conversation.item.create", "item": item}, *self.encode_create_response()]

    def encode_tool_responses(self, results: Sequence[ToolResult]) -> list[Frame]:
        """One `function_call_output` item per result, then ONE `response.create` once no call
        of the batch is still waiting, deferred until the active reply is done (a second
        `response.create` during a reply is an error). An all-SILENT batch asks for no reply."""
        frames: list[Frame] = []
        for r in results:
            output = _text_output({"error": r.output} if r.is_error else r.output)
            item = {"type": "function_call_output", "call_id": r.call_id, "output": output}
            frames.append({"type": "conversation.item.create", "item": item})
            self._pending_calls.pop(r.call_id, None)
        silent = bool(results) and all(r.scheduling == "SILENT" for r in results)
        if results and not silent and not self._pending_calls:
            frames += self.encode_create_response()
        return frames

    def encode_late_tool_results(self, results: Sequence[ToolResult]) -> list[Frame]:
        """A result for a call already answered by a placeholder: another `function_call_output`
        item for the same `call_id` (the model reads the latest), then ONE `response.create`.
        While a reply is active, *both* wait for its `response.done` (`take_outgoing`): an item
        created mid-reply can land before the reply's own message in the conversation, and the
        model would then answer as if the result came before "still working on it"."""
        frames: list[Frame] = []
        for r in results:
            output = _text_output({"error": r.output} if r.is_error else r.output)
            item = {"type": "function_call_output", "call_id": r.call_id, "output": output}
            frames.append({"type": "conversation.item.create", "item": item})
        if not frames:
            return []
        if self._active_response is not None:
            self._late_items += frames
            self._create_after_done = True
            return []
        return [*frames, *self.encode_create_response()]

    def encode_commit(self) -> list[Frame]:
        return [{"type": "input_audio_buffer.commit"}]

    def encode_create_response(self) -> list[Frame]:
        if self._active_response is not None:
            self._create_after_done = True
            return []
        return [{"type": "response.create"}]

    def encode_interrupt(self, item_id: str | None, played_ms: float) -> list[Frame]:
        """The listener stopped hearing `item_id` after `played_ms`: cancel the reply still
        being generated (unless server VAD already did), and truncate the item there, clamped
        to the audio received (the server refuses an end past what it sent). A truncate at 0
        is sent too: the model must forget an item nobody heard."""
        frames = self.encode_cancel()
        item = item_id or self._last_audio_item
        received = self.received_ms(item) if item else 0.0
        if item and received > 0:
            end_ms = int(max(0.0, min(played_ms, received)))
            frames.append(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item,
                    "content_index": 0,
                    "audio_end_ms": end_ms,
                }
            )
        return frames

    def encode_cancel(self) -> list[Frame]:
        """`response.cancel` for the reply being generated, once, unless server VAD is already
        cancelling it (`interrupt_response`)."""
        active = self._active_response
        if active is None or active in self._interrupted | {self._cancel_requested}:
            return []
        self._cancel_requested = active
        return [{"type": "response.cancel", "response_id": active}]

    def encode_history(self, items: Sequence[HistoryItem]) -> list[Frame]:
        """`conversation.item.create` per record, in order (assistant turns as text: the API
        cannot create assistant audio). No `response.create`: replay never triggers a reply."""
        frames: list[Frame] = []
        for item in items:
            wire: dict[str, Any]
            if isinstance(item, UserText):
                content = [{"type": "input_text", "text": item.text}]
                wire = {"type": "message", "role": "user", "content": content}
            elif isinstance(item, AssistantText):
                content = [{"type": "output_text", "text": item.text}]
                wire = {"type": "message", "role": "assistant", "content": content}
            elif isinstance(item, ToolCallRecord):
                wire = {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments_json,
                }
            elif isinstance(item, ToolResultRecord):
                wire = {
                    "type": "function_call_output",
                    "call_id": item.call_id,
                    "output": item.output,
                }
            else:  # pragma: no cover - the union is closed
                raise TypeError(f"not a history item: {item!r}")
            frames.append({"type": "conversation.item.create", "item": wire})
        return frames

    # ------------------------------------------------------------------ state queries

    @property
    def last_audio_item(self) -> str | None:
        return self._last_audio_item

    def received_ms(self, item_id: str | None) -> float:
        item = item_id or self._last_audio_item
        return self._audio_ms.get(item, 0.0) if item else 0.0

    def take_outgoing(self) -> list[Frame]:
        out, self._outgoing = self._outgoing, []
        return out

    # ------------------------------------------------------------------ decoding

    def decode(self, frame: str | bytes | dict[str, Any], t: float) -> list[ev.Event]:
        """Frame → events. Never raises: a frame that is not JSON, not an object, or whose
        fields have the wrong types becomes one `Error(code="malformed_frame")` carrying the
        frame, and the codec's state is left as it was before that frame."""
        try:
            msg = frame if isinstance(frame, dict) else wire.loads(frame)
        except (ValueError, UnicodeDecodeError) as e:
            return [_error(t, {}, f"malformed frame (not JSON): {e}", "malformed_frame")]
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raw = msg if isinstance(msg, dict) else {}
            return [
                _error(t, raw, "malformed frame: not an object with a `type`", "malformed_frame")
            ]
        handler = _HANDLERS.get(msg["type"])
        if handler is None:
            return []  # known-but-unused or new event types: visible in the raw tap only
        try:
            return handler(self, msg, t, (msg,))
        except Exception as e:  # untrusted input: any failure is the frame's, never the session's
            kind = msg["type"][:80]
            return [_error(t, msg, f"malformed {kind}: {type(e).__name__}: {e}", "malformed_frame")]

    def decode_close(
        self, code: int | None, reason: str, t: float, expected: bool
    ) -> list[ev.Event]:
        """Per the table in `providers/base.py`; e.g. 4000 `beta_api_shape_disabled` is fatal,
        1006/1011 retryable. A preceding `error` frame (if any) was already decoded."""
        return close_events("openai", code, reason, t, expected)

    # one method per server event type ------------------------------------------------------

    def _on_error(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        err = wire.obj(m, "error")
        code = wire.opt_text(err, "code")
        if code == "response_cancel_not_active" and self._cancel_requested is not None:
            self._cancel_requested = None
            return []  # our cancel raced the end of the reply: expected and harmless
        fatal = code in FATAL_CODES
        message = wire.text(err, "message") or "unknown error"
        return [_error(t, m, message, code, fatal=fatal, param=wire.opt_text(err, "param"))]

    def _on_session_created(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        s = wire.obj(m, "session")
        return [
            ev.SessionStarted(
                provider="openai",
                t=t,
                raw=raw,
                session_id=wire.opt_text(s, "id"),
                model=wire.opt_text(s, "model") or self.model,
            )
        ]

    def _on_session_updated(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [ev.SessionUpdated(provider="openai", t=t, raw=raw, config=wire.obj(m, "session"))]

    def _on_speech_started(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """The server heard the user start. With `interrupt_response` it cancels the reply it
        is generating itself, so `encode_interrupt` must not cancel it again. Whether anything
        *audible* was cut is the playout clock's question, not the server's: the conversation
        core decides about `Interrupted`."""
        event = ev.SpeechStarted(
            provider="openai",
            t=t,
            raw=raw,
            audio_ms=wire.number(m, "audio_start_ms"),
            item_id=wire.opt_text(m, "item_id"),
        )
        active = self._active_response
        if active is not None and self._server_interrupts:
            self._interrupted.add(active)
        return [event]

    def _on_speech_stopped(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.SpeechStopped(
                provider="openai",
                t=t,
                raw=raw,
                audio_ms=wire.number(m, "audio_end_ms"),
                item_id=wire.opt_text(m, "item_id"),
            )
        ]

    def _on_committed(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        item = wire.opt_text(m, "item_id")
        return [ev.InputCommitted(provider="openai", t=t, raw=raw, item_id=item)]

    def _on_input_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        text = wire.text(m, "delta")
        if not text:
            return []
        item = wire.opt_text(m, "item_id")
        return [
            ev.InputTranscript(
                provider="openai", t=t, raw=raw, text=text, final=False, item_id=item
            )
        ]

    def _on_input_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.InputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=wire.text(m, "transcript"),
                final=True,
                item_id=wire.opt_text(m, "item_id"),
            )
        ]

    def _on_input_failed(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        err = wire.obj(m, "error")
        msg = f"input transcription failed: {wire.text(err, 'message') or 'unknown reason'}"
        return [_error(t, m, msg, wire.opt_text(err, "code") or "transcription_failed")]

    def _on_response_created(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        rid = wire.opt_text(wire.obj(m, "response"), "id")
        self._active_response = rid
        return [ev.ResponseStarted(provider="openai", t=t, raw=raw, response_id=rid)]

    def _on_audio_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        pcm = wire.b64(m, "delta")
        if len(pcm) % 2:
            raise wire.Malformed("audio delta is not whole PCM16 samples")
        item = wire.opt_text(m, "item_id")
        if item:
            self._audio_ms[item] = self._audio_ms.get(item, 0.0) + len(pcm) / _BYTES_PER_MS
            self._audio_ms.move_to_end(item)
            while len(self._audio_ms) > _AUDIO_ITEMS_KEPT:
                self._audio_ms.popitem(last=False)
            self._last_audio_item = item
        return [
            ev.AudioChunk(
                provider="openai",
                t=t,
                raw=raw,
                pcm=pcm,
                rate=RATE,
                item_id=item,
                response_id=wire.opt_text(m, "response_id"),
            )
        ]

    def _on_transcript_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.OutputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=wire.text(m, "delta"),
                final=False,
                item_id=wire.opt_text(m, "item_id"),
                response_id=wire.opt_text(m, "response_id"),
            )
        ]

    def _on_transcript_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.OutputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=wire.text(m, "transcript"),
                final=True,
                item_id=wire.opt_text(m, "item_id"),
                response_id=wire.opt_text(m, "response_id"),
            )
        ]

    def _on_text_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.TextDelta(
                provider="openai",
                t=t,
                raw=raw,
                text=wire.text(m, "delta"),
                item_id=wire.opt_text(m, "item_id"),
                response_id=wire.opt_text(m, "response_id"),
            )
        ]

    def _tool_call(
        self,
        t: float,
        raw: ev.Raw,
        call_id: str,
        name: str,
        args_json: str,
        item_id: str | None,
        response_id: str | None,
    ) -> list[ev.Event]:
        if not call_id:
            raise wire.Malformed("a function call without a call_id")
        if call_id in self._announced_calls:
            return []
        self._announced_calls.add(call_id)
        self._pending_calls[call_id] = name
        if response_id:
            self._response_calls.setdefault(response_id, []).append(call_id)
        try:
            parsed = wire.loads(args_json) if args_json.strip() else {}
        except ValueError:
            parsed = None
        arguments = parsed if isinstance(parsed, dict) else None
        return [
            ev.ToolCall(
                provider="openai",
                t=t,
                raw=raw,
                call_id=call_id,
                name=name,
                arguments=arguments,
                arguments_json=args_json,
                item_id=item_id,
                response_id=response_id,
            )
        ]

    def _on_args_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return self._tool_call(
            t,
            raw,
            wire.text(m, "call_id"),
            wire.text(m, "name"),
            wire.text(m, "arguments"),
            wire.opt_text(m, "item_id"),
            wire.opt_text(m, "response_id"),
        )

    def _on_item_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        item = wire.obj(m, "item")
        if item.get("type") != "function_call" or item.get("status") == "incomplete":
            return []
        return self._tool_call(
            t,
            raw,
            wire.text(item, "call_id"),
            wire.text(item, "name"),
            wire.text(item, "arguments"),
            wire.opt_text(item, "id"),
            wire.opt_text(m, "response_id"),
        )

    def _on_response_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """One response is generated: `GenerationComplete` (with its usage), then the
        provider's own turn end, which the conversation core holds back while the answer only
        paused for tools (reason `tool_calls`)."""
        resp = wire.obj(m, "response")
        rid = wire.opt_text(resp, "id")
        status = wire.text(resp, "status") or "completed"
        details = wire.obj(resp, "status_details")
        reason = wire.opt_text(details, "reason") or wire.opt_text(
            wire.obj(details, "error"), "code"
        )
        usage = _usage(resp.get("usage"))
        out: list[ev.Event] = []
        calls = self._response_calls.pop(rid, []) if rid else []
        if status == "completed" and calls and reason is None:
            reason = "tool_calls"  # the answer follows in a new reply, after the results
        if status == "cancelled":
            dropped = tuple(c for c in calls if self._pending_calls.pop(c, None) is not None)
            if dropped:
                out.append(ev.ToolCallCancelled(provider="openai", t=t, raw=raw, call_ids=dropped))
        self._interrupted.discard(rid or "")
        if rid == self._active_response:
            self._active_response = None
        if status == "cancelled" and rid == self._cancel_requested:
            self._cancel_requested = None  # else keep it: the race error may still come
        out.append(
            ev.GenerationComplete(
                provider="openai",
                t=t,
                raw=raw,
                response_id=rid,
                status=status,
                reason=reason,
                usage=usage,
            )
        )
        out.append(
            ev.TurnComplete(
                provider="openai", t=t, raw=raw, status=status, response_id=rid, reason=reason
            )
        )
        if self._create_after_done and self._active_response is None:
            self._create_after_done = False
            self._outgoing += self._late_items
            self._late_items = []
            self._outgoing.append({"type": "response.create"})
        return out

    def _on_rate_limits(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        limits = m.get("rate_limits")
        if not isinstance(limits, list):
            limits = []
        kept = tuple(x for x in limits if isinstance(x, dict))
        return [ev.RateLimits(provider="openai", t=t, raw=raw, limits=kept)]


def _usage(u: Any) -> ev.Usage | None:
    if not isinstance(u, dict):
        return None
    i = wire.obj(u, "input_token_details")
    o = wire.obj(u, "output_token_details")
    return ev.Usage(
        input_tokens=wire.count(u, "input_tokens"),
        output_tokens=wire.count(u, "output_tokens"),
        total_tokens=wire.count(u, "total_tokens"),
        input_audio_tokens=wire.count(i, "audio_tokens"),
        input_text_tokens=wire.count(i, "text_tokens"),
        output_audio_tokens=wire.count(o, "audio_tokens"),
        output_text_tokens=wire.count(o, "text_tokens"),
        cached_tokens=wire.count(i, "cached_tokens"),
    )


def _error(
    t: float,
    raw: dict[str, Any],
    message: str,
    code: str | None,
    *,
    fatal: bool = False,
    param: str | None = None,
) -> ev.Error:
    return ev.Error(
        provider="openai",
        t=t,
        raw=(raw,) if raw else (),
        message=message,
        code=code,
        fatal=fatal,
        param=param,
    )


_HANDLERS = {
    "error": OpenAICodec._on_error,
    "session.created": OpenAICodec._on_session_created,
    "session.updated": OpenAICodec._on_session_updated,
    "input_audio_buffer.speech_started": OpenAICodec._on_speech_started,
    "input_audio_buffer.speech_stopped": OpenAICodec._on_speech_stopped,
    "input_audio_buffer.committed": OpenAICodec._on_committed,
    "conversation.item.input_audio_transcription.delta": OpenAICodec._on_input_delta,
    "conversation.item.input_audio_transcription.completed": OpenAICodec._on_input_done,
    "conversation.item.input_audio_transcription.failed": OpenAICodec._on_input_failed,
    "response.created": OpenAICodec._on_response_created,
    "response.output_audio.delta": OpenAICodec._on_audio_delta,
    "response.output_audio_transcript.delta": OpenAICodec._on_transcript_delta,
    "response.output_audio_transcript.done": OpenAICodec._on_transcript_done,
    "response.output_text.delta": OpenAICodec._on_text_delta,
    "response.function_call_arguments.done": OpenAICodec._on_args_done,
    "response.output_item.done": OpenAICodec._on_item_done,
    "response.done": OpenAICodec._on_response_done,
    "rate_limits.updated": OpenAICodec._on_rate_limits,
}
