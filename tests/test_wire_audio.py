"""`realtimelab.wire_audio`, sans-IO: user audio to the wire's format and the codec's audio to
the session's output format, as streams (no socket, no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from realtimelab import events as ev
from realtimelab import g711
from realtimelab.audio import AudioFormat
from realtimelab.config import SessionConfig
from realtimelab.providers.base import Capabilities
from realtimelab.resilience import AudioBuffer
from realtimelab.wire_audio import InputAudio, OutputAudio, output_law, wire_input_format

SPEAKS_G711 = Capabilities(provider="p1", input_rate=24000, output_rate=24000, g711_native=True)
PCM_ONLY = Capabilities(provider="p2", input_rate=16000, output_rate=24000)


def tone(rate: int, ms: int, hz: float = 440.0) -> bytes:
    n = rate * ms // 1000
    samples = 8000 * np.sin(2 * np.pi * hz * np.arange(n) / rate)
    return samples.astype("<i2").tobytes()


def test_the_wire_format_follows_the_config_and_the_flag() -> None:
    phone = SessionConfig(input_format="pcma", output_format="pcmu")
    assert wire_input_format(phone, SPEAKS_G711) == AudioFormat(8000, encoding="pcma")
    assert wire_input_format(phone, PCM_ONLY) == AudioFormat(16000)  # transcoded
    assert wire_input_format(SessionConfig(), SPEAKS_G711) == AudioFormat(24000)
    assert output_law(phone) == "pcmu" and output_law(SessionConfig()) is None


def test_g711_in_the_wires_own_law_passes_through_untouched() -> None:
    audio = InputAudio(AudioFormat(8000, encoding="pcmu"))
    line = bytes(range(256))
    assert audio.g711(line, "pcmu") == line
    assert audio.ms(line) == 32.0
    assert audio.as_pcm(line) == g711.decode(line, "pcmu")


def test_g711_is_decoded_and_resampled_for_a_pcm_wire() -> None:
    audio = InputAudio(AudioFormat(16000))
    phone = g711.encode(tone(8000, 500), "pcma")
    out = audio.g711(phone, "pcma") + audio.flush()
    assert len(out) == 2 * 16000 // 2  # 500 ms of PCM16 at 16 kHz
    original = np.frombuffer(tone(16000, 500), dtype="<i2").astype(float)
    heard = np.frombuffer(out, dtype="<i2").astype(float)
    assert np.corrcoef(original[800:-800], heard[800:-800])[0, 1] > 0.99


def test_pcm_is_resampled_and_encoded_for_a_g711_wire() -> None:
    audio = InputAudio(AudioFormat(8000, encoding="pcmu"))
    out = audio.pcm(tone(24000, 200), 24000) + audio.flush()
    assert len(out) == 1600  # one byte a sample at 8 kHz
    assert audio.as_pcm(out) == g711.decode(out, "pcmu")


def test_a_new_rate_sends_the_old_streams_tail_first_and_clear_drops_it() -> None:
    audio = InputAudio(AudioFormat(16000))
    first = audio.pcm(tone(48000, 100), 48000)
    second = audio.pcm(tone(24000, 100), 24000)  # the 48 kHz stream's tail comes first
    assert len(first) + len(second) + len(audio.flush()) == 2 * 3200
    audio.pcm(tone(24000, 100), 24000)
    audio.clear()
    assert audio.flush() == b""


def test_output_passes_pcm16_and_native_g711_through() -> None:
    pcm = ev.AudioChunk(provider="p", t=0.0, pcm=tone(24000, 20), rate=24000)
    assert OutputAudio(None).chunk(pcm) is pcm
    native = ev.AudioChunk(
        provider="p", t=0.0, pcm=b"\x00\x00" * 160, rate=8000, encoding="pcmu", g711=b"\xff" * 160
    )
    assert OutputAudio("pcmu").chunk(native) is native


def test_output_is_encoded_at_8_khz_with_its_tail_at_the_end_of_the_reply() -> None:
    out = OutputAudio("pcma")
    chunks = []
    for i in range(10):  # 200 ms of 24 kHz PCM16 in 20 ms chunks
        c = ev.AudioChunk(
            provider="p", t=float(i), pcm=tone(24000, 20), rate=24000, item_id="it", response_id="r"
        )
        converted = out.chunk(c)
        if converted is not None:
            chunks.append(converted)
    tail = out.flush(99.0)
    assert len(tail) == 1 and tail[0].t == 99.0 and tail[0].item_id == "it"
    everything = chunks + tail
    assert all(c.rate == 8000 and c.encoding == "pcma" for c in everything)
    assert all(c.g711 == g711.encode(c.pcm, "pcma") for c in everything)
    assert sum(len(c.pcm) for c in everything) == 2 * 1600  # 200 ms at 8 kHz, nothing lost
    assert out.flush(100.0) == []


def test_a_cut_reply_leaves_no_tail() -> None:
    out = OutputAudio("pcmu")
    out.chunk(ev.AudioChunk(provider="p", t=0.0, pcm=tone(24000, 20), rate=24000))
    out.reset()
    assert out.flush(1.0) == []


@pytest.mark.parametrize(("width", "rate"), [(1, 8000), (2, 16000)])
def test_the_gap_buffer_counts_samples_of_the_wires_width(width: int, rate: int) -> None:
    buffer = AudioBuffer(rate, 100, sample_width=width)  # 100 ms
    buffer.push(b"\x01" * (rate * width // 10 + 3 * width))  # 100 ms and 3 samples
    assert buffer.buffered_ms == pytest.approx(100.0)
    assert buffer.dropped_ms == pytest.approx(3 * 1000 / rate)
    with pytest.raises(ValueError, match="sample_width"):
        AudioBuffer(rate, 100, sample_width=3)
