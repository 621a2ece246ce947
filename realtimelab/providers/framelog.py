"""What a provider tells the event log about its wire frames: the `FrameDescriber` contract.

`realtimelab.observe.EventLog` writes one line per wire frame: a name for the frame, a short
summary, its size, and the frame itself with audio payloads cut out (a log of base64 audio is
useless to read and large). Reading a frame that closely needs the provider's dialect, so each
provider folder has a `describe.py` implementing `FrameDescriber`; the log only asks questions.

The building blocks every describer shares live here too: `AudioFormat`, the `Elided`
accumulator and `cut_audio`, which replaces one base64 payload with `"<audio N B>"` while
counting its bytes and milliseconds (and keeping the PCM when the log records WAV files).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "SUMMARY_MAX",
    "AudioFormat",
    "Elided",
    "FrameDescriber",
    "b64_decoded_len",
    "cut_audio",
    "rate_from_mime",
    "short",
]

SUMMARY_MAX = 80


@dataclasses.dataclass
class AudioFormat:
    """How to turn a payload's bytes into milliseconds."""

    rate: int
    width: int  # bytes per sample: 2 for PCM16, 1 for G.711


@dataclasses.dataclass
class Elided:
    """What was cut out of one frame: sizes for the line, PCM for the WAV recorder."""

    audio_bytes: int = 0
    audio_ms: float = 0.0
    pcm: list[tuple[bytes, int]] = dataclasses.field(default_factory=list)


def short(text: str, n: int = SUMMARY_MAX) -> str:
    """`text` on one line, cut to `n` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def b64_decoded_len(data: str) -> int:
    """Decoded size of base64 ``data`` (standard or URL-safe, padded or not) without decoding."""
    return len(data.strip().rstrip("=")) * 3 // 4


def _b64decode(data: str) -> bytes:
    s = data.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def rate_from_mime(mime: str | None, default: int) -> int:
    """``audio/pcm;rate=24000`` -> 24000; `default` when the MIME type names no rate."""
    if mime:
        for part in mime.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.strip().lower() == "rate" and v.strip().isdigit():
                return int(v.strip())
    return default


def cut_audio(data: str, fmt: AudioFormat, acc: Elided, keep_pcm: bool) -> str:
    """Account for one base64 audio payload in `acc` and return its placeholder."""
    n = b64_decoded_len(data)
    acc.audio_bytes += n
    acc.audio_ms += n / fmt.width / fmt.rate * 1000.0
    if keep_pcm and fmt.width == 2:
        with contextlib.suppress(binascii.Error, ValueError):  # not base64: no WAV, still logged
            acc.pcm.append((_b64decode(data), fmt.rate))
    return f"<audio {n} B>"


class FrameDescriber(Protocol):
    """One provider's reading of its frames, for the event log. One instance per log: a
    describer may remember what the session negotiated (OpenAI declares audio formats once)."""

    def claims(self, frame: Mapping[str, Any]) -> bool:
        """Whether `frame` is in this provider's dialect (for logs that were not told)."""
        ...

    def frame_type(self, frame: Mapping[str, Any]) -> str:
        """The name a log line uses for `frame` (`response.done`, `serverContent.modelTurn`)."""
        ...

    def elide(
        self, frame: Mapping[str, Any], direction: str, acc: Elided, keep_pcm: bool
    ) -> dict[str, Any]:
        """A copy of `frame` with every audio payload replaced through `cut_audio`.
        `direction` is "out" (client sent) or "in" (server sent)."""
        ...

    def summary(self, frame: Mapping[str, Any]) -> list[str]:
        """Short human fragments about an (elided) frame: a transcript, a tool call, an error."""
        ...

    def model(self, frame: Mapping[str, Any]) -> str | None:
        """The model a frame names, if it names one."""
        ...
