"""Deliberate breakages of what each notebook teaches, applied inside a notebook's kernel.

`tests/test_notebook_mutations.py` runs a notebook with one of these applied first (an injected
setup cell calls :func:`apply`); the notebook must then fail *at the claim the breakage
contradicts* (`lab.ClaimFailed`), which proves its checks have teeth. Each mutation patches
the package where the notebook will look it up (module attributes it imports afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _check_rate_returns() -> None:
    import realtimelab.audio as audio

    def check_rate(*args: Any, **kwargs: Any) -> None:
        return None  # the bug: a wrong rate goes through silently

    audio.check_rate = check_rate


def _voices_not_mapped() -> None:
    import realtimelab.providers.openai.voices as openai_voices

    original = openai_voices.resolve_voice

    def resolve_voice(voice: str, provider: str) -> Any:
        return voice if voice == "warm" else original(voice, provider)

    openai_voices.resolve_voice = resolve_voice


def _silent_gap_zero() -> None:
    import realtimelab.tools as tools

    def silent_gap_ms(events: Any, **kwargs: Any) -> list[float]:
        return [0.0]

    tools.silent_gap_ms = silent_gap_ms


def _silence_duration_ignored() -> None:
    import dataclasses

    import realtimelab.vad as vad

    original = vad.detect_segments

    def detect_segments(pcm: bytes, rate: int, params: Any, frame_ms: int = 20) -> Any:
        return original(pcm, rate, dataclasses.replace(params, silence_duration_ms=500), frame_ms)

    vad.detect_segments = detect_segments


def _history_not_saved() -> None:
    import realtimelab.resilience as resilience

    resilience.ResilientSession._save = lambda self: None  # type: ignore[method-assign]


def _secrets_not_redacted() -> None:
    import realtimelab.observe as observe

    original = observe.EventLog.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("secrets", None)
        original(self, *args, **kwargs)
        self._redactor = None  # the bug: lines are written as they are

    observe.EventLog.__init__ = __init__  # type: ignore[method-assign]


def _ab_split_unseeded() -> None:
    import random

    import realtimelab.router as router

    def choose(self: Any, ctx: Any) -> str:
        return random.SystemRandom().choice(sorted(self.weights))

    router.ABSplit.choose = choose  # type: ignore[method-assign]


def _speech_end_not_backdated() -> None:
    import realtimelab.client_vad as client_vad

    original = client_vad.ClientSpeech.feed

    def feed(self: Any, pcm: bytes, rate: int, t: float) -> list[Any]:
        # the bug: the end of speech is stamped when the detector decides (after its silence
        # window), so "perceived" latency no longer counts the silence the user waited through
        return [
            client_vad.SpeechMark(m.kind, t, m.stream_ms) if m.kind == "end" else m
            for m in original(self, pcm, rate, t)
        ]

    client_vad.ClientSpeech.feed = feed  # type: ignore[method-assign]


def _g711_always_transcoded() -> None:
    import realtimelab.wire_audio as wire_audio
    from realtimelab.audio import AudioFormat

    original = wire_audio.InputAudio.__init__

    def __init__(self: Any, wire: Any) -> None:
        if wire.encoding != "pcm16":  # the bug: a G.711 wire gets PCM16 (24 kHz) anyway
            wire = AudioFormat(wire.rate * 3)
        original(self, wire)

    wire_audio.InputAudio.__init__ = __init__  # type: ignore[method-assign]


def _pictures_not_in_history() -> None:
    import realtimelab.conversation as conversation

    def user_image(self: Any, mime: str, nbytes: int) -> None:
        return None  # the bug: the picture is sent but the history forgets it was shown

    conversation.Conversation.user_image = user_image  # type: ignore[method-assign]


def _browser_flush_ignored() -> None:
    import realtimelab.browser_audio as browser_audio

    def flush(self: Any) -> None:
        return None  # the bug: a barge-in never silences the page

    browser_audio.BrowserAudio.flush = flush  # type: ignore[method-assign]


#: notebook prefix -> (mutation name, what it breaks)
MUTATIONS: dict[str, tuple[str, Callable[[], None]]] = {
    "00": ("check_rate returns instead of raising", _check_rate_returns),
    "01": ("the neutral voice is sent unmapped", _voices_not_mapped),
    "02": ("silent_gap_ms always returns 0", _silent_gap_zero),
    "03": ("detect_segments ignores silence_duration_ms", _silence_duration_ignored),
    "04": ("ResilientSession never saves the history", _history_not_saved),
    "05": ("the event log writes secrets unredacted", _secrets_not_redacted),
    "06": ("ABSplit ignores the router's seed", _ab_split_unseeded),
    "07": ("the client VAD's end of speech is not back-dated", _speech_end_not_backdated),
    "08": ("G.711 is transcoded even where the wire speaks it", _g711_always_transcoded),
    "09": ("send_image leaves no UserImage in the history", _pictures_not_in_history),
    "10": ("BrowserAudio.flush does not silence the page", _browser_flush_ignored),
}


def apply(prefix: str) -> str:
    """Apply the mutation for notebook `prefix`; return its description."""
    name, mutate = MUTATIONS[prefix]
    mutate()
    return name
