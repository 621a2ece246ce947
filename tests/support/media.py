"""Pictures and telephone audio for session tests, made in the test (no binary fixtures).

`png(w, h, rgb)` writes a real PNG with zlib (the emulator's eyes read it: size and main
colour); `jpeg(...)` uses Pillow when it is installed. `phone_speech(name, law)` turns a
speech fixture from data/speech into 8 kHz G.711 with `realtimelab.g711`, plus trailing
silence so server VAD ends the turn.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from realtimelab import g711
from realtimelab.audio import read_wav

__all__ = ["SPEECH", "jpeg", "phone_speech", "png"]

SPEECH = Path(__file__).resolve().parents[2] / "data" / "speech"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A solid-colour 8-bit RGB PNG."""
    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def jpeg(width: int = 32, height: int = 32, rgb: tuple[int, int, int] = (0, 0, 255)) -> bytes:
    """A solid-colour JPEG (needs Pillow)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, format="JPEG")
    return out.getvalue()


def phone_speech(name: str, law: str, silence_ms: int = 1500) -> bytes:
    """`data/speech/<name>_16k.wav` as G.711 at 8 kHz, followed by `silence_ms` of silence."""
    pcm, fmt = read_wav(SPEECH / f"{name}_16k.wav")
    rate = fmt.rate
    return g711.from_pcm16(pcm + bytes(rate * 2 * silence_ms // 1000), rate, law)
