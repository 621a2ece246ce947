"""The unified event vocabulary: what `async for event in session` yields on every provider.

Each event is a frozen dataclass (h11-style): a value that can be logged, compared and replayed.
Every event carries the provider it came from, a monotonic timestamp `t` (seconds, from
`time.monotonic()` unless a clock was injected) and `raw`, the wire frame(s) it was decoded from,
so a notebook can show the wire next to the meaning.

One event means one thing on every provider. Where a provider lacks a concept the codec's
`Capabilities` say so; events are never faked to paper over the difference.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

Provider = str
"""A registered provider name (`realtimelab.providers.names()`), e.g. "openai". A plain `str`
rather than a `Literal`, so a provider registered at runtime is as typed as a built-in one."""
Raw = tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class Event:
    provider: Provider
    t: float
    raw: Raw = field(default=(), repr=False, compare=False)

    @property
    def kind(self) -> str:
        """The event's class name, handy for logs and tables."""
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    """The provider accepted the session (OpenAI `session.created`, Gemini `setupComplete`)."""

    session_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionUpdated(Event):
    """The provider acknowledged a configuration change (OpenAI `session.updated`)."""

    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SpeechStarted(Event):
    """The provider heard the user begin speaking; also the barge-in signal.

    `audio_ms` is the position in the input stream where speech starts (OpenAI includes the
    prefix padding), or None where the provider does not report positions.
    """

    audio_ms: float | None = None
    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SpeechStopped(Event):
    """The provider decided the user stopped speaking (end of the user's turn audio)."""

    audio_ms: float | None = None
    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InputCommitted(Event):
    """The user's audio became a conversation item (OpenAI `input_audio_buffer.committed`)."""

    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InputTranscript(Event):
    """Text of what the user said. `final` is False for partial (delta) transcripts.

    Partials arrive as the provider sends them (OpenAI transcription deltas; Gemini 2.5
    models stream pieces, 3.x models send the whole utterance in one piece): their
    concatenation is the utterance so far. Exactly one `final=True` follows per utterance,
    carrying the whole text; only finals enter the history. `usage` is what transcribing the
    utterance cost, where the provider bills it separately (OpenAI's transcription model)."""

    text: str
    final: bool = True
    item_id: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, kw_only=True)
class ResponseStarted(Event):
    """The model began a reply (OpenAI `response.created`; Gemini: first model content)."""

    response_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AudioChunk(Event):
    """Model audio: `pcm` is always PCM16 little-endian mono at `rate` Hz.

    Telephone output (`SessionConfig.output_format` "pcmu" / "pcma"): every chunk is 8 kHz
    audio on every provider, `encoding` names the G.711 law and `g711` holds the bytes to put
    on the phone line (on providers with `capabilities.g711_native`, exactly the bytes the
    server sent; elsewhere the session encoded them from the provider's PCM16). `pcm` is the
    same audio as PCM16 at 8 kHz, so players, the playout clock, barge-in and metrics work
    unchanged, while a SIP bridge forwards `g711` untouched: no decode-resample-encode round
    trip on the path that matters. With PCM16 output `encoding` is "pcm16" and `g711` None.
    """

    pcm: bytes = field(repr=False)
    rate: int
    item_id: str | None = None
    response_id: str | None = None
    encoding: str = "pcm16"
    g711: bytes | None = field(default=None, repr=False)

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / 2 / self.rate * 1000.0


_AUDIO_DEFAULTS = {f.name: f.default for f in fields(AudioChunk) if f.default is not MISSING}


def audio_chunk(
    provider: Provider,
    t: float,
    raw: Raw,
    pcm: bytes,
    rate: int,
    item_id: str | None = None,
    response_id: str | None = None,
) -> AudioChunk:
    """`AudioChunk(...)` for codecs' hot path: the same object without the frozen dataclass
    `__init__`, whose one `object.__setattr__` per field cost ~1 µs of a frame's ~10 µs.
    Other fields keep their defaults (read from the class, so they cannot drift)."""
    chunk = object.__new__(AudioChunk)
    values = chunk.__dict__
    values.update(_AUDIO_DEFAULTS)
    values["provider"] = provider
    values["t"] = t
    values["raw"] = raw
    values["pcm"] = pcm
    values["rate"] = rate
    values["item_id"] = item_id
    values["response_id"] = response_id
    return chunk


