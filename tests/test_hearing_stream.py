"""Hearing while the user speaks: the same words whether an utterance arrives in one piece or in
many, in a fresh decoder or a reused one, in any order, in a worker or in-process.

The proof runs over every speech fixture in data/speech (manifest.json), plus the eight turns of
the conversation fixture cut as the emulator's VAD cuts them (300 ms of prefix padding before the
speech, the 300 ms silence that ends the turn after it), at both rates.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
import pytest

from realtimelab.audio import read_wav
from realtimelab.emulator import hearing as hearing_module
from realtimelab.emulator.brain import Brain
from realtimelab.emulator.hearing import Hearing, Transcript, _prepare, _Preparer
from realtimelab.emulator.hearing_decoder import (
    CMN_BACK_MS,
    CMN_WINDOW_MS,
    DecoderHost,
    first_voiced_frame,
    onset_window,
)
from realtimelab.emulator.model import ToolSpec

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech"
VAD_PADDING_MS = 300


def _clips() -> list[tuple[str, bytes, int, str]]:
    """(name, pcm, rate, words) for every fixture utterance."""
    manifest = json.loads((SPEECH / "manifest.json").read_text())
    clips = []
    for entry in manifest["files"]:
        if entry["file"].startswith("conversation"):
            continue
        pcm, fmt = read_wav(SPEECH / entry["file"])
        clips.append((entry["file"], pcm, fmt.rate, entry["text"]))
    conversation = json.loads((SPEECH / "conversation.json").read_text())
    for rate_key, name in conversation["files"].items():
        pcm, fmt = read_wav(SPEECH / name)
        assert fmt.rate == int(rate_key)
        per_ms = fmt.rate * 2 // 1000
        for segment in conversation["segments"]:
            start = max(0, int(segment["start_ms"] - VAD_PADDING_MS) * per_ms)
            end = min(len(pcm), int(segment["end_ms"] + VAD_PADDING_MS) * per_ms)
            clips.append((f"{name}@{segment['start_ms']:.0f}", pcm[start:end], fmt.rate,
                          segment["text"]))  # fmt: skip
    return clips


CLIPS = _clips()
IDS = [c[0] for c in CLIPS]


@pytest.fixture(scope="module")
def ears() -> Hearing:
    raw = json.loads((SPEECH.parent / "demo_tools.json").read_text())
    tools = [ToolSpec(t["name"], t["description"], t["parameters"]) for t in raw]
    return Hearing.for_session(tools, Brain())


@pytest.fixture(scope="module")
def one_shot(ears: Hearing) -> dict[str, Transcript]:
    """Every clip heard with `transcribe` (in the decoding workers)."""
    return {name: ears.transcribe(pcm, rate) for name, pcm, rate, _ in CLIPS}


def test_every_fixture_is_heard_exactly(one_shot: dict[str, Transcript]) -> None:
    wrong = {
        name: one_shot[name].text
        for name, _, _, words in CLIPS
        if one_shot[name] != Transcript(words, True, None)
    }
    assert wrong == {}


def test_streamed_in_any_pieces_gives_the_one_shot_transcript(
    ears: Hearing, one_shot: dict[str, Transcript]
) -> None:
    rng = random.Random(7)
    for name, pcm, rate, _ in CLIPS:
        utterance = ears.stream(rate)
        pos = 0
        while pos < len(pcm):
            size = rng.choice([1, 3, 320, 640, 960, 4801, 20000])  # odd sizes split samples
            utterance.feed(pcm[pos : pos + size])
            pos += size
        assert utterance.fed_bytes == len(pcm)
        assert utterance.finish() == one_shot[name], name


def test_fresh_and_reused_decoders_in_any_order_agree(
    ears: Hearing, one_shot: dict[str, Transcript]
) -> None:
    """In-process decoder hosts: a new one per clip, one reused forwards, one reused backwards
    with two utterances overlapping at a time and decoded a block at a time in turns, as a
    worker does. Same words as the workers' one-shot decode."""
    key, path, grammar = ears._key, ears._dict_path, ears.grammar
    audio = {name: _prepare(np.frombuffer(pcm, dtype="<i2"), rate) for name, pcm, rate, _ in CLIPS}
    fresh = {name: DecoderHost().decode(key, path, grammar, a) for name, a in audio.items()}
    forwards = DecoderHost()
    reused = {name: forwards.decode(key, path, grammar, a) for name, a in audio.items()}
    backwards = DecoderHost()
    names = list(reversed(audio))
    overlapped = {}
    for pair in (names[i : i + 2] for i in range(0, len(names), 2)):
        for uid in range(len(pair)):
            backwards.open(uid, key, path, grammar)
        for start in range(0, max(len(audio[n]) for n in pair), 3000):
            for uid, name in enumerate(pair):
                backwards.append(uid, audio[name][start : start + 3000])
            while backwards.work():  # what a worker does between requests
                pass
        for uid, name in enumerate(pair):
            overlapped[name] = backwards.finish(uid)
    assert fresh == reused == overlapped
    assert {n: ears._transcript(r) for n, r in fresh.items()} == one_shot
    assert forwards.created == 1  # one decoder for the grammar, reused for every utterance
    assert backwards.created == 2  # two at a time overlapped


