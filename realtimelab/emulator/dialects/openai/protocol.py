"""OpenAI Realtime (GA) server protocol, sans-IO: client frames in, actions out.

`RealtimeProtocol` owns everything the real server decides — session config, the conversation
linked list, the input audio buffer and its VAD, the single-active-response rule, the response
state machine, error codes — and touches no socket, no clock and no thread. Feed it a frame,
get back a list of actions:

* `Send(event)`       a server event (already carrying a fresh `event_id`),
* `Close(code)`       close the WebSocket,
* `Hear(item, turn)`  transcribe this committed user audio, then call `heard(...)`,
* `StartResponse(id)` run the response: think, speak, and report back through
                      `begin_output` / `open_message` / `piece` / `close_message` /
                      `function_call` / `finish_response`,
* `CancelResponse(id, reason)` stop that response's runner, then call `response_cancelled`.

The asyncio shell (`shell.py`) just executes the actions in order; unit tests feed dicts.

Response state machine (one `ResponseState` per response):

    created ──begin_output──► thinking done ──open_message──► streaming ──close_message──┐
       │                         │  function_call (atomic) ◄───────────────────────────────┘
       └── cancel at any point ──┴──► response_cancelled: done events for the open item
                                       (status incomplete), response.done{cancelled, reason}
    finish_response ──► response.done{completed|incomplete} + rate_limits.updated

Time, as the real service keeps it (docs/emulator-timing.md): the runner streams audio faster
than real time, so `response.done` comes when *generation* ends, while the listener is still
hearing the reply. Server-VAD barge-in (`interrupt_response`) cancels only a response still
being generated; after `response.done`, `speech_started` is just that, and stopping playback
and truncating is the client's job. Truncation bounds are the audio *sent* for the item;
truncating deletes the transcript past `audio_end_ms` (wire item and history alike). The
voice is locked once the model has produced audio; unknown models are refused in band.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from realtimelab.emulator.dialects.openai import config as cfg
from realtimelab.emulator.engine import (
    Conversation,
    Heard,
    IdleTimedOut,
    InputAudio,
    OutputPiece,
    SpeechBegan,
    SpeechEnded,
    TurnAudio,
    Usage,
    count_usage,
    text_tokens,
)
from realtimelab.emulator.ids import IdMint
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    Item,
    PlannedCall,
    SessionFacts,
    ToolSpec,
    UserMessage,
)

CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)
MIN_COMMIT_MS = 100.0
RATE_LIMIT_TOKENS = 40000
BYTES_PER_MS = cfg.AUDIO_RATE * 2 / 1000


# ------------------------------------------------------------------------------------------
# Actions
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    event: dict[str, Any]


@dataclass(frozen=True)
class Close:
    code: int
    reason: str = ""


@dataclass(frozen=True)
class Hear:
    item_id: str
    turn: TurnAudio


@dataclass(frozen=True)
class StartResponse:
    response_id: str


@dataclass(frozen=True)
class CancelResponse:
    response_id: str
    reason: Literal["turn_detected", "client_cancelled"]


Action = Send | Close | Hear | StartResponse | CancelResponse


class ProtocolError(Exception):
    """A client mistake that becomes an `error` event (the session continues)."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.type = code, message, param, type_


# ------------------------------------------------------------------------------------------
# Response state
# ------------------------------------------------------------------------------------------


@dataclass
class OpenMessage:
    item_id: str
    output_index: int
    modality: Literal["audio", "text"]
    text: str = ""
    audio_ms: float = 0.0
    pieces: list[tuple[float, str]] = field(default_factory=list)  # (at_ms, transcript delta)


@dataclass(frozen=True)
class ResponsePlan:
    """What the runner needs to think and speak for a response."""

    history: tuple[Item, ...]
    tools: tuple[ToolSpec, ...]
    instructions: str
    facts: SessionFacts
    modality: Literal["audio", "text"]
    voice: str
    speed: float
    max_chars: int | None


@dataclass
class ResponseState:
    id: str
    in_conversation: bool
    modality: Literal["audio", "text"]
    voice: str
    voice_wire: Any  # as the session holds it: a name or {"id": "voice_…"}
    speed: float
    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: Any
    max_output_tokens: Any
    metadata: Any
    custom_input: list[Item] | None
    audio_format: dict[str, Any]
    status: str = "in_progress"
    output: list[dict[str, Any]] = field(default_factory=list)
    open: OpenMessage | None = None
    output_text: str = ""
    output_audio_ms: float = 0.0
    context_text: str = ""
    context_audio_ms: float = 0.0
    truncated_by_limit: bool = False
    cancelling: bool = False


# ------------------------------------------------------------------------------------------
# The protocol
# ------------------------------------------------------------------------------------------


