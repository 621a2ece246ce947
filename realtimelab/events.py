"""The unified event vocabulary: what `async for event in session` yields on every provider.

Each event is a frozen dataclass (h11-style): a value that can be logged, compared and replayed.
Every event carries the provider it came from, a monotonic timestamp `t` (seconds, from
`time.monotonic()` unless a clock was injected) and `raw`, the wire frame(s) it was decoded from,
so a notebook can show the wire next to the meaning.

One event means one thing on every provider. Where a provider lacks a concept the codec's
`Capabilities` say so; events are never faked to paper over the difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """Text of what the user said. `final` is False for partial (delta) transcripts."""

    text: str
    final: bool = True
    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResponseStarted(Event):
    """The model began a reply (OpenAI `response.created`; Gemini: first model content)."""

    response_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AudioChunk(Event):
    """Model audio: PCM16 little-endian mono at `rate` Hz."""

    pcm: bytes = field(repr=False)
    rate: int
    item_id: str | None = None
    response_id: str | None = None

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / 2 / self.rate * 1000.0


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
    """Token counts, normalised. Fields a provider does not report stay 0."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_audio_tokens: int = 0
    input_text_tokens: int = 0
    output_audio_tokens: int = 0
    output_text_tokens: int = 0
    cached_tokens: int = 0


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
    """A provider error. `fatal` errors end the session (bad key, expired session, bad setup)."""

    message: str
    code: str | None = None
    fatal: bool = False
    param: str | None = None


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
    "InputCommitted",
    "InputDropped",
    "InputTranscript",
    "Interrupted",
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
