"""Speech that starts sooner: replies synthesised phrase by phrase, byte-identical to the whole."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from realtimelab.emulator import voice as voice_module
from realtimelab.emulator.brain import _GREETINGS, _STORIES
from realtimelab.emulator.voice import Voice, split_segments

TEXTS = [
    _GREETINGS[0],
    _STORIES[0],
    "In Paris it is 21 degrees and sunny. In Tokyo it is 9 PM! Anything else?",
    "One word",
    "  spaces   around,  and inside.  ",
    "",
]

# sha256 of b"".join(audio) of `synthesize_segments` as it was before streaming existed
# (commit c48a801): streaming must not change a byte of what the emulator says.
GOLDEN = {
    (0, 24000, "alloy", 1.0): "40da8e11c907ad7e5565f5fe578f6d42d6c3c0a2961ecf3165d44737476363e1",
    (0, 16000, "kore", 1.25): "cd6caa490dd5980db622cc224267ddff1ba9c4ae0d6330ffab240003505fe5fe",
    (1, 24000, "alloy", 1.0): "1d9df4e139a3fd0499f9e36caa50d5e39614781c5ca675ffbb87597917185482",
    (1, 16000, "kore", 1.25): "83480a9ad8e06ceaec524780f2c8ead21bf0f28321ea15b7d95bb74fa955be98",
}


@pytest.fixture(scope="module")
def voice() -> Voice:
    return Voice()


@pytest.fixture
def synth_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Phrases handed to espeak (through the cache), in order."""
    calls: list[str] = []
    real: Callable[..., bytes] = voice_module._synthesize_cached

    def counting(text: str, *args: Any) -> bytes:
        calls.append(text)
        return real(text, *args)

    monkeypatch.setattr(voice_module, "_synthesize_cached", counting)
    return calls


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(("rate", "name", "speed"), [(24000, "alloy", 1.0), (16000, "kore", 1.25)])
def test_the_stream_is_the_segments_phrase_by_phrase(
    voice: Voice, text: str, rate: int, name: str, speed: float
) -> None:
    segments = voice.synthesize_segments(text, voice=name, rate=rate, speed=speed)
    streamed = list(voice.synthesize_stream(text, voice=name, rate=rate, speed=speed))
    assert streamed == segments
    assert b"".join(a for _, a in streamed) == b"".join(a for _, a in segments)
    assert "".join(p for p, _ in streamed) == text
    key = (TEXTS.index(text), rate, name, speed)
    if key in GOLDEN:
        digest = hashlib.sha256(b"".join(a for _, a in streamed)).hexdigest()
        assert digest == GOLDEN[key]


def test_the_stream_is_deterministic_whatever_came_before(voice: Voice) -> None:
    first = list(voice.synthesize_stream(_STORIES[1], voice="ash"))
    voice_module._synthesize_cached.cache_clear()
    voice.synthesize("something else, entirely.", voice="coral")
    voice_module._synthesize_cached.cache_clear()
    assert list(voice.synthesize_stream(_STORIES[1], voice="ash")) == first


def test_phrases_are_synthesised_only_when_asked_for(voice: Voice, synth_calls: list[str]) -> None:
    stream = voice.synthesize_stream(_STORIES[2], voice="sage")
    assert synth_calls == []
    piece, audio = next(stream)
    assert synth_calls == [piece.strip()] and audio
    assert len(split_segments(_STORIES[2])) > 5  # the rest is still to come


def test_bad_arguments_are_refused_at_once(voice: Voice) -> None:
    with pytest.raises(ValueError, match="rate"):
        voice.synthesize_stream("hi", rate=100)
    with pytest.raises(ValueError, match="speed"):
        voice.synthesize_stream("hi", speed=9)


def test_the_async_stream_gives_the_same_and_stops_early(
    voice: Voice, synth_calls: list[str]
) -> None:
    async def everything() -> list[tuple[str, bytes]]:
        return [item async for item in voice.synthesize_stream_async(_STORIES[0], rate=16000)]

    async def first_two() -> list[tuple[str, bytes]]:
        out = []
        async for item in voice.synthesize_stream_async(_STORIES[1], voice="echo"):
            out.append(item)
            if len(out) == 2:
                break
        return out

    assert asyncio.run(everything()) == voice.synthesize_segments(_STORIES[0], rate=16000)
    synth_calls.clear()
    taken = asyncio.run(first_two())
    assert len(synth_calls) <= 3  # the two taken plus at most one phrase ahead, not the story
    assert taken == voice.synthesize_segments(_STORIES[1], voice="echo")[:2]
