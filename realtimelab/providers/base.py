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

How a close is reported (`Codec.decode_close`), the same on every provider, so code above the
codecs (`resilience.py`) reads `Error.fatal` instead of keeping its own table of numbers.
For an *unexpected* close (the client did not ask for it):

* 1000 normal closure: `Closed` only, nothing went wrong. Except after a lifetime warning
  (Gemini `goAway`): `Error(fatal=False, code="1000")`, since the connection ended but the
  conversation did not.
* Retryable, `Error(fatal=False, code="<close code>")` then `Closed`: 1001 going away, 1005 no
  status, 1006 abnormal (no close frame: a network drop), 1011 internal error, 1012 restart,
  1013 try again later, 1014 bad gateway, 1015 TLS failure, and `None` (no code at all). This
  is the OpenAI SDK's own retry list plus 1014: a new connection can work.
* Fatal, `Error(fatal=True, code="<close code>")` then `Closed`: 1002 protocol error, 1003
  unsupported data, 1007 invalid payload (Gemini: bad setup, or context exhausted, which a
  replay would only exhaust again), 1008 policy (Gemini: unknown model, stale handle), 1009
  too big, 1010 extension, and the application range 3000-4999 (OpenAI 4000
  `beta_api_shape_disabled`): a new connection would be refused the same way.
* Any other code: `Error(fatal=False)`; an unknown reason is worth one more try.

An expected close (the client closed) gives `Closed(expected=True)` only. The `Error` always
comes immediately before its `Closed`, with the close reason as its message.
`RETRYABLE_CLOSE_CODES`, `FATAL_CLOSE_CODES` and `close_error_is_fatal` hold the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from realtimelab import events as ev
from realtimelab.events import Event, Provider

if TYPE_CHECKING:
    from realtimelab.config import SessionConfig

__all__ = [
    "FATAL_CLOSE_CODES",
    "RESERVED_QUERY_KEYS",
    "RETRYABLE_CLOSE_CODES",
    "AssistantText",
    "Capabilities",
    "Codec",
    "CodecExtras",
    "ConnectRequest",
    "HistoryItem",
    "ToolCallRecord",
    "ToolResult",
    "ToolResultRecord",
    "UserImage",
    "UserText",
    "close_error_is_fatal",
    "close_events",
    "image_placeholder",
    "redact",
    "with_query",
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
    non_blocking_tools: bool = False
    """Tools may run while the model keeps talking (Gemini `NON_BLOCKING` + `scheduling`)."""
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
    image_input: bool = False
    """`send_image` works: the model can be shown a JPEG or PNG picture (OpenAI an
    `input_image` message part; Gemini a `realtimeInput.video` frame)."""
    g711_native: bool = False
    """The wire carries G.711 telephone audio (`audio/pcmu`, `audio/pcma` at 8 kHz) both ways
    (OpenAI). When False a G.711 `SessionConfig.input_format` / `output_format` still works:
    the session transcodes to and from the provider's PCM16 (Gemini)."""
    out_of_band_responses: bool = False
    """`create_out_of_band_response` works: a response outside the conversation, with its own
    instructions, input and metadata (OpenAI `response.create` with `conversation: "none"`)."""
    delete_items: bool = False
    """`delete_item(item_id)` removes an item from the server's conversation (OpenAI
    `conversation.item.delete`)."""
    retrieve_items: bool = False
    """`retrieve_item(item_id)` fetches an item back from the server, user audio included
    (OpenAI `conversation.item.retrieve`)."""
    clear_input: bool = False
    """`clear_input_audio()` drops input audio the server has not committed yet (OpenAI
    `input_audio_buffer.clear`)."""
    transcription_sessions: bool = False
    """`SessionConfig(mode="transcription")`: a session that only transcribes the user and
    never answers (OpenAI `?intent=transcription`, `session.type: "transcription"`)."""
    web_search: bool = False
    """`SessionConfig(web_search=True)`: the model may search the web and reports what it
    used as `Grounding` events (Gemini `googleSearch` → `groundingMetadata`)."""


_SECRET_SUBPROTOCOL_PREFIXES = ("openai-insecure-api-key.",)

#: Query parameter names that carry credentials on some Google/OpenAI endpoint. Extra query
#: parameters may never set them: a fault-injection or routing parameter must not be able to
#: swap the credential the caller chose (or leak one into a URL that gets logged).
RESERVED_QUERY_KEYS = frozenset(
    {"key", "api_key", "apikey", "access_token", "token", "authorization", "client_secret"}
)


def with_query(url: str, query: Mapping[str, str] | None) -> str:
    """`url` with `query` appended (percent-encoded), for `connect(..., query=...)`.

    Extra parameters may add, never replace: a name already in `url` (OpenAI's `model`) or
    in `RESERVED_QUERY_KEYS` raises ValueError naming the key (never its value), because a
    silently overridden model or credential is worse than a loud refusal.
    """
    if not query:
        return url
    present = {k.lower() for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    for key, value in query.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise ValueError("query parameters must be non-empty str names with str values")
        if key.lower() in RESERVED_QUERY_KEYS or key.lower() in present:
            raise ValueError(
                f"query parameter {key!r} is set by the codec (credential or model); "
                "extra parameters can only add to the URL"
            )
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode(dict(query), quote_via=quote)


#: Unexpected closes a new connection can recover from (see the module docstring's table).
#: 1000 is not here: a normal closure is not an error unless the codec knows better.
RETRYABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015})
#: Closes a new connection would meet again; plus the whole application range 3000-4999.
FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


