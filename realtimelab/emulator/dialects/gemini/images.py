"""What the emulator can tell about a picture a client sends: size and a dominant colour.

Why: Gemini Live takes camera frames as `realtimeInput.video` blobs (and pictures as
`clientContent` `inlineData`). The emulator has no eyes, but a learner showing a red card to the
camera should see the model notice *something* true about it, and usage must bill each frame.
So each picture becomes a neutral `ImageInput(mime, nbytes, width, height, dominant_colour)`.

How: the size comes from the file header (JPEG SOF marker, PNG IHDR, GIF screen descriptor),
read here without any dependency. The colour needs pixels: Pillow decodes them when it is
installed (it is not a dependency of the emulator; it arrives with the `lab` extra), JPEG in
its reduced "draft" mode so a webcam frame costs a millisecond or two; without Pillow a small
non-interlaced PNG is decoded here (zlib + the five PNG filters), and anything else keeps its
size but no colour. Undecodable bytes are not an error: the picture is kept with `None` fields,
which is what `ImageInput` documents.

The colour is a plain name ("red", "dark blue", "light grey"...) voted by the pixels of a
thumbnail of at most 32×32, so a mostly-red frame reads "red" whatever decoder produced it.
"""

from __future__ import annotations

import colorsys
import io
import struct
import zlib
from collections import Counter
from collections.abc import Iterable

from realtimelab.emulator.model import ImageInput

__all__ = ["colour_name", "describe_image", "image_size"]

#: Pictures larger than this many pixels keep their size but are not decoded for a colour
#: (a decompression bomb must not stall the event loop).
MAX_DECODE_PIXELS = 16_000_000
#: The pure-Python PNG fallback decodes at most this many pixels.
MAX_FALLBACK_PIXELS = 65_536
_THUMB = 32


def describe_image(mime: str, data: bytes) -> ImageInput:
    """The neutral description of one picture (never raises)."""
    size = image_size(data)
    colour = None
    if size is not None and 0 < size[0] * size[1] <= MAX_DECODE_PIXELS:
        try:
            colour = _dominant_colour(data, size)
        except Exception:  # any decoder failure: the picture is kept without a colour
            colour = None
    width, height = size if size is not None else (None, None)
    return ImageInput(mime, len(data), width, height, colour)


# --- sizes from headers ---------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or GIF header; None when it is none of those."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return (width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (width, height) if width and height else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


# --- colours --------------------------------------------------------------------------------


def colour_name(r: int, g: int, b: int) -> str:
    """A plain English name for an sRGB colour (0–255 per channel)."""
    h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
    if v < 0.18:
        return "black"
    if s < 0.2:
        if v > 0.85:
            return "white"
        if v > 0.6:
            return "light grey"
        return "grey" if v > 0.35 else "dark grey"
    hue = h * 360
    if hue < 15 or hue >= 335:
        base = "red"
    elif hue < 40:
        base = "orange" if v >= 0.6 else "brown"
    elif hue < 70:
        base = "yellow"
    elif hue < 170:
        base = "green"
    elif hue < 200:
        base = "cyan"
    elif hue < 260:
        base = "blue"
    elif hue < 290:
        base = "purple"
    else:
        base = "pink"
    if base == "brown":
        return base
    if v < 0.45:
        return f"dark {base}"
    if s < 0.45 and v > 0.85:
        return f"light {base}"
    return base


def _vote(pixels: Iterable[tuple[int, int, int]]) -> str | None:
    counts = Counter(colour_name(*p) for p in pixels)
    if not counts:
        return None
    best = max(counts.values())
    return min(name for name, n in counts.items() if n == best)  # ties: alphabetical


def _dominant_colour(data: bytes, size: tuple[int, int]) -> str | None:
    try:
        from PIL import Image
    except ImportError:
        return _png_colour(data, size)
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            im.draft("RGB", (_THUMB * 4, _THUMB * 4))  # DCT scaling: decode at 1/2..1/8 size
        rgb = im.convert("RGB")
        rgb.thumbnail((_THUMB, _THUMB))
        raw = rgb.tobytes()
    return _vote((raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3))


# --- a small PNG decoder (no dependency) ----------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png_colour(data: bytes, size: tuple[int, int]) -> str | None:
    """Decode a small, 8-bit, non-interlaced PNG and vote on its pixels (None otherwise)."""
    if not data.startswith(b"\x89PNG") or size[0] * size[1] > MAX_FALLBACK_PIXELS:
        return None
    width, height = size
    depth, ctype, interlace = data[24], data[25], data[28]
    if depth != 8 or ctype not in _CHANNELS or interlace != 0:
        return None
    channels = _CHANNELS[ctype]
    idat, palette, i = bytearray(), b"", 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + length]
        if kind == b"IDAT":
            idat += body
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IEND":
            break
        i += 12 + length
    stride = width * channels
    raw = zlib.decompressobj().decompress(bytes(idat), (stride + 1) * height)
    if len(raw) < (stride + 1) * height:
        return None
    rows = _unfilter(raw, stride, height, channels)
    step_y, step_x = max(1, height // _THUMB), max(1, width // _THUMB)
    pixels = []
    for y in range(0, height, step_y):
        row = rows[y]
        for x in range(0, width, step_x):
            px = row[x * channels : (x + 1) * channels]
            if ctype == 3:
                j = 3 * px[0]
                if j + 3 > len(palette):
                    return None
                pixels.append((palette[j], palette[j + 1], palette[j + 2]))
            elif ctype in (0, 4):
                pixels.append((px[0], px[0], px[0]))
            else:
                pixels.append((px[0], px[1], px[2]))
    return _vote(pixels)


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytearray]:
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = prev[x]
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                upleft = prev[x - bpp] if x >= bpp else 0
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                line[x] = (line[x] + pred) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown PNG filter {kind}")
        rows.append(line)
        prev = line
    return rows
