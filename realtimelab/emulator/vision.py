"""The emulator's eyes: a picture the user showed, reduced to what a rule-based model can say.

Why this exists: OpenAI `input_image` content (a `data:` URL) and Gemini video frames used to be
accepted and then ignored, so a learner who showed the emulator a picture got an answer that
pretended nothing was there, and usage billed no image tokens. `describe_image` turns the bytes
into an `ImageInput` (type, size in bytes, width × height, dominant colour), which the brain
acknowledges deterministically ("I see a 64 by 64 image, mostly red.") and usage bills.

Decoding: PNG is decoded here with zlib and numpy (every colour type and bit depth, no
interlacing needed for the colour: an interlaced PNG is measured from its header only). JPEG
width and height come from the start-of-frame header; its pixels are decoded with Pillow when
Pillow happens to be installed (it comes with matplotlib, in the `lab` extra), else the colour
is left unknown: the emulator does not depend on an imaging library for one sentence. Anything
else (GIF, WebP, a broken file) is still an `ImageInput`, with `width=None`.

The dominant colour is the most common of a small palette of named colours after each pixel is
mapped to its nearest name (alpha-weighted; transparent pixels do not count), so a red square
on a white page is "mostly white". Same bytes, same answer.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from realtimelab.emulator.model import ImageInput

__all__ = [
    "PALETTE",
    "decode_data_url",
    "describe_image",
    "describe_pixels",
    "image_tokens",
    "spoken_description",
]

#: Named colours the emulator can say, as sRGB. Order breaks ties.
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("grey", (128, 128, 128)),
    ("red", (220, 30, 30)),
    ("green", (40, 170, 60)),
    ("blue", (30, 60, 220)),
    ("yellow", (240, 220, 40)),
    ("orange", (245, 140, 20)),
    ("purple", (130, 50, 170)),
    ("pink", (245, 150, 190)),
    ("brown", (130, 80, 40)),
    ("cyan", (40, 200, 220)),
    ("dark blue", (20, 30, 100)),
    ("dark green", (20, 80, 30)),
)
_PALETTE_RGB = np.array([rgb for _, rgb in PALETTE], dtype=np.float64)
_MAX_PIXELS = 4096 * 4096  # larger images are measured, not decoded
#: PNGs up to this many pixels are decoded here (lossless: the same pixels Pillow gives);
#: beyond it the per-byte filters would take seconds in Python, so Pillow is asked instead.
_NUMPY_PNG_PIXELS = 256 * 256
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w=.+-]+)*);base64,(.*)$", re.DOTALL)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """`data:image/png;base64,...` → (mime, bytes); None when it is not a base64 data URL."""
    m = _DATA_URL.match(url.strip())
    if m is None:
        return None
    try:
        data = base64.b64decode(m.group(3), validate=False)
    except (binascii.Error, ValueError):
        return None
    return (m.group(1) or "application/octet-stream").lower(), data


def describe_image(data: bytes, mime: str = "") -> ImageInput:
    """What the emulator sees in an encoded image (never raises for bad bytes)."""
    kind = _sniff(data) or mime
    try:
        if kind == "image/png":
            return _png(data)
        if kind == "image/jpeg":
            return _jpeg(data)
    except (ValueError, zlib.error, struct.error, IndexError, MemoryError):
        pass
    return ImageInput(mime=kind or "application/octet-stream", nbytes=len(data))


def describe_pixels(rgb: np.ndarray, alpha: np.ndarray | None = None) -> str:
    """The dominant named colour of an H×W×3 uint8 image (alpha: H×W weights in 0..1)."""
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    weights = np.ones(len(pixels)) if alpha is None else alpha.reshape(-1).astype(np.float64)
    if len(pixels) > 65536:  # a regular subsample is plenty for "mostly red"
        step = len(pixels) // 65536 + 1
        pixels, weights = pixels[::step], weights[::step]
    if not len(pixels) or weights.sum() <= 0:
        return "transparent"
    distance = ((pixels[:, None, :] - _PALETTE_RGB[None, :, :]) ** 2).sum(axis=2)
    nearest = distance.argmin(axis=1)
    votes = np.bincount(nearest, weights=weights, minlength=len(PALETTE))
    return PALETTE[int(votes.argmax())][0]


def image_tokens(image: ImageInput, detail: str = "auto") -> int:
    """Input tokens for one image, by OpenAI's published GPT-4o vision rule.

    `low`: 85 tokens. `high`/`auto`: fit within 2048×2048, scale the short side down to 768,
    then 85 + 170 per 512-pixel tile. An image the emulator could not measure counts as one
    512×512 tile (255 tokens). The Realtime models' own image tokenisation is not published;
    docs/emulator-usage.md says how sure this is.
    """
    if detail == "low":
        return 85
    if not image.width or not image.height:
        return 85 + 170
    w, h = float(image.width), float(image.height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    tiles = -(-round(w) // 512) * -(-round(h) // 512)
    return 85 + 170 * tiles


def spoken_description(images: Sequence[ImageInput]) -> str:
    """A sentence about what was shown: "I see a 64 by 64 image, mostly red." (deterministic)."""
    parts = [_one(image) for image in images]
    if not parts:
        return ""
    if len(parts) == 1:
        return f"I see {parts[0]}."
    listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"I see {len(parts)} images: {listed}."


def _one(image: ImageInput) -> str:
    if not image.width or not image.height:
        return f"an image I can't make out ({image.mime}, {_size(image.nbytes)})"
    colour = f", mostly {image.dominant_colour}" if image.dominant_colour else ""
    return f"a {image.width} by {image.height} image{colour}"


def _size(nbytes: int) -> str:
    return f"{nbytes} bytes" if nbytes < 2048 else f"{round(nbytes / 1024)} kilobytes"


def _sniff(data: bytes) -> str | None:
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# -- PNG ----------------------------------------------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png(data: bytes) -> ImageInput:
    pos = len(_PNG_MAGIC)
    header: tuple[int, ...] | None = None
    palette = b""
    transparency = b""
    idat = bytearray()
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            transparency = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour_type, _, _, interlace = header
    measured = ImageInput("image/png", len(data), width, height)
    if width * height > _MAX_PIXELS:
        return measured
    if interlace or width * height > _NUMPY_PNG_PIXELS:  # Pillow, when it is there
        colour = _pillow_colour(data)
        return (
            measured
            if colour is None
            else ImageInput("image/png", len(data), width, height, colour)
        )
    if colour_type not in _CHANNELS:
        return measured
    channels = _CHANNELS[colour_type]
    bits = depth * channels
    stride = (width * bits + 7) // 8
    raw = zlib.decompress(bytes(idat))
    rows = _unfilter(raw, height, stride, max(1, bits // 8))
    samples = _samples(rows, width, depth, channels)
    rgb, alpha = _to_rgb(samples, colour_type, depth, palette, transparency)
    return ImageInput("image/png", len(data), width, height, describe_pixels(rgb, alpha))


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    if len(raw) < height * (stride + 1):
        raise ValueError("truncated image data")
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1).astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prior) & 0xFF
        elif kind in (1, 3, 4):  # these depend on the bytes to the left: one pass per byte
            cur = line.copy()
            for x in range(stride):
                left = int(cur[x - bpp]) if x >= bpp else 0
                up = int(prior[x])
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + up) // 2
                else:
                    up_left = int(prior[x - bpp]) if x >= bpp else 0
                    p = left + up - up_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                cur[x] = (int(line[x]) + pred) & 0xFF
        else:
            raise ValueError(f"unknown filter {kind}")
        out[y] = cur
        prior = cur
    return out


def _samples(rows: np.ndarray, width: int, depth: int, channels: int) -> np.ndarray:
    """Rows of packed bytes → H×W×C integer samples at the image's bit depth."""
    height = rows.shape[0]
    if depth == 8:
        return rows[:, : width * channels].reshape(height, width, channels).astype(np.int32)
    if depth == 16:
        wide = rows[:, : width * channels * 2].reshape(height, width * channels, 2).astype(np.int32)
        return (wide[:, :, 0] << 8 | wide[:, :, 1]).reshape(height, width, channels)
    bits = np.unpackbits(rows, axis=1)[:, : width * channels * depth]
    bits = bits.reshape(height, width * channels, depth)
    weights = 1 << np.arange(depth - 1, -1, -1)
    return (bits * weights).sum(axis=2).reshape(height, width, channels).astype(np.int32)


