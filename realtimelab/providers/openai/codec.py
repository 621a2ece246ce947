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
- late tool results sent during a reply, held with their `response.create` until it is done;
- the session's audio formats: G.711 (`audio/pcmu`, `audio/pcma`, 8 kHz, one byte a sample)
  travels natively both ways, so durations and truncation points count 8 bytes a millisecond,
  and output deltas are decoded to PCM16 for `AudioChunk.pcm` while the wire bytes ride along
  in `AudioChunk.g711`;
- out-of-band responses (`conversation: "none"`, recognised by their `conversation_id: null`)
  are collected apart and reported whole as one `OutOfBandResponse`: their deltas must not
  reach the conversation core, which would take them for the reply;
- item verbs carry an `event_id`, so an `error` answering one (`item_not_found`) names the
  item it was about (`Error.item_id`).
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
from realtimelab import g711
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
    UserImage,
    UserText,
    close_events,
    image_placeholder,
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
_G711_BYTES_PER_MS = g711.G711_RATE / 1000
#: Error codes after which the session cannot go on.
FATAL_CODES = frozenset(
    {"session_expired", "beta_api_shape_disabled", "invalid_api_key", "insufficient_quota"}
)
#: How many assistant items to remember audio lengths for (truncation targets recent items).
_AUDIO_ITEMS_KEPT = 32
#: How many item requests (delete / retrieve) to remember, to name the item an error is about.
_ITEM_REQUESTS_KEPT = 64
#: Server events that belong to a response and carry its id at the top level.
_RESPONSE_EVENTS = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
    }
)

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
    image_input=True,
    g711_native=True,
    out_of_band_responses=True,
    delete_items=True,
    retrieve_items=True,
    clear_input=True,
    transcription_sessions=True,
    web_search=False,
)


