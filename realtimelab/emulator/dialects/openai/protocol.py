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

import ast
import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from realtimelab.emulator import usage as billing
from realtimelab.emulator.brain import force_call
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
)
from realtimelab.emulator.ids import IdMint
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    PlannedCall,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.vision import decode_data_url, describe_image
from realtimelab.g711 import G711Decoder, G711Encoder, from_pcm16

log = logging.getLogger("realtimelab.emulator.openai")

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
#: "The client may choose how much audio to place in each event up to a maximum of 15 MiB"
#: (SDK `InputAudioBufferAppendEvent` docstring), counted on the decoded audio bytes.
MAX_APPEND_BYTES = 15 * 1024 * 1024
#: The uncommitted buffer's limit is not documented. Stricter side: the documented per-event
#: figure also caps the whole buffer, i.e. 15 MiB of 24 kHz PCM16 (327.68 s). Without a cap a
#: push-to-talk client that never commits grows the server without bound.
MAX_BUFFER_MS = MAX_APPEND_BYTES / BYTES_PER_MS
#: With server VAD on, audio heard outside speech is only kept this long (enough for
#: `prefix_padding_ms` and the VAD's own look-back); older silence is dropped.
KEEP_SILENCE_MS = 3000.0
#: `semantic_vad`: the longest the server waits for a user who does not sound finished, per
#: eagerness ("low" 8 s, "medium"/"auto" 4 s, "high" 2 s: the SDK's `SemanticVad` docstring).
SEMANTIC_MAX_WAIT_MS: Mapping[str, float] = {
    "low": 8000,
    "medium": 4000,
    "auto": 4000,
    "high": 2000,
}
#: Last words after which a speaker is not finished: fillers, conjunctions, articles,
#: prepositions, "to". An approximation of a learned turn-end model (docs/emulator-usage.md).
UNFINISHED_WORDS = frozenset(
    {
        "um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "like",
        "and", "or", "but", "so", "because", "then", "if", "that",
        "the", "a", "an", "my", "your", "this",
        "in", "on", "at", "for", "of", "to", "from", "with", "about", "into", "by",
        "is", "what", "which", "how",
    }
)  # fmt: skip


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
    """Transcribe `turn`, then call `heard(item_id, ...)`.

    `source` is "buffer" for a committed input buffer (transcription events follow, when
    transcription is on) or "item" for `input_audio` sent in `conversation.item.create` (the
    model hears it; no transcription events: those describe the input audio buffer).
    """

    item_id: str
    turn: TurnAudio
    source: Literal["buffer", "item"] = "buffer"


@dataclass(frozen=True)
class StartResponse:
    response_id: str


@dataclass(frozen=True)
class CancelResponse:
    response_id: str
    reason: Literal["turn_detected", "client_cancelled"]


@dataclass(frozen=True)
class Judge:
    """`semantic_vad`: hear the turn so far (a pause was detected), then call `judged(...)`,
    which decides whether the user sounds finished."""

    turn: TurnAudio


