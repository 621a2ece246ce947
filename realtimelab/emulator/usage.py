"""OpenAI Realtime usage as the emulator bills it: documented audio rates, images, prompt cache.

Why a module of its own: the old rule (20 audio tokens per second both ways, every cached count
0, earlier assistant audio never re-read) taught wrong cost intuitions. The rules here, and how
sure each one is, are in docs/emulator-usage.md; in short:

* **Audio**: user audio 10 tokens per second (1 per 100 ms), assistant audio 20 per second (1 per
  50 ms). Derived from OpenAI's launch pricing of the Realtime API, which gave both a price per
  million audio tokens ($100 in, $200 out) and an estimate per minute ($0.06 in, $0.24 out):
  600 input and 1,200 output tokens a minute. Counted per item, rounded up.
* **Text**: ceil(characters / 4), the usual English rule of thumb.
* **Images**: OpenAI's GPT-4o vision rule (`vision.image_tokens`).
* **Context**: every response reads the whole context again — instructions and tool
  definitions, then every item, including the assistant's earlier output: "output from previous
  turns (text and audio tokens) will become the input for later turns" (SDK docstring of
  `RealtimeResponseUsage`). Earlier assistant audio is re-read as the audio tokens it was billed
  as (20 per second).
* **Prompt cache**: the part of this response's context that repeats the *previous* response's
  context from the start (identical instructions, tools and items, in order) is cached, rounded
  down to a multiple of 64 tokens (the granularity live `cached_tokens` figures show). A change
  early in the context (new instructions, a deleted or truncated item) busts the cache from
  there on, as the SDK's `truncation` docstring warns.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    Item,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.vision import image_tokens

INPUT_AUDIO_TOKENS_PER_S = 10
OUTPUT_AUDIO_TOKENS_PER_S = 20
CACHE_GRANULARITY = 64

__all__ = [
    "CACHE_GRANULARITY",
    "INPUT_AUDIO_TOKENS_PER_S",
    "OUTPUT_AUDIO_TOKENS_PER_S",
    "Cached",
    "Segment",
    "Tokens",
    "cached_tokens",
    "context_segments",
    "input_audio_tokens",
    "output_audio_tokens",
    "text_tokens",
]


def text_tokens(text: str) -> int:
    """ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def input_audio_tokens(ms: float) -> int:
    """User audio: 10 tokens per second, rounded up."""
    return math.ceil(max(0.0, ms) * INPUT_AUDIO_TOKENS_PER_S / 1000)


def output_audio_tokens(ms: float) -> int:
    """Assistant audio: 20 tokens per second, rounded up."""
    return math.ceil(max(0.0, ms) * OUTPUT_AUDIO_TOKENS_PER_S / 1000)


@dataclass(frozen=True, kw_only=True)
class Tokens:
    """Tokens by modality."""

    text: int = 0
    audio: int = 0
    image: int = 0

    @property
    def total(self) -> int:
        return self.text + self.audio + self.image


@dataclass(frozen=True, kw_only=True)
class Cached(Tokens):
    """The tokens of a response's input served from the cache."""


@dataclass(frozen=True)
class Segment(Tokens):
    """One piece of a response's input context: its identity (for the cache) and its tokens."""

    key: str


def context_segments(
    instructions: str, tools: Sequence[ToolSpec], items: Sequence[Item]
) -> list[Segment]:
    """The input context of a response, in the order the model reads it."""
    head = instructions + json.dumps(
        [[t.name, t.description, dict(t.parameters)] for t in tools], sort_keys=True, default=str
    )
    out = [Segment(_digest("head", head), text=text_tokens(instructions) + _tools_tokens(tools))]
    for item in items:
        out.append(_segment(item))
    return out


def cached_tokens(previous: Sequence[Segment], current: Sequence[Segment]) -> Cached:
    """Tokens of `current` served from the cache left by `previous` (see the module docstring)."""
    prefix: list[Segment] = []
    for before, now in zip(previous, current, strict=False):
        if before.key != now.key:
            break
        prefix.append(now)
    total = sum(s.total for s in prefix)
    budget = total - total % CACHE_GRANULARITY
    text = audio = image = 0
    for seg in prefix:  # split the rounded amount in context order
        for kind in ("text", "audio", "image"):
            take = min(getattr(seg, kind), budget)
            budget -= take
            if kind == "text":
                text += take
            elif kind == "audio":
                audio += take
            else:
                image += take
    return Cached(text=text, audio=audio, image=image)


def _tools_tokens(tools: Sequence[ToolSpec]) -> int:
    if not tools:
        return 0
    schema = [
        {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
        for t in tools
    ]
    return text_tokens(json.dumps(schema, default=str))


def _segment(item: Item) -> Segment:
    if isinstance(item, UserMessage):
        audio = input_audio_tokens(item.audio_ms or 0)
        images = sum(image_tokens(i) for i in item.images)
        key = _digest("user", item.text, str(item.audio_ms), repr(item.images))
        return Segment(key, text=text_tokens(item.text), audio=audio, image=images)
    if isinstance(item, AssistantMessage):
        if item.audio_ms:  # an audio reply is re-read as audio; its transcript is not billed again
            key = _digest("assistant", item.text, str(item.audio_ms))
            return Segment(key, audio=output_audio_tokens(item.audio_ms))
        return Segment(_digest("assistant", item.text), text=text_tokens(item.text))
    if isinstance(item, FunctionCall):
        args = json.dumps(dict(item.arguments), sort_keys=True, default=str)
        key = _digest("call", item.call_id, item.name, args)
        return Segment(key, text=text_tokens(item.name + args))
    assert isinstance(item, FunctionResult)
    return Segment(_digest("result", item.call_id, item.output), text=text_tokens(item.output))


def _digest(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode("utf-8", "replace")).hexdigest()


def as_wire(
    segments: Sequence[Segment], cached: Cached, output_text: int, output_audio: int
) -> Mapping[str, object]:
    """The `usage` object of `response.done` (the SDK's `RealtimeResponseUsage`)."""
    text = sum(s.text for s in segments)
    audio = sum(s.audio for s in segments)
    image = sum(s.image for s in segments)
    input_tokens = text + audio + image
    output_tokens = output_text + output_audio
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": text,
            "audio_tokens": audio,
            "image_tokens": image,
            "cached_tokens": cached.total,
            "cached_tokens_details": {
                "text_tokens": cached.text,
                "audio_tokens": cached.audio,
                "image_tokens": cached.image,
            },
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }
