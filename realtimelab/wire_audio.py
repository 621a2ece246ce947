"""Audio between the user and the wire: formats, resampling and G.711 transcoding, sans-IO.

Why a module of its own: what the user hands a session (PCM16 at any rate from a microphone,
or 8 kHz G.711 from a phone line) and what a provider's wire carries (PCM16 at its own rate, or
G.711 where the provider speaks it: `capabilities.g711_native`) differ per session, and both
session classes must bridge them the same way. `RealtimeSession` does it for one connection;
`ResilientSession` does it once, across connections (so a reconnect cuts no filter state and
the audio buffered during a gap is already in the wire's format). Nothing here touches a
socket or a clock, and nothing names a provider: the bridge follows from the config's formats
and the capability flag.

* `wire_input_format(config, caps)`: what `Codec.encode_audio` takes. PCM16 at
  `caps.input_rate`, or, with a G.711 `input_format` on a provider that speaks it, that G.711
  law at 8 kHz (a SIP bridge's bytes then reach the server untouched).
* `InputAudio`: user audio → wire bytes, streaming (resampler state across chunks; a tail to
  `flush` at the end of a turn; `clear` drops it).
* `OutputAudio`: the codec's `AudioChunk`s → what the user asked for. With PCM16 output they
  pass through; with a G.711 `output_format` every chunk becomes 8 kHz telephone audio with the
  G.711 bytes in `AudioChunk.g711` (native chunks pass through, the others are resampled and
  encoded here; `flush` gives the resampler's tail at the end of a reply).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from realtimelab import events as ev
from realtimelab import g711
from realtimelab.audio import AudioFormat, StreamResampler
from realtimelab.g711 import G711_RATE, G711Codec

if TYPE_CHECKING:
    from realtimelab.config import SessionConfig
    from realtimelab.providers.base import Capabilities

__all__ = ["InputAudio", "OutputAudio", "output_law", "wire_input_format"]


def wire_input_format(config: SessionConfig, caps: Capabilities) -> AudioFormat:
    """The format `Codec.encode_audio` takes for this session (see the module docstring)."""
    if config.input_format != "pcm16" and caps.g711_native:
        return AudioFormat(G711_RATE, encoding=config.input_format)
    return AudioFormat(caps.input_rate)


def output_law(config: SessionConfig) -> G711Codec | None:
    """The G.711 law the user wants the assistant's audio in, or None for PCM16."""
    fmt = config.output_format
    return None if fmt == "pcm16" else fmt


class InputAudio:
    """User audio → the wire's input format, as a stream (see the module docstring).

    PCM16 at any rate is resampled to the wire's rate (one resampler per input rate: when the
    rate changes, the old stream's tail comes out first) and encoded when the wire is G.711.
    G.711 in the wire's own law passes through byte for byte; otherwise it is decoded and
    takes the PCM16 path at 8 kHz.
    """

    def __init__(self, wire: AudioFormat) -> None:
        self.wire = wire
        self._law: G711Codec | None = None if wire.encoding == "pcm16" else wire.encoding
        self._resampler: StreamResampler | None = None

    @property
    def rate(self) -> int:
        """The wire's sample rate (what PCM16 is resampled to)."""
        return self.wire.rate

    @property
    def resampler(self) -> StreamResampler | None:
        """The resampler of the current input rate (for `RateGuard`), if audio came yet."""
        return self._resampler

    def prepare(self, rate: int) -> bytes:
        """Get ready for PCM16 at `rate`: a new rate ends the previous stream, whose tail is
        returned (in the wire's format) to be sent before the new audio."""
        current = self._resampler
        if current is not None and current.in_rate == rate:
            return b""
        tail = current.flush() if current is not None else b""
        self._resampler = StreamResampler(rate, self.wire.rate)
        return self._encode(tail)

    def pcm(self, data: bytes, rate: int) -> bytes:
        """PCM16 at `rate` (checked by the caller) → wire bytes ready now (maybe b"")."""
        tail = self.prepare(rate)
        return tail + self.process(data) if tail else self.process(data)

    def process(self, data: bytes) -> bytes:
        """PCM16 at the rate of the last `prepare` → wire bytes ready now (the hot path: one
        resampler call, and a table lookup for a G.711 wire)."""
        resampler = self._resampler
        assert resampler is not None, "prepare(rate) first"
        out = resampler.process(data)
        return g711.encode(out, self._law) if self._law is not None and out else out

    def g711(self, data: bytes, law: G711Codec) -> bytes:
        """G.711 bytes (8 kHz) in `law` → wire bytes. The wire's own law passes through (after
        the tail of any PCM16 stream at another rate)."""
        if law == self._law:
            return self.prepare(G711_RATE) + data
        return self.pcm(g711.decode(data, law), G711_RATE)

    def flush(self) -> bytes:
        """End of the user's turn: the resampler's tail, in the wire's format."""
        return self._encode(self._resampler.flush()) if self._resampler is not None else b""

    def clear(self) -> None:
        """Drop what the resampler holds (the audio it belongs to was discarded)."""
        self._resampler = None

    def as_pcm(self, wire: bytes) -> bytes:
        """Wire bytes as PCM16 at `rate` (for the client's own VAD on what was sent)."""
        return g711.decode(wire, self._law) if self._law is not None else wire

    def ms(self, wire: bytes) -> float:
        """How long `wire` bytes play."""
        return len(wire) / self.wire.bytes_per_ms

    def _encode(self, pcm: bytes) -> bytes:
        if not pcm or self._law is None:
            return pcm
        return g711.encode(pcm, self._law)


class OutputAudio:
    """The codec's assistant audio → the session's `output_format` (module docstring).

    One resampler per source rate (providers send one rate; a player rate change does not
    happen here), so consecutive chunks of a reply are resampled as one stream.
    """

    def __init__(self, law: G711Codec | None) -> None:
        self.law = law
        self._resamplers: dict[int, StreamResampler] = {}
        self._last: ev.AudioChunk | None = None  # the last chunk converted, for the tail's ids

    def chunk(self, event: ev.AudioChunk) -> ev.AudioChunk | None:
        """`event` in the output format; None when the resampler holds everything so far."""
        law = self.law
        if law is None or event.encoding == law:
            return event
        pcm = event.pcm
        if event.rate != G711_RATE:
            resampler = self._resamplers.get(event.rate)
            if resampler is None:
                resampler = self._resamplers[event.rate] = StreamResampler(event.rate, G711_RATE)
            pcm = resampler.process(pcm)
        self._last = event
        if not pcm:
            return None
        return dataclasses.replace(
            event, pcm=pcm, rate=G711_RATE, encoding=law, g711=g711.encode(pcm, law)
        )

    def flush(self, t: float) -> list[ev.AudioChunk]:
        """The end of a reply: the resamplers' tails as one last chunk of it (or none)."""
        last, self._last = self._last, None
        law = self.law
        if law is None or last is None:
            return []
        pcm = b"".join(r.flush() for r in self._resamplers.values())
        if not pcm:
            return []
        return [
            dataclasses.replace(
                last, t=t, pcm=pcm, rate=G711_RATE, encoding=law, g711=g711.encode(pcm, law)
            )
        ]

    def reset(self) -> None:
        """Playback was cut: the tail belongs to audio nobody will hear."""
        for resampler in self._resamplers.values():
            resampler.flush()
        self._last = None