Action = Send | Close | Hear | StartResponse | CancelResponse | Judge


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

    @classmethod
    def missing(cls, param: str) -> ProtocolError:
        """`param` is required and was not sent."""
        return cls("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


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
    #: "auto" / "none" / "required" / "function" (the single tool left in `tools` must be called)
    tool_choice: str = "auto"


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
    context: list[billing.Segment] = field(default_factory=list)
    cached: billing.Cached = field(default_factory=billing.Cached)
    truncated_by_limit: bool = False
    cancelling: bool = False
    encoder: G711Encoder | None = None  # G.711 output: one stream per response


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
            # a client secret's session names its model; the connection's model rules
            minted = {k: v for k, v in dict(initial_session).items() if k != "model"}
            self.session = cfg.apply_update(self.session, minted)
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
        self._decoder: G711Decoder | None = None  # G.711 input → the engine's 24 kHz PCM16
        self.user_audio: dict[str, bytes] = {}  # user item id → its audio (24 kHz PCM16)
        self._typed: dict[str, str] = {}  # item id → typed text sent with its input_audio
        self._previous_context: list[billing.Segment] = []  # what the prompt cache holds
        # semantic_vad: a turn that paused, waiting to know whether the user is finished
        self._held: TurnAudio | None = None
        self._held_deadline_ms: float | None = None

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
            frame = json.loads(text, parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
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
        except RecursionError:
            return [
                self.error(
                    "invalid_value",
                    "The event is nested too deeply.",
                    client_event_id=event_id,
                )
            ]
        except Exception:
            # A bug, not a client mistake: say so in band and keep the session (the fuzz tests
            # count these and expect none). Never close with 1011 for one bad frame.
            log.exception("internal error handling %s", kind)
            return [
                self.error(
                    "server_error",
                    f"The emulator failed to handle this {kind} event.",
                    client_event_id=event_id,
                    type_="server_error",
                )
            ]
        return actions

    # -- session ---------------------------------------------------------------------------------
    def _on_session_update(self, frame: dict[str, Any]) -> list[Action]:
        if "session" not in frame:
            raise ProtocolError.missing("session")
        update = frame["session"]
        output = (
            update.get("audio", {}).get("output")
            if isinstance(update, Mapping) and isinstance(update.get("audio"), Mapping)
            else None
        )
        voice_sent = isinstance(output, Mapping) and output.get("voice") is not None
        if self.assistant_audio and voice_sent:
            # "Voice cannot be changed during the session once the model has responded with
            # audio at least once" (SDK docstring). The live service refuses even a session.update
            # that repeats the current voice (openai-agents-python#1661): any voice is refused.
            raise ProtocolError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
            )
        before = self.session
        self.session = cfg.apply_update(self.session, update)
        self.input.configure(cfg.vad_params(self.session))
        if self.session["audio"]["input"]["format"] != before["audio"]["input"]["format"]:
            self._decoder = None  # a new input format starts a new decoding stream
        actions: list[Action] = [self.event("session.updated", session=self.session)]
        if isinstance(update, Mapping) and "tools" in update:
            actions += self._list_mcp_tools(self.session.get("tools"), "session.tools")
        return actions

    def _list_mcp_tools(self, tools: Any, param: str) -> list[Action]:
        """MCP servers the model should list tools from: the emulator is offline, so each
        listing fails, honestly (`mcp_list_tools.in_progress` then `.failed`, and an `error`
        saying why). The real service connects to `server_url` at this point."""
        actions: list[Action] = []
        for index, tool in cfg.mcp_tools(tools):
            item_id = self.ids.new("mcp")
            label = cfg.quote(tool.get("server_label"))
            actions += [
                self.event("mcp_list_tools.in_progress", item_id=item_id),
                self.event("mcp_list_tools.failed", item_id=item_id),
                self.error(
                    "mcp_list_tools_failed",
                    f"Could not list the tools of MCP server '{label}': the realtimelab "
                    "emulator works offline and connects to no MCP server. Declare the tools "
                    "as function tools to try them against the emulator.",
                    param=f"{param}[{index}]",
                ),
            ]
        return actions

    # -- input audio -----------------------------------------------------------------------------
    def _on_input_audio_buffer_append(self, frame: dict[str, Any]) -> list[Action]:
        audio = frame.get("audio")
        if not isinstance(audio, str):
            raise ProtocolError.missing("audio")
        if len(audio) > MAX_APPEND_BYTES * 4 // 3 + 4:
            raise ProtocolError(
                "invalid_value",
                "Invalid 'audio': an input_audio_buffer.append event may carry at most 15 MiB "
                "of audio. Send smaller chunks.",
                "audio",
            )
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "invalid_value",
                "Invalid value for 'audio': the audio must be base64-encoded bytes in the "
                "session's input format.",
                "audio",
            ) from exc
        pcm = self._decode_input(data)
        if not self.input.vad_enabled and self.input.buffered_ms + len(pcm) / BYTES_PER_MS > (
            MAX_BUFFER_MS
        ):
            raise ProtocolError(
                "input_audio_buffer_full",
                f"The input audio buffer is full: it holds {self.input.buffered_ms:.0f}ms of "
                f"audio and can hold at most {MAX_BUFFER_MS:.0f}ms. Commit or clear it.",
                "audio",
            )
        actions: list[Action] = []
        events = self.input.append(pcm)
        if self.input.vad_enabled and not self.input.in_speech:
            self.input.trim_silence(KEEP_SILENCE_MS)
        for ev in events:
            if isinstance(ev, SpeechBegan) and self._held is not None:
                self._held_deadline_ms = None  # the user went on: same turn, same item
                continue
            if isinstance(ev, SpeechBegan):
                actions += self._speech_started(ev)
            elif isinstance(ev, SpeechEnded):
                actions += self._speech_stopped(ev)
            elif isinstance(ev, IdleTimedOut):
                actions += self._idle_timeout(ev)
        if (
            self._held is not None
            and self._held_deadline_ms is not None
            and not self.input.in_speech
            and self.input.received_ms >= self._held_deadline_ms
        ):
            actions += self._finish_held()
        return actions

    # -- semantic VAD ---------------------------------------------------------------------------
    def _semantic(self) -> str | None:
        td = self.session["audio"]["input"]["turn_detection"]
        return str(td.get("eagerness", "auto")) if td and td["type"] == "semantic_vad" else None

    def judged(self, turn: TurnAudio, heard: Heard) -> list[Action]:
        """The words of a paused turn are known: end it if the user sounds finished, else wait
        (up to the eagerness's maximum) for more speech.

        Finished means a complete phrase the ears know (`heard.recognised`) whose last word is
        not a filler, conjunction, article or preposition. What the ears cannot place ("umm",
        a half phrase) is taken as unfinished, so the user gets the longer wait.
        """
        if turn is not self._held or self.input.in_speech:
            return []  # stale (the user spoke again meanwhile): a new judgement will follow
        words = heard.text.lower().split()
        unfinished = not heard.recognised or not words or words[-1] in UNFINISHED_WORDS
        eagerness = self._semantic() or "auto"
        if not unfinished:
            return self._finish_held()
        self._held_deadline_ms = turn.end_ms + SEMANTIC_MAX_WAIT_MS.get(eagerness, 4000.0)
        if self.input.received_ms >= self._held_deadline_ms:
            return self._finish_held()
        return []

    def _finish_held(self) -> list[Action]:
        turn, self._held, self._held_deadline_ms = self._held, None, None
        assert turn is not None
        return self._end_turn(SpeechEnded(turn.end_ms, turn))

    def _input_format(self) -> str:
        return str(self.session["audio"]["input"]["format"]["type"])

    def _decode_input(self, data: bytes) -> bytes:
        """Wire audio in the session's input format → the engine's 24 kHz PCM16."""
        kind = self._input_format()
        if kind == "audio/pcm":
            return data
        if self._decoder is None or self._decoder.codec != kind.removeprefix("audio/"):
            self._decoder = G711Decoder(kind, cfg.AUDIO_RATE)
        return self._decoder.decode(data)

    def _encode_input(self, pcm: bytes) -> bytes:
        """24 kHz PCM16 → the session's input format (what `conversation.item.retrieve` shows)."""
        kind = self._input_format()
        return pcm if kind == "audio/pcm" else from_pcm16(pcm, cfg.AUDIO_RATE, kind)

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
        if self._semantic() is None:
            if self._held is not None:  # semantic_vad was switched off while waiting
                return self._finish_held() + self._end_turn(ev)
            return self._end_turn(ev)
        turn = ev.turn
        if self._held is not None:  # the user went on after a pause: one turn, gap included
            held = self._held
            gap = bytes(max(0, round((turn.start_ms - held.end_ms) * BYTES_PER_MS / 2)) * 2)
            turn = TurnAudio(held.pcm + gap + turn.pcm, turn.rate, held.start_ms, turn.end_ms)
        self._held, self._held_deadline_ms = turn, None
        return [Judge(turn)]

    def _end_turn(self, ev: SpeechEnded) -> list[Action]:
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
        self.user_audio[item_id] = turn.pcm
        return [
            self.event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            self.event("conversation.item.added", previous_item_id=previous, item=wire),
            self.event("conversation.item.done", previous_item_id=previous, item=wire),
            Hear(item_id, turn),
        ]

    def _on_input_audio_buffer_clear(self, frame: dict[str, Any]) -> list[Action]:
        self.input.clear()
        self._held = self._held_deadline_ms = None
        self._decoder = None  # the resampler's tail belonged to the cleared audio
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

    def heard(
        self, item_id: str, heard: Heard, source: Literal["buffer", "item"] = "buffer"
    ) -> list[Action]:
        """The ears finished a turn: fill in the text; for a committed buffer, transcription
        events (when transcription is on)."""
        item = self.conversation.get(item_id)
        typed = self._typed.pop(item_id, "")
        if isinstance(item, UserMessage):
            text = " ".join(t for t in (typed, heard.text) if t)
            self.conversation.replace(item_id, replace(item, text=text))
        wire = self.wire_items.get(item_id)
        if wire is not None:
            for part in wire.get("content", []):
                if part.get("type") == "input_audio" and not part.get("transcript"):
                    part["transcript"] = heard.text
                    break
        if source == "item" or self.session["audio"]["input"].get("transcription") is None:
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
        audio_in = billing.input_audio_tokens(audio_ms)
        text_out = billing.text_tokens(heard.text)
        actions.append(
            self.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=heard.text,
                usage={
                    "type": "tokens",
                    "input_tokens": audio_in,
                    "output_tokens": text_out,
                    "total_tokens": audio_in + text_out,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": audio_in},
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
            raise ProtocolError.missing("item")
        after = frame.get("previous_item_id")
        if after is not None and not isinstance(after, str):
            raise _type_error("previous_item_id", "a string", after)
        if after is not None and after != "root" and after not in self.conversation:
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{cfg.quote(after)}'. No item with this id exists in the "
                "conversation.",
                "previous_item_id",
            )
        item_id = raw.get("id")
        if item_id is None:
            item_id = self.ids.new("item")
        elif not isinstance(item_id, str) or not item_id:
            raise _type_error("item.id", "a non-empty string", item_id)
        if item_id in self.conversation:
            raise ProtocolError(
                "invalid_value", f"Item with id '{cfg.quote(item_id)}' already exists.", "item.id"
            )
        parsed = self._parse_item(raw, item_id)
        previous = self._insert(item_id, parsed.item, parsed.wire, after)
        actions: list[Action] = [
            self.event(
                "conversation.item.added", previous_item_id=previous, item=_echo(parsed.wire)
            ),
            self.event(
                "conversation.item.done", previous_item_id=previous, item=_echo(parsed.wire)
            ),
        ]
        if parsed.audio:
            self.user_audio[item_id] = parsed.audio
            if parsed.hear:
                self._typed[item_id] = (
                    parsed.item.text if isinstance(parsed.item, UserMessage) else ""
                )
                turn = TurnAudio(
                    parsed.audio, cfg.AUDIO_RATE, 0.0, len(parsed.audio) / BYTES_PER_MS
                )
                actions.append(Hear(item_id, turn, source="item"))
        return actions

    def _parse_item(self, raw: Mapping[str, Any], item_id: str) -> ParsedItem:
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
                    "item.name" if not isinstance(name, str) else "item.arguments",
                )
            call_id = _optional_str(raw, "call_id", "item.call_id") or self.ids.new("call")
            wire = {**base, "name": name, "arguments": args, "call_id": call_id}
            return ParsedItem(FunctionCall(call_id, name, _loads_object(args)), wire)
        if kind == "function_call_output":
            result_id, output = raw.get("call_id"), raw.get("output")
            if not isinstance(result_id, str) or not isinstance(output, str):
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'item.call_id' or 'item.output'.",
                    "item.call_id" if not isinstance(result_id, str) else "item.output",
                )
            name = next(
                (
                    i.name
                    for i in self.conversation.items()
                    if isinstance(i, FunctionCall) and i.call_id == result_id
                ),
                "",
            )
            wire = {**base, "call_id": result_id, "output": output}
            return ParsedItem(FunctionResult(result_id, name, output), wire)
        raise ProtocolError(
            "invalid_value",
            f"Invalid value: '{cfg.quote(kind)}'. Supported values are: "
            "'message', 'function_call', and 'function_call_output'.",
            "item.type",
        )

    def _parse_message(self, raw: Mapping[str, Any], base: dict[str, Any]) -> ParsedItem:
        role = raw.get("role")
        if not isinstance(role, str) or role not in ("user", "assistant", "system"):
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{cfg.quote(role)}'. Supported values "
                "are: 'user', 'assistant', and 'system'.",
                "item.role",
            )
        content = raw.get("content")
        if not isinstance(content, list):
            raise ProtocolError.missing("item.content")
        allowed = {
            "user": ("input_text", "input_audio", "input_image"),
            "system": ("input_text",),
            "assistant": ("output_text",),
        }[role]
        texts: list[str] = []
        audio = bytearray()
        images: list[ImageInput] = []
        transcripts: list[str] = []
        parts: list[dict[str, Any]] = []
        for i, part in enumerate(content):
            where = f"item.content[{i}]"
            ptype = part.get("type") if isinstance(part, Mapping) else None
            if not isinstance(ptype, str) or ptype not in allowed:
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid value: '{cfg.quote(ptype)}'. Supported "
                    f"values are: {', '.join(repr(a) for a in allowed)}.",
                    f"{where}.type",
                )
            assert isinstance(part, Mapping)
            if ptype in ("input_text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise _type_error(f"{where}.text", "a string", text)
                texts.append(text)
                parts.append({"type": ptype, "text": text})
            elif ptype == "input_audio":
                data = part.get("audio")
                if not isinstance(data, str):
                    raise _type_error(f"{where}.audio", "a base64 string", data)
                wire_bytes = _b64(data, f"{where}.audio")
                audio += self._item_audio(wire_bytes)
                transcript = _optional_str(part, "transcript", f"{where}.transcript")
                if transcript:
                    transcripts.append(transcript)
                parts.append({"type": ptype, "audio": data, "transcript": transcript})
            else:  # input_image
                url = part.get("image_url")
                if not isinstance(url, str):
                    raise _type_error(f"{where}.image_url", "a string", url)
                detail = part.get("detail")
                if detail is not None and detail not in ("auto", "low", "high"):
                    raise cfg.ConfigError(
                        "invalid_value",
                        f"Invalid value: '{cfg.quote(detail)}'. Supported values are: 'auto', "
                        "'low', and 'high'.",
                        f"{where}.detail",
                    )
                decoded = decode_data_url(url)
                if decoded is None:
                    raise ProtocolError(
                        "invalid_value",
                        "Invalid 'image_url': expected a base64 data URL "
                        "(data:image/png;base64,...). The emulator fetches no URLs.",
                        f"{where}.image_url",
                    )
                mime, data_bytes = decoded
                images.append(describe_image(data_bytes, mime))
                parts.append({"type": ptype, "image_url": url, "detail": detail or "auto"})
        wire = {**base, "role": role, "content": parts}
        text = " ".join(texts)
        if role == "assistant":
            return ParsedItem(AssistantMessage(text), wire)
        if role == "system":
            return ParsedItem(UserMessage(f"[system] {text}"), wire)
        audio_ms = len(audio) / BYTES_PER_MS if audio else None
        if audio and not transcripts:
            # the model hears the audio (the shell runs a Hear); typed text goes first
            message = UserMessage(text, audio_ms=audio_ms, images=tuple(images))
            return ParsedItem(message, wire, bytes(audio), hear=True)
        spoken = " ".join(t for t in (text, *transcripts) if t)
        message = UserMessage(spoken, audio_ms=audio_ms, images=tuple(images))
        return ParsedItem(message, wire, bytes(audio), hear=False)

    def _item_audio(self, data: bytes) -> bytes:
        """An `input_audio` part (session input format) → 24 kHz PCM16 for the ears."""
        kind = self._input_format()
        if kind == "audio/pcm":
            return data[: len(data) - len(data) % 2]
        decoder = G711Decoder(kind, cfg.AUDIO_RATE)
        return decoder.decode(data) + decoder.flush()

    def _on_conversation_item_retrieve(self, frame: dict[str, Any]) -> list[Action]:
        """The full item, user audio included ("to inspect user audio after noise cancellation
        and VAD", SDK docstring): the audio the turn was cut to, in the session's format."""
        item_id = self._known_item(frame)
        item = _echo(self.wire_items[item_id], keep_audio=True)
        audio = self.user_audio.get(item_id)
        parts = [p for p in item.get("content", []) if p.get("type") == "input_audio"]
        if audio is not None and parts and not parts[0].get("audio"):
            parts[0]["audio"] = base64.b64encode(self._encode_input(audio)).decode("ascii")
        return [self.event("conversation.item.retrieved", item=item)]

    def _on_conversation_item_delete(self, frame: dict[str, Any]) -> list[Action]:
        item_id = self._known_item(frame)
        self.conversation.delete(item_id)
        del self.wire_items[item_id]
        self.user_audio.pop(item_id, None)
        return [self.event("conversation.item.deleted", item_id=item_id)]

    def _known_item(self, frame: Mapping[str, Any]) -> str:
        item_id = frame.get("item_id")
        if not isinstance(item_id, str):
            raise ProtocolError.missing("item_id")
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
        if isinstance(content_index, bool) or content_index != 0:
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
        self.conversation.replace(
            item_id, AssistantMessage(heard.strip(), interrupted=True, audio_ms=float(end))
        )
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
        params = frame.get("response")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise _type_error("response", "an object", params)
        # an optional field sent as null means "not set" (livekit sends "instructions": null);
        # only `metadata` and `prompt` are nullable in the SDK's RealtimeResponseCreateParams
        params = {k: v for k, v in params.items() if v is not None or k in ("metadata", "prompt")}
        if self.is_transcription:
            raise ProtocolError(
                "invalid_value", "Transcription sessions do not create responses.", "type"
            )
        return self._start_response(params)

    def _start_response(self, params: Mapping[str, Any]) -> list[Action]:
        conversation = params.get("conversation", "auto")
        if not isinstance(conversation, str) or conversation not in ("auto", "none"):
            raise ProtocolError(
                "invalid_value",
                f"Invalid value: '{cfg.quote(conversation)}'. Supported values are: 'auto' and "
                "'none'.",
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
        actions: list[Action] = [
            self.event("response.created", response=self._response_body(state)),
            StartResponse(state.id),
        ]
        if "tools" in params:
            actions += self._list_mcp_tools(state.tools, "response.tools")
        return actions

    def _response_state(self, params: Mapping[str, Any], in_conv: bool) -> ResponseState:
        """Validate `response.create` parameters (null already dropped) into a ResponseState.

        Each field is checked as the session's is (`cfg._check_top`), with `response.`
        params, so a malformed field is an `invalid_request_error`, never a failed response.
        """
        s = self.session
        for key in ("instructions", "output_modalities", "tools", "tool_choice"):
            if key in params:
                cfg._check_top(key, params[key], f"response.{key}")
        if "max_output_tokens" in params:
            cfg._check_top(
                "max_output_tokens", params["max_output_tokens"], "response.max_output_tokens"
            )
        modalities = params.get("output_modalities", s["output_modalities"])
        metadata = params.get("metadata")
        if metadata is not None:
            _check_metadata(metadata)
        audio = params.get("audio", {})
        if not isinstance(audio, Mapping):
            raise _type_error("response.audio", "an object", audio)
        out = audio.get("output") or {}
        if not isinstance(out, Mapping):
            raise _type_error("response.audio.output", "an object", out)
        voice = s["audio"]["output"]["voice"]
        if out.get("voice") is not None:
            asked = cfg.check_voice(out["voice"], "response.audio.output.voice")
            if self.assistant_audio and asked != voice:
                raise ProtocolError(
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                )
            voice = asked
        audio_format = (
            cfg.check_format(out["format"], "response.audio.output.format")
            if out.get("format") is not None
            else dict(s["audio"]["output"]["format"])
        )
        tools = params.get("tools", s["tools"])
        custom = None
        if "input" in params:
            custom = self._custom_input(params["input"])
        max_tokens = params.get("max_output_tokens", s["max_output_tokens"])
        encoder = None
        if audio_format["type"] != "audio/pcm" and modalities == ["audio"]:
            encoder = G711Encoder(audio_format["type"], cfg.AUDIO_RATE)
        return ResponseState(
            id=self.ids.new("resp"),
            in_conversation=in_conv,
            modality=modalities[0],
            voice=cfg.voice_name(voice),
            voice_wire=voice,
            speed=float(s["audio"]["output"].get("speed", 1.0)),
            instructions=params.get("instructions", s["instructions"]),
            tools=list(tools),
            tool_choice=params.get("tool_choice", s["tool_choice"]),
            max_output_tokens=max_tokens,
            metadata=metadata,
            custom_input=custom,
            audio_format=audio_format,
            encoder=encoder,
        )

    def _custom_input(self, raw: Any) -> list[Item]:
        if not isinstance(raw, list):
            raise ProtocolError(
                "invalid_type", "'response.input' must be an array.", "response.input"
            )
        items: list[Item] = []
        for i, entry in enumerate(raw):
            if isinstance(entry, Mapping) and entry.get("type") == "item_reference":
                ref_id = entry.get("id")
                ref = self.conversation.get(ref_id) if isinstance(ref_id, str) else None
                if ref is None:
                    raise ProtocolError(
                        "item_not_found",
                        f"Item with item_id '{cfg.quote(ref_id)}' not found.",
                        f"response.input[{i}].id",
                    )
                items.append(ref)
            elif isinstance(entry, Mapping):
                try:
                    parsed = self._parse_item(entry, "inline")
                except ProtocolError as exc:  # name the entry, not a conversation item
                    param = (exc.param or "item").replace("item", f"response.input[{i}]", 1)
                    raise ProtocolError(exc.code, exc.message, param) from exc
                items.append(parsed.item)
            else:
                raise ProtocolError(
                    "invalid_type", "Input items must be objects.", f"response.input[{i}]"
                )
        return items

    def _response_body(
        self, r: ResponseState, usage: Mapping[str, Any] | None = None, status_details: Any = None
    ) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": r.id,
            "status": r.status,
            "status_details": status_details,
            "output": r.output,
            "conversation_id": self.conversation_id if r.in_conversation else None,
            "output_modalities": [r.modality],
            "max_output_tokens": r.max_output_tokens,
            "audio": {"output": {"format": r.audio_format, "voice": r.voice_wire}},
            "usage": dict(usage) if usage is not None else None,
            "metadata": r.metadata,
        }

    def plan(self, response_id: str) -> ResponsePlan:
        """The context the runner hands to the brain (call after pending hearing finished).

        Also fixes what this response is billed for: its whole input context, and how much of
        it the prompt cache holds from the previous response (`usage.py`).
        """
        r = self.responses[response_id]
        history = r.custom_input if r.custom_input is not None else self.conversation.items()
        specs = cfg.tool_specs(r.tools)
        choice = "auto"
        if r.tool_choice == "none":
            specs, choice = [], "none"
        elif r.tool_choice == "required" and specs:
            choice = "required"
        elif isinstance(r.tool_choice, Mapping) and r.tool_choice.get("type") == "function":
            specs = [t for t in specs if t.name == r.tool_choice.get("name")]
            choice = "function" if specs else "none"
        r.context = billing.context_segments(r.instructions, specs, history)
        r.cached = billing.cached_tokens(self._previous_context, r.context)
        self._previous_context = r.context
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
            choice,
        )

    def settle(self, plan: ResponsePlan, reply: Reply) -> Reply:
        """Enforce `tool_choice` on the brain's reply: `required` and a forced function must
        produce a call (the real model "must call one or more tools" / that function), even
        when the words named no tool; arguments come from the words (`brain.force_call`)."""
        if plan.tool_choice not in ("required", "function") or reply.tool_calls or not plan.tools:
            return reply
        return Reply(tool_calls=(force_call(plan.history, plan.tools),))

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
            audio = piece.audio if r.encoder is None else r.encoder.encode(piece.audio)
            if not audio:  # the G.711 resampler is still filling: nothing to send yet
                return []
            return [
                self.event(
                    "response.output_audio.delta",
                    **where,
                    delta=base64.b64encode(audio).decode("ascii"),
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
        if msg.modality == "audio" and r.encoder is not None:
            tail = r.encoder.flush()  # the resampler's last few ms of this item
            if tail:
                actions.append(
                    self.event(
                        "response.output_audio.delta",
                        **where,
                        delta=base64.b64encode(tail).decode("ascii"),
                    )
                )
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
                msg.item_id,
                AssistantMessage(
                    msg.text.strip(),
                    interrupted=status != "completed",
                    audio_ms=msg.audio_ms if msg.modality == "audio" else None,
                ),
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
        return self._cut_short(response_id, "cancelled", reason=reason)

    def response_failed(self, response_id: str, message: str) -> list[Action]:
        error = {"type": "server_error", "code": "server_error", "message": message}
        return self._cut_short(response_id, "failed", error=error)

    def _cut_short(self, response_id: str, status: str, **details: Any) -> list[Action]:
        """End a response that did not complete: its partial item closes as `incomplete`, and
        `response.done` carries `status` with these status details."""
        r = self.responses[response_id]
        actions: list[Action] = []
        if r.open is not None:
            actions += self.close_message(response_id, status="incomplete")
        r.status = status
        return actions + self._done(r, {"type": status, **details})

    def _done(self, r: ResponseState, details: Any) -> list[Action]:
        if self.active_id == r.id:
            self.active_id = None
        out_audio = billing.output_audio_tokens(r.output_audio_ms)
        # an audio reply's transcript is billed as output text too (live usage shows both)
        usage = billing.as_wire(r.context, r.cached, billing.text_tokens(r.output_text), out_audio)
        total = int(usage["total_tokens"])  # type: ignore[call-overload]
        self._tokens_remaining = max(0, RATE_LIMIT_TOKENS - total)
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
                        "reset_seconds": round(total * 60 / RATE_LIMIT_TOKENS, 3),
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


def _loads_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:  # a Python repr of a dict, as some clients send
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
            return {}
    return value if isinstance(value, dict) else {}


def _b64(value: Any, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ProtocolError(
            "invalid_value", f"Invalid value for '{param}': expected base64.", param
        ) from exc


@dataclass(frozen=True)
class ParsedItem:
    """A client item read from the wire: the neutral item, its wire form, and any user audio
    (24 kHz PCM16) with whether the model still has to hear it."""

    item: Item
    wire: dict[str, Any]
    audio: bytes = b""
    hear: bool = False


def _echo(wire: Mapping[str, Any], *, keep_audio: bool = False) -> dict[str, Any]:
    """A copy of a wire item for an event. `conversation.item.added`/`done` carry "the full
    content of the Item except for audio data" (SDK docstrings): audio is left out unless
    `keep_audio` (`conversation.item.retrieved`)."""
    out = dict(wire)
    if "content" in out:
        parts = [dict(p) for p in out["content"]]
        if not keep_audio:
            for p in parts:
                p.pop("audio", None)
        out["content"] = parts
    return out


def _type_error(param: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {type(value).__name__}.",
        param,
    )


def _optional_str(raw: Mapping[str, Any], key: str, param: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise _type_error(param, "a string", value)
    return value


def _check_metadata(value: Any) -> None:
    """Up to 16 string keys (≤ 64 chars) with string values (≤ 512 chars), as the SDK says."""
    if not isinstance(value, Mapping):
        raise _type_error("response.metadata", "an object", value)
    if len(value) > 16:
        raise ProtocolError(
            "invalid_value",
            f"Invalid 'response.metadata': at most 16 pairs, got {len(value)}.",
            "response.metadata",
        )
    for key, v in value.items():
        if not isinstance(v, str) or len(key) > 64 or len(v) > 512:
            raise ProtocolError(
                "invalid_value",
                "Invalid 'response.metadata': keys must be strings of at most 64 characters "
                "and values strings of at most 512 characters.",
                f"response.metadata.{cfg.quote(key)}",
            )


def _no_constant(name: str) -> Any:
    """`NaN`, `Infinity` and `-Infinity` are not JSON: refuse them as invalid JSON."""
    raise ValueError(f"{name} is not valid JSON")