class _OutOfBand:
    """An out-of-band response being collected (see the module docstring)."""

    def __init__(self, metadata: dict[str, str] | None) -> None:
        self.metadata = metadata
        self.text: list[str] = []
        self.final_text: str | None = None
        self.pcm = bytearray()
        self.rate = RATE
        self.calls: dict[str, ev.ToolCall] = {}


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
        self._in_law: g711.G711Codec | None = None  # G.711 input (None: PCM16 at 24 kHz)
        self._out_law: g711.G711Codec | None = None  # G.711 output
        self._oob: dict[str, _OutOfBand] = {}  # out-of-band responses being collected
        self._item_requests: OrderedDict[str, str] = OrderedDict()  # event_id -> item_id
        self._request_serial = 0

    # ------------------------------------------------------------------ connection & config

    def connect_request(
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        query: Mapping[str, str] | None = None,
        transcription: bool = False,
    ) -> ConnectRequest:
        """`transcription=True` opens a transcription-only session (`?intent=transcription`;
        the model stays in the URL, as the official SDK sends it)."""
        credential = token or api_key
        if not credential:
            raise ValueError("OpenAI needs an api_key or an ephemeral token (ek_…)")
        base = (base_url or DEFAULT_URL).rstrip("/")
        if base.startswith("http"):
            base = "ws" + base[len("http") :]
        path = "/realtime" if base.endswith("/v1") else "/v1/realtime"
        url = f"{base}{path}?model={quote(self.model, safe='')}"
        if transcription:
            url += "&intent=transcription"
        url = with_query(url, query)
        return ConnectRequest(url=url, headers={"Authorization": f"Bearer {credential}"})

    def _session(self, config: SessionConfig) -> dict[str, Any]:
        # stacklevel 4: past this helper and initial_frames/update_frames, to their caller
        warn_unsupported(self.provider, unsupported_settings(config), title=TITLE, stacklevel=4)
        detection = turn_detection(config.vad)
        self._server_interrupts = bool(
            detection is not None and detection.get("interrupt_response", True)
        )
        self._in_law = None if config.input_format == "pcm16" else config.input_format
        self._out_law = None if config.output_format == "pcm16" else config.output_format
        audio_in: dict[str, Any] = {
            "format": _audio_format(self._in_law),
            "turn_detection": detection,
        }
        if config.mode == "transcription":
            audio_in["transcription"] = {"model": TRANSCRIPTION_MODEL}
            transcribe: dict[str, Any] = {"type": "transcription", "audio": {"input": audio_in}}
            extra = config.extra.get(self.provider)
            return deep_merge(transcribe, extra) if extra else transcribe
        if config.input_transcription:
            # A model must be named; pick a current one (override via config.extra["openai"]).
            audio_in["transcription"] = {"model": TRANSCRIPTION_MODEL}
        audio_out: dict[str, Any] = {"format": _audio_format(self._out_law)}
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
        audio = binascii.b2a_base64(pcm, newline=False).decode("ascii")
        return [{"type": "input_audio_buffer.append", "audio": audio}]

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

    def encode_image(self, data: bytes, mime: str) -> list[Frame]:
        """A user message holding the picture as an `input_image` part with a base64 `data:`
        URL (the server fetches no URL on a realtime socket). No `response.create`: a picture
        is context for the next turn, as a camera frame is on Gemini."""
        return [{"type": "conversation.item.create", "item": _image_message(data, mime)}]

    def encode_out_of_band_response(
        self,
        *,
        instructions: str | None,
        input: Sequence[HistoryItem] | None,
        metadata: Mapping[str, str] | None,
        output: str,
    ) -> list[Frame]:
        """`response.create` with `conversation: "none"`: not deferred behind the active reply
        (out-of-band responses may run alongside it). Metadata follows OpenAI's limits (16
        keys of at most 64 characters, values of at most 512), checked here so a bad one fails
        at the call rather than as a late `error`."""
        response: dict[str, Any] = {"conversation": "none", "output_modalities": [output]}
        if instructions is not None:
            response["instructions"] = instructions
        if metadata:
            if len(metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
                raise ValueError(
                    "OpenAI metadata holds at most 16 keys of at most 64 characters, with "
                    "values of at most 512"
                )
            response["metadata"] = dict(metadata)
        if input is not None:
            response["input"] = [_history_wire(item) for item in input]
        return [{"type": "response.create", "response": response}]

    def encode_delete_item(self, item_id: str) -> list[Frame]:
        return [
            {
                "type": "conversation.item.delete",
                "item_id": item_id,
                "event_id": self._item_request(item_id),
            }
        ]

    def encode_retrieve_item(self, item_id: str) -> list[Frame]:
        return [
            {
                "type": "conversation.item.retrieve",
                "item_id": item_id,
                "event_id": self._item_request(item_id),
            }
        ]

    def encode_clear_input(self) -> list[Frame]:
        return [{"type": "input_audio_buffer.clear"}]

    def _item_request(self, item_id: str) -> str:
        """A client `event_id` for an item verb, remembered so an `error` naming it (the
        server echoes `error.event_id`) can say which item it is about."""
        self._request_serial += 1
        event_id = f"rtl_item_{self._request_serial}"
        self._item_requests[event_id] = item_id
        while len(self._item_requests) > _ITEM_REQUESTS_KEPT:
            self._item_requests.popitem(last=False)
        return event_id

    def _item_answered(self, item_id: str) -> None:
        for event_id in [e for e, i in self._item_requests.items() if i == item_id]:
            del self._item_requests[event_id]

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
        cannot create assistant audio; a picture as its placeholder text: history keeps no
        image bytes, see `UserImage`). No `response.create`: replay never triggers a reply."""
        return [{"type": "conversation.item.create", "item": _history_wire(i)} for i in items]

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
            if self._oob and msg["type"] in _RESPONSE_EVENTS:
                rid = msg.get("response_id")
                if isinstance(rid, str) and rid in self._oob:
                    return self._out_of_band(self._oob[rid], msg, t)
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
        event_id = wire.opt_text(err, "event_id")
        item_id = self._item_requests.pop(event_id, None) if event_id else None
        return [
            _error(
                t, m, message, code, fatal=fatal, param=wire.opt_text(err, "param"), item_id=item_id
            )
        ]

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
        """The whole transcript, with what the transcription model billed for it (the
        `tokens` form; the `duration` form has no tokens to report)."""
        u = wire.obj(m, "usage")
        usage = _usage(u) if u.get("type", "tokens") == "tokens" and u else None
        return [
            ev.InputTranscript(
                provider="openai",
                t=t,
                raw=raw,
                text=wire.text(m, "transcript"),
                final=True,
                item_id=wire.opt_text(m, "item_id"),
                usage=usage,
            )
        ]

    def _on_input_failed(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        err = wire.obj(m, "error")
        msg = f"input transcription failed: {wire.text(err, 'message') or 'unknown reason'}"
        return [_error(t, m, msg, wire.opt_text(err, "code") or "transcription_failed")]

    def _on_response_created(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        resp = wire.obj(m, "response")
        rid = wire.opt_text(resp, "id")
        if rid and "conversation_id" in resp and resp["conversation_id"] is None:
            # out of band (`conversation: "none"`): collected apart, reported when done
            self._oob[rid] = _OutOfBand(_metadata(resp.get("metadata")))
            return []
        self._active_response = rid
        return [ev.ResponseStarted(provider="openai", t=t, raw=raw, response_id=rid)]

    def _output_audio(self, m: dict[str, Any]) -> tuple[bytes, int, bytes | None]:
        """An output audio delta as (PCM16, rate, the G.711 wire bytes or None)."""
        data = wire.b64(m, "delta")
        if self._out_law is not None:
            return g711.decode(data, self._out_law), g711.G711_RATE, data
        if len(data) % 2:
            raise wire.Malformed("audio delta is not whole PCM16 samples")
        return data, RATE, None

    def _on_audio_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        data = m.get("delta")
        pcm: bytes | None = None
        if self._out_law is None and type(data) is str:  # PCM16, the usual case, inlined
            try:
                pcm = binascii.a2b_base64(data, strict_mode=True)
            except binascii.Error:
                pcm = None  # `_output_audio` says what is wrong with it
        if pcm is not None and not len(pcm) % 2:
            rate, wire_g711 = RATE, None
        else:
            pcm, rate, wire_g711 = self._output_audio(m)
        item = m.get("item_id")
        if type(item) is not str:  # the checked (and erroring) reading only when unusual
            item = wire.opt_text(m, "item_id")
        if item:
            ms = (
                len(pcm) / _BYTES_PER_MS
                if wire_g711 is None
                else len(wire_g711) / _G711_BYTES_PER_MS
            )
            if item == self._last_audio_item:  # the usual case: already the newest entry
                self._audio_ms[item] += ms
            else:
                self._audio_ms[item] = self._audio_ms.get(item, 0.0) + ms
                self._audio_ms.move_to_end(item)
                while len(self._audio_ms) > _AUDIO_ITEMS_KEPT:
                    self._audio_ms.popitem(last=False)
                self._last_audio_item = item
        if wire_g711 is None:
            response = m.get("response_id")
            if type(response) is not str:
                response = wire.opt_text(m, "response_id")
            return [ev.audio_chunk("openai", t, raw, pcm, rate, item or None, response or None)]
        return [
            ev.AudioChunk(
                provider="openai",
                t=t,
                raw=raw,
                pcm=pcm,
                rate=rate,
                item_id=item,
                response_id=wire.opt_text(m, "response_id"),
                encoding=self._out_law or "pcm16",
                g711=wire_g711,
            )
        ]

    def _on_transcript_delta(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [_output_transcript(m, t, raw, "delta", final=False)]

    def _on_transcript_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [_output_transcript(m, t, raw, "transcript", final=True)]

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

    def _on_call_frame(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """A call arrives twice (its arguments' `.done`, then its `output_item.done`): the
        first announces it, the second is only a duplicate (its arguments are not parsed)."""
        fields = _call_fields(m)
        if fields is None:
            return []
        call_id, name, _, _, response_id = fields
        if not call_id:
            raise wire.Malformed("a function call without a call_id")
        if call_id in self._announced_calls:
            return []
        self._announced_calls.add(call_id)
        self._pending_calls[call_id] = name
        if response_id:
            self._response_calls.setdefault(response_id, []).append(call_id)
        return [_call_event(t, raw, *fields)]

    def _on_response_done(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """One response is generated: `GenerationComplete` (with its usage), then the
        provider's own turn end, which the conversation core holds back while the answer only
        paused for tools (reason `tool_calls`). An out-of-band response becomes its one
        `OutOfBandResponse` instead."""
        resp = wire.obj(m, "response")
        rid = wire.opt_text(resp, "id")
        status = wire.text(resp, "status") or "completed"
        details = wire.obj(resp, "status_details")
        reason = wire.opt_text(details, "reason") or wire.opt_text(
            wire.obj(details, "error"), "code"
        )
        usage = _usage(resp.get("usage"))
        oob = self._oob.pop(rid, None) if rid else None
        if oob is not None:
            text = oob.final_text if oob.final_text is not None else "".join(oob.text)
            return [
                ev.OutOfBandResponse(
                    provider="openai",
                    t=t,
                    raw=raw,
                    response_id=rid,
                    status=status,
                    reason=reason,
                    text=text,
                    pcm=bytes(oob.pcm),
                    rate=oob.rate,
                    metadata=_metadata(resp.get("metadata")) or oob.metadata,
                    tool_calls=tuple(oob.calls.values()),
                    usage=usage,
                )
            ]
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

    def _out_of_band(self, oob: _OutOfBand, m: dict[str, Any], t: float) -> list[ev.Event]:
        """A delta of an out-of-band response: collected, nothing emitted until it is done."""
        kind = m["type"]
        if kind == "response.output_audio.delta":
            pcm, oob.rate, _ = self._output_audio(m)
            oob.pcm += pcm
        elif kind in ("response.output_audio_transcript.delta", "response.output_text.delta"):
            oob.text.append(wire.text(m, "delta"))
        elif kind == "response.output_audio_transcript.done":
            oob.final_text = wire.text(m, "transcript")
        elif kind == "response.output_text.done":
            oob.final_text = wire.text(m, "text")
        elif kind in _CALL_FRAMES:
            fields = _call_fields(m)
            if fields is not None and fields[0] not in oob.calls:
                oob.calls[fields[0]] = _call_event(t, (m,), *fields)
        return []

    def _on_out_of_band_only(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return []  # read for out-of-band responses in `decode`; nothing new otherwise

    def _on_item_added(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        item = wire.obj(m, "item")
        item_id = wire.text(item, "id")
        if not item_id:
            raise wire.Malformed("an item without an id")
        text, parts, _ = _item_content(item)
        return [
            ev.ItemAdded(
                provider="openai",
                t=t,
                raw=raw,
                item_id=item_id,
                item_type=wire.text(item, "type") or "message",
                role=wire.opt_text(item, "role"),
                text=text,
                parts=parts,
                call_id=wire.opt_text(item, "call_id"),
            )
        ]

    def _on_item_deleted(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        item_id = wire.text(m, "item_id")
        if not item_id:
            raise wire.Malformed("`conversation.item.deleted` without an item_id")
        self._item_answered(item_id)
        return [ev.ItemDeleted(provider="openai", t=t, raw=raw, item_id=item_id)]

    def _on_item_retrieved(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        """The item with its audio: user audio is in the session's input format, assistant
        audio in its output format; both come out as PCM16 (and G.711 when telephone)."""
        item = wire.obj(m, "item")
        item_id = wire.text(item, "id")
        if not item_id:
            raise wire.Malformed("a retrieved item without an id")
        self._item_answered(item_id)
        role = wire.opt_text(item, "role")
        text, _, audio = _item_content(item)
        law = self._in_law if role == "user" else self._out_law
        pcm, rate, g711_bytes = audio, RATE, None
        if law is not None:
            pcm, rate, g711_bytes = g711.decode(audio, law), g711.G711_RATE, audio
        elif len(audio) % 2:
            raise wire.Malformed("item audio is not whole PCM16 samples")
        encoding = law or "pcm16"
        return [
            ev.ItemRetrieved(
                provider="openai",
                t=t,
                raw=raw,
                item_id=item_id,
                item_type=wire.text(item, "type") or "message",
                role=role,
                text=text,
                pcm=pcm,
                rate=rate,
                encoding=encoding,
                g711=g711_bytes if audio else None,
                call_id=wire.opt_text(item, "call_id"),
            )
        ]

    def _on_input_cleared(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        return [ev.InputCleared(provider="openai", t=t, raw=raw)]

    def _on_mcp_list_tools(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        status = m["type"].rsplit(".", 1)[-1]
        return [
            ev.McpListTools(
                provider="openai", t=t, raw=raw, item_id=wire.opt_text(m, "item_id"), status=status
            )
        ]

    def _on_rate_limits(self, m: dict[str, Any], t: float, raw: ev.Raw) -> list[ev.Event]:
        limits = m.get("rate_limits")
        if not isinstance(limits, list):
            limits = []
        kept = tuple(x for x in limits if isinstance(x, dict))
        return [ev.RateLimits(provider="openai", t=t, raw=raw, limits=kept)]


def _audio_format(law: g711.G711Codec | None) -> dict[str, Any]:
    """The GA `audio.*.format` object: PCM16 at 24 kHz, or G.711 (which has no rate field)."""
    return {"type": f"audio/{law}"} if law is not None else {"type": "audio/pcm", "rate": RATE}


def _image_message(data: bytes, mime: str) -> dict[str, Any]:
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    content = [{"type": "input_image", "image_url": url}]
    return {"type": "message", "role": "user", "content": content}


def _history_wire(item: HistoryItem) -> dict[str, Any]:
    """One history record as a conversation item (see `OpenAICodec.encode_history`)."""
    if isinstance(item, UserText):
        content = [{"type": "input_text", "text": item.text}]
        return {"type": "message", "role": "user", "content": content}
    if isinstance(item, UserImage):
        content = [{"type": "input_text", "text": image_placeholder(item)}]
        return {"type": "message", "role": "user", "content": content}
    if isinstance(item, AssistantText):
        content = [{"type": "output_text", "text": item.text}]
        return {"type": "message", "role": "assistant", "content": content}
    if isinstance(item, ToolCallRecord):
        return {
            "type": "function_call",
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments_json,
        }
    if isinstance(item, ToolResultRecord):
        return {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
    raise TypeError(f"not a history item: {item!r}")


_CALL_FRAMES = ("response.function_call_arguments.done", "response.output_item.done")


def _call_fields(m: dict[str, Any]) -> tuple[str, str, str, str | None, str | None] | None:
    """(call_id, name, arguments, item_id, response_id) of the function call a
    `response.function_call_arguments.done` or `response.output_item.done` frame carries; None
    for another item or an incomplete call."""
    if m["type"] == "response.function_call_arguments.done":
        src, item_key = m, "item_id"
    else:
        src = wire.obj(m, "item")
        if src.get("type") != "function_call" or src.get("status") == "incomplete":
            return None
        item_key = "id"
    return (
        wire.text(src, "call_id"),
        wire.text(src, "name"),
        wire.text(src, "arguments"),
        wire.opt_text(src, item_key),
        wire.opt_text(m, "response_id"),
    )


def _call_event(
    t: float,
    raw: ev.Raw,
    call_id: str,
    name: str,
    args_json: str,
    item_id: str | None,
    response_id: str | None,
) -> ev.ToolCall:
    if not call_id:
        raise wire.Malformed("a function call without a call_id")
    try:
        parsed = wire.loads(args_json) if args_json.strip() else {}
    except ValueError:
        parsed = None
    return ev.ToolCall(
        provider="openai",
        t=t,
        raw=raw,
        call_id=call_id,
        name=name,
        arguments=parsed if isinstance(parsed, dict) else None,
        arguments_json=args_json,
        item_id=item_id,
        response_id=response_id,
    )


def _item_content(item: dict[str, Any]) -> tuple[str, tuple[str, ...], bytes]:
    """An item's text (text parts and transcripts, joined), its part types, and its audio."""
    content = item.get("content") or []
    if not isinstance(content, list):
        raise wire.Malformed("`content` should be a list")
    texts: list[str] = []
    kinds: list[str] = []
    audio = b""
    for part in content:
        if not isinstance(part, dict):
            raise wire.Malformed("a content part should be an object")
        kinds.append(wire.text(part, "type"))
        piece = wire.text(part, "text") or wire.text(part, "transcript")
        if piece:
            texts.append(piece)
        if part.get("audio") is not None:
            audio += wire.b64(part, "audio")
    if isinstance(item.get("output"), str):
        texts.append(item["output"])
    return " ".join(texts), tuple(kinds), audio


def _metadata(value: Any) -> dict[str, str] | None:
    """Response metadata as str to str (anything else is dropped, never trusted)."""
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, str)} or None


