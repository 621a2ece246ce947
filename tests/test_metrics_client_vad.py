"""TTFB for providers without speech events: the log's client-side VAD marks where speech ended."""

from __future__ import annotations

import base64

import numpy as np

from realtimelab import events as ev
from realtimelab.metrics import turn_metrics
from realtimelab.observe import CLIENT_SPEECH_END, EventLog

RATE = 16000


def _frames(speech_ms: int, silence_ms: int) -> list[bytes]:
    """20 ms PCM16 frames: a loud harmonic tone, then digital silence."""
    t = np.arange(RATE * speech_ms // 1000) / RATE
    tone = 0.2 * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t))
    x = np.concatenate([tone, np.zeros(RATE * silence_ms // 1000)])
    pcm = (x * 32767).astype("<i2").tobytes()
    step = RATE * 2 * 20 // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _gemini_audio(pcm: bytes) -> dict[str, object]:
    data = base64.b64encode(pcm).decode()
    return {"realtimeInput": {"audio": {"data": data, "mimeType": f"audio/pcm;rate={RATE}"}}}


def _run(server_stops: bool) -> EventLog:
    clock = [0.0]
    log = EventLog(clock=lambda: clock[0], start=0.0)
    for frame in _frames(speech_ms=1000, silence_ms=800):
        log.frame("send", _gemini_audio(frame), t=clock[0])
        clock[0] += 0.020
    provider: ev.Provider = "gemini"
    if server_stops:  # a provider with speech events reports the stop after its own silence
        log.event(ev.SpeechStopped(provider=provider, t=1.3, audio_ms=1300.0))
    log.event(ev.AudioChunk(provider=provider, t=1.45, pcm=b"\0" * 960, rate=24000))
    log.event(ev.TurnComplete(provider=provider, t=1.6))
    return log


def test_client_vad_marks_the_end_of_speech_when_the_provider_reports_none() -> None:
    log = _run(server_stops=False)
    marks = [line for line in log.lines if line["type"] == CLIENT_SPEECH_END]
    assert len(marks) == 1
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


def test_client_vad_can_be_turned_off() -> None:
    log = EventLog(client_vad=None)
    for frame in _frames(speech_ms=600, silence_ms=800):
        log.frame("send", _gemini_audio(frame))
    assert not [line for line in log.lines if line["type"] == CLIENT_SPEECH_END]