def close_error_is_fatal(code: int | None) -> bool:
    """The `fatal` flag of the `Error` an unexpected close with `code` produces."""
    if code is None or code in RETRYABLE_CLOSE_CODES:
        return False
    return code in FATAL_CLOSE_CODES or 3000 <= code <= 4999


def close_events(
    provider: Provider,
    code: int | None,
    reason: str,
    t: float,
    expected: bool,
    *,
    lifetime_ended: bool = False,
) -> list[Event]:
    """The table above as events: `[Error, Closed]` or `[Closed]`. `lifetime_ended` is the
    codec's knowledge that the server warned before closing (Gemini `goAway`), which turns
    a 1000 into a retryable end rather than a normal one."""
    out: list[Event] = []
    if not expected and (code != 1000 or lifetime_ended):
        message = reason or f"connection closed ({code if code is not None else 'no code'})"
        if code == 1000 and not reason:
            message = "connection lifetime ended (the server warned with goAway)"
        out.append(
            ev.Error(
                provider=provider,
                t=t,
                message=message,
                code=str(code),
                fatal=close_error_is_fatal(code),
            )
        )
    out.append(ev.Closed(provider=provider, t=t, code=code, reason=reason, expected=expected))
    return out


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
        from realtimelab.redact import redact_text  # lazy: redact is a leaf, keep base light

        url = redact_text(self.url)
        return f"ConnectRequest(url={url!r}, headers={headers!r}, subprotocols={subs!r})"

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


@dataclass(frozen=True)
class UserImage:
    """A picture the user showed the model (`send_image`): its type and size, not its bytes.

    Why not the bytes: history records are small values that are saved after every turn and
    replayed on every reconnect, and a camera at one frame a second would make both grow by
    megabytes a minute. So a **replay cannot show the picture again**: the codecs replay it as
    a short user text saying a picture was shown (`image_placeholder`), which keeps the turn
    order and tells the model what it no longer sees. Send the image again after a reconnect
    if the model must still look at it.
    """

    mime: str
    nbytes: int
    kind: Literal["user_image"] = "user_image"


def image_placeholder(item: UserImage) -> str:
    """What a replay says in place of a picture (see `UserImage`), the same on every codec."""
    size = f"{item.nbytes / 1024:.0f} KB" if item.nbytes >= 1024 else f"{item.nbytes} bytes"
    return f"[the user showed a picture here ({item.mime}, {size}); it is no longer visible]"


