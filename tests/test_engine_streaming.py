"""The engine hears a turn while it is spoken and starts speaking before a reply is synthesised.

Fakes record what the engine asked of them, so these tests check the plumbing (which audio was
fed, when the utterance was finished or cancelled, how many phrases existed when the first chunk
left); `test_hearing_stream.py` and `test_voice_stream.py` check that the real ears and voice give
the same words and bytes either way.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from realtimelab.emulator.engine import (
    Components,
    Engine,
    InputAudio,
    SpeechEnded,
    TurnAudio,
    audio_pieces,
)
from realtimelab.emulator.model import Reply, ToolSpec
from realtimelab.emulator.pacing import ManualClock
from realtimelab.emulator.timing import GenerationTiming
from realtimelab.vad import StreamingVad, VadParams

RATE = 16000


def tone(ms: int) -> bytes:
    n = RATE * ms // 1000
    return b"".join(
        int(8000 * math.sin(2 * math.pi * 300 * i / RATE)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


@dataclass
class Said:
    text: str
    recognised: bool = True
    confidence: float | None = None


@dataclass
class FakeUtterance:
    hearing: FakeHearing
    rate: int
    fed: bytearray = field(default_factory=bytearray)
    feeds: int = 0
    state: str = "open"

    @property
    def fed_bytes(self) -> int:
        return len(self.fed)

    def feed(self, pcm: bytes) -> None:
        assert self.state == "open"
        self.fed += pcm
        self.feeds += 1

    async def finish_async(self, pcm: bytes | None = None) -> Said:
        assert self.state == "open"
        self.state = "finished"
        whole = bytes(self.fed) if pcm is None else pcm
        self.hearing.finished.append((bytes(self.fed), whole))
        return Said(f"{len(whole)} bytes")

    def cancel(self) -> None:
        if self.state == "open":
            self.state = "cancelled"


@dataclass
class FakeHearing:
    utterances: list[FakeUtterance] = field(default_factory=list)
    finished: list[tuple[bytes, bytes]] = field(default_factory=list)
    one_shot: list[bytes] = field(default_factory=list)

    def stream(self, rate: int) -> FakeUtterance:
        u = FakeUtterance(self, rate)
        self.utterances.append(u)
        return u

    def transcribe(self, pcm: bytes, rate: int) -> Said:
        self.one_shot.append(pcm)
        return Said(f"{len(pcm)} bytes")


class NoBrain:
    def respond(self, history: Sequence[Any], **kw: Any) -> Reply:
        return Reply(text="")


@dataclass
class PhraseVoice:
    """Each phrase is 100 ms of tone; records how many phrases were asked for."""

    produced: int = 0

    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]:
        return [(p, bytes(rate // 5)) for p in text.split("|")]

    async def synthesize_stream_async(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> AsyncIterator[tuple[str, bytes]]:
        for phrase in text.split("|"):
            self.produced += 1
            yield phrase, bytes(rate // 5)


def make_engine(hearing: FakeHearing, voice: Any = None) -> Engine:
    components = Components(
        brain=lambda seed: NoBrain(),
        voice=lambda: voice or PhraseVoice(),
        hearing=lambda tools, brain: hearing,
        vad=lambda rate, params: StreamingVad(rate, params),
    )
    return Engine(
        components,
        input_rate=RATE,
        output_rate=24000,
        timing=GenerationTiming(rate=4.0),
        clock=ManualClock(),
    )


TOOLS: tuple[ToolSpec, ...] = ()


async def speak_into(engine: Engine, audio: InputAudio, pcm: bytes) -> list[SpeechEnded]:
    """Feed 20 ms frames as a dialect would, letting the engine listen after each one."""
    ended: list[SpeechEnded] = []
    step = RATE * 2 // 50
    for off in range(0, len(pcm), step):
        ended += [e for e in audio.append(pcm[off : off + step]) if isinstance(e, SpeechEnded)]
        engine.listen(audio, lambda: TOOLS)
        await asyncio.sleep(0)  # lets the ears finish building in their thread
    return ended


async def test_a_turn_is_fed_while_spoken_and_finished_with_its_own_audio() -> None:
    hearing = FakeHearing()
    engine = make_engine(hearing)
    await engine._ears(TOOLS)  # ears ready before the user speaks, as after session set-up
    audio = engine.new_input(VadParams(silence_duration_ms=300))
    ended = await speak_into(engine, audio, silence(200) + tone(600) + silence(500))
    assert len(ended) == 1 and len(hearing.utterances) == 1
    utterance = hearing.utterances[0]
    assert utterance.feeds > 10  # fed frame by frame, not at the end
    turn = ended[0].turn
    heard = await engine.hear(turn, TOOLS)
    assert heard.text == f"{len(turn.pcm)} bytes"
    fed, whole = hearing.finished[0]
    assert whole == turn.pcm and turn.pcm.startswith(fed) and len(fed) > len(turn.pcm) // 2
    assert hearing.one_shot == []  # nothing decoded in one go


async def test_turns_without_a_listening_utterance_are_heard_in_one_go() -> None:
    hearing = FakeHearing()
    engine = make_engine(hearing)
    turn = TurnAudio(tone(300), RATE, 1000.0, 1300.0)
    heard = await engine.hear(turn, TOOLS)
    assert heard.text == f"{len(turn.pcm)} bytes" and hearing.one_shot == [turn.pcm]


async def test_a_pause_judged_mid_turn_leaves_the_utterance_listening() -> None:
    hearing = FakeHearing()
    engine = make_engine(hearing)
    await engine._ears(TOOLS)
    audio = engine.new_input(None)  # push-to-talk: the buffer is the open turn
    await speak_into(engine, audio, tone(400))
    start = audio.open_turn_start_ms
    assert start is not None
    partial = TurnAudio(audio.open_turn_audio(), RATE, start, start + 400)
    await engine.hear(partial, TOOLS, final=False)
    assert hearing.utterances[0].state == "open" and hearing.one_shot == [partial.pcm]
    await speak_into(engine, audio, tone(200))
    turn = audio.commit()
    await engine.hear(turn, TOOLS)
    assert hearing.utterances[0].state == "finished"
    assert hearing.finished[0][1] == turn.pcm


async def test_cleared_turns_are_cancelled_and_close_cancels_the_rest() -> None:
    hearing = FakeHearing()
    engine = make_engine(hearing)
    await engine._ears(TOOLS)
    audio = engine.new_input(None)
    for _ in range(5):  # five turns typed into the buffer and cleared, never heard
        await speak_into(engine, audio, tone(100))
        audio.clear()
    states = [u.state for u in hearing.utterances]
    assert len(states) == 5 and states.count("cancelled") == 2  # at most 3 kept waiting
    engine.close()
    assert all(u.state == "cancelled" for u in hearing.utterances)


async def test_the_first_chunk_leaves_before_later_phrases_exist() -> None:
    voice = PhraseVoice()
    engine = make_engine(FakeHearing(), voice)
    stream = await engine.speak("One. |Two. |Three.", start=0.0)
    assert voice.produced == 1  # only the first phrase was synthesised before returning
    pieces = [p async for p in stream]
    assert voice.produced == 3
    expected = audio_pieces(
        [("One. ", bytes(4800)), ("Two. ", bytes(4800)), ("Three.", bytes(4800))], 24000, 40.0
    )
    assert pieces == expected  # the same pieces, at the same media positions, as all at once


async def test_a_cancelled_reply_stops_synthesising() -> None:
    voice = PhraseVoice()
    engine = make_engine(FakeHearing(), voice)
    stream = await engine.speak("|".join(f"Phrase {i}." for i in range(20)), start=0.0)
    async for piece in stream:
        if piece.kind == "audio":
            stream.cancel()
    assert voice.produced <= 2
    assert stream.sent_audio_ms == pytest.approx(40)


async def test_a_voice_that_cannot_stream_is_synthesised_whole() -> None:
    class WholeVoice:
        def synthesize_segments(self, text: str, **kw: Any) -> list[tuple[str, bytes]]:
            return [(text, bytes(4800))]

    engine = make_engine(FakeHearing(), WholeVoice())
    stream = await engine.speak("All at once.", start=0.0)
    assert sum(p.audio_ms for p in [p async for p in stream]) == pytest.approx(100)
