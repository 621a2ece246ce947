"""The emulator's provider-neutral conversation model.

Both dialects translate their wire items into these values, so the engine, the brain and the
hearing never see a provider's JSON. Tool parameters are plain JSON Schema with lowercase types;
the Gemini dialect converts its uppercase OpenAPI-subset `parameters` before building a ToolSpec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ToolSpec:
    """A function the session declared. `behavior` matters only to Gemini NON_BLOCKING calls."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    behavior: Literal["blocking", "non_blocking"] = "blocking"


@dataclass(frozen=True)
class ImageInput:
    """A picture the user showed (OpenAI `input_image`, Gemini `realtimeInput.video` frame),
    reduced to what the deterministic brain can talk about and what usage is billed on."""

    mime: str
    nbytes: int
    width: int | None = None  # None when the bytes could not be decoded
    height: int | None = None
    dominant_colour: str | None = None  # a plain colour name ("red", "dark blue"...)


@dataclass(frozen=True)
class UserMessage:
    text: str
    audio_ms: float | None = None  # duration of the spoken turn, None for typed text
    images: tuple[ImageInput, ...] = ()  # pictures shown with (or as) this message


@dataclass(frozen=True)
class AssistantMessage:
    text: str
    interrupted: bool = False  # cut off by barge-in; `text` then holds only what was spoken
    audio_ms: float | None = None  # the spoken reply's duration (what was sent or kept), if any


@dataclass(frozen=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class FunctionResult:
    call_id: str
    name: str
    output: str  # JSON text or free text, exactly as the client sent it


Item = UserMessage | AssistantMessage | FunctionCall | FunctionResult


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the brain wants to make; the dialect assigns the call id."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Reply:
    """What the brain decided to do for one model turn.

    Spoken order: `preamble` (an acknowledgement, only when the instructions ask for one and
    tools are called), then the tool calls; otherwise `text`. A reply never holds both a final
    answer and tool calls: the answer comes in the next turn, after the tool results.
    """

    text: str = ""
    tool_calls: tuple[PlannedCall, ...] = ()
    preamble: str = ""
    understood: bool = True  # False when the brain did not recognise the request


@dataclass(frozen=True)
class SessionFacts:
    """What the brain may say about the session when asked ("which voice are you?")."""

    provider: str
    voice: str
    modality: Literal["audio", "text"] = "audio"
    vad: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""
