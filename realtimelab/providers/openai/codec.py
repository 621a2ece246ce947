"""OpenAI Realtime (GA) as a sans-IO codec: verbs → JSON frames, frames → unified events.

GA only: the URL is `wss://api.openai.com/v1/realtime?model=…`, auth is `Authorization: Bearer`
(an API key or an `ek_…` client secret), and `OpenAI-Beta` is never sent (the live server
closes beta-shaped sessions with 4000).

State kept here, and why:
- the active response id: a barge-in (`speech_started`) only interrupts something if a reply
  was in progress, and `response.create` must wait for it to finish;
- milliseconds of audio received per assistant item: `conversation.item.truncate` with an
  `audio_end_ms` past the audio the server sent is an error, so truncation is clamped to it;
- pending tool calls: the follow-up `response.create` is sent once, after the last result,
  and a call is announced once although both `function_call_arguments.done` and
  `output_item.done` describe it;
- late tool results sent during a reply, held with their `response.create` until it is done.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from realtimelab import events as ev
from realtimelab.config import SessionConfig, deep_merge, warn_unsupported
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
#: The model a codec opens when none is named. Kept as it was when this folder was split out
#: (frames stay byte-identical); the catalogue now recommends a newer one, which the spec
#: reports as `ProviderSpec.default_model`.
DEFAULT_MODEL = "gpt-realtime"
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
    idle_timeout=True,
    non_blocking_tools=False,
    tool_call_cancellation=False,
    rate_limits_events=True,
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
        self._interrupted: set[str] = set()  # responses already announced as Interrupted
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
        """Cancel the reply in progress (unless server VAD already did) and truncate the item
        to what was played, clamped to the audio received; no truncate when nothing played."""
        frames: list[Frame] = []
        active = self._active_response
        if active is not None and active not in self._interrupted | {self._cancel_requested}:
            frames.append({"type": "response.cancel", "response_id": active})
            self._cancel_requested = active
        item = item_id or self._last_audio_item
        end_ms = int(min(played_ms, self.received_ms(item))) if item else 0
        if item and end_ms > 0:
            frames.append(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item,
                    "content_index": 0,
                    "audio_end_ms": end_ms,
                }
            )
        return frames

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
        try:
            msg = frame if isinstance(frame, dict) else json.loads(frame)
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
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
            return [
                _error(
                    t, msg, f"malformed {msg['type']}: {type(e).__name__}: {e}", "malformed_frame"
                )
            ]

    def decode_close(
        self, code: int | None, reason: str, t: float, expected: bool
    ) -> list[ev.Event]:
        """Per the table in `providers/base.py`; e.g. 4000 `beta_api_shape_disabled` is fatal,
        1006/1011 retryable. A preceding `error` frame (if any) was already decoded."""
        return close_events("openai", code, reason, t, expected)

    # one method per server event type ------------------------------------------------------

    def _on_error(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        err = m.get("error") or {}
        code = err.get("code")
        if code == "response_cancel_not_active" and self._cancel_requested is not None:
            self._cancel_requested = None
            return []  # our cancel raced the end of the reply: expected and harmless
        fatal = code in FATAL_CODES
        message = str(err.get("message") or "unknown error")
        return [_error(t, m, message, code, fatal=fatal, param=err.get("param"))]

    def _on_session_created(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        s = m.get("session") or {}
        return [
            ev.SessionStarted(
                provider="openai",
                t=t,
                raw=raw,
                session_id=s.get("id"),
                model=s.get("model") or self.model,
            )
        ]

    def _on_session_updated(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [ev.SessionUpdated(provider="openai", t=t, raw=raw, config=m.get("session") or {})]

    def _on_speech_started(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        out: list[ev.Event] = [
            ev.SpeechStarted(
                provider="openai",
                t=t,
                raw=raw,
                audio_ms=m.get("audio_start_ms"),
                item_id=m.get("item_id"),
            )
        ]
        active = self._active_response
        if active is not None and self._server_interrupts and active not in self._interrupted:
            self._interrupted.add(active)
            out.append(
                ev.Interrupted(
                    provider="openai", t=t, raw=raw, reason="turn_detected", response_id=active
                )
            )
        return out

    def _on_speech_stopped(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.SpeechStopped(
                provider="openai",
                t=t,
                raw=raw,
                audio_ms=m.get("audio_end_ms"),
                item_id=m.get("item_id"),
            )
        ]

    def _on_committed(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [ev.InputCommitted(provider="openai", t=t, raw=raw, item_id=m.get("item_id"))]

    def _on_input_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        text = m.get("delta") or ""
        if not text:
            return []
        return [
            ev.InputTranscript(
                provider="openai", t=t, raw=raw, text=text, final=False, item_id=m.get("item_id")
            )
        ]

    def _on_input_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.InputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=m.get("transcript") or "",
                final=True,
                item_id=m.get("item_id"),
            )
        ]

    def _on_input_failed(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        err = m.get("error") or {}
        msg = f"input transcription failed: {err.get('message') or 'unknown reason'}"
        return [_error(t, m, msg, err.get("code") or "transcription_failed")]

    def _on_response_created(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        rid = (m.get("response") or {}).get("id")
        self._active_response = rid
        return [ev.ResponseStarted(provider="openai", t=t, raw=raw, response_id=rid)]

    def _on_audio_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        pcm = base64.b64decode(m["delta"], validate=True)
        item = m.get("item_id")
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
                response_id=m.get("response_id"),
            )
        ]

    def _on_transcript_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.OutputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=m.get("delta") or "",
                final=False,
                item_id=m.get("item_id"),
                response_id=m.get("response_id"),
            )
        ]

    def _on_transcript_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.OutputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=m.get("transcript") or "",
                final=True,
                item_id=m.get("item_id"),
                response_id=m.get("response_id"),
            )
        ]

    def _on_text_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [
            ev.TextDelta(
                provider="openai",
                t=t,
                raw=raw,
                text=m.get("delta") or "",
                item_id=m.get("item_id"),
                response_id=m.get("response_id"),
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
        if call_id in self._announced_calls:
            return []
        self._announced_calls.add(call_id)
        self._pending_calls[call_id] = name
        if response_id:
            self._response_calls.setdefault(response_id, []).append(call_id)
        try:
            parsed = json.loads(args_json) if args_json.strip() else {}
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
            m["call_id"],
            m.get("name") or "",
            m.get("arguments") or "",
            m.get("item_id"),
            m.get("response_id"),
        )

    def _on_item_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        item = m.get("item") or {}
        if item.get("type") != "function_call" or item.get("status") == "incomplete":
            return []
        return self._tool_call(
            t,
            raw,
            item["call_id"],
            item.get("name") or "",
            item.get("arguments") or "",
            item.get("id"),
            m.get("response_id"),
        )

    def _on_response_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        resp = m.get("response") or {}
        rid = resp.get("id")
        status = resp.get("status") or "completed"
        details = resp.get("status_details") or {}
        reason = details.get("reason") or (details.get("error") or {}).get("code")
        out: list[ev.Event] = []
        calls = self._response_calls.pop(rid, []) if rid else []
        if status == "completed" and calls and reason is None:
            reason = "tool_calls"  # the answer follows in a new reply, after the results
        if status == "cancelled":
            if rid not in self._interrupted:
                out.append(
                    ev.Interrupted(
                        provider="openai",
                        t=t,
                        raw=raw,
                        reason=reason or "cancelled",
                        response_id=rid,
                    )
                )
            dropped = tuple(c for c in calls if self._pending_calls.pop(c, None) is not None)
            if dropped:
                out.append(ev.ToolCallCancelled(provider="openai", t=t, raw=raw, call_ids=dropped))
        self._interrupted.discard(rid)
        if rid == self._active_response:
            self._active_response = None
        if status == "cancelled" and rid == self._cancel_requested:
            self._cancel_requested = None  # else keep it: the race error may still come
        out.append(
            ev.TurnComplete(
                provider="openai",
                t=t,
                raw=raw,
                status=status,
                usage=_usage(resp.get("usage")),
                response_id=rid,
                reason=reason,
            )
        )
        if self._create_after_done and self._active_response is None:
            self._create_after_done = False
            self._outgoing += self._late_items
            self._late_items = []
            self._outgoing.append({"type": "response.create"})
        return out

    def _on_rate_limits(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        limits = tuple(x for x in m.get("rate_limits") or () if isinstance(x, dict))
        return [ev.RateLimits(provider="openai", t=t, raw=raw, limits=limits)]


def _usage(u: Any) -> ev.Usage | None:
    if not isinstance(u, dict):
        return None
    i = u.get("input_token_details") or {}
    o = u.get("output_token_details") or {}
    return ev.Usage(
        input_tokens=int(u.get("input_tokens") or 0),
        output_tokens=int(u.get("output_tokens") or 0),
        total_tokens=int(u.get("total_tokens") or 0),
        input_audio_tokens=int(i.get("audio_tokens") or 0),
        input_text_tokens=int(i.get("text_tokens") or 0),
        output_audio_tokens=int(o.get("audio_tokens") or 0),
        output_text_tokens=int(o.get("text_tokens") or 0),
        cached_tokens=int(i.get("cached_tokens") or 0),
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
