"""The generation model on a manual clock: first-audio latency, faster than real time, `speed`,
and the playback the server assumes (no sleeping, no sockets)."""

from __future__ import annotations

import pytest

from realtimelab.emulator.config import EmulatorConfig
from realtimelab.emulator.engine import Engine, PacedStream, audio_pieces
from realtimelab.emulator.pacing import ManualClock, Pacer
from realtimelab.emulator.timing import GenerationTiming, Playout

RATE = 24000


def pcm_ms(ms: float) -> bytes:
    return bytes(2 * int(RATE * ms / 1000))


def test_pacer_schedule_is_latency_plus_media_over_rate_all_over_speed() -> None:
    clock = ManualClock(t=10.0)
    pacer = Pacer(speed=2.0, clock=clock, rate=4.0, first_ms=200.0, start=9.9)
    # 9.9 + (200 + 1000 / 4) / 1000 / 2
    assert pacer.due(1000) == pytest.approx(9.9 + 0.225)
    assert pacer.delay_for(0) == pytest.approx(0.0)  # 9.9 + 0.1 = 10.0: due now
    assert pacer.delay_for(1000) == pytest.approx(0.125)
    assert Pacer(speed=1.0, clock=clock).delay_for(500) == pytest.approx(0.5)  # old behaviour
    with pytest.raises(ValueError):
        Pacer(rate=0)


def test_generation_timing_pacers_for_audio_text_and_continuations() -> None:
    timing = GenerationTiming(rate=3.0, first_audio_ms=300.0, speed=10.0)
    clock = ManualClock()
    assert timing.pacer(clock, start=0.0).due(900) == pytest.approx((300 + 300) / 1000 / 10)
    assert timing.pacer(clock, start=0.0, cold=False).due(900) == pytest.approx(0.03)
    assert timing.pacer(clock, start=0.0, audio=False).due(100) == pytest.approx(0.04)
    assert timing.generation_s(3000) == pytest.approx(0.1)
    assert timing.playback_s(3000) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        GenerationTiming(rate=-1)


async def test_a_paced_stream_delivers_audio_faster_than_real_time() -> None:
    clock = ManualClock()
    pieces = audio_pieces([("A long reply.", pcm_ms(2000))], RATE, chunk_ms=40)
    timing = GenerationTiming(rate=4.0, first_audio_ms=250.0, speed=1.0)
    stream = PacedStream(pieces, timing.pacer(clock, start=0.0))
    first_at = None
    async for piece in stream:
        if piece.kind == "audio" and first_at is None:
            first_at = clock.t
    assert first_at == pytest.approx(0.25)
    assert stream.sent_audio_ms == pytest.approx(2000)
    # the last 40 ms chunk starts at 1960 ms of media: generated 490 ms after the first audio
    assert clock.t == pytest.approx(0.25 + 1.960 / 4)
    assert clock.t - first_at < 0.5  # 2 s of audio arrived within a quarter of its duration


async def test_engine_speak_counts_synthesis_towards_the_first_audio_latency() -> None:
    class Voice:
        def synthesize_segments(
            self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
        ) -> list[tuple[str, bytes]]:
            return [(text, pcm_ms(400))]

    from realtimelab.emulator.engine import Components

    clock = ManualClock(t=5.0)
    comps = Components(
        brain=lambda seed: None,
        voice=Voice,
        hearing=lambda t, b: None,  # type: ignore[arg-type,return-value]
        vad=lambda rate, p: None,
    )  # type: ignore[arg-type,return-value]
    engine = Engine(
        comps,
        input_rate=24000,
        output_rate=24000,
        clock=clock,
        timing=GenerationTiming(rate=4.0, first_audio_ms=250.0, speed=1.0),
    )
    stream = await engine.speak("Hi.", start=4.9)  # the model started 100 ms ago
    times = []
    async for _ in stream:
        times.append(clock.t)
    assert times[0] == pytest.approx(4.9 + 0.25)  # the latency was partly spent already


def test_playout_assumes_back_to_back_real_time_playback() -> None:
    play = Playout(speed=1.0)
    assert play.heard_ms(5.0) == 0 and play.finished(5.0)
    play.add(1.0, 500)  # sent at 1.0: plays 1.0–1.5
    play.add(1.1, 500)  # sent early: queued behind, plays 1.5–2.0
    play.add(3.0, 200)  # sent after a gap: plays 3.0–3.2
    assert play.end == pytest.approx(3.2) and play.total_ms == 1200
    assert play.heard_ms(0.5) == 0
    assert play.heard_ms(1.25) == pytest.approx(250)
    assert play.heard_ms(1.75) == pytest.approx(750)
    assert play.heard_ms(2.5) == pytest.approx(1000)  # the gap: nothing new
    assert play.heard_ms(3.1) == pytest.approx(1100)
    assert play.heard_ms(9.0) == pytest.approx(1200)
    assert not play.finished(3.1) and play.finished(3.2)
    fast = Playout(speed=10.0)
    fast.add(0.0, 1000)
    assert fast.end == pytest.approx(0.1)


def test_config_defaults_and_validation() -> None:
    cfg = EmulatorConfig()
    assert (cfg.openai_generation_rate, cfg.gemini_generation_rate) == (4.0, 3.0)
    assert (cfg.openai_first_audio_ms, cfg.gemini_first_audio_ms) == (250.0, 250.0)
    with pytest.raises(ValueError, match="generation_rate"):
        EmulatorConfig(openai_generation_rate=0)
    with pytest.raises(ValueError, match="first_audio_ms"):
        EmulatorConfig(gemini_first_audio_ms=-1)


def test_openai_idle_timer_starts_when_the_reply_has_finished_playing() -> None:
    from realtimelab.emulator.engine import IdleTimedOut, InputAudio
    from realtimelab.vad import StreamingVad, VadParams

    audio = InputAudio(RATE, lambda rate, p: StreamingVad(rate, p), VadParams(idle_timeout_ms=500))
    audio.append(pcm_ms(200))
    audio.arm_idle_timer(after_ms=1000)  # the reply plays for another second
    assert audio.append(pcm_ms(1400)) == []  # 200 + 1000 + 400: not idle long enough yet
    (event,) = audio.append(pcm_ms(200))
    assert isinstance(event, IdleTimedOut)
    assert (event.audio_start_ms, event.audio_end_ms) == pytest.approx((1200, 1700), abs=20)