def _to_rgb(
    samples: np.ndarray, colour_type: int, depth: int, palette: bytes, transparency: bytes
) -> tuple[np.ndarray, np.ndarray | None]:
    top = (1 << depth) - 1
    if colour_type == 3:
        table = np.frombuffer(palette, dtype=np.uint8).reshape(-1, 3)
        index = np.clip(samples[:, :, 0], 0, len(table) - 1)
        alpha_table = np.ones(len(table))
        if transparency:
            alpha_table[: len(transparency)] = (
                np.frombuffer(transparency, np.uint8)[: len(table)] / 255.0
            )
        return table[index], alpha_table[index]
    scaled = (samples * 255 // top).astype(np.uint8)
    alpha = None
    if colour_type in (4, 6):
        alpha = samples[:, :, -1] / top
        scaled = scaled[:, :, :-1]
    if scaled.shape[2] == 1:
        scaled = np.repeat(scaled, 3, axis=2)
    return scaled, alpha


# -- JPEG ---------------------------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageInput:
    width, height = _jpeg_size(data)
    colour = None
    if width * height <= _MAX_PIXELS:
        colour = _jpeg_colour(data)
    return ImageInput("image/jpeg", len(data), width, height, colour)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a marker")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise ValueError("no start-of-frame marker")


def _jpeg_colour(data: bytes) -> str | None:
    return _pillow_colour(data)


def _pillow_colour(data: bytes) -> str | None:
    """The dominant colour via Pillow, or None when Pillow is not installed or gives up."""
    try:
        from PIL import Image  # optional: see the module docstring
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (128, 128))  # JPEG: decode at a reduced scale, fast and plenty
            rgba = np.asarray(img.convert("RGBA"))
    except Exception:  # Pillow raises many kinds for a broken file
        return None
    return describe_pixels(rgba[:, :, :3], rgba[:, :, 3] / 255.0)