def test_in_process_decoding_hears_the_same(
    ears: Hearing, one_shot: dict[str, Transcript], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hearing_module.WORKERS_ENV, "0")
    for name, pcm, rate, _ in CLIPS[:4]:
        utterance = ears.stream(rate)
        assert utterance._channel is None
        for pos in range(0, len(pcm), 960):
            utterance.feed(pcm[pos : pos + 960])
        assert utterance.finish() == one_shot[name]
        assert ears.transcribe(pcm, rate) == one_shot[name]


def test_a_worker_dying_mid_utterance_costs_time_not_words(
    ears: Hearing, one_shot: dict[str, Transcript], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hearing_module, "_dead_workers", set())
    name, pcm, rate, _ = CLIPS[2]
    utterance = ears.stream(rate)
    utterance.feed(pcm[: len(pcm) // 2])
    assert utterance._channel is not None and utterance._channel._worker is not None
    utterance._channel._worker.proc.kill()
    utterance.feed(pcm[len(pcm) // 2 :])
    assert utterance.finish() == one_shot[name]  # decoded in-process from the audio it kept
    assert hearing_module._processes() is not None  # one death does not retire the workers
    assert ears.transcribe(pcm, rate) == one_shot[name]  # and a fresh worker took over


def test_finish_with_the_turn_audio_feeds_the_rest_or_starts_again(
    ears: Hearing, one_shot: dict[str, Transcript]
) -> None:
    name, pcm, rate, _ = CLIPS[4]
    partly = ears.stream(rate)
    partly.feed(pcm[:10001])
    assert partly.finish(pcm) == one_shot[name]
    wrong_start = ears.stream(rate)
    wrong_start.feed(b"\x01\x02" * 500)  # not how the turn's audio begins
    assert wrong_start.finish(pcm) == one_shot[name]
    with pytest.raises(RuntimeError, match="finished"):
        wrong_start.feed(pcm)


def test_finish_async_awaits_the_worker(ears: Hearing, one_shot: dict[str, Transcript]) -> None:
    name, pcm, rate, _ = CLIPS[6]

    async def hear() -> Transcript:
        utterance = ears.stream(rate)
        for pos in range(0, len(pcm), 640):
            utterance.feed(pcm[pos : pos + 640])
            await asyncio.sleep(0)
        return await utterance.finish_async()

    async def hear_after_a_wrong_start() -> Transcript:
        utterance = ears.stream(rate)
        utterance.feed(b"\x05\x00" * 800)
        return await utterance.finish_async(pcm)  # heard afresh, without blocking the loop

    assert asyncio.run(hear()) == one_shot[name]
    assert ears.last_decode_ms is not None
    assert asyncio.run(hear_after_a_wrong_start()) == one_shot[name]


def test_silence_cancel_and_odd_bytes(ears: Hearing) -> None:
    silent = ears.stream(24000)
    silent.feed(bytes(4800))
    assert silent.finish() == Transcript("", False, None)
    with ears.stream(16000) as left:
        left.feed(b"\x10\x00" * 100)
    with pytest.raises(RuntimeError, match="cancelled"):
        left.feed(b"\x00\x00")
    odd = ears.stream(16000)
    odd.feed(b"\x10\x00\x10")
    with pytest.raises(ValueError, match="even"):
        odd.finish()
    with pytest.raises(ValueError, match="rate"):
        ears.stream(100)


@pytest.mark.parametrize("rate", [16000, 24000, 44100])
def test_preparation_is_the_same_however_the_audio_is_chunked(rate: int) -> None:
    samples = np.random.default_rng(rate).normal(0, 3000, rate).astype(np.int16)
    whole = _prepare(samples, rate)
    rng = random.Random(rate)
    preparer, parts, pos = _Preparer(rate), [], 0
    while pos < samples.size:
        size = rng.randrange(1, 3000)
        parts.append(preparer.feed(samples[pos : pos + size]))
        pos += size
    assert b"".join([*parts, preparer.finish()]) == whole
    if rate != 16000:  # and the stream resampler matches soxr's one-shot resampling
        import soxr

        x = np.asarray(soxr.resample(samples.astype(np.float64), rate, 16000, quality="HQ"))
        x = np.concatenate([np.zeros(16000 * 300 // 1000), x])
        x += np.random.default_rng(0).normal(0.0, 3.0, x.size)
        assert np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes() == whole


def test_the_cmn_window_starts_just_before_the_first_voiced_frame() -> None:
    quiet = np.zeros(16000, dtype="<i2")
    loud = np.full(160, 3000, dtype="<i2")
    audio = np.concatenate([quiet, loud, quiet]).tobytes()
    assert first_voiced_frame(audio) == 100
    assert first_voiced_frame(audio, 101) is None
    start = (100 * 160 - CMN_BACK_MS * 16) * 2
    assert onset_window(len(audio), 100, final=False) == (start, start + CMN_WINDOW_MS * 32)
    assert onset_window(start + 10, 100, final=False) is None  # window not all there yet
    assert onset_window(start + 10, 100, final=True) == (start, start + 10)
    assert onset_window(5000, None, final=False) is None  # no speech yet: keep waiting
    assert onset_window(5000, None, final=True) == (0, 5000)


def test_a_host_decodes_backlogs_a_block_at_a_time_in_turns(ears: Hearing) -> None:
    """Between requests a worker calls `work`: one block of one utterance each time, taking
    turns, so no utterance's catch-up holds up another's `finish` for long."""
    _, pcm, rate, _ = CLIPS[0]
    audio = _prepare(np.frombuffer(pcm, dtype="<i2"), rate)
    host = DecoderHost()
    for uid in (1, 2):
        host.open(uid, ears._key, ears._dict_path, ears.grammar)
        host.append(uid, audio)

    def progress() -> dict[int, tuple[bool, int]]:
        return {u: (x.decoder is not None, x.decoded) for u, x in host._utterances.items()}

    turns = []
    before = progress()
    while host.work():
        after = progress()
        (moved,) = [u for u in after if after[u] != before[u]]
        turns.append(moved)
        before = after
    assert turns[:6] == [1, 2, 1, 2, 1, 2]
    assert sorted(turns) == [1] * (len(turns) // 2) + [2] * (len(turns) // 2)
    assert (
        host.finish(1)
        == host.finish(2)
        == DecoderHost().decode(ears._key, ears._dict_path, ears.grammar, audio)
    )


def test_a_host_keeps_as_many_decoders_as_utterances_overlapped_lately(
    ears: Hearing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoders cost ~20 MB each but ~50 ms of CPU to rebuild: kept while the load lasts."""
    from realtimelab.emulator import hearing_decoder

    _, pcm, rate, _ = CLIPS[0]
    audio = _prepare(np.frombuffer(pcm, dtype="<i2"), rate)
    host = DecoderHost()

    def overlap(n: int) -> None:
        for uid in range(n):
            host.open(uid, ears._key, ears._dict_path, ears.grammar)
            host.append(uid, audio)
            host._advance(host._utterances[uid], final=False)  # leases its decoder
        for uid in range(n):
            host.finish(uid)

    overlap(4)
    assert (host.created, len(host._idle)) == (4, 4)  # all kept: four overlapped just now
    overlap(3)
    assert host.created == 4  # reused, none rebuilt
    monkeypatch.setattr(hearing_decoder, "DEMAND_WINDOW_S", -1.0)  # every call a new window
    overlap(1)
    overlap(1)
    host.tidy()
    assert len(host._idle) == hearing_decoder.MIN_KEPT_DECODERS  # the load is gone
    assert host._leased == 0
