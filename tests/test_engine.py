"""Engine pieces without sockets: pacing, streams, input turns, conversation, usage, faults."""

from __future__ import annotations

import math

import pytest

from realtimelab.emulator.engine import (
    Conversation,
    IdleTimedOut,
    InputAudio,
    PacedStream,
    SpeechBegan,
    SpeechEnded,
    audio_pieces,
    audio_tokens,
    count_usage,
    text_pieces,
    text_tokens,
)
from realtimelab.emulator.faults import FaultPlan, parse_fault_query
from realtimelab.emulator.model import AssistantMessage, UserMessage
from realtimelab.emulator.pacing import ManualClock, Pacer
from realtimelab.vad import StreamingVad, VadParams

RATE = 24000


def tone(ms: int, amp: int = 8000) -> bytes:
    n = RATE * ms // 1000
    return b"".join(
        int(amp * math.sin(2 * math.pi * 300 * i / RATE)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


def test_pacer_releases_media_at_speed() -> None:
    clock = ManualClock()
    pacer = Pacer(speed=2.0, clock=clock)
    assert pacer.delay_for(0) == 0
    assert pacer.delay_for(1000) == pytest.approx(0.5)
    clock.t = 0.5
    assert pacer.delay_for(1000) == 0
    with pytest.raises(ValueError):
        Pacer(speed=0)


async def test_paced_stream_counts_released_audio_and_stops_on_cancel() -> None:
    clock = ManualClock()
    segments = [("Hello there. ", silence(400)), ("Bye.", silence(200))]
    pieces = audio_pieces(segments, RATE, chunk_ms=40)
    assert "".join(p.text for p in pieces) == "Hello there. Bye."
    assert sum(p.audio_ms for p in pieces) == pytest.approx(600)
    stream = PacedStream(pieces, Pacer(speed=1.0, clock=clock))
    got = []
    async for piece in stream:
        got.append(piece)
        if stream.sent_audio_ms >= 200:
            stream.cancel()
    assert stream.sent_audio_ms == pytest.approx(200)
    assert clock.t == pytest.approx(0.16)  # the 5th chunk starts at 160 ms of media
    assert stream.sent_text.startswith("Hello")
    assert "Bye" not in stream.sent_text


def test_text_pieces_concatenate() -> None:
    pieces = text_pieces("Hi there, friend.")
    assert [p.text for p in pieces] == ["Hi", " there,", " friend."]


SHORT_SILENCE = VadParams(silence_duration_ms=300)


def make_input(params: VadParams | None = SHORT_SILENCE) -> InputAudio:
    return InputAudio(RATE, lambda rate, p: StreamingVad(rate, p), params)


def test_input_audio_cuts_a_turn_on_absolute_positions() -> None:
    audio = make_input()
    events = audio.append(silence(1000) + tone(600) + silence(600))
    kinds = [type(e) for e in events]
    assert kinds == [SpeechBegan, SpeechEnded]
    began, ended = events
    assert isinstance(began, SpeechBegan) and isinstance(ended, SpeechEnded)
    assert began.audio_start_ms == pytest.approx(700, abs=20)  # onset 1000 - 300 prefix
    assert ended.audio_end_ms == pytest.approx(1900, abs=40)  # end 1600 + 300 silence
    assert ended.turn.duration_ms == pytest.approx(ended.audio_end_ms - began.audio_start_ms)
    # a second turn keeps counting on the same clock
    events = audio.append(tone(400) + silence(600))
    # onset 2200 - 300 prefix = 1900: the clock did not restart at the first turn
    assert isinstance(events[0], SpeechBegan)
    assert events[0].audio_start_ms == pytest.approx(1900, abs=20)


def test_input_audio_odd_bytes_are_carried_not_lost() -> None:
    audio = make_input(None)
    audio.append(b"\x01")
    audio.append(b"\x02\x03")
    assert audio.buffered_ms == pytest.approx(1 / 24)  # 2 bytes = one sample
    turn = audio.commit()
    assert turn.pcm == b"\x01\x02"
    assert audio.buffered_ms == 0


def test_input_audio_idle_timeout() -> None:
    audio = make_input(VadParams(idle_timeout_ms=500))
    audio.arm_idle_timer()
    events = audio.append(silence(800))
    assert [type(e) for e in events] == [IdleTimedOut]


def test_input_audio_clear_and_vad_off() -> None:
    audio = make_input(None)
    assert audio.append(tone(500)) == []  # no VAD, no events
    audio.clear()
    assert audio.buffered_ms == 0
    audio.configure(VadParams())
    assert audio.vad_enabled


def test_conversation_linked_list() -> None:
    conv = Conversation()
    assert conv.add("a", UserMessage("1")) is None
    assert conv.add("b", UserMessage("2")) == "a"
    assert conv.add("c", UserMessage("0"), after="root") is None
    assert conv.add("d", AssistantMessage("x"), after="a") == "a"
    assert conv.ids() == ["c", "a", "d", "b"]
    conv.delete("a")
    assert conv.previous_id("d") == "c"
    with pytest.raises(KeyError):
        conv.add("e", UserMessage("?"), after="nope")


def test_usage_rule() -> None:
    assert text_tokens("abcd") == 1 and text_tokens("abcde") == 2
    assert audio_tokens(1000) == 20 and audio_tokens(1) == 2 and audio_tokens(0) == 0
    usage = count_usage(
        context_text="x" * 40, context_audio_ms=1500, output_text="hello", output_audio_ms=250
    )
    assert (usage.input_text, usage.input_audio, usage.output_text, usage.output_audio) == (
        10,
        30,
        2,
        6,
    )
    assert usage.total_tokens == 48


def test_fault_query_parsing() -> None:
    plan = parse_fault_query(["drop_after_frames:40,latency_ms:80", "jitter_ms:5"])
    assert plan == FaultPlan(drop_after_frames=40, latency_ms=80.0, jitter_ms=5.0)
    assert parse_fault_query([]) is None
    with pytest.raises(ValueError, match="unknown rtl_fault key"):
        parse_fault_query(["dorp_after_frames:3"])
    with pytest.raises(ValueError, match="needs a number"):
        parse_fault_query(["latency_ms:soon"])
    merged = FaultPlan(latency_ms=10).merged(FaultPlan(close_after_s=2))
    assert merged == FaultPlan(latency_ms=10, close_after_s=2)