class RealtimeProtocol:
    """One GA realtime session's server-side logic. See the module docstring."""

    def __init__(
        self,
        *,
        ids: IdMint,
        input_audio: InputAudio,
        session_id: str,
        model: str,
        created_at: float,
        max_session_s: float,
        intent: str = "realtime",
        initial_session: Mapping[str, Any] | None = None,
        model_day: dt.date | None = None,
    ) -> None:
        self.ids = ids
        self.model_day = model_day or dt.date.today()
        self.input = input_audio
        self.model = model
        self.max_session_s = max_session_s
        self.session: dict[str, Any] = cfg.default_session(
            session_id=session_id,
            model=model,
            expires_at=int(created_at + max_session_s),
            intent=intent,
        )
        if initial_session:
            self.session = cfg.apply_update(self.session, dict(initial_session))
        self.conversation_id = ids.new("conv")
        self.conversation = Conversation()
        self.wire_items: dict[str, dict[str, Any]] = {}
        self.responses: dict[str, ResponseState] = {}
        self.active_id: str | None = None  # the response writing to the default conversation
        self.audio_sent_ms: dict[str, float] = {}  # assistant item id → audio released
        self.transcript_pieces: dict[str, list[tuple[float, str]]] = {}
        self._pending_user_item: str | None = None
        self._finished = False  # expired or refused: every later frame is ignored
        self.assistant_audio = False  # the model has answered with audio at least once
        self._tokens_remaining = RATE_LIMIT_TOKENS
        self.input.configure(cfg.vad_params(self.session))

    # -- helpers ------------------------------------------------------------------------------
    @property
    def is_transcription(self) -> bool:
        return self.session["type"] == "transcription"

    def event(self, type_: str, **fields: Any) -> Send:
        return Send({"type": type_, "event_id": self.ids.new("event"), **fields})

    def error(
        self,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        client_event_id: Any = None,
        type_: str = "invalid_request_error",
    ) -> Send:
        return self.event(
            "error",
            error={
                "type": type_,
                "code": code,
                "message": message,
                "param": param,
                "event_id": client_event_id if isinstance(client_event_id, str) else None,
            },
        )

    def open(self) -> list[Action]:
        """The first frame: `session.created` with the full effective session.

        A model the real service does not serve (unknown, or shut down by `model_day`) is
        refused in band: an `error` with code `model_not_found` and the service's wording, then
        a close (1008, which the openai SDK does not auto-reconnect on). Why not an HTTP error
        at the upgrade: the only real answers seen for a model the key cannot use came in band
        (a `model_not_found` error object, openai-realtime-console#561), and an accepted upgrade
        followed by an error is the stricter test of a client (it must read the first frame,
        not just check that `connect()` worked).
        """
        if not self.is_transcription:
            refusal = cfg.model_refusal(self.model, self.model_day)
            if refusal is not None:
                self._finished = True
                return [self.error("model_not_found", refusal), Close(1008, "model_not_found")]
        return [self.event("session.created", session=self.session)]

    def tools(self) -> list[ToolSpec]:
        return cfg.tool_specs(self.session.get("tools"))

    # -- receiving ------------------------------------------------------------------------------
    def receive(self, raw: str | bytes) -> list[Action]:
        """Handle one client frame. Never raises for bad input: errors become `error` events."""
        if self._finished:
            return []
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            frame = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return [
                self.error(
                    "invalid_json",
                    "The server could not parse the JSON of the client "
                    "event. Events must be JSON objects sent as text frames.",
                )
            ]
        if not isinstance(frame, dict):
            return [self.error("invalid_json", "Client events must be JSON objects.")]
        event_id = frame.get("event_id")
        kind = frame.get("type")
        if not isinstance(kind, str):
            return [
                self.error(
                    "missing_required_parameter",
                    "Missing required parameter: 'type'.",
                    param="type",
                    client_event_id=event_id,
                )
            ]
        if kind not in CLIENT_EVENTS:
            listing = ", ".join(f"'{c}'" for c in CLIENT_EVENTS)
            return [
                self.error(
                    "invalid_value",
                    f"Invalid value: '{kind}'. Supported values are: {listing}.",
                    param="type",
                    client_event_id=event_id,
                )
            ]
        handler = getattr(self, "_on_" + kind.replace(".", "_"))
        try:
            actions: list[Action] = handler(frame)
        except ProtocolError as exc:
            return [
                self.error(
                    exc.code, exc.message, param=exc.param, client_event_id=event_id, type_=exc.type
                )
            ]
        except cfg.ConfigError as exc:
            actions = [self.error(exc.code, exc.message, param=exc.param, client_event_id=event_id)]
            if exc.fatal:
                actions.append(Close(4000, "beta_api_shape_disabled"))
            return actions
        return actions

    # -- session ---------------------------------------------------------------------------------
    def _on_session_update(self, frame: dict[str, Any]) -> list[Action]:
        if "session" not in frame:
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'session'.", "session"
            )
        update = frame["session"]
        output = (
            update.get("audio", {}).get("output")
            if isinstance(update, Mapping) and isinstance(update.get("audio"), Mapping)
            else None
        )
        if self.assistant_audio and isinstance(output, Mapping) and "voice" in output:
            # "Voice cannot be changed during the session once the model has responded with
            # audio at least once" (SDK docstring). The live service refuses even a session.update
            # that repeats the current voice (openai-agents-python#1661): any voice is refused.
            raise ProtocolError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
            )
        self.session = cfg.apply_update(self.session, update)
        self.input.configure(cfg.vad_params(self.session))
        return [self.event("session.updated", session=self.session)]

    # -- input audio -----------------------------------------------------------------------------
    def _on_input_audio_buffer_append(self, frame: dict[str, Any]) -> list[Action]:
        audio = frame.get("audio")
        if not isinstance(audio, str):
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'audio'.", "audio"
            )
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "invalid_value",
                "Invalid value for 'audio': the audio must be base64-encoded PCM16 bytes.",
                "audio",
            ) from exc
        actions: list[Action] = []
        for ev in self.input.append(pcm):
            if isinstance(ev, SpeechBegan):
                actions += self._speech_started(ev)
            elif isinstance(ev, SpeechEnded):
                actions += self._speech_stopped(ev)
            elif isinstance(ev, IdleTimedOut):
                actions += self._idle_timeout(ev)
        return actions

    def _user_item_id(self) -> str:
        if self._pending_user_item is None:
            self._pending_user_item = self.ids.new("item")
        return self._pending_user_item

    def _speech_started(self, ev: SpeechBegan) -> list[Action]:
        actions: list[Action] = [
            self.event(
                "input_audio_buffer.speech_started",
                audio_start_ms=int(ev.audio_start_ms),
                item_id=self._user_item_id(),
            )
        ]
        if self.active_id is not None and cfg.turn_flag(self.session, "interrupt_response"):
            actions += self._cancel(self.active_id, "turn_detected")
        return actions

    def _speech_stopped(self, ev: SpeechEnded) -> list[Action]:
        item_id = self._user_item_id()
        actions: list[Action] = [
            self.event(
                "input_audio_buffer.speech_stopped",
                audio_end_ms=int(ev.audio_end_ms),
                item_id=item_id,
            )
        ]
        actions += self._commit_turn(ev.turn)
        if cfg.turn_flag(self.session, "create_response") and not self.is_transcription:
            actions += self._auto_response()
        return actions

    def _idle_timeout(self, ev: IdleTimedOut) -> list[Action]:
        """No speech after the model finished: notify, commit what we have, prompt the model."""
        actions: list[Action] = [
            self.event(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=int(ev.audio_start_ms),
                audio_end_ms=int(ev.audio_end_ms),
                item_id=self._user_item_id(),
            )
        ]
        actions += self._commit_turn(self.input.commit())
        if not self.is_transcription and self.active_id is None:
            actions += self._auto_response()
        return actions

    def _auto_response(self) -> list[Action]:
        if self.active_id is not None:  # interrupt_response=false: let the current one finish
            return []
        return self._start_response({})

    def _on_input_audio_buffer_commit(self, frame: dict[str, Any]) -> list[Action]:
        ms = self.input.buffered_ms
        if ms < MIN_COMMIT_MS:
            raise ProtocolError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
            )
        return self._commit_turn(self.input.commit())

    def _commit_turn(self, turn: TurnAudio) -> list[Action]:
        item_id = self._user_item_id()
        self._pending_user_item = None
        wire = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.conversation.last_id
        self._insert(item_id, UserMessage("", audio_ms=turn.duration_ms), wire, None)
        return [
            self.event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            self.event("conversation.item.added", previous_item_id=previous, item=wire),
            self.event("conversation.item.done", previous_item_id=previous, item=wire),
            Hear(item_id, turn),
        ]

    def _on_input_audio_buffer_clear(self, frame: dict[str, Any]) -> list[Action]:
        self.input.clear()
        self._pending_user_item = None
        return [self.event("input_audio_buffer.cleared")]

    def _on_output_audio_buffer_clear(self, frame: dict[str, Any]) -> list[Action]:
        raise ProtocolError(
            "invalid_value",
            "output_audio_buffer.clear is only supported for "
            "WebRTC and SIP sessions. Over a WebSocket the client owns playback: "
            "stop it locally and send conversation.item.truncate.",
            "type",
        )

    def heard(self, item_id: str, heard: Heard) -> list[Action]:
        """The ears finished a committed turn: fill in the text, emit transcription events."""
        item = self.conversation.get(item_id)
        if isinstance(item, UserMessage):
            self.conversation.replace(item_id, UserMessage(heard.text, audio_ms=item.audio_ms))
        wire = self.wire_items.get(item_id)
        if wire is not None:
            wire["content"][0]["transcript"] = heard.text
        if self.session["audio"]["input"].get("transcription") is None:
            return []
        actions: list[Action] = []
        words = heard.text.split(" ") if heard.text else []
        for i, word in enumerate(words):
            actions.append(
                self.event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=word if i == 0 else " " + word,
                )
            )
        audio_ms = item.audio_ms if isinstance(item, UserMessage) and item.audio_ms else 0.0
        usage = Usage(
            input_audio=count_usage(
                context_text="", context_audio_ms=audio_ms, output_text="", output_audio_ms=0
            ).input_audio,
            output_text=text_tokens(heard.text),
        )
        actions.append(
            self.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=heard.text,
                usage={
                    "type": "tokens",
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": usage.input_audio},
                },
            )
        )
        return actions

    def hearing_failed(self, item_id: str, message: str) -> list[Action]:
        if self.session["audio"]["input"].get("transcription") is None:
            return []
        return [
            self.event(
                "conversation.item.input_audio_transcription.failed",
                item_id=item_id,
                content_index=0,
                error={"type": "server_error", "code": None, "message": message, "param": None},
            )
        ]

    # -- conversation items ----------------------------------------------------------------------
    def _insert(
        self, item_id: str, item: Item, wire: dict[str, Any], after: str | None
    ) -> str | None:
        previous = self.conversation.add(item_id, item, after=after)
        self.wire_items[item_id] = wire
        return previous

    def _on_conversation_item_create(self, frame: dict[str, Any]) -> list[Action]:
        raw = frame.get("item")
        if not isinstance(raw, Mapping):
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'item'.", "item"
            )
        after = frame.get("previous_item_id")
        if after is not None and after != "root" and after not in self.conversation:
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{after}'. No item with this id exists in the conversation.",
                "previous_item_id",
            )
        item_id = raw.get("id") or self.ids.new("item")
        if item_id in self.conversation:
            raise ProtocolError(
                "invalid_value", f"Item with id '{item_id}' already exists.", "item.id"
            )
        neutral, wire = self._parse_item(raw, item_id)
        previous = self._insert(item_id, neutral, wire, after)
        return [
            self.event("conversation.item.added", previous_item_id=previous, item=wire),
            self.event("conversation.item.done", previous_item_id=previous, item=wire),
        ]

    def _parse_item(self, raw: Mapping[str, Any], item_id: str) -> tuple[Item, dict[str, Any]]:
        kind = raw.get("type")
        base = {"id": item_id, "type": kind, "object": "realtime.item", "status": "completed"}
        if kind == "message":
            return self._parse_message(raw, base)
        if kind == "function_call":
            name, args = raw.get("name"), raw.get("arguments")
            if not isinstance(name, str) or not isinstance(args, str):
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'item.name' or 'item.arguments'.",
                    "item.name",
                )
            call_id = raw.get("call_id") or self.ids.new("call")
            wire = {**base, "name": name, "arguments": args, "call_id": call_id}
            return FunctionCall(call_id, name, _loads_object(args)), wire
        if kind == "function_call_output":
            call_id, output = raw.get("call_id"), raw.get("output")
            if not isinstance(call_id, str) or not isinstance(output, str):
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'item.call_id' or 'item.output'.",
                    "item.call_id",
                )
            name = next(
                (
                    i.name
                    for i in self.conversation.items()
                    if isinstance(i, FunctionCall) and i.call_id == call_id
                ),
                "",
            )
            wire = {**base, "call_id": call_id, "output": output}
            return FunctionResult(call_id, name, output), wire
        raise ProtocolError(
            "invalid_value",
            f"Invalid value: '{kind}'. Supported values are: "
            "'message', 'function_call', and 'function_call_output'.",
            "item.type",
        )

    def _parse_message(
        self, raw: Mapping[str, Any], base: dict[str, Any]
    ) -> tuple[Item, dict[str, Any]]:
        role = raw.get("role")
        if role not in ("user", "assistant", "system"):
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{role}'. Supported values "
                "are: 'user', 'assistant', and 'system'.",
                "item.role",
            )
        content = raw.get("content")
        if not isinstance(content, list):
            raise ProtocolError(
                "missing_required_parameter",
                "Missing required parameter: 'item.content'.",
                "item.content",
            )
        allowed = {
            "user": ("input_text", "input_audio", "input_image"),
            "system": ("input_text",),
            "assistant": ("output_text",),
        }[role]
        texts: list[str] = []
        audio_ms = 0.0
        parts: list[dict[str, Any]] = []
        for i, part in enumerate(content):
            ptype = part.get("type") if isinstance(part, Mapping) else None
            if ptype not in allowed:
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid value: '{ptype}'. Supported "
                    f"values are: {', '.join(repr(a) for a in allowed)}.",
                    f"item.content[{i}].type",
                )
            assert isinstance(part, Mapping)
            parts.append(dict(part))
            if ptype in ("input_text", "output_text"):
                texts.append(str(part.get("text", "")))
            elif ptype == "input_audio":
                audio_ms += (
                    len(_b64(part.get("audio", ""), f"item.content[{i}].audio")) / BYTES_PER_MS
                )
                if part.get("transcript"):
                    texts.append(str(part["transcript"]))
        wire = {**base, "role": role, "content": parts}
        text = " ".join(texts)
        if role == "assistant":
            return AssistantMessage(text), wire
        if role == "system":
            return UserMessage(f"[system] {text}"), wire
        return UserMessage(text, audio_ms=audio_ms or None), wire

    def _on_conversation_item_retrieve(self, frame: dict[str, Any]) -> list[Action]:
        item_id = self._known_item(frame)
        return [self.event("conversation.item.retrieved", item=self.wire_items[item_id])]

    def _on_conversation_item_delete(self, frame: dict[str, Any]) -> list[Action]:
        item_id = self._known_item(frame)
        self.conversation.delete(item_id)
        del self.wire_items[item_id]
        return [self.event("conversation.item.deleted", item_id=item_id)]

    def _known_item(self, frame: Mapping[str, Any]) -> str:
        item_id = frame.get("item_id")
        if not isinstance(item_id, str):
            raise ProtocolError(
                "missing_required_parameter", "Missing required parameter: 'item_id'.", "item_id"
            )
        if item_id not in self.conversation:
            raise ProtocolError(
                "item_not_found", f"Item with item_id '{item_id}' not found.", "item_id"
            )
        return item_id

    def _on_conversation_item_truncate(self, frame: dict[str, Any]) -> list[Action]:
        item_id = self._known_item(frame)
        wire = self.wire_items[item_id]
        # The live wording for anything but an assistant audio item (livekit/agents#1016,
        # #6157: also for an item interrupted before its first audio).
        only_audio = "Only model output audio messages can be truncated"
        if wire.get("role") != "assistant" or wire.get("type") != "message":
            raise ProtocolError("invalid_value", only_audio, "item_id")
        content_index = frame.get("content_index", 0)
        if content_index != 0:
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{content_index}'. The item has a single content part at index 0.",
                "content_index",
            )
        end = frame.get("audio_end_ms")
        if isinstance(end, bool) or not isinstance(end, int) or end < 0:
            raise ProtocolError(
                "invalid_value", "audio_end_ms must be a non-negative integer.", "audio_end_ms"
            )
        # Bounds follow what the server has *sent* for the item (it generates faster than real
        # time), never what a listener could have heard by now.
        sent = self.audio_sent_ms.get(item_id)
        if not sent:  # no audio yet (or a text item): the live service says the same
            raise ProtocolError("invalid_value", only_audio, "item_id")
        if end > sent + 0.5:
            raise ProtocolError(
                "invalid_value",
                f"Audio content of {sent:.0f}ms is already shorter than {end}ms",
                "audio_end_ms",
            )
        heard = "".join(t for at, t in self.transcript_pieces.get(item_id, []) if at < end)
        self.conversation.replace(item_id, AssistantMessage(heard.strip(), interrupted=True))
        for part in wire["content"]:
            if part.get("type") == "output_audio":
                part["transcript"] = heard.strip()
        self.audio_sent_ms[item_id] = float(end)
        return [
            self.event(
                "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end
            )
        ]

    # -- responses --------------------------------------------------------------------------------
    def _on_response_create(self, frame: dict[str, Any]) -> list[Action]:
        params = frame.get("response") or {}
        if not isinstance(params, Mapping):
            raise ProtocolError("invalid_type", "'response' must be an object.", "response")
        if self.is_transcription:
            raise ProtocolError(
                "invalid_value", "Transcription sessions do not create responses.", "type"
            )
        return self._start_response(params)

    def _start_response(self, params: Mapping[str, Any]) -> list[Action]:
        conversation = params.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{conversation}'. Supported values are: 'auto' and 'none'.",
                "response.conversation",
            )
        in_conv = conversation == "auto"
        if in_conv and self.active_id is not None:
            raise ProtocolError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active_id}. "
                "Wait until the response is finished before creating a new one.",
            )
        state = self._response_state(params, in_conv)
        self.responses[state.id] = state
        if in_conv:
            self.active_id = state.id
        return [
            self.event("response.created", response=self._response_body(state)),
            StartResponse(state.id),
        ]

    def _response_state(self, params: Mapping[str, Any], in_conv: bool) -> ResponseState:
        s = self.session
        modalities = params.get("output_modalities", s["output_modalities"])
        if modalities not in (["audio"], ["text"]):
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: {modalities}. Supported values are: ['audio'] and ['text'].",
                "response.output_modalities",
            )
        out = (
            params.get("audio", {}).get("output", {})
            if isinstance(params.get("audio"), Mapping)
            else {}
        )
        voice = s["audio"]["output"]["voice"]
        if "voice" in out:
            asked = cfg.check_voice(out["voice"], "response.audio.output.voice")
            if self.assistant_audio and asked != voice:
                raise ProtocolError(
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                )
            voice = asked
        audio_format = (
            cfg.check_format(out["format"], "response.audio.output.format")
            if "format" in out
            else dict(s["audio"]["output"]["format"])
        )
        tools = params.get("tools", s["tools"])
        if not isinstance(tools, list):
            raise ProtocolError(
                "invalid_type", "'response.tools' must be an array.", "response.tools"
            )
        custom = None
        if "input" in params:
            custom = self._custom_input(params["input"])
        max_tokens = params.get("max_output_tokens", s["max_output_tokens"])
        return ResponseState(
            id=self.ids.new("resp"),
            in_conversation=in_conv,
            modality=modalities[0],
            voice=cfg.voice_name(voice),
            voice_wire=voice,
            speed=float(s["audio"]["output"].get("speed", 1.0)),
            instructions=params.get("instructions", s["instructions"]),
            tools=tools,
            tool_choice=params.get("tool_choice", s["tool_choice"]),
            max_output_tokens=max_tokens,
            metadata=params.get("metadata"),
            custom_input=custom,
            audio_format=audio_format,
        )

    def _custom_input(self, raw: Any) -> list[Item]:
        if not isinstance(raw, list):
            raise ProtocolError(
                "invalid_type", "'response.input' must be an array.", "response.input"
            )
        items: list[Item] = []
        for i, entry in enumerate(raw):
            if isinstance(entry, Mapping) and entry.get("type") == "item_reference":
                ref = self.conversation.get(str(entry.get("id")))
                if ref is None:
                    raise ProtocolError(
                        "item_not_found",
                        f"Item with item_id '{entry.get('id')}' not found.",
                        f"response.input[{i}]",
                    )
                items.append(ref)
            elif isinstance(entry, Mapping):
                items.append(self._parse_item(entry, "inline")[0])
            else:
                raise ProtocolError(
                    "invalid_type", "Input items must be objects.", f"response.input[{i}]"
                )
        return items

    def _response_body(
        self, r: ResponseState, usage: Usage | None = None, status_details: Any = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "realtime.response",
            "id": r.id,
            "status": r.status,
            "status_details": status_details,
            "output": r.output,
            "conversation_id": self.conversation_id if r.in_conversation else None,
            "output_modalities": [r.modality],
            "max_output_tokens": r.max_output_tokens,
            "audio": {"output": {"format": r.audio_format, "voice": r.voice_wire}},
            "usage": None,
            "metadata": r.metadata,
        }
        if usage is not None:
            body["usage"] = {
                "total_tokens": usage.total_tokens,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "input_token_details": {
                    "text_tokens": usage.input_text,
                    "audio_tokens": usage.input_audio,
                    "image_tokens": 0,
                    "cached_tokens": 0,
                    "cached_tokens_details": {
                        "text_tokens": 0,
                        "audio_tokens": 0,
                        "image_tokens": 0,
                    },
                },
                "output_token_details": {
                    "text_tokens": usage.output_text,
                    "audio_tokens": usage.output_audio,
                },
            }
        return body

    def plan(self, response_id: str) -> ResponsePlan:
        """The context the runner hands to the brain (call after pending hearing finished)."""
        r = self.responses[response_id]
        history = r.custom_input if r.custom_input is not None else self.conversation.items()
        specs = cfg.tool_specs(r.tools)
        if r.tool_choice == "none":
            specs = []
        elif isinstance(r.tool_choice, Mapping) and r.tool_choice.get("type") == "function":
            specs = [t for t in specs if t.name == r.tool_choice.get("name")]
        r.context_text = r.instructions + "".join(_item_text(i) for i in history)
        r.context_audio_ms = sum(i.audio_ms or 0 for i in history if isinstance(i, UserMessage))
        td = self.session["audio"]["input"]["turn_detection"] or {}
        facts = SessionFacts(
            provider="openai", voice=r.voice, modality=r.modality, vad=dict(td), model=self.model
        )
        max_chars = r.max_output_tokens * 4 if isinstance(r.max_output_tokens, int) else None
        return ResponsePlan(
            tuple(history),
            tuple(specs),
            r.instructions,
            facts,
            r.modality,
            r.voice,
            float(self.session["audio"]["output"].get("speed", 1.0)),
            max_chars,
        )

    def limit_text(self, response_id: str, text: str) -> str:
        """Cut text at max_output_tokens (then the response ends `incomplete`)."""
        r = self.responses[response_id]
        if isinstance(r.max_output_tokens, int):
            budget = r.max_output_tokens * 4 - len(r.output_text)
            if len(text) > budget:
                r.truncated_by_limit = True
                return text[: max(0, budget)]
        return text

    def open_message(self, response_id: str) -> list[Action]:
        r = self.responses[response_id]
        item_id = self.ids.new("item")
        msg = OpenMessage(item_id, len(r.output), r.modality)
        r.open = msg
        wire = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        r.output.append(wire)
        actions: list[Action] = [
            self.event(
                "response.output_item.added",
                response_id=r.id,
                output_index=msg.output_index,
                item=wire,
            )
        ]
        if r.in_conversation:
            previous = self._insert(item_id, AssistantMessage(""), wire, None)
            actions.append(
                self.event("conversation.item.added", previous_item_id=previous, item=wire)
            )
        if r.modality == "audio":
            self.audio_sent_ms[item_id] = 0.0
            self.transcript_pieces[item_id] = msg.pieces
        part = (
            {"type": "audio", "transcript": ""}
            if r.modality == "audio"
            else {"type": "text", "text": ""}
        )
        actions.append(
            self.event(
                "response.content_part.added",
                response_id=r.id,
                item_id=item_id,
                output_index=msg.output_index,
                content_index=0,
                part=part,
            )
        )
        return actions

    def piece(self, response_id: str, piece: OutputPiece) -> list[Action]:
        r = self.responses[response_id]
        msg = r.open
        assert msg is not None, "piece() outside open_message/close_message"
        where = {
            "response_id": r.id,
            "item_id": msg.item_id,
            "output_index": msg.output_index,
            "content_index": 0,
        }
        if piece.kind == "audio":
            self.assistant_audio = True
            msg.audio_ms += piece.audio_ms
            r.output_audio_ms += piece.audio_ms
            self.audio_sent_ms[msg.item_id] = msg.audio_ms
            return [
                self.event(
                    "response.output_audio.delta",
                    **where,
                    delta=base64.b64encode(piece.audio).decode("ascii"),
                )
            ]
        msg.text += piece.text
        r.output_text += piece.text
        if piece.kind == "transcript":
            msg.pieces.append((piece.at_ms, piece.text))
            return [
                self.event(
                    "response.output_audio_transcript.delta",
                    **where,
                    delta=piece.text,
                    obfuscation=self._obfuscation(piece.text),
                )
            ]
        return [self.event("response.output_text.delta", **where, delta=piece.text)]

    def _obfuscation(self, text: str) -> str:
        """Live servers pad text deltas with random characters against length side-channels."""
        return self.ids.new("o")[2 : 2 + max(1, 16 - len(text) % 16)]

    def close_message(self, response_id: str, *, status: str = "completed") -> list[Action]:
        r = self.responses[response_id]
        msg = r.open
        assert msg is not None
        r.open = None
        where = {
            "response_id": r.id,
            "item_id": msg.item_id,
            "output_index": msg.output_index,
            "content_index": 0,
        }
        actions: list[Action] = []
        if msg.modality == "audio":
            content = {"type": "output_audio", "transcript": msg.text}
            actions += [
                self.event("response.output_audio.done", **where),
                self.event("response.output_audio_transcript.done", **where, transcript=msg.text),
                self.event(
                    "response.content_part.done",
                    **where,
                    part={"type": "audio", "transcript": msg.text},
                ),
            ]
        else:
            content = {"type": "output_text", "text": msg.text}
            actions += [
                self.event("response.output_text.done", **where, text=msg.text),
                self.event(
                    "response.content_part.done", **where, part={"type": "text", "text": msg.text}
                ),
            ]
        wire = r.output[msg.output_index]
        wire["status"] = status
        wire["content"] = [content]
        actions.append(
            self.event(
                "response.output_item.done",
                response_id=r.id,
                output_index=msg.output_index,
                item=wire,
            )
        )
        if r.in_conversation and msg.item_id in self.conversation:
            self.conversation.replace(
                msg.item_id, AssistantMessage(msg.text.strip(), interrupted=status != "completed")
            )
            actions.append(
                self.event(
                    "conversation.item.done",
                    previous_item_id=self.conversation.previous_id(msg.item_id),
                    item=wire,
                )
            )
        return actions

    def function_call(self, response_id: str, call: PlannedCall) -> list[Action]:
        """A whole function_call item: added, argument deltas, done (no pacing needed)."""
        r = self.responses[response_id]
        item_id, call_id = self.ids.new("item"), self.ids.new("call")
        index = len(r.output)
        args = json.dumps(dict(call.arguments), separators=(",", ":"))
        wire = {
            "id": item_id,
            "type": "function_call",
            "object": "realtime.item",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        r.output.append(wire)
        r.output_text += args
        actions: list[Action] = [
            self.event(
                "response.output_item.added", response_id=r.id, output_index=index, item=dict(wire)
            )
        ]
        if r.in_conversation:
            previous = self._insert(
                item_id, FunctionCall(call_id, call.name, call.arguments), wire, None
            )
            actions.append(
                self.event("conversation.item.added", previous_item_id=previous, item=dict(wire))
            )
        where = {"response_id": r.id, "item_id": item_id, "output_index": index, "call_id": call_id}
        for i in range(0, len(args), 12):
            actions.append(
                self.event(
                    "response.function_call_arguments.delta", **where, delta=args[i : i + 12]
                )
            )
        actions.append(
            self.event(
                "response.function_call_arguments.done", **where, name=call.name, arguments=args
            )
        )
        wire.update(status="completed", arguments=args)
        actions.append(
            self.event("response.output_item.done", response_id=r.id, output_index=index, item=wire)
        )
        if r.in_conversation:
            actions.append(
                self.event(
                    "conversation.item.done",
                    previous_item_id=self.conversation.previous_id(item_id),
                    item=wire,
                )
            )
        return actions

    def finish_response(self, response_id: str) -> list[Action]:
        r = self.responses[response_id]
        actions: list[Action] = []
        if r.open is not None:
            actions += self.close_message(response_id)
        details = None
        if r.truncated_by_limit:
            r.status = "incomplete"
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        else:
            r.status = "completed"
        actions += self._done(r, details)
        # idle_timeout_ms runs from when the reply's audio has finished *playing*
        self.input.arm_idle_timer(r.output_audio_ms)
        return actions

    def response_cancelled(self, response_id: str, reason: str) -> list[Action]:
        """The runner has stopped: close the partial item and report `cancelled`."""
        r = self.responses[response_id]
        actions: list[Action] = []
        if r.open is not None:
            actions += self.close_message(response_id, status="incomplete")
        r.status = "cancelled"
        actions += self._done(r, {"type": "cancelled", "reason": reason})
        return actions

    def response_failed(self, response_id: str, message: str) -> list[Action]:
        r = self.responses[response_id]
        actions: list[Action] = []
        if r.open is not None:
            actions += self.close_message(response_id, status="incomplete")
        r.status = "failed"
        return actions + self._done(
            r,
            {
                "type": "failed",
                "error": {"type": "server_error", "code": "server_error", "message": message},
            },
        )

    def _done(self, r: ResponseState, details: Any) -> list[Action]:
        if self.active_id == r.id:
            self.active_id = None
        usage = count_usage(
            context_text=r.context_text,
            context_audio_ms=r.context_audio_ms,
            output_text=r.output_text,
            output_audio_ms=r.output_audio_ms,
        )
        self._tokens_remaining = max(0, RATE_LIMIT_TOKENS - usage.total_tokens)
        return [
            self.event("response.done", response=self._response_body(r, usage, details)),
            self.event(
                "rate_limits.updated",
                rate_limits=[
                    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                    {
                        "name": "tokens",
                        "limit": RATE_LIMIT_TOKENS,
                        "remaining": self._tokens_remaining,
                        "reset_seconds": round(usage.total_tokens * 60 / RATE_LIMIT_TOKENS, 3),
                    },
                ],
            ),
        ]

    def _on_response_cancel(self, frame: dict[str, Any]) -> list[Action]:
        wanted = frame.get("response_id")
        candidates = [
            rid
            for rid, r in self.responses.items()
            if r.status == "in_progress" and not r.cancelling
        ]
        target = (
            wanted
            if wanted in candidates
            else (self.active_id if wanted is None and self.active_id in candidates else None)
        )
        if target is None:
            raise ProtocolError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        return self._cancel(target, "client_cancelled")

    def _cancel(
        self, response_id: str, reason: Literal["turn_detected", "client_cancelled"]
    ) -> list[Action]:
        r = self.responses[response_id]
        r.cancelling = True
        if self.active_id == response_id:
            self.active_id = None  # a new response may start once the cancel is executed
        return [CancelResponse(response_id, reason)]

    # -- limits ---------------------------------------------------------------------------------
    def expire(self) -> list[Action]:
        """The session hit its maximum duration: a fatal error, then close (code 1000)."""
        if self._finished:
            return []
        self._finished = True
        return [
            self.error(
                "session_expired",
                f"Your session hit the maximum duration of {_duration(self.max_session_s)}.",
            ),
            Close(1000, "session expired"),
        ]


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    s = f"{seconds:g}"
    return f"{s} second" + ("s" if seconds != 1 else "")


def _item_text(item: Item) -> str:
    if isinstance(item, UserMessage | AssistantMessage):
        return item.text
    if isinstance(item, FunctionCall):
        return item.name + json.dumps(dict(item.arguments))
    return item.output


def _loads_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _b64(value: Any, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ProtocolError(
            "invalid_value", f"Invalid value for '{param}': expected base64.", param
        ) from exc