def _usage(u: Any) -> ev.Usage | None:
    if not isinstance(u, dict):
        return None
    i = wire.obj(u, "input_token_details")
    o = wire.obj(u, "output_token_details")
    c = wire.obj(i, "cached_tokens_details")
    return ev.Usage(
        input_tokens=wire.count(u, "input_tokens"),
        output_tokens=wire.count(u, "output_tokens"),
        total_tokens=wire.count(u, "total_tokens"),
        input_audio_tokens=wire.count(i, "audio_tokens"),
        input_text_tokens=wire.count(i, "text_tokens"),
        input_image_tokens=wire.count(i, "image_tokens"),
        output_audio_tokens=wire.count(o, "audio_tokens"),
        output_text_tokens=wire.count(o, "text_tokens"),
        cached_tokens=wire.count(i, "cached_tokens"),
        cached_text_tokens=wire.count(c, "text_tokens"),
        cached_audio_tokens=wire.count(c, "audio_tokens"),
        cached_image_tokens=wire.count(c, "image_tokens"),
    )


def _output_transcript(
    m: dict[str, Any], t: float, raw: ev.Raw, key: str, *, final: bool
) -> ev.OutputTranscript:
    """A transcript delta (`delta`) or the item's whole transcript (`transcript`, final)."""
    return ev.OutputTranscript(
        provider="openai",
        t=t,
        raw=raw,
        text=wire.text(m, key),
        final=final,
        item_id=wire.opt_text(m, "item_id"),
        response_id=wire.opt_text(m, "response_id"),
    )


