"""G.711 telephone audio (µ-law ``audio/pcmu`` and A-law ``audio/pcma``) for the audio toolkit.

Why this exists: a SIP/phone bridge hands the kit 8 kHz G.711, the digital telephone network's
codec, and OpenAI Realtime can speak it directly (``audio/pcmu``, ``audio/pcma``), while
Gemini Live and the rest of the kit speak PCM16. This module converts between the two with
numpy, and (with :class:`~realtimelab.audio.StreamResampler`) between 8 kHz and the rates the
providers use.

What G.711 is, in one paragraph: each 8 kHz sample is one byte, a sign bit plus a 3-bit
segment (a power-of-two range) and a 4-bit step within it, so quiet sounds get fine steps and
loud ones coarse steps: about 38 dB signal-to-noise at any reasonable level, from 8 bits. µ-law
(North America, Japan) works on a 14-bit magnitude with a bias of 33 (``0x84 >> 2``) so its
segments line up on powers of two, and transmits every bit inverted; A-law (everywhere else)
works on a 13-bit magnitude, has a linear first segment and inverts every even bit
(``XOR 0x55``). Both have a +0 and a -0 code (µ-law ``0xFF``/``0x7F``, A-law ``0xD5``/``0x55``),
and both decode to the middle of each quantisation interval.

Bit exactness, and one convention worth knowing:

* Decoding is unambiguous: ITU-T G.191, Sun's ``g711.c`` and CPython's old ``audioop`` give
  the same 256 values.
* Encoding takes a PCM16 sample as a left-justified 14-bit (µ-law) or 13-bit (A-law)
  two's-complement word, and takes the magnitude of a negative word as its **one's
  complement** (``~x``), exactly as the ITU-T's own reference software (G.191 STL ``g711.c``)
  does: the 16-bit samples -1..-4 are the interval just below zero, so they encode as µ-law
  -0 (``0x7F``), mirror images of 0..3 (+0, ``0xFF``). For A-law, Sun's ``g711.c`` and
  CPython's ``audioop`` do the same. For µ-law they negate the arithmetic-shifted word
  instead, which moves every negative sample one 14-bit step further from zero before
  quantising: ``audioop.lin2ulaw(x) == encode_ulaw(x - 4)`` for negative ``x``, -1 encodes as
  -8 there instead of 0, and 508 of the 65536 inputs land one quantisation step apart. The
  tests check all 65536 inputs against a reference written from the recommendation's tables,
  and against ``audioop`` with that relation.

Speed: encoding is one lookup in a 65536-entry table and decoding one lookup in a 256-entry
table, each built with numpy on first use (≈2 ms) and then shared: about 2 µs per 20 ms chunk.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import numpy.typing as npt

from realtimelab.audio import AudioFormat, PcmLike, StreamResampler, _check_even

__all__ = [
    "G711_RATE",
    "G711Codec",
    "G711Decoder",
    "G711Encoder",
    "decode",
    "decode_alaw",
    "decode_ulaw",
    "encode",
    "encode_alaw",
    "encode_ulaw",
    "from_pcm16",
    "g711_codec",
    "g711_format",
    "to_pcm16",
]

#: G.711 is defined at 8 kHz; a telephone line carries nothing else.
G711_RATE = 8000

#: The codec names the kit uses: OpenAI's MIME subtypes (``audio/pcmu``, ``audio/pcma``).
G711Codec = Literal["pcmu", "pcma"]

_ALIASES: dict[str, G711Codec] = {
    "pcmu": "pcmu",
    "audio/pcmu": "pcmu",
    "ulaw": "pcmu",
    "mulaw": "pcmu",
    "u-law": "pcmu",
    "µ-law": "pcmu",
    "mu-law": "pcmu",
    "g711_ulaw": "pcmu",  # OpenAI Realtime beta's format name
    "pcma": "pcma",
    "audio/pcma": "pcma",
    "alaw": "pcma",
    "a-law": "pcma",
    "g711_alaw": "pcma",
}


def g711_codec(name: str) -> G711Codec:
    """Normalise a codec name to ``"pcmu"`` (µ-law) or ``"pcma"`` (A-law).

    Accepts the names the ecosystem uses for the same two codecs: MIME types
    (``audio/pcmu``), OpenAI's older ``g711_ulaw``/``g711_alaw``, and ``ulaw``/``alaw``
    spellings, case-insensitively. Anything else raises ``ValueError`` listing what works.
    """
    found = _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise ValueError(
            f"unknown G.711 codec {name!r}; use 'pcmu' (µ-law, also 'ulaw', 'audio/pcmu', "
            "'g711_ulaw') or 'pcma' (A-law, also 'alaw', 'audio/pcma', 'g711_alaw')"
        )
    return found


def g711_format(codec: str) -> AudioFormat:
    """The :class:`~realtimelab.audio.AudioFormat` of a G.711 stream: 8 kHz, 1 byte a sample."""
    return AudioFormat(G711_RATE, encoding=g711_codec(codec))


# --------------------------------------------------------------------------------------------
# tables (built once, on first use)
# --------------------------------------------------------------------------------------------

_Table = npt.NDArray[np.uint8]


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, indexed by its bit pattern read as uint16 (so table[u16] works)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> _Table:
    x = _all_int16()
    magnitude = np.where(x < 0, ~x, x) >> 2  # 14-bit magnitude, one's complement if negative
    biased = np.minimum(magnitude + 33, 0x1FFF)  # the bias puts segment edges on powers of 2
    segment = np.searchsorted(1 << np.arange(6, 13), biased, side="right")  # 0..7
    step = (biased >> (segment + 1)) & 0x0F
    code = ((segment << 4) | step) ^ 0x7F  # µ-law sends every bit inverted...
    return (code | np.where(x >= 0, 0x80, 0)).astype(np.uint8)  # ...and sign 1 = positive


def _build_alaw_encode() -> _Table:
    x = _all_int16()
    magnitude = np.where(x < 0, ~x, x) >> 3  # 12-bit magnitude of the 13-bit word
    segment = np.searchsorted(1 << np.arange(5, 12), magnitude, side="right")  # 0..7
    step = (magnitude >> np.maximum(segment, 1)) & 0x0F  # segments 0 and 1: same step size
    code = (segment << 4) | step | np.where(x >= 0, 0x80, 0)
    return (code ^ 0x55).astype(np.uint8)  # A-law inverts the even bits


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    inverted = ~np.arange(256, dtype=np.int32) & 0xFF
    segment = (inverted >> 4) & 0x07
    step = inverted & 0x0F
    magnitude = (((step << 3) + 0x84) << segment) - 0x84  # middle of the interval, PCM16 scale
    return np.where(inverted & 0x80, -magnitude, magnitude).astype("<i2")


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code >> 4) & 0x07
    step = code & 0x0F
    magnitude = np.where(
        segment == 0,
        (step << 4) + 8,
        ((step << 4) + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype("<i2")


@functools.cache
def _encode_table(codec: G711Codec) -> _Table:
    """The 65536-entry PCM16 -> code table, built on first use and shared (read-only)."""
    table = _build_ulaw_encode() if codec == "pcmu" else _build_alaw_encode()
    table.flags.writeable = False
    return table


@functools.cache
def _decode_table(codec: G711Codec) -> npt.NDArray[np.int16]:
    """The 256-entry code -> PCM16 table, built on first use and shared (read-only)."""
    table = _build_ulaw_decode() if codec == "pcmu" else _build_alaw_decode()
    table.flags.writeable = False
    return table


# --------------------------------------------------------------------------------------------
# one-shot codec (8 kHz in, 8 kHz out)
# --------------------------------------------------------------------------------------------


def _as_u16(pcm16: PcmLike | npt.NDArray[np.int16]) -> npt.NDArray[np.uint16]:
    """PCM16 bytes or an int16 array as unsigned 16-bit table indices (no copy for bytes)."""
    if isinstance(pcm16, np.ndarray):
        if pcm16.dtype.kind != "i" or pcm16.dtype.itemsize != 2:
            raise TypeError(
                f"G.711 encodes int16 samples, got an array of dtype {pcm16.dtype}; "
                "convert float audio with realtimelab.audio.float32_to_pcm16() first"
            )
        if pcm16.ndim != 1:
            raise ValueError(f"expected mono 1-D samples, got an array of shape {pcm16.shape}")
        return pcm16.astype(np.int16, copy=False).view(np.uint16)
    _check_even(pcm16)
    return np.frombuffer(pcm16, dtype="<u2")


def encode(pcm16: PcmLike | npt.NDArray[np.int16], codec: str) -> bytes:
    """PCM16 samples (already at 8 kHz) to G.711 bytes, one byte per sample.

    ``codec`` is ``"pcmu"`` or ``"pcma"`` (or an alias, see :func:`g711_codec`). The rate is
    not checked: the samples are taken to be 8 kHz. Use :func:`from_pcm16` to resample first.
    """
    indices = _as_u16(pcm16)
    table = _encode_table(g711_codec(codec))
    return table[indices].tobytes()


def decode(data: PcmLike, codec: str) -> bytes:
    """G.711 bytes to PCM16 little-endian bytes at the same 8 kHz, two bytes per code."""
    codes = np.frombuffer(data, dtype=np.uint8)
    table = _decode_table(g711_codec(codec))
    return table[codes].tobytes()


def encode_ulaw(pcm16: PcmLike | npt.NDArray[np.int16]) -> bytes:
    """PCM16 at 8 kHz to G.711 µ-law (``audio/pcmu``), bit-exact to ITU-T G.711 / G.191."""
    return encode(pcm16, "pcmu")


def decode_ulaw(data: PcmLike) -> bytes:
    """G.711 µ-law (``audio/pcmu``) to PCM16 little-endian at 8 kHz."""
    return decode(data, "pcmu")


def encode_alaw(pcm16: PcmLike | npt.NDArray[np.int16]) -> bytes:
    """PCM16 at 8 kHz to G.711 A-law (``audio/pcma``), bit-exact to ITU-T G.711 / G.191."""
    return encode(pcm16, "pcma")


def decode_alaw(data: PcmLike) -> bytes:
    """G.711 A-law (``audio/pcma``) to PCM16 little-endian at 8 kHz."""
    return decode(data, "pcma")


# --------------------------------------------------------------------------------------------
# streaming: G.711 at 8 kHz <-> PCM16 at the rate the session wants
# --------------------------------------------------------------------------------------------


class G711Decoder:
    """G.711 chunks from a phone line in, PCM16 at ``out_rate`` out, for live streams.

    Why a class: the resampler behind it (8 kHz to e.g. 16 or 24 kHz) carries filter state
    from one 20 ms chunk to the next; resampling each chunk on its own would click at every
    boundary. Each G.711 byte is a whole sample, so any chunking is fine. Call :meth:`flush`
    at the end of the stream for the resampler's tail (≈15 ms at HQ); the decoder is then
    ready for a new stream. With ``out_rate=8000`` no resampler is involved.
    """

    def __init__(self, codec: str, out_rate: int, quality: str = "HQ") -> None:
        self._codec = g711_codec(codec)
        self._table = _decode_table(self._codec)
        self._resampler = StreamResampler(G711_RATE, out_rate, quality)

    @property
    def codec(self) -> G711Codec:
        return self._codec

    @property
    def out_rate(self) -> int:
        return self._resampler.out_rate

    @property
    def format(self) -> AudioFormat:
        """What goes in: G.711 at 8 kHz."""
        return AudioFormat(G711_RATE, encoding=self._codec)

    def decode(self, data: PcmLike) -> bytes:
        """Decode a chunk; returns whatever PCM16 the resampler has ready (maybe ``b""``)."""
        pcm = self._table[np.frombuffer(data, dtype=np.uint8)].tobytes()
        return self._resampler.process(pcm)

    def flush(self) -> bytes:
        """End of stream: the resampler's tail, then reset."""
        return self._resampler.flush()

    def __repr__(self) -> str:
        return f"G711Decoder({self._codec} 8000 -> {self.out_rate} Hz)"


