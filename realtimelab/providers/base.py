"""What every provider codec offers: capability flags, the connect request, the `Codec` protocol.

A codec is **sans-IO** (the python-websockets `protocol.py` / h11 pattern): it never touches a
socket or a clock. The session shell hands it verbs ("send this audio") and gets JSON-ready
frames back; it hands it raw frames from the wire and gets unified `events` back. That makes
each provider's protocol testable from recorded frames alone, and keeps every provider
difference in one place: a codec, plus the `Capabilities` it declares. Code outside the codecs
asks `session.capabilities.truncation`, never `provider == "openai"`.

Codec state is small and explicit (which response is active, how much audio each assistant
item delivered, which tool calls are pending) and exists only where the protocol forces it,
for example to clamp a truncation to the audio actually received.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from realtimelab.events import Event, Provider

if TYPE_CHECKING:
    from realtimelab.config import SessionConfig

__all__ = [
    "AssistantText",
    "Capabilities",
    "Codec",
    "ConnectRequest",
    "HistoryItem",
    "ToolCallRecord",
    "ToolResult",
    "ToolResultRecord",
    "UserText",
    "redact",
]

#: Header names whose values are credentials (compared lower-case).
SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key"})


def redact(value: str) -> str:
    """`'…abcd'`: at most the last 4 characters of a secret, and only when it is long enough
    that 4 characters reveal nothing useful (a short value is shown as `'…'`)."""
    return f"…{value[-4:]}" if len(value) >= 16 else "…"


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, as flags, so shared code branches on features, not names.

    A flag that is False documents an absence: e.g. Gemini has no server `speech_started`
    event, so `speech_started_events=False` and no `SpeechStarted` is ever faked for it.
    """

    provider: Provider
    input_rate: int
    """Rate (Hz) of PCM16 the provider expects; `send_audio` resamples to it."""
    output_rate: int
    """Rate (Hz) of PCM16 the provider sends back."""
    server_vad: bool = True
    """The server detects turns from the audio stream."""
    semantic_vad: bool = False
    """A content-aware turn detector exists (OpenAI `semantic_vad` with `eagerness`)."""
    speech_started_events: bool = True
    """The server reports when the user starts/stops speaking (OpenAI `speech_started`).
    Gemini only reports it through `voiceActivity` where the model sends it."""
    manual_commit: bool = False
    """With VAD off, the client ends a turn with a commit (OpenAI `input_audio_buffer.commit`)."""
    manual_activity: bool = False
    """With VAD off, the client brackets speech (Gemini `activityStart` … `activityEnd`)."""
    truncation: bool = False
    """The client must tell the server how much of an interrupted reply was heard
    (OpenAI `conversation.item.truncate`). When False the server handles it (Gemini)."""
    client_cancel: bool = False
    """The client can cancel a reply in progress (OpenAI `response.cancel`)."""
    session_update: bool = False
    """Configuration can change mid-session (OpenAI `session.update`); otherwise a reconnect."""
    resumption: bool = False
    """The server hands out handles to resume a session on a new socket (Gemini)."""
    go_away: bool = False
    """The server warns before closing the connection (Gemini `goAway.timeLeft`)."""
    idle_timeout: bool = False
    """Server VAD can fire when the user stays silent (OpenAI `idle_timeout_ms`)."""
    non_blocking_tools: bool = False
    """Tools may run while the model keeps talking (Gemini `NON_BLOCKING` + `scheduling`)."""
    tool_call_cancellation: bool = False
    """The server withdraws pending tool calls on barge-in (Gemini `toolCallCancellation`)."""
    rate_limits_events: bool = False
    """The server reports rate limits in-band (OpenAI `rate_limits.updated`)."""
    text_output: bool = True
    """Text-only replies are possible. Gemini native-audio models reject the TEXT modality;
    use output transcription to get their words as text."""
    ephemeral_tokens: bool = True
    """Short-lived client tokens can be minted (see `realtimelab.auth`)."""
    max_connection_s: float | None = None
    """Hard cap of one connection (OpenAI 60 min; Gemini ≈10 min, announced by `goAway`)."""
    assistant_history_text: bool = True
    """Assistant turns can be replayed into a new session as text."""
    tool_call_ends_turn: bool = False
    """A reply that calls tools ends (`TurnComplete(reason="tool_calls")`) and the answer comes
    in a new reply after the results (OpenAI). When False the model's turn stays open across
    the tool round trip and ends once, after the answer (Gemini). Code that waits for "the
    answer" can skip `TurnComplete` events whose reason is "tool_calls" on both."""


_SECRET_SUBPROTOCOL_PREFIXES = ("openai-insecure-api-key.",)


