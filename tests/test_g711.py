"""Tests for realtimelab.g711: bit exactness on every input, audioop as a second oracle,
speech quality, streaming == one-shot, and the G.711 AudioFormat."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from realtimelab.audio import PCMA_FORMAT, PCMU_FORMAT, AudioFormat, read_wav, resample
from realtimelab.g711 import (
    G711Decoder,
    G711Encoder,
    decode,
    decode_alaw,
    decode_ulaw,
    encode,
    encode_alaw,
    encode_ulaw,
    from_pcm16,
    g711_codec,
    g711_format,
    to_pcm16,
)

SPEECH = Path(__file__).resolve().parent.parent / "data" / "speech"
EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16)
EVERY_CODE = bytes(range(256))

# ---------------------------------------------------------------------------- the reference
#
# Written from the tables of ITU-T G.711 (Table 1a for A-law, Table 2a for µ-law): a segment is
# found by its decision values, a step within it by the segment's step size, and the decoder
# outputs the middle of the interval. The PCM16 sample is the left-justified 14-bit (µ-law) or
# 13-bit (A-law) word; a negative word's magnitude is its one's complement, as in the ITU-T's
# reference software (G.191). Deliberately per sample and without the bias trick the module
# uses, so the two implementations share nothing but the recommendation.

# µ-law, 14-bit magnitude scale (0..8159): where each segment starts, and its step.
ULAW_STARTS = (0, 31, 95, 223, 479, 991, 2015, 4063)
ULAW_STEPS = (2, 4, 8, 16, 32, 64, 128, 256)
# A-law, 12-bit magnitude scale (0..4095).
ALAW_STARTS = (0, 32, 64, 128, 256, 512, 1024, 2048)
ALAW_STEPS = (2, 2, 4, 8, 16, 32, 64, 128)


def sign_and_magnitude(x: int, bits: int) -> tuple[bool, int]:
    word = x >> (16 - bits)  # the left-justified word, e.g. 14 bits for µ-law
    if word >= 0:
        return True, word
    return False, -word - 1  # one's complement: -1 is "just below zero", i.e. -0


def ref_ulaw_encode(x: int) -> int:
    positive, m = sign_and_magnitude(x, 14)
    segment = max(k for k in range(8) if m >= ULAW_STARTS[k])
    # Segment 0's first interval, [0, 1), is half a step wide, so its steps start at -1.
    start = -1 if segment == 0 else ULAW_STARTS[segment]
    step = (m - start) // ULAW_STEPS[segment]
    step = min(step, 15)  # beyond the last decision value (8159): overload, top code
    code = ((segment << 4) | step) ^ 0x7F  # µ-law transmits the bits inverted
    return code | 0x80 if positive else code


def ref_ulaw_decode(code: int) -> int:
    positive = bool(code & 0x80)
    segment, step = ((~code) >> 4) & 7, (~code) & 0x0F
    if segment == 0:
        value = 2 * step  # middle of [2q-1, 2q+1), and 0 for the half-width first interval
    else:
        value = ULAW_STARTS[segment] + ULAW_STEPS[segment] * step + ULAW_STEPS[segment] // 2
    return 4 * value if positive else -4 * value  # back to the left-justified 16-bit scale


def ref_alaw_encode(x: int) -> int:
    positive, m = sign_and_magnitude(x, 13)
    segment = max(k for k in range(8) if m >= ALAW_STARTS[k])
    step = (m - ALAW_STARTS[segment]) // ALAW_STEPS[segment]
    return ((0x80 if positive else 0) | (segment << 4) | step) ^ 0x55  # even bits inverted


def ref_alaw_decode(code: int) -> int:
    code ^= 0x55
    segment, step = (code >> 4) & 7, code & 0x0F
    value = ALAW_STARTS[segment] + ALAW_STEPS[segment] * step + ALAW_STEPS[segment] // 2
    return 8 * value if code & 0x80 else -8 * value


@functools.cache
def reference_tables() -> dict[str, bytes]:
    xs = [int(x) for x in EVERY_INT16]
    return {
        "pcmu-enc": bytes(ref_ulaw_encode(x) for x in xs),
        "pcma-enc": bytes(ref_alaw_encode(x) for x in xs),
        "pcmu-dec": np.array([ref_ulaw_decode(c) for c in range(256)], "<i2").tobytes(),
        "pcma-dec": np.array([ref_alaw_decode(c) for c in range(256)], "<i2").tobytes(),
    }


def audioop_or_skip() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # removed in Python 3.13
            pytest.skip("audioop is not available on this Python")
    return audioop


def ints(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.int64)


def snr_db(ref: bytes, got: bytes) -> float:
    r, g = ints(ref).astype(float), ints(got).astype(float)
    n = min(len(r), len(g))
    return float(10 * np.log10(np.sum(r[:n] ** 2) / np.sum((r[:n] - g[:n]) ** 2)))


@functools.cache
def speech(name: str) -> tuple[bytes, int]:
    pcm, fmt = read_wav(SPEECH / name)
    return pcm, fmt.rate


# ---------------------------------------------------------------------------- bit exactness


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_encoding_every_int16_matches_the_g711_reference(codec: str) -> None:
    got = encode(EVERY_INT16, codec)
    assert got == reference_tables()[f"{codec}-enc"]
    assert got == encode(EVERY_INT16.tobytes(), codec)  # bytes in: the same


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_decoding_every_code_matches_the_g711_reference(codec: str) -> None:
    assert decode(EVERY_CODE, codec) == reference_tables()[f"{codec}-dec"]


def test_named_functions_are_the_codecs() -> None:
    pcm = EVERY_INT16.tobytes()
    assert encode_ulaw(pcm) == encode(pcm, "pcmu") and encode_alaw(pcm) == encode(pcm, "pcma")
    assert decode_ulaw(EVERY_CODE) == decode(EVERY_CODE, "pcmu")
    assert decode_alaw(EVERY_CODE) == decode(EVERY_CODE, "pcma")


def test_audioop_agrees_on_every_code_and_every_a_law_sample() -> None:
    audioop = audioop_or_skip()
    pcm = EVERY_INT16.tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert decode_ulaw(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)
        assert decode_alaw(EVERY_CODE) == audioop.alaw2lin(EVERY_CODE, 2)
        assert encode_alaw(pcm) == audioop.lin2alaw(pcm, 2)
        theirs = np.frombuffer(audioop.lin2ulaw(pcm, 2), np.uint8)
    ours = np.frombuffer(encode_ulaw(pcm), np.uint8)
    positive = EVERY_INT16 >= 0
    np.testing.assert_array_equal(ours[positive], theirs[positive])
    # audioop (like Sun's g711.c) negates the 14-bit word instead of taking its one's
    # complement, i.e. it sees every negative sample one 14-bit step (4 LSB) further from zero.
    # With that shift it is bit-exact everywhere too; unshifted, 508 of 32768 negative inputs
    # land one quantisation step apart.
    shifted = np.maximum(EVERY_INT16.astype(np.int32) - 4, -32768).astype(np.int16)
    ours_shifted = np.frombuffer(encode_ulaw(shifted), np.uint8)
    np.testing.assert_array_equal(ours_shifted[~positive], theirs[~positive])
    assert int(np.count_nonzero(ours[~positive] != theirs[~positive])) == 508


def test_known_conventions() -> None:
    u = encode_ulaw(np.array([0, 3, -1, -4, -5, 32635, 32767, -32768], np.int16))
    assert list(u) == [0xFF, 0xFF, 0x7F, 0x7F, 0x7E, 0x80, 0x80, 0x00]  # +0, -0, overload
    assert ints(decode_ulaw(bytes([0xFF, 0x7F, 0x80, 0x00]))).tolist() == [0, 0, 32124, -32124]
    a = encode_alaw(np.array([0, 7, -1, -8, -9, 32767, -32768], np.int16))
    assert list(a) == [0xD5, 0xD5, 0x55, 0x55, 0x55, 0xAA, 0x2A]  # 0x80 ^ 0x55, 0x00 ^ 0x55
    assert ints(decode_alaw(bytes([0xD5, 0x55, 0xAA, 0x2A]))).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_codes_survive_a_round_trip(codec: str) -> None:
    """Every decoded value encodes back to its own code (except µ-law -0, which is 0 = +0)."""
    again = encode(decode(EVERY_CODE, codec), codec)
    changed = [c for c in range(256) if again[c] != c]
    assert changed == ([0x7F] if codec == "pcmu" else [])


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_quantisation_error_is_relative(codec: str) -> None:
    """The point of companding: the error scales with the sample (≤ 1/32 of it, plus the
    smallest half-step), for every int16 below the overload point."""
    back = ints(decode(encode(EVERY_INT16, codec), codec))
    x = EVERY_INT16.astype(np.int64)
    inside = np.abs(x) <= 32000
    err = np.abs(back - x)[inside]
    assert np.all(err <= np.abs(x[inside]) / 32 + 8)


# ---------------------------------------------------------------------------- inputs


def test_inputs_and_errors() -> None:
    x = np.array([0, 100, -100, 5000], np.int16)
    want = encode_ulaw(x)
    for pcm in (x.tobytes(), bytearray(x.tobytes()), memoryview(x.tobytes()), x.astype(">i2")):
        assert encode_ulaw(pcm) == want
    assert decode_ulaw(bytearray(want)) == decode_ulaw(memoryview(want)) == decode_ulaw(want)
    assert encode_ulaw(b"") == b"" and decode_alaw(b"") == b""
    with pytest.raises(ValueError, match="got 3 bytes"):
        encode_alaw(b"\x00\x01\x02")
    with pytest.raises(TypeError, match="int16"):
        encode_ulaw(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="1-D"):
        encode_ulaw(np.zeros((2, 2), np.int16))
    with pytest.raises(ValueError, match=r"unknown G\.711 codec"):
        encode(x, "g722")


def test_codec_names() -> None:
    for name in ("pcmu", "PCMU", "audio/pcmu", "ulaw", "µ-law", "g711_ulaw"):
        assert g711_codec(name) == "pcmu"
    for name in ("pcma", "audio/pcma", "alaw", "A-law", "g711_alaw"):
        assert g711_codec(name) == "pcma"
    with pytest.raises(ValueError, match=r"'pcmu'.*'pcma'"):
        g711_codec("opus")


# ---------------------------------------------------------------------------- speech quality

# Measured on every fixture in data/speech (resampled to 8 kHz): µ-law 37.0-37.6 dB, A-law
# 36.8-37.6 dB, in line with G.711's textbook ≈38 dB for a well-loaded signal (the fixtures peak
# near -6 dBFS with an RMS near -23 dBFS). 36 dB is a bound real G.711 passes with margin; a
# wrong segment or step anywhere in the tables costs far more than 1 dB. Below 39 dB: the
# audio really went through 8-bit companding.
SPEECH_SNR_DB = (36.0, 39.0)


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
@pytest.mark.parametrize("name", ["hello_16k.wav", "weather_and_time_24k.wav", "noisy_16k.wav"])
def test_speech_snr_at_8khz(codec: str, name: str) -> None:
    pcm, rate = speech(name)
    x8 = resample(pcm, rate, 8000)
    snr = snr_db(x8, decode(encode(x8, codec), codec))
    assert SPEECH_SNR_DB[0] < snr < SPEECH_SNR_DB[1], f"{codec} {name}: {snr:.2f} dB"


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_speech_through_the_phone_line_and_back(codec: str) -> None:
    """16 kHz speech -> 8 kHz G.711 -> 16 kHz, against the same trip without G.711: only the
    codec's noise remains (the 4 kHz band limit is the phone line's, not the codec's)."""
    pcm, rate = speech("weather_paris_16k.wav")
    line = from_pcm16(pcm, rate, codec)
    assert len(line) == len(pcm) // 2 // 2  # 1 byte per sample at half the rate
    back = to_pcm16(line, codec, rate)
    band_limited = resample(resample(pcm, rate, 8000), 8000, rate)
    assert len(back) == len(band_limited)
    snr = snr_db(band_limited, back)
    assert SPEECH_SNR_DB[0] < snr < SPEECH_SNR_DB[1], f"{snr:.2f} dB"


