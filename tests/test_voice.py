"""The emulator's voice: deterministic, distinct voices, right rates, segments that add up."""

from __future__ import annotations

import numpy as np
import pytest

from realtimelab.emulator import voice as voice_module
from realtimelab.emulator.voice import (
    Voice,
    espeak_voice_for,
    estimate_duration_ms,
    known_voices,
    split_segments,
    voice_profile,
)

TEXT = "what is the weather in paris"


@pytest.fixture(scope="module")
def voice() -> Voice:
    return Voice()


def _ms(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate * 1000


def test_same_input_gives_same_bytes_whatever_came_before(voice: Voice) -> None:
    first = voice.synthesize(TEXT)
    voice_module._synthesize_cached.cache_clear()
    voice.synthesize("something else entirely, with a comma.", voice="coral")
    voice.synthesize(TEXT, voice="ash")
    voice_module._synthesize_cached.cache_clear()
    assert voice.synthesize(TEXT) == first


def test_output_is_pcm16_speech_at_the_requested_rate(voice: Voice) -> None:
    pcm24 = voice.synthesize(TEXT, rate=24000)
    pcm16 = voice.synthesize(TEXT, rate=16000)
    assert len(pcm24) % 2 == 0
    assert _ms(pcm24, 24000) == pytest.approx(_ms(pcm16, 16000), abs=2)
    assert 1000 < _ms(pcm24, 24000) < 4000
    peak = np.abs(np.frombuffer(pcm24, dtype=np.int16)).max()
    assert peak > 3000  # audible speech, not silence


def test_different_voices_sound_different(voice: Voice) -> None:
    a = np.frombuffer(voice.synthesize(TEXT, voice="alloy"), dtype=np.int16)
    b = np.frombuffer(voice.synthesize(TEXT, voice="ash"), dtype=np.int16)
    assert espeak_voice_for("alloy") != espeak_voice_for("ash")
    n = min(a.size, b.size)
    # not just different bytes: a different spectrum (pitch and formants) over the utterance
    spec_a = np.abs(np.fft.rfft(a[:n].astype(np.float64)))
    spec_b = np.abs(np.fft.rfft(b[:n].astype(np.float64)))
    centroid = np.arange(spec_a.size)
    assert abs((spec_a @ centroid) / spec_a.sum() - (spec_b @ centroid) / spec_b.sum()) > 50


def test_every_provider_voice_has_a_profile_and_names_are_case_insensitive() -> None:
    names = "alloy ash ballad coral echo sage shimmer verse marin cedar"
    names += " puck charon kore fenrir aoede leda orus zephyr"
    for name in names.split():
        assert name in known_voices()
    assert len(known_voices()) == 40  # 10 OpenAI + 30 Gemini
    assert voice_profile("Kore") == voice_profile("kore")
    assert espeak_voice_for("alloy") == "en-us+f5"


def test_unknown_voice_gets_a_stable_hashed_profile(voice: Voice) -> None:
    assert voice_profile("my-custom-voice") == voice_profile("my-custom-voice")
    assert voice_profile("my-custom-voice") != voice_profile("another-voice")
    assert voice.synthesize("hello", voice="my-custom-voice")  # speaks, does not fail


def test_speed_and_words_per_minute_change_the_pace(voice: Voice) -> None:
    normal = _ms(voice.synthesize(TEXT), 24000)
    assert _ms(voice.synthesize(TEXT, speed=1.5), 24000) < 0.8 * normal
    assert _ms(Voice(words_per_minute=110).synthesize(TEXT), 24000) > 1.2 * normal


def test_segments_concatenate_to_the_text_and_carry_their_own_audio(voice: Voice) -> None:
    text = "In Paris it is 21 degrees and sunny. In Tokyo it is 9 PM! Anything else?"
    segments = voice.synthesize_segments(text)
    assert [s for s, _ in segments] == ["In Paris it is 21 degrees and sunny. ",
                                        "In Tokyo it is 9 PM! ", "Anything else?"]  # fmt: skip
    assert "".join(s for s, _ in segments) == text
    assert segments[1][1] == voice.synthesize("In Tokyo it is 9 PM!")


def test_long_sentences_are_cut_after_commas() -> None:
    text = ("Once upon a time, in a small village by the sea, there lived an old keeper who "
            "counted the ships every night, and wrote their names in a big blue book.")  # fmt: skip
    pieces = split_segments(text)
    assert len(pieces) > 1
    assert "".join(pieces) == text


def test_duration_estimate_is_close_to_the_real_length(voice: Voice) -> None:
    for text in (TEXT, "Hello! How can I help you today?", "One. Two, three. Four five six."):
        real = _ms(voice.synthesize(text), 24000)
        assert estimate_duration_ms(text) == pytest.approx(real, rel=0.35)
    assert estimate_duration_ms("") == 0.0
    assert voice.estimate_duration_ms(TEXT, speed=2.0) < estimate_duration_ms(TEXT)


def test_empty_text_is_silence_and_bad_arguments_are_refused(voice: Voice) -> None:
    assert voice.synthesize("   ") == b""
    with pytest.raises(ValueError, match="rate"):
        voice.synthesize("hi", rate=100)
    with pytest.raises(ValueError, match="speed"):
        voice.synthesize("hi", speed=10)
    with pytest.raises(ValueError, match="words_per_minute"):
        Voice(words_per_minute=5)