class G711Encoder:
    """PCM16 at ``in_rate`` in, G.711 bytes at 8 kHz out, for live streams (e.g. a model's
    24 kHz answer going down a phone line).

    The resampler to 8 kHz keeps its state across chunks, and a chunk that ends mid-sample
    (odd byte count) has its dangling byte carried to the next one. Call :meth:`flush` at the
    end of the stream for the resampler's tail; the encoder is then ready for a new stream.
    """

    def __init__(self, codec: str, in_rate: int, quality: str = "HQ") -> None:
        self._codec = g711_codec(codec)
        self._table = _encode_table(self._codec)
        self._resampler = StreamResampler(in_rate, G711_RATE, quality)

    @property
    def codec(self) -> G711Codec:
        return self._codec

    @property
    def in_rate(self) -> int:
        return self._resampler.in_rate

    @property
    def format(self) -> AudioFormat:
        """What comes out: G.711 at 8 kHz."""
        return AudioFormat(G711_RATE, encoding=self._codec)

    def encode(self, pcm: PcmLike) -> bytes:
        """Encode a chunk; returns the G.711 bytes ready so far (maybe ``b""``)."""
        return self._encode(self._resampler.process(pcm))

    def flush(self) -> bytes:
        """End of stream: the resampler's tail, encoded, then reset."""
        return self._encode(self._resampler.flush())

    def _encode(self, pcm8k: bytes) -> bytes:
        if not pcm8k:
            return b""
        return self._table[np.frombuffer(pcm8k, dtype="<u2")].tobytes()

    def __repr__(self) -> str:
        return f"G711Encoder({self.in_rate} -> 8000 Hz {self._codec})"


def to_pcm16(data: PcmLike, codec: str, out_rate: int, quality: str = "HQ") -> bytes:
    """A whole G.711 buffer (8 kHz) to PCM16 at ``out_rate``: decode, resample, flush.

    The same bytes as feeding :class:`G711Decoder` chunk by chunk and flushing.
    """
    decoder = G711Decoder(codec, out_rate, quality)
    return decoder.decode(data) + decoder.flush()


def from_pcm16(pcm: PcmLike, in_rate: int, codec: str, quality: str = "HQ") -> bytes:
    """A whole PCM16 buffer at ``in_rate`` to G.711 at 8 kHz: resample, encode.

    The same bytes as feeding :class:`G711Encoder` chunk by chunk and flushing. An odd byte
    count is an error here (a whole buffer cut mid-sample is a bug upstream).
    """
    _check_even(pcm)
    encoder = G711Encoder(codec, in_rate, quality)
    return encoder.encode(pcm) + encoder.flush()