def _error(
    t: float,
    raw: dict[str, Any],
    message: str,
    code: str | None,
    *,
    fatal: bool = False,
    param: str | None = None,
    item_id: str | None = None,
) -> ev.Error:
    return ev.Error(
        provider="openai",
        t=t,
        raw=(raw,) if raw else (),
        message=message,
        code=code,
        fatal=fatal,
        param=param,
        item_id=item_id,
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
    "response.function_call_arguments.done": OpenAICodec._on_call_frame,
    "response.output_item.done": OpenAICodec._on_call_frame,
    "response.done": OpenAICodec._on_response_done,
    "rate_limits.updated": OpenAICodec._on_rate_limits,
    "conversation.item.added": OpenAICodec._on_item_added,
    "conversation.item.deleted": OpenAICodec._on_item_deleted,
    "conversation.item.retrieved": OpenAICodec._on_item_retrieved,
    "input_audio_buffer.cleared": OpenAICodec._on_input_cleared,
    "mcp_list_tools.in_progress": OpenAICodec._on_mcp_list_tools,
    "mcp_list_tools.completed": OpenAICodec._on_mcp_list_tools,
    "mcp_list_tools.failed": OpenAICodec._on_mcp_list_tools,
    # out-of-band responses only (see `decode`): in-conversation ones end with their `.done`
    "response.output_text.done": OpenAICodec._on_out_of_band_only,
}
