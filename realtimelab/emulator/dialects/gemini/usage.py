"""Gemini's token arithmetic: what each item of the context costs, thinking, the sliding window.

Why a module of its own: usage per modality, the session limits and `contextWindowCompression`
all need the same price list, and each rule should be readable next to its source.

Rates (ai.google.dev, "Understand and count tokens"):

* text: about 4 characters per token (`ceil(chars / 4)`, the engine's rule);
* audio: "Gemini represents each second of audio as 32 tokens" — input and output alike;
* images: 258 tokens when both sides are ≤ 384 px, otherwise one 258-token tile per 768×768
  px; with `mediaResolution` set, the SDK's documented flat costs (LOW 64, MEDIUM 256,
  HIGH 256 tokens per image or frame);
* video: 263 tokens per second; a `video/*` blob the emulator cannot decode counts as one
  second (Live asks for at most one frame per second).

Thinking (`thoughtsTokenCount`) is the emulator's own convention — real counts vary with the
question: a model whose catalogue entry says it reasons spends a fixed amount per generation
step, by `thinkingLevel` (MINIMAL 16, LOW 64, MEDIUM 128, HIGH 256, XHIGH 512), capped by a
positive `thinkingBudget`; a budget of 0 disables it. Unset, 3.x models think at MINIMAL (3.1
Flash Live's documented default) and 2.5 models at MEDIUM (their automatic budget).

The sliding window (`sliding_window_cut`) follows google-genai's `SlidingWindow` docstring: the
context "will always be cut at start of USER role turn", the system instruction always stays,
and when the context exceeds `triggerTokens` it is cut down to at most `targetTokens` — the
oldest whole turns go first, and the turn being answered is never cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    UserMessage,
)

__all__ = [
    "AUDIO_TOKENS_PER_S",
    "IMAGE_TOKENS",
    "MEDIA_RESOLUTION_TOKENS",
    "THOUGHT_TOKENS",
    "VIDEO_TOKENS_PER_S",
    "audio_tokens",
    "context_tokens",
    "image_tokens",
    "item_tokens",
    "sliding_window_cut",
    "text_tokens",
    "thoughts_tokens",
]

AUDIO_TOKENS_PER_S = 32
IMAGE_TOKENS = 258
VIDEO_TOKENS_PER_S = 263
_SMALL_IMAGE_PX = 384
_TILE_PX = 768
MEDIA_RESOLUTION_TOKENS = {
    "MEDIA_RESOLUTION_LOW": 64,
    "MEDIA_RESOLUTION_MEDIUM": 256,
    "MEDIA_RESOLUTION_HIGH": 256,
}
THOUGHT_TOKENS = {"MINIMAL": 16, "LOW": 64, "MEDIUM": 128, "HIGH": 256, "XHIGH": 512}


def text_tokens(text: str) -> int:
    """ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def audio_tokens(ms: float) -> int:
    """32 tokens per second of audio, rounded up."""
    return math.ceil(max(0.0, ms) * AUDIO_TOKENS_PER_S / 1000)


def image_tokens(image: ImageInput, resolution: str | None = None) -> int:
    """What one picture (or one `video/*` blob, read as a second of video) costs."""
    if image.mime.startswith("video/"):
        return VIDEO_TOKENS_PER_S
    if resolution in MEDIA_RESOLUTION_TOKENS:
        return MEDIA_RESOLUTION_TOKENS[resolution]
    width, height = image.width, image.height
    if width is None or height is None or (width <= _SMALL_IMAGE_PX and height <= _SMALL_IMAGE_PX):
        return IMAGE_TOKENS
    return math.ceil(width / _TILE_PX) * math.ceil(height / _TILE_PX) * IMAGE_TOKENS


def item_tokens(item: Item, resolution: str | None = None) -> dict[str, int]:
    """The item's cost per modality (TEXT, AUDIO, IMAGE, VIDEO)."""
    if isinstance(item, UserMessage):
        cost = {"TEXT": text_tokens(item.text), "AUDIO": audio_tokens(item.audio_ms or 0.0)}
        for image in item.images:
            kind = "VIDEO" if image.mime.startswith("video/") else "IMAGE"
            cost[kind] = cost.get(kind, 0) + image_tokens(image, resolution)
        return cost
    if isinstance(item, AssistantMessage):
        return {"TEXT": text_tokens(item.text)}
    if isinstance(item, FunctionCall):
        return {"TEXT": text_tokens(item.name + json.dumps(dict(item.arguments), default=str))}
    if isinstance(item, FunctionResult):
        return {"TEXT": text_tokens(item.output)}
    raise TypeError(f"not a history item: {item!r}")  # pragma: no cover


def context_tokens(
    instructions: str, history: Sequence[Item], resolution: str | None = None
) -> dict[str, int]:
    """The whole context (system instruction + history) per modality."""
    total = {"TEXT": text_tokens(instructions)}
    for item in history:
        for kind, n in item_tokens(item, resolution).items():
            total[kind] = total.get(kind, 0) + n
    return total


def thoughts_tokens(
    *, reasoning: bool, generation: int, level: str | None, budget: int | None
) -> int:
    """Thinking tokens for one generation step (see the module docstring)."""
    if not reasoning or budget == 0:
        return 0
    name = level or ("MINIMAL" if generation >= 3 else "MEDIUM")
    n = THOUGHT_TOKENS.get(name, THOUGHT_TOKENS["MEDIUM"])
    return min(n, budget) if budget is not None and budget > 0 else n


def sliding_window_cut(
    instructions: str,
    history: Sequence[Item],
    *,
    trigger: int,
    target: int,
    resolution: str | None = None,
) -> int:
    """How many leading history items the sliding window drops now (0: none).

    Nothing happens until the context exceeds `trigger`. Then the cut is the earliest start of
    a user turn (a user message not preceded by another) that leaves the context at or below
    `target`; when even the turn being answered alone is above it, everything before that
    turn goes.
    """
    costs = [sum(item_tokens(item, resolution).values()) for item in history]
    base = text_tokens(instructions)
    total = base + sum(costs)
    if total <= trigger:
        return 0
    starts = [
        i
        for i, item in enumerate(history)
        if isinstance(item, UserMessage) and (i == 0 or not isinstance(history[i - 1], UserMessage))
    ]
    if not starts or starts[-1] == 0:
        return 0
    kept = total
    previous = 0
    for start in starts:
        kept -= sum(costs[previous:start])
        previous = start
        if start and kept <= target:
            return start
    return starts[-1]