def test_companding_keeps_quiet_speech_clean() -> None:
    """20 dB quieter speech still gets > 30 dB from 8 bits (measured: µ-law 35.2, A-law 31.1),
    where plain 8-bit linear PCM would give ≈6 dB."""
    pcm, rate = speech("conversation_16k.wav")
    quiet = np.rint(ints(resample(pcm, rate, 8000)) * 0.1).astype("<i2").tobytes()
    assert snr_db(quiet, decode_ulaw(encode_ulaw(quiet))) > 34
    assert snr_db(quiet, decode_alaw(encode_alaw(quiet))) > 30
    linear8 = ((ints(quiet) >> 8) << 8).astype("<i2").tobytes()
    assert snr_db(quiet, linear8) < 10


# ---------------------------------------------------------------------------- streaming


def random_chunks(data: bytes, seed: int, most: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    parts, pos = [], 0
    while pos < len(data):
        size = int(rng.integers(0, most))
        parts.append(data[pos : pos + size])
        pos += size
    return parts


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_encoder_streaming_equals_one_shot(codec: str, rate: int) -> None:
    pcm, fixture_rate = speech("hello_16k.wav")
    pcm = resample(pcm, fixture_rate, rate)
    one_shot = from_pcm16(pcm, rate, codec)
    enc = G711Encoder(codec, rate)
    assert (enc.codec, enc.in_rate, enc.format) == (codec, rate, g711_format(codec))
    twenty_ms = rate // 50 * 2
    twenty_ms_chunks = [pcm[i : i + twenty_ms] for i in range(0, len(pcm), twenty_ms)]
    for parts in (twenty_ms_chunks, random_chunks(pcm, seed=rate, most=2000)):
        got = b"".join(enc.encode(p) for p in parts) + enc.flush()  # flush resets: reuse
        assert got == one_shot
    assert len(one_shot) == round(len(pcm) // 2 * 8000 / rate)


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_decoder_streaming_equals_one_shot(codec: str, rate: int) -> None:
    pcm, fixture_rate = speech("weather_paris_16k.wav")
    line = from_pcm16(pcm, fixture_rate, codec)
    one_shot = to_pcm16(line, codec, rate)
    assert len(one_shot) == 2 * round(len(line) * rate / 8000)
    dec = G711Decoder(codec, rate)
    assert (dec.codec, dec.out_rate, dec.format.mime) == (codec, rate, f"audio/{codec}")
    twenty_ms_chunks = [line[i : i + 160] for i in range(0, len(line), 160)]
    for parts in (twenty_ms_chunks, random_chunks(line, seed=rate, most=700)):
        got = b"".join(dec.decode(p) for p in parts) + dec.flush()
        assert got == one_shot


def test_at_8khz_the_helpers_are_the_plain_codec() -> None:
    pcm = resample(speech("hello_16k.wav")[0], 16000, 8000)
    for codec in ("pcmu", "pcma"):
        assert from_pcm16(pcm, 8000, codec) == encode(pcm, codec)
        line = encode(pcm, codec)
        assert to_pcm16(line, codec, 8000) == decode(line, codec)
    enc = G711Encoder("pcmu", 8000)
    assert enc.encode(pcm[:3]) == encode_ulaw(pcm[:2])  # the odd byte waits for its partner
    assert enc.encode(pcm[3:4]) == encode_ulaw(pcm[2:4])
    with pytest.raises(ValueError, match="got 3 bytes"):
        from_pcm16(b"\x00\x01\x02", 16000, "pcmu")


# ---------------------------------------------------------------------------- AudioFormat


def test_g711_audio_format() -> None:
    fmt = AudioFormat(8000, encoding="pcmu")
    assert fmt == PCMU_FORMAT == g711_format("audio/pcmu") == AudioFormat(8000, 1, 1, "pcmu")
    assert (fmt.sample_width, fmt.frame_bytes, fmt.bytes_per_ms) == (1, 1, 8.0)
    assert fmt.nbytes(20) == 160 and fmt.duration_ms(160) == 20.0
    assert fmt.mime == "audio/pcmu" and PCMA_FORMAT.mime == "audio/pcma"
    assert fmt.is_g711 and not AudioFormat(8000).is_g711
    assert g711_format("alaw") == PCMA_FORMAT != PCMU_FORMAT