@dataclass(frozen=True, kw_only=True)
class TextDelta(Event):
    """A piece of model text when the output modality is text."""

    text: str
    item_id: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutputTranscript(Event):
    """Transcript of the model's spoken audio. `final` marks the whole transcript of an item."""

    text: str
    final: bool = False
    item_id: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolCall(Event):
    """The model asks for a function call. `arguments` is the parsed dict; `arguments_json` the
    text as sent (OpenAI sends JSON text that may be invalid; Gemini sends an object)."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    arguments_json: str
    item_id: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolCallCancelled(Event):
    """The provider withdrew pending tool calls (Gemini `toolCallCancellation`; OpenAI: a
    response holding calls was cancelled before it completed)."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    """The user barged in while assistant audio was still audible: playback stopped here.

    Emitted once per barge-in, on every provider, whatever the server's response state (the
    reply may have been fully received long ago: both services generate faster than real
    time), and never when nothing was audible. `item_id` is the assistant item being heard and
    `heard_ms` how much of it the listener heard (from the session's playout clock); on
    providers that need it (`capabilities.truncation`) the session has already told the server
    to truncate the item there. `reason`: `turn_detected` (the server heard speech),
    `client_vad` (the client's own VAD heard speech), `server` (the server cut its reply),
    `client` (`session.interrupt()`).
    """

    reason: str = "turn_detected"
    response_id: str | None = None
    item_id: str | None = None
    heard_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts, normalised. Fields a provider does not report stay 0.

    `input_tokens` is the provider's own total of what the model read (all modalities,
    cached included); the `input_*_tokens` fields split it by modality (text, audio,
    pictures, video frames). `cached_tokens` is the part of the input served from the prompt
    cache (billed at a discount), split by modality in `cached_*_tokens` where the provider
    says (OpenAI `cached_tokens_details`, Gemini `cacheTokensDetails`). `thoughts_tokens`
    counts thinking (Gemini `thoughtsTokenCount`: billed as output, not part of
    `output_tokens`), and `tool_use_prompt_tokens` what a built-in tool such as search added
    to the prompt (Gemini `toolUsePromptTokenCount`). `total_tokens` is as reported.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_audio_tokens: int = 0
    input_text_tokens: int = 0
    output_audio_tokens: int = 0
    output_text_tokens: int = 0
    cached_tokens: int = 0
    input_image_tokens: int = 0
    input_video_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    cached_image_tokens: int = 0
    thoughts_tokens: int = 0
    tool_use_prompt_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class GenerationComplete(Event):
    """The server finished *generating* one response (OpenAI `response.done`, Gemini
    `generationComplete`). Wire-level: its audio may still be playing for a long while, and a
    response that ended in tool calls is not the end of the answer (see `TurnComplete`).
    `usage` is the response's own usage where the provider reports it here (OpenAI)."""

    response_id: str | None = None
    status: str = "completed"
    reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True, kw_only=True)
class TurnComplete(Event):
    """The model's answer to the last input is complete: everything it will say without new
    input has been received, and no tool call of it awaits a result. The same on every
    provider: a reply that calls tools is one turn across the tool round trip (OpenAI's
    intermediate `response.done` is a `GenerationComplete`, not a `TurnComplete`).

    `status` is completed | cancelled | failed | incomplete; `usage` is summed over the
    responses of the turn; `reason` is the provider's own reason, as sent (OpenAI
    `status_details.reason`, Gemini `turnCompleteReason`), or the client's
    (`connection_lost`, `rotation`). Audio may still be playing: `session.playout` says until
    when."""

    status: str = "completed"
    usage: Usage | None = None
    response_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionExpiring(Event):
    """The connection will end soon (Gemini `goAway`, or the OpenAI rotation timer)."""

    time_left_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class ResumptionUpdate(Event):
    """Gemini handed out a new session-resumption handle."""

    handle: str | None
    resumable: bool
    last_consumed_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class Reconnected(Event):
    """The session reopened after a drop or rotation. `state_restored` tells how: "resumed"
    (Gemini handle), "replayed" (history re-sent), or "none"."""

    state_restored: str
    gap_ms: float | None = None
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class InputDropped(Event):
    """Input audio that could not be delivered (buffer bound exceeded during a reconnect)."""

    duration_ms: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class RateLimits(Event):
    """OpenAI `rate_limits.updated`; Gemini has no equivalent."""

    limits: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Error(Event):
    """A provider error. `fatal` errors end the session (bad key, expired session, bad setup).

    `item_id` names the conversation item when the error answers an item verb
    (`delete_item`, `retrieve_item`): the codec ties the error to the request that caused
    it, so `retrieve_item` can fail with it instead of waiting for an answer that never comes.
    """

    message: str
    code: str | None = None
    fatal: bool = False
    param: str | None = None
    item_id: str | None = None


# ---------------------------------------------------------------------------------------------
# conversation items the server holds (OpenAI: `capabilities.delete_items` / `retrieve_items`)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ItemAdded(Event):
    """The server added an item to its conversation (OpenAI `conversation.item.added`):
    where the ids of items the *client* created (typed text, pictures, tool results) become
    known, for `delete_item` and `retrieve_item`. `item_type` is the wire's (`message`,
    `function_call`, `function_call_output`), `role` a message's role; `text` the item's text
    parts, `parts` the types of its content parts (`input_text`, `input_image`,
    `input_audio`...), `call_id` a function item's call."""

    item_id: str
    item_type: str
    role: str | None = None
    text: str = ""
    parts: tuple[str, ...] = ()
    call_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ItemDeleted(Event):
    """The server removed an item from its conversation (OpenAI `conversation.item.deleted`).
    The session's history drops the records it knows came from that item."""

    item_id: str


@dataclass(frozen=True, kw_only=True)
class ItemRetrieved(Event):
    """An item as the server holds it (OpenAI `conversation.item.retrieved`), the answer to
    `session.retrieve_item(item_id)`. `text` joins its text parts and transcripts. A user
    audio item carries its audio as the server kept it (cut by VAD, after noise reduction):
    `pcm` PCM16 at `rate`, and, in a telephone session, `encoding` and the `g711` bytes as
    for `AudioChunk`. `pcm` is empty for items without audio."""

    item_id: str
    item_type: str
    role: str | None = None
    text: str = ""
    pcm: bytes = field(default=b"", repr=False)
    rate: int = 24000
    encoding: str = "pcm16"
    g711: bytes | None = field(default=None, repr=False)
    call_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InputCleared(Event):
    """The server dropped its uncommitted input audio (OpenAI `input_audio_buffer.cleared`,
    the answer to `session.clear_input_audio()`)."""


# ---------------------------------------------------------------------------------------------
# out-of-band responses, grounding, MCP
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OutOfBandResponse(Event):
    """The whole answer to `session.create_out_of_band_response(...)`: a response generated
    outside the conversation (OpenAI `conversation: "none"`). It changes no history, no turn
    and no playout, so it arrives as one event when it is done rather than as the audio and
    transcript events a reply streams (which the conversation core would take for the reply).

    `text` is the text output (or an audio answer's transcript), `pcm` an audio answer as
    PCM16 at `rate` (empty for text), `metadata` what the request carried (how to tell several
    apart), `tool_calls` any function calls the model made (not executed and not in history),
    `status` / `reason` as for `TurnComplete`, and `usage` its own cost."""

    response_id: str | None = None
    status: str = "completed"
    reason: str | None = None
    text: str = ""
    pcm: bytes = field(default=b"", repr=False)
    rate: int = 24000
    metadata: dict[str, str] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None


@dataclass(frozen=True)
class GroundingSource:
    """One web source an answer was grounded in."""

    uri: str
    title: str = ""
    domain: str | None = None


@dataclass(frozen=True, kw_only=True)
class Grounding(Event):
    """The model answered from a web search (`SessionConfig.web_search`, Gemini
    `groundingMetadata`): the `queries` it ran, the `sources` it used, and the search chip
    HTML Google asks apps to show with grounded answers (`rendered_content`). `item_id` is
    the reply it belongs to."""

    queries: tuple[str, ...] = ()
    sources: tuple[GroundingSource, ...] = ()
    rendered_content: str | None = None
    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class McpListTools(Event):
    """The server is listing an MCP server's tools (OpenAI `mcp_list_tools.in_progress`,
    `.completed`, `.failed`; a failure is followed by an `Error` with code
    `mcp_list_tools_failed` saying why). `status` is in_progress | completed | failed."""

    item_id: str | None = None
    status: str = "in_progress"


@dataclass(frozen=True, kw_only=True)
class Closed(Event):
    """The socket closed. `code`/`reason` as received; `expected` when the client asked for it."""

    code: int | None = None
    reason: str = ""
    expected: bool = False


__all__ = [
    "AudioChunk",
    "Closed",
    "Error",
    "Event",
    "GenerationComplete",
    "Grounding",
    "GroundingSource",
    "InputCleared",
    "InputCommitted",
    "InputDropped",
    "InputTranscript",
    "Interrupted",
    "ItemAdded",
    "ItemDeleted",
    "ItemRetrieved",
    "McpListTools",
    "OutOfBandResponse",
    "OutputTranscript",
    "Provider",
    "RateLimits",
    "Reconnected",
    "ResponseStarted",
    "ResumptionUpdate",
    "SessionExpiring",
    "SessionStarted",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "TextDelta",
    "ToolCall",
    "ToolCallCancelled",
    "TurnComplete",
    "Usage",
]
