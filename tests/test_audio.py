"""Tests for realtimelab.audio: formats, conversion, resampling, framing, WAV, rate checks."""

from __future__ import annotations

import dataclasses
import functools
import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from realtimelab.audio import (
    ENCODINGS,
    GEMINI_INPUT_FORMAT,
    GEMINI_OUTPUT_FORMAT,
    OPENAI_FORMAT,
    PCMA_FORMAT,
    PCMU_FORMAT,
    AudioFormat,
    Chunker,
    RateFinding,
    RateGuard,
    SampleRateError,
    StreamResampler,
    WavFormatError,
    check_rate,
    estimate_rate,
    float32_to_pcm16,
    iter_frames,
    pcm16_to_float32,
    read_wav,
    resample,
    wav_bytes,
    write_wav,
)

# ---------------------------------------------------------------------------------- helpers


def sine(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return float32_to_pcm16((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32))


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


def stream(rs: StreamResampler, pcm: bytes, chunk: int) -> bytes:
    out = [rs.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)]
    out.append(rs.flush())
    return b"".join(out)


@functools.lru_cache(maxsize=16)
def speech_like(
    rate: int = 16000, seconds: float = 2.0, f0_lo: float = 120.0, f0_hi: float = 220.0
) -> bytes:
    """Speech-like test signal: a gliding glottal harmonic series (1/h tilt) shaped by vowel
    formants that change every 250 ms, a syllable envelope, and a little noise."""
    rng = np.random.default_rng(0)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f0 = f0_lo + (f0_hi - f0_lo) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    vowels = np.array([(700, 1200, 2600), (300, 2300, 3000), (500, 900, 2500), (400, 1900, 2600)])
    seg = int(0.25 * rate)
    formants = vowels[(np.arange(n) // seg) % len(vowels)].astype(float)
    gains = np.array([1.0, 0.7, 0.5])
    bandwidths = 80.0 + 0.05 * formants
    out = np.zeros(n)
    for h in range(1, int(min(rate / 2, 8000) / f0_lo)):  # speech has little above 8 kHz
        fh = h * f0
        alive = fh < 0.95 * rate / 2
        envelope = (gains / (1.0 + ((fh[:, None] - formants) / bandwidths) ** 2)).sum(axis=1)
        out += np.where(alive, envelope / h * np.sin(h * phase), 0.0)
    out *= np.sin(np.pi * (np.arange(n) % seg) / seg) ** 0.5
    out += rng.normal(0, 0.01 * np.abs(out).max(), n)
    return float32_to_pcm16((0.5 * out / np.abs(out).max()).astype(np.float32))


# ---------------------------------------------------------------------------------- formats


def test_audio_format_numbers() -> None:
    fmt = AudioFormat(16000)
    assert fmt.bytes_per_ms == 32.0
    assert fmt.nbytes(20) == 640
    assert fmt.duration_ms(640) == 20.0
    assert fmt.mime == "audio/pcm;rate=16000"
    assert AudioFormat(22050).nbytes(10) == 2 * 220  # 220.5 samples rounds to a whole sample
    assert OPENAI_FORMAT.rate == 24000 and GEMINI_OUTPUT_FORMAT.rate == 24000
    assert GEMINI_INPUT_FORMAT.mime == "audio/pcm;rate=16000"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rate": 0}, "positive"),
        ({"rate": 16000, "channels": 2}, "mono"),
        ({"rate": 16000, "sample_width": 4}, "16-bit"),
        ({"rate": 8000, "sample_width": 1}, "16-bit"),  # 8-bit linear PCM: not a thing here
        ({"rate": 8000, "encoding": "opus"}, "unknown audio encoding"),
        ({"rate": 16000, "encoding": "pcmu"}, "8000 Hz only"),
        ({"rate": 8000, "sample_width": 2, "encoding": "pcma"}, "1 byte per sample"),
    ],
)
def test_audio_format_rejects_unsupported(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        AudioFormat(**kwargs)


def test_audio_format_encodings() -> None:
    """PCM16 stays the default (old calls unchanged); G.711 is 1 byte per sample at 8 kHz."""
    pcm = AudioFormat(16000)
    assert pcm == AudioFormat(16000, 1, 2) == AudioFormat(16000, encoding="pcm16")
    assert hash(pcm) == hash(AudioFormat(16000, 1, 2))
    assert (pcm.encoding, pcm.sample_width, pcm.is_g711) == ("pcm16", 2, False)
    assert dataclasses.replace(pcm, rate=24000) == OPENAI_FORMAT
    for fmt, encoding in ((PCMU_FORMAT, "pcmu"), (PCMA_FORMAT, "pcma")):
        assert fmt == AudioFormat(8000, encoding=encoding) == AudioFormat(8000, 1, 1, encoding)
        assert (fmt.rate, fmt.sample_width, fmt.frame_bytes, fmt.bytes_per_ms) == (8000, 1, 1, 8.0)
        assert fmt.nbytes(20) == 160 and fmt.duration_ms(160) == 20.0 and fmt.is_g711
        assert fmt.mime == f"audio/{encoding}" and fmt.encoding in ENCODINGS
        assert fmt != AudioFormat(8000)
    assert "encoding='pcmu'" in repr(PCMU_FORMAT)


def test_audio_format_is_frozen() -> None:
    fmt = AudioFormat(16000)
    with pytest.raises(AttributeError):
        fmt.rate = 8000  # type: ignore[misc]


# ---------------------------------------------------------------------------------- conversion


def test_pcm16_float_round_trip_is_exact_for_every_int16() -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    x = pcm16_to_float32(every.tobytes())
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() < 1.0
    assert float32_to_pcm16(x) == every.tobytes()
    np.testing.assert_array_equal(pcm16_to_float32(every), x)


def test_float32_to_pcm16_clips_and_rounds() -> None:
    out = samples(float32_to_pcm16(np.array([2.0, -2.0, 0.5 / 32768, 1.6 / 32768])))
    assert list(out) == [32767, -32768, 0, 2]


def test_conversion_errors_are_specific() -> None:
    with pytest.raises(ValueError, match="got 3 bytes"):
        pcm16_to_float32(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="NaN"):
        float32_to_pcm16(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="int16"):
        pcm16_to_float32(np.zeros(4, dtype=np.float64))


# ---------------------------------------------------------------------------------- resampling


def test_resample_one_shot_lengths_and_passthrough() -> None:
    pcm = sine(16000, 1.0)
    assert len(resample(pcm, 16000, 24000)) == 2 * 24000
    assert resample(pcm, 16000, 16000) == pcm
    with pytest.raises(ValueError, match="quality"):
        resample(pcm, 16000, 24000, quality="best")


def test_streaming_round_trip_keeps_snr_above_60db() -> None:
    pcm = sine(16000, 1.0, freq=440.0)
    up = stream(StreamResampler(16000, 24000), pcm, 640)  # 20 ms chunks
    back = stream(StreamResampler(24000, 16000), up, 960)
    ref, got = samples(pcm), samples(back)
    assert abs(len(got) - len(ref)) <= 2
    n = min(len(ref), len(got))
    steady = slice(1600, n - 1600)  # skip 100 ms at each end (filter edges)
    err = got[:n][steady] - ref[:n][steady]
    snr = 10 * np.log10(np.sum(ref[:n][steady] ** 2.0) / max(np.sum(err**2.0), 1.0))
    assert snr > 60, f"SNR {snr:.1f} dB"


@pytest.mark.parametrize(("rate_in", "rate_out"), [(16000, 24000), (24000, 16000), (24000, 8000)])
def test_streaming_equals_one_shot(rate_in: int, rate_out: int) -> None:
    pcm = speech_like(rate_in, 1.0)
    one = samples(resample(pcm, rate_in, rate_out))
    got = samples(stream(StreamResampler(rate_in, rate_out), pcm, rate_in // 50 * 2))
    assert abs(len(got) - len(one)) <= 2
    n = min(len(got), len(one))
    assert np.abs(got[:n] - one[:n]).max() <= 2


def test_stream_resampler_handles_odd_byte_chunks() -> None:
    pcm = sine(16000, 0.5)
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 700, size=400)
    rs = StreamResampler(16000, 24000)
    out, pos = [], 0
    for size in sizes:
        out.append(rs.process(pcm[pos : pos + int(size)]))
        pos += int(size)
        if pos >= len(pcm):
            break
    assert pos >= len(pcm)
    out.append(rs.flush())
    assert b"".join(out) == resample(pcm, 16000, 24000)


def test_stream_resampler_is_reusable_after_flush() -> None:
    pcm = sine(24000, 0.3)
    rs = StreamResampler(24000, 16000)
    first = stream(rs, pcm, 960)
    assert rs.samples_in == 0  # reset by flush
    assert stream(rs, pcm, 960) == first == resample(pcm, 24000, 16000)


def test_stream_resampler_passthrough_when_rates_equal() -> None:
    rs = StreamResampler(24000, 24000)
    assert rs.passthrough and (rs.in_rate, rs.out_rate) == (24000, 24000)
    assert rs.process(b"\x01\x02\x03") == b"\x01\x02"
    assert rs.process(b"\x04") == b"\x03\x04"
    assert rs.flush() == b""


def test_stream_resampler_warns_about_a_dangling_half_sample() -> None:
    rs = StreamResampler(16000, 24000)
    rs.process(sine(16000, 0.1) + b"\x01")
    with pytest.warns(RuntimeWarning, match="dangling byte"):
        rs.flush()


class ReferenceStreamResampler:
    """The straightforward algorithm StreamResampler's fast path must reproduce bit for bit:
    carry the odd byte, int16 / 32768 -> float32, soxr.ResampleStream.resample_chunk (public
    API, 1-D), * 32768, round half to even, clip, int16. (This is StreamResampler as it was
    before the fast path, kept here as the oracle.)"""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality)
        self.carry = b""

    def process(self, pcm: bytes | bytearray | memoryview) -> bytes:
        data = self.carry + bytes(pcm)
        self.carry = data[len(data) - len(data) % 2 :]
        data = data[: len(data) - len(data) % 2]
        if not data:
            return b""
        y = self.stream.resample_chunk(pcm16_to_float32(data), last=False)
        return float32_to_pcm16(y)

    def flush(self) -> bytes:
        y = self.stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self.stream.clear()
        self.carry = b""
        return float32_to_pcm16(y)


def square(rate: int, seconds: float, freq: float = 441.0) -> bytes:
    """Full-scale square wave: every resampler overshoots it (Gibbs), so output is clipped."""
    t = np.arange(int(rate * seconds)) / rate
    return np.where(np.sin(2 * np.pi * freq * t) >= 0, 32767, -32768).astype("<i2").tobytes()


def full_scale_noise(rate: int, seconds: float) -> bytes:
    rng = np.random.default_rng(7)
    return rng.integers(-32768, 32768, int(rate * seconds)).astype("<i2").tobytes()


def odd_chunks(pcm: bytes, seed: int) -> list[bytes]:
    """Random chunk sizes from 0 to 1499 bytes, most of them odd or empty: the carry path."""
    rng = np.random.default_rng(seed)
    parts, pos = [], 0
    while pos < len(pcm):
        size = int(rng.integers(0, 1500))
        parts.append(pcm[pos : pos + size])
        pos += size
    return parts


def run_both(in_rate: int, out_rate: int, parts: list[bytes], quality: str = "HQ") -> None:
    fast, ref = (
        StreamResampler(in_rate, out_rate, quality),
        ReferenceStreamResampler(in_rate, out_rate, quality),
    )
    for rep in range(2):  # the second stream checks the reset done by flush()
        for i, part in enumerate(parts):
            arg: bytes | bytearray | memoryview = part
            if i % 3 == 1:
                arg = bytearray(part)
            elif i % 3 == 2:
                arg = memoryview(part)
            assert fast.process(arg) == ref.process(part), (rep, i)
        assert fast.flush() == ref.flush(), rep


def fixture(name: str) -> bytes:
    return read_wav(SPEECH / name)[0]


SPEECH = Path(__file__).resolve().parent.parent / "data" / "speech"
FAST_PATH_PAIRS = [
    (16000, 24000),
    (24000, 16000),
    (48000, 24000),
    (24000, 48000),
    (24000, 8000),
    (8000, 24000),
    (16000, 8000),
    (8000, 16000),
    (44100, 16000),
]


@pytest.mark.parametrize(("in_rate", "out_rate"), FAST_PATH_PAIRS)
def test_stream_resampler_fast_path_is_bit_identical_to_reference(
    in_rate: int, out_rate: int
) -> None:
    """20 ms chunks of real speech, a clipping square wave and full-scale noise, then odd-sized
    chunks (carry path): every output byte equals the reference algorithm's."""
    base = 24000 if in_rate % 8000 == 0 and 24000 % in_rate == 0 else 16000
    speech = fixture(f"weather_paris_{base // 1000}k.wav")
    speech = resample(speech, base, in_rate) if base != in_rate else speech
    twenty_ms = in_rate // 50 * 2
    for signal in (speech, square(in_rate, 0.5), full_scale_noise(in_rate, 0.3)):
        run_both(
            in_rate, out_rate, [signal[i : i + twenty_ms] for i in range(0, len(signal), twenty_ms)]
        )
    run_both(in_rate, out_rate, odd_chunks(speech, seed=in_rate + out_rate))


@pytest.mark.parametrize("quality", ["QQ", "LQ", "MQ", "VHQ"])
def test_stream_resampler_fast_path_is_bit_identical_at_every_quality(quality: str) -> None:
    pcm = fixture("hello_16k.wav") + square(16000, 0.2)
    for in_rate, out_rate in ((16000, 24000), (16000, 8000)):
        run_both(in_rate, out_rate, [pcm[i : i + 640] for i in range(0, len(pcm), 640)], quality)


def test_stream_resampler_clips_like_the_reference() -> None:
    """The square wave really overshoots: both clip, to the same samples."""
    pcm = square(16000, 0.2)
    got = samples(stream(StreamResampler(16000, 24000), pcm, 640))
    assert got.max() == 32767 and got.min() == -32768
    ref = ReferenceStreamResampler(16000, 24000)
    want = b"".join([ref.process(pcm[i : i + 640]) for i in range(0, len(pcm), 640)]) + ref.flush()
    assert got.tobytes() == np.frombuffer(want, "<i2").astype(np.int32).tobytes()


def test_stream_resampler_fallbacks_are_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without soxr's compiled process method or numpy's clip ufunc (another soxr or numpy
    version), the public resample_chunk and np.minimum/np.maximum give the same bytes."""
    import realtimelab.audio as audio_mod

    monkeypatch.setattr(audio_mod, "_clip_ufunc", None)
    monkeypatch.setattr(audio_mod, "_fast_soxr_process", lambda s: s.resample_chunk)
    pcm = fixture("hello_16k.wav") + square(16000, 0.2)
    run_both(16000, 24000, [pcm[i : i + 640] for i in range(0, len(pcm), 640)])
    run_both(16000, 24000, odd_chunks(pcm, seed=3))


def test_stream_resampler_counts_samples() -> None:
    pcm = sine(16000, 0.2)
    rs = StreamResampler(16000, 24000)
    out = b"".join(rs.process(pcm[i : i + 641]) for i in range(0, len(pcm), 641))
    assert rs.samples_in == len(pcm) // 2 and rs.samples_out == len(out) // 2
    tail = rs.flush()
    assert len(out + tail) == 2 * 4800 and rs.samples_out == 0


# ---------------------------------------------------------------------------------- framing


def test_chunker_carries_remainders() -> None:
    fmt = AudioFormat(16000)
    data = bytes(range(256)) * 8  # distinct-ish bytes so order errors show
    a, b, c = fmt.nbytes(7), fmt.nbytes(25), fmt.nbytes(13)
    stream_bytes = (data * 2)[: a + b + c]
    ch = Chunker(16000, 20)
    assert ch.frame_bytes == 640
    assert ch.push(stream_bytes[:a]) == [] and ch.pending_bytes == a
    frames = ch.push(stream_bytes[a : a + b])  # 32 ms buffered -> 1 frame, 12 ms left
    assert len(frames) == 1 and ch.pending_bytes == fmt.nbytes(12)
    frames += ch.push(stream_bytes[a + b :])  # 25 ms buffered -> 1 frame, 5 ms left
    assert len(frames) == 2 and ch.pending_bytes == fmt.nbytes(5)
    tail = ch.flush(pad=True)
    assert tail is not None and len(tail) == 640 and tail[fmt.nbytes(5) :] == bytes(480)
    assert b"".join(frames) + tail[: fmt.nbytes(5)] == stream_bytes
    assert ch.flush() is None and ch.pending_bytes == 0


def test_chunker_flush_without_pad_returns_the_exact_remainder() -> None:
    ch = Chunker(24000, 10)
    assert ch.push(b"\x01" * 481) == [b"\x01" * 480]
    assert ch.flush() == b"\x01"


def test_iter_frames() -> None:
    pcm = sine(16000, 0.05)  # 50 ms -> 2 full frames of 20 ms + 10 ms
    padded = list(iter_frames(pcm, 16000))
    assert [len(f) for f in padded] == [640, 640, 640]
    short = list(iter_frames(pcm, 16000, pad_last=False))
    assert [len(f) for f in short] == [640, 640, 320] and b"".join(short) == pcm


# ---------------------------------------------------------------------------------- WAV


def test_wav_round_trip_is_byte_identical(tmp_path: Path) -> None:
    pcm = speech_like(16000, 0.5)
    path = write_wav(tmp_path / "a.wav", pcm, 16000)
    got, fmt = read_wav(path)
    assert got == pcm and fmt == AudioFormat(16000)
    got2, fmt2 = read_wav(io.BytesIO(wav_bytes(pcm, 16000)))
    assert got2 == pcm and fmt2.rate == 16000


def test_read_wav_downmixes_stereo(tmp_path: Path) -> None:
    left = np.array([100, -200, 301], dtype="<i2")
    right = np.array([300, 200, 300], dtype="<i2")
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.column_stack([left, right]).tobytes())
    pcm, fmt = read_wav(tmp_path / "s.wav")
    assert list(samples(pcm)) == [200, 0, 300] and fmt.rate == 8000  # 300.5 rounds to even


def test_read_wav_rejects_other_formats(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 100)
    with pytest.raises(WavFormatError, match=r"8-bit.*16-bit"):
        read_wav(tmp_path / "u8.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(WavFormatError, match=r"junk\.wav"):
        read_wav(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="got 3 bytes"):
        wav_bytes(b"abc", 16000)


# ---------------------------------------------------------------------------------- rate guard


def test_check_rate_message_names_both_rates_and_the_fix() -> None:
    check_rate(24000, 24000)
    with pytest.raises(SampleRateError) as info:
        check_rate(16000, 24000, where="send_audio")
    msg = str(info.value)
    assert "16000 Hz" in msg and "24000 Hz" in msg and msg.startswith("send_audio: ")
    assert "rate=16000" in msg and "resample(" in msg
    assert (info.value.declared, info.value.expected) == (16000, 24000)


def test_check_rate_accepts_only_the_matching_resampler() -> None:
    check_rate(16000, 24000, resampler=StreamResampler(16000, 24000))
    with pytest.raises(SampleRateError, match="converts 8000 -> 24000 Hz"):
        check_rate(16000, 24000, resampler=StreamResampler(8000, 24000))


def test_rate_guard_records_findings_once_per_kind() -> None:
    now = [10.0]
    guard = RateGuard(24000, clock=lambda: now[0])
    assert guard.check(24000) is None
    rs = StreamResampler(16000, 24000)
    first = guard.check(16000, resampler=rs, where="mic")
    now[0] = 11.0
    guard.check(16000, resampler=rs, where="mic")
    with pytest.raises(SampleRateError):
        guard.check(8000, where="mic")
    assert guard.findings == [
        first,
        RateFinding(11.0, 8000, 24000, "rejected", "mic", guard.findings[1].message),
    ]
    assert first is not None and first.action == "resampled" and first.t == 10.0
    assert "8000 Hz" in guard.findings[1].message
    assert guard.counts[(16000, "resampled", "mic")] == 2


# ---------------------------------------------------------------------------------- plausibility


def test_estimate_rate_accepts_speech_at_its_true_rate() -> None:
    est = estimate_rate(speech_like(16000), 16000)
    assert est.plausible, est.explanation
    assert est.suggested_rate is None and est.declared_rate == 16000
    assert est.f0_hz is not None and 120 <= est.f0_hz <= 230
    assert 0.3 < est.speech_band_ratio <= 1.0 and est.high_band_ratio < 0.05


@pytest.mark.parametrize(("declared", "sounds"), [(24000, "chipmunk"), (8000, "slow")])
def test_estimate_rate_flags_mislabelled_16k_speech(declared: int, sounds: str) -> None:
    est = estimate_rate(speech_like(16000), declared)
    assert not est.plausible
    assert est.suggested_rate == 16000, est.explanation
    assert sounds in est.explanation and "rate=16000" in est.explanation


@pytest.mark.parametrize(
    ("true", "declared"), [(24000, 24000), (8000, 8000), (24000, 16000), (8000, 16000)]
)
def test_estimate_rate_other_rates(true: int, declared: int) -> None:
    est = estimate_rate(speech_like(true), declared)
    assert est.plausible == (true == declared), est.explanation
    if true != declared:
        assert est.suggested_rate == true


def test_estimate_rate_cannot_tell_on_silence_or_short_audio() -> None:
    for pcm in (bytes(32000), speech_like(16000, 0.1)):
        est = estimate_rate(pcm, 16000)
        assert est.plausible and est.suggested_rate is None
        assert "cannot tell" in est.explanation