HistoryItem = UserText | AssistantText | ToolCallRecord | ToolResultRecord | UserImage


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
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ConnectRequest:
        """URL, headers and subprotocols. `base_url` (`ws://127.0.0.1:PORT`) replaces the
        provider's host, e.g. for the emulator; `token` is an ephemeral token. `query` adds
        parameters to the URL (e.g. the emulator's `rtl_fault`) through `with_query`, which
        refuses any that would replace a credential or the codec's own parameters.

        Codecs with `capabilities.transcription_sessions` also take `transcription=True`
        (the session will only transcribe: OpenAI `?intent=transcription`); it is passed
        only to them, so other codecs need not accept it."""
        ...

    def initial_frames(self, config: SessionConfig, *, resume: str | None = None) -> list[Frame]:
        """Frames to send right after the socket opens (OpenAI `session.update`, Gemini
        `setup`). `resume` is a Gemini resumption handle; other codecs ignore it."""
        ...

    def update_frames(self, config: SessionConfig) -> list[Frame]:
        """Frames that change the configuration mid-session; raises where impossible."""
        ...

    def encode_audio(self, pcm: bytes) -> list[Frame]:
        """Audio already in the wire's input format: PCM16 at `capabilities.input_rate`, or,
        on codecs with `capabilities.g711_native` whose config asked for G.711 input, G.711
        bytes at 8 kHz (`realtimelab.wire_audio.wire_input_format` says which)."""
        ...

    def encode_text(self, text: str) -> list[Frame]: ...

    def encode_tool_responses(self, results: Sequence[ToolResult]) -> list[Frame]: ...

    def encode_late_tool_results(self, results: Sequence[ToolResult]) -> list[Frame]:
        """Results for calls that were *already answered* (by a placeholder), added to the
        conversation so the model tells the user, with ONE request for a reply that waits
        until the model is idle (a reply request during a reply is an error or a barge-in).
        `scheduling`/`will_continue` are ignored: a late result is not a tool response."""
        ...

    def encode_commit(self) -> list[Frame]: ...

    def encode_create_response(self) -> list[Frame]: ...

    def encode_interrupt(self, item_id: str | None, played_ms: float) -> list[Frame]:
        """The listener heard only `played_ms` of assistant item `item_id`: stop the reply
        still being generated and, where the protocol needs it (`capabilities.truncation`),
        tell the server what was heard. Empty where the server handles barge-in itself."""
        ...

    def encode_cancel(self) -> list[Frame]:
        """Stop the reply being generated, if the protocol lets a client do that
        (`capabilities.client_cancel`) and nobody asked for it yet; else no frames."""
        ...

    def encode_history(self, items: Sequence[HistoryItem]) -> list[Frame]: ...

    def decode(self, frame: str | bytes | dict[str, Any], t: float) -> list[Event]: ...

    def decode_close(self, code: int | None, reason: str, t: float, expected: bool) -> list[Event]:
        """Events for a closed socket (Gemini reports errors only as close code + reason):
        `[Error, Closed]` or `[Closed]`, per the table in this module's docstring."""
        ...

    def take_outgoing(self) -> list[Frame]: ...

    @property
    def last_audio_item(self) -> str | None:
        """Id of the assistant item whose audio arrived last (what `interrupt` truncates)."""
        ...

    def received_ms(self, item_id: str | None) -> float:
        """Milliseconds of audio received for an assistant item (None: the last one)."""
        ...


class CodecExtras(Protocol):
    """Verbs a codec offers only where its provider has the feature, each behind a capability
    flag. The session calls one only after checking the flag (and raises NotImplementedError
    naming the flag otherwise), so a codec without the feature does not define it and a new
    provider owes none of these to satisfy `Codec`."""

    def encode_image(self, data: bytes, mime: str) -> list[Frame]:
        """`image_input`: show the model a picture (validated JPEG or PNG bytes); no reply is
        requested."""
        ...

    def encode_out_of_band_response(
        self,
        *,
        instructions: str | None,
        input: Sequence[HistoryItem] | None,
        metadata: Mapping[str, str] | None,
        output: Literal["text", "audio"],
    ) -> list[Frame]:
        """`out_of_band_responses`: a response outside the conversation; `input` None means
        "the conversation so far", an empty sequence no context at all."""
        ...

    def encode_delete_item(self, item_id: str) -> list[Frame]:
        """`delete_items`: remove an item from the server's conversation."""
        ...

    def encode_retrieve_item(self, item_id: str) -> list[Frame]:
        """`retrieve_items`: ask for an item back (answered by an `ItemRetrieved` event, or an
        `Error` whose `item_id` names it)."""
        ...

    def encode_clear_input(self) -> list[Frame]:
        """`clear_input`: drop the uncommitted input audio."""
        ...
