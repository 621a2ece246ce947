"""The emulator's ears: grammar building, honest failures, and the voice -> hearing round trip."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from realtimelab.emulator.brain import Brain
from realtimelab.emulator.hearing import Hearing, HearingWarning, Transcript
from realtimelab.emulator.model import ToolSpec
from realtimelab.emulator.voice import Voice

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE_SENTENCES = (
    "hello there",
    "what is the weather in paris",
    "what time is it in tokyo",
    "what is the weather in paris and what time is it in tokyo",
    "tell me a story",
    "what voice are you using",
)


def demo_tools() -> list[ToolSpec]:
    raw = json.loads((DATA / "demo_tools.json").read_text())
    return [ToolSpec(t["name"], t["description"], t["parameters"]) for t in raw]


@pytest.fixture(scope="module")
def session_hearing() -> Hearing:
    return Hearing.for_session(demo_tools(), Brain())


@pytest.fixture(scope="module")
def small_hearing() -> Hearing:
    return Hearing(["hello there", "what is the weather in {city}"],
                   vocabulary={"city": ["paris", "new york"]})  # fmt: skip


def test_preload_is_idempotent_and_cheap_the_second_time() -> None:
    import time

    from realtimelab.emulator import hearing

    hearing.preload()
    started = time.perf_counter()
    hearing.preload()
    assert time.perf_counter() - started < 0.01


def test_transcript_is_a_frozen_value() -> None:
    t = Transcript("hello", True, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.text = "bye"  # type: ignore[misc]


@pytest.mark.parametrize("sentence", FIXTURE_SENTENCES)
def test_spoken_fixture_sentences_are_recognised_exactly(
    session_hearing: Hearing, sentence: str
) -> None:
    pcm = Voice().synthesize(sentence, rate=24000)
    heard = session_hearing.transcribe(pcm, 24000)
    assert heard.text == sentence
    assert heard.recognised


def test_noisy_fixture_is_recognised(session_hearing: Hearing) -> None:
    from realtimelab.audio import read_wav

    pcm, fmt = read_wav(DATA / "speech" / "noisy_16k.wav")
    heard = session_hearing.transcribe(pcm, fmt.rate)
    assert heard == Transcript("what is the weather in paris", True, heard.confidence)


def test_recognition_does_not_depend_on_what_was_heard_before(small_hearing: Hearing) -> None:
    voice = Voice()
    a = voice.synthesize("what is the weather in new york", rate=16000)
    b = voice.synthesize("hello there", rate=16000)
    first = small_hearing.transcribe(a, 16000)
    small_hearing.transcribe(b, 16000)
    assert small_hearing.transcribe(a, 16000) == first
    assert first.text == "what is the weather in new york"
    assert small_hearing.last_decode_ms is not None


def test_silence_and_empty_audio_are_not_recognised(small_hearing: Hearing) -> None:
    assert small_hearing.transcribe(b"", 16000) == Transcript("", False, None)
    assert small_hearing.transcribe(b"\x00\x00" * 16000, 16000) == Transcript("", False, None)


def test_noise_is_not_recognised_as_a_phrase(small_hearing: Hearing) -> None:
    noise = np.random.default_rng(3).normal(0, 2000, 16000).astype(np.int16).tobytes()
    assert small_hearing.transcribe(noise, 16000) == Transcript("", False, None)


def test_partial_paths_are_reported_as_not_recognised(small_hearing: Hearing) -> None:
    assert small_hearing.matches("What is the weather in New York?")
    assert not small_hearing.matches("what is the weather")
    assert not small_hearing.matches("what is the weather in tokyo")  # not in the vocabulary


def test_unknown_words_are_left_out_with_a_warning() -> None:
    with pytest.warns(HearingWarning, match="qwxzyk"):
        hearing = Hearing(
            ["hello there", "call qwxzyk now", "weather in {city}"],
            vocabulary={"city": ["paris", "zzyzxq city"]},
        )
    assert hearing.phrases == ("hello there", "weather in {city}")
    assert hearing.vocabulary == {"city": ("paris",)}
    assert "qwxzyk" not in hearing.grammar and "zzyzxq" not in hearing.grammar


def test_grammar_is_jsgf_with_slot_rules(small_hearing: Hearing) -> None:
    grammar = small_hearing.grammar
    assert grammar.startswith("#JSGF V1.0;")
    assert "<slot_city> = ( paris ) | ( new york ) ;" in grammar
    assert "( what is the weather in <slot_city> )" in grammar
    assert small_hearing.build_ms > 0


def test_grammar_building_errors_are_actionable() -> None:
    with pytest.raises(ValueError, match=r"slot.*city"):
        Hearing(["weather in {city}"])
    with pytest.raises(ValueError, match="no phrase left"), pytest.warns(HearingWarning):
        Hearing(["qwxzyk"])
    hearing = Hearing(["hello"])
    with pytest.raises(ValueError, match="even"):
        hearing.transcribe(b"\x00", 16000)
    with pytest.raises(ValueError, match="rate"):
        hearing.transcribe(b"\x00\x00", 100)
    hearing.close()
    with pytest.raises(RuntimeError, match="closed"):
        hearing.transcribe(b"\x01\x00", 16000)


def test_session_grammar_covers_tool_phrases_and_pairs(session_hearing: Hearing) -> None:
    phrases = set(session_hearing.phrases)
    assert "what is the weather in {city}" in phrases
    assert "what time is it in {city}" in phrases
    assert "what is the weather in {city} and what time is it in {city}" in phrases
    assert "tokyo" in session_hearing.vocabulary["city"]


async def test_transcribe_is_safe_from_worker_threads(small_hearing: Hearing) -> None:
    pcm = Voice().synthesize("hello there", rate=16000)
    results = await asyncio.gather(
        asyncio.to_thread(small_hearing.transcribe, pcm, 16000),
        asyncio.to_thread(small_hearing.transcribe, pcm, 16000),
    )
    assert results[0] == results[1]
    assert results[0].text == "hello there"
