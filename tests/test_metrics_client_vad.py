"""TTFB for providers without speech events: the session's client-side VAD trace points mark
where speech ended, and metrics read them (never the frames)."""

from __future__ import annotations

import numpy as np

from realtimelab import events as ev
from realtimelab.client_vad import ClientSpeech
from realtimelab.metrics import turn_metrics
from realtimelab.observe import EventLog

RATE = 16000


def _frames(speech_ms: int, silence_ms: int) -> list[bytes]:
    """20 ms PCM16 frames: a loud harmonic tone, then digital silence."""
    t = np.arange(RATE * speech_ms // 1000) / RATE
    tone = 0.2 * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t))
    x = np.concatenate([tone, np.zeros(RATE * silence_ms // 1000)])
    pcm = (x * 32767).astype("<i2").tobytes()
    step = RATE * 2 * 20 // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _run(server_stops: bool) -> EventLog:
    """What a session does while the user speaks: feed its client VAD, trace the marks."""
    clock = 0.0
    log = EventLog(clock=lambda: clock, start=0.0)
    ears = ClientSpeech()
    for frame in _frames(speech_ms=1000, silence_ms=800):
        for mark in ears.feed(frame, RATE, clock):
            log.trace(f"speech_{mark.kind}", mark.t, {"source": "client_vad"})
        clock += 0.020
    provider: ev.Provider = "gemini"
    if server_stops:  # a provider with speech events reports the stop after its own silence
        log.event(ev.SpeechStopped(provider=provider, t=1.3, audio_ms=1300.0))
    log.event(ev.AudioChunk(provider=provider, t=1.45, pcm=b"\0" * 960, rate=24000))
    log.event(ev.TurnComplete(provider=provider, t=1.6))
    return log


def test_client_vad_marks_the_end_of_speech_when_the_provider_reports_none() -> None:
    log = _run(server_stops=False)
    marks = [line for line in log.lines if line["type"] == "speech_end"]
    assert len(marks) == 1 and marks[0]["dir"] == "trace"
    assert abs(marks[0]["t_ms"] - 1000.0) <= 20.0  # the last voiced frame left at ~1.0 s
    (turn,) = turn_metrics(log.lines)
    assert turn.speech_end_source == "client"
    assert turn.ttfb_ms is not None and abs(turn.ttfb_ms - 450.0) <= 20.0
    assert turn.perceived_ms == turn.ttfb_ms


def test_server_speech_stopped_wins_for_ttfb_but_perceived_uses_the_client() -> None:
    log = _run(server_stops=True)
    (turn,) = turn_metrics(log.lines)
    assert turn.speech_end_source == "server"
    assert turn.ttfb_ms is not None and abs(turn.ttfb_ms - 150.0) <= 1.0
    assert turn.perceived_ms is not None and abs(turn.perceived_ms - 450.0) <= 20.0