@dataclass(frozen=True)
class ConnectRequest:
    """Everything needed to open the socket. Headers and subprotocols may hold credentials,
    so `repr` redacts them: a `ConnectRequest` can be logged or shown in a notebook safely."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: tuple[str, ...] = ()

    def __repr__(self) -> str:
        headers = {
            k: (redact(v) if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()
        }
        subs = tuple(
            next(
                (p + redact(s[len(p) :]) for p in _SECRET_SUBPROTOCOL_PREFIXES if s.startswith(p)),
                s,
            )
            for s in self.subprotocols
        )
        return f"ConnectRequest(url={self.url!r}, headers={headers!r}, subprotocols={subs!r})"

    __str__ = __repr__


# ---------------------------------------------------------------------------------------------
# client-owned history: small frozen records, enough to replay a conversation on a new socket
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserText:
    """Something the user said or typed. `spoken` is True for a transcript of user audio."""

    text: str
    spoken: bool = False
    kind: Literal["user"] = "user"


@dataclass(frozen=True)
class AssistantText:
    """What the model said (its transcript) or wrote. `interrupted` replies hold only the part
    that was heard, as far as the client could tell (see `RealtimeSession.interrupt`)."""

    text: str
    interrupted: bool = False
    kind: Literal["assistant"] = "assistant"


@dataclass(frozen=True)
class ToolCallRecord:
    """A function call the model made; `arguments_json` exactly as it was sent."""

    call_id: str
    name: str
    arguments_json: str
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ToolResultRecord:
    """The result the client returned for a call; `output` as JSON text (or free text)."""

    call_id: str
    name: str
    output: str
    kind: Literal["tool_result"] = "tool_result"


HistoryItem = UserText | AssistantText | ToolCallRecord | ToolResultRecord


@dataclass(frozen=True)
class ToolResult:
    """One tool outcome to send back.

    `output` is anything JSON-serialisable (a `str` is sent as-is on OpenAI). `is_error` marks
    a failure the model should hear about (Gemini sends it under `response.error`).
    `scheduling` (`"SILENT" | "WHEN_IDLE" | "INTERRUPT"`) and `will_continue` are Gemini
    NON_BLOCKING options; on OpenAI, an all-SILENT batch only adds the result to the
    conversation without asking for a new reply.
    """

    call_id: str
    output: Any
    name: str | None = None
    is_error: bool = False
    scheduling: Literal["SILENT", "WHEN_IDLE", "INTERRUPT"] | None = None
    will_continue: bool | None = None


Frame = dict[str, Any]


@runtime_checkable
class Codec(Protocol):
    """One provider's wire protocol, without I/O. One instance per connection (it is stateful).

    Encoders return lists of JSON-ready dicts (some verbs take several frames, some none: e.g.
    `encode_interrupt` is empty on Gemini, whose server cuts the reply itself). `decode` never
    raises: a malformed frame becomes an `Error` event. Frames the codec must send *in reaction*
    to what it decoded (e.g. a `response.create` deferred until the active reply is done) are
    collected by `take_outgoing()`, like websockets' `data_to_send()`.
    """

    provider: Provider
    capabilities: Capabilities
    model: str
    """The model this connection uses (chosen at construction: argument, config, default)."""

    def connect_request(
        self, *, api_key: str | None = None, token: str | None = None, base_url: str | None = None
    ) -> ConnectRequest:
        """URL, headers and subprotocols. `base_url` (`ws://127.0.0.1:PORT`) replaces the
        provider's host, e.g. for the emulator; `token` is an ephemeral token."""
        ...

    def initial_frames(self, config: SessionConfig, *, resume: str | None = None) -> list[Frame]:
        """Frames to send right after the socket opens (OpenAI `session.update`, Gemini
        `setup`). `resume` is a Gemini resumption handle; other codecs ignore it."""
        ...

    def update_frames(self, config: SessionConfig) -> list[Frame]:
        """Frames that change the configuration mid-session; raises where impossible."""
        ...

    def encode_audio(self, pcm: bytes) -> list[Frame]:
        """PCM16 already at `capabilities.input_rate`."""
        ...

    def encode_text(self, text: str) -> list[Frame]: ...

    def encode_tool_responses(self, results: Sequence[ToolResult]) -> list[Frame]: ...

    def encode_commit(self) -> list[Frame]: ...

    def encode_create_response(self) -> list[Frame]: ...

    def encode_interrupt(self, item_id: str | None, played_ms: float) -> list[Frame]: ...

    def encode_history(self, items: Sequence[HistoryItem]) -> list[Frame]: ...

    def decode(self, frame: str | bytes, t: float) -> list[Event]: ...

    def decode_close(self, code: int | None, reason: str, t: float, expected: bool) -> list[Event]:
        """Events for a closed socket (Gemini reports errors only as close code + reason)."""
        ...

    def take_outgoing(self) -> list[Frame]: ...

    @property
    def last_audio_item(self) -> str | None:
        """Id of the assistant item whose audio arrived last (what `interrupt` truncates)."""
        ...

    def received_ms(self, item_id: str | None) -> float:
        """Milliseconds of audio received for an assistant item (None: the last one)."""
        ...
