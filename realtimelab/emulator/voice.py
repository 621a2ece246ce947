"""The emulator's voice: offline, deterministic speech synthesis with espeak-ng.

Why espeak-ng through ctypes: `espeakng-loader` ships the library and its data in a wheel, so the
emulator speaks with nothing but `pip install` (no system package, no network). The wheel has no
synthesis API, so this module drives the classic C API directly.

Determinism (same text, voice, rate and speed give the same bytes, whatever was synthesised before)
does not come for free. Measured on espeak-ng 1.52: repeating one sentence gave a different result
every call, even after `espeak_Terminate` + `espeak_Initialize` and with both random seeds reset,
because the wave generator keeps two counters in C statics (the pitch "flutter" table position and
the "roughness" cycle count). We therefore run espeak from a private data directory (symlinks to the
wheel's data) holding our own voice variants, each a copy of a stock variant plus `flutter 0` and
`roughness 8` (which disable both effects), and seed both random generators before every call.
The breath noise some variants use then repeats exactly.

espeak's classic API is global state, so one process-wide engine sits behind a lock and is created
lazily on first use. Output is PCM16 mono at 22050 Hz, resampled with soxr to the rate asked for.

Why replies stream phrase by phrase (`Voice.synthesize_stream`): a reply cannot start playing
before its first audio exists, and synthesising all of it first took 2-8 ms for a two-sentence
greeting but 35-160 ms for a 30-second story (measured on a shared 2-core machine, depending on
its load), against 1-3 ms for the first phrase of either. Each phrase is synthesised on its own,
exactly as `synthesize_segments` does, so the stream's bytes are the same; and because the
engine lock is taken per phrase, another session waiting for its own first phrase waits for at
most one phrase, not a whole story. espeak blocks while it synthesises (ctypes releases the GIL
meanwhile), so on an event loop use `synthesize_stream_async`, which synthesises in a worker
thread, one phrase ahead of the consumer.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ESPEAK_RATE = 22050
"""espeak-ng's native output rate; `espeak_Initialize` returns it."""

DEFAULT_WPM = 160
"""Words per minute at speed 1.0. Slow enough for pocketsphinx to follow (see hearing.py)."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_VARIANT_PREFIX = "rtl_"


@dataclass(frozen=True)
class VoiceProfile:
    """How one provider voice name sounds: an espeak variant plus pitch and tempo tweaks.

    `pitch` and `pitch_range` are espeak's 0..99 parameters (50 is the variant's own value);
    `tempo` scales the words-per-minute so voices differ in pace as well as timbre.
    """

    variant: str
    pitch: int = 50
    pitch_range: int = 50
    tempo: float = 1.0

    @property
    def espeak_name(self) -> str:
        """The stock espeak voice this profile is derived from, e.g. `en-us+f5`."""
        return f"en-us+{self.variant}"


# Distinct timbres that pocketsphinx still recognises well through a grammar. Measured over 10
# phrases per voice with the demo-tools grammar: f5 and m1 10/10 at every pitch tried, f2 and m4
# 9-10/10, the others 8-9/10; m3 (6-8/10) is left out. alloy, the default, gets f5.
_FEMALE = ("f5", "f2", "f3", "f1", "f4")
_MALE = ("m1", "m4", "m6", "m7", "m2")

_NAMED: dict[str, VoiceProfile] = {
    # OpenAI Realtime voices
    "alloy": VoiceProfile("f5"),
    "ash": VoiceProfile("m1", pitch=40),
    "ballad": VoiceProfile("m1", pitch=55, tempo=0.92),
    "coral": VoiceProfile("f2", pitch=55),
    "echo": VoiceProfile("m4", pitch=45),
    "sage": VoiceProfile("f3", pitch=48, tempo=0.95),
    "shimmer": VoiceProfile("f1", pitch=60, tempo=1.05),
    "verse": VoiceProfile("m6", pitch=52),
    "marin": VoiceProfile("f4", pitch=50),
    "cedar": VoiceProfile("m7", pitch=42, tempo=0.95),
    # Gemini Live voices (the eight classic names first, then the HD set)
    "puck": VoiceProfile("m1", pitch=62, tempo=1.05),
    "charon": VoiceProfile("m4", pitch=38, tempo=0.95),
    "kore": VoiceProfile("f5", pitch=45),
    "fenrir": VoiceProfile("m4", pitch=55, tempo=1.08),
    "aoede": VoiceProfile("f2", pitch=50, tempo=0.97),
    "leda": VoiceProfile("f1", pitch=65),
    "orus": VoiceProfile("m6", pitch=40),
    "zephyr": VoiceProfile("f3", pitch=58, tempo=1.04),
    "callirrhoe": VoiceProfile("f4", pitch=55, tempo=0.96),
    "autonoe": VoiceProfile("f5", pitch=58, tempo=1.02),
    "enceladus": VoiceProfile("m7", pitch=45, pitch_range=30),
    "iapetus": VoiceProfile("m2", pitch=48, tempo=1.03),
    "umbriel": VoiceProfile("m1", pitch=45, tempo=0.94),
    "algieba": VoiceProfile("m4", pitch=40, tempo=0.97),
    "despina": VoiceProfile("f2", pitch=60, tempo=1.03),
    "erinome": VoiceProfile("f3", pitch=44),
    "algenib": VoiceProfile("m2", pitch=38, pitch_range=40),
    "rasalgethi": VoiceProfile("m6", pitch=55, tempo=1.02),
    "laomedeia": VoiceProfile("f1", pitch=55, tempo=1.06),
    "achernar": VoiceProfile("f4", pitch=62, pitch_range=60),
    "alnilam": VoiceProfile("m7", pitch=55, tempo=1.04),
    "schedar": VoiceProfile("m6", pitch=58, pitch_range=35),
    "gacrux": VoiceProfile("f5", pitch=40, tempo=0.94),
    "pulcherrima": VoiceProfile("f2", pitch=45, pitch_range=70),
    "achird": VoiceProfile("m1", pitch=50, pitch_range=70),
    "zubenelgenubi": VoiceProfile("m4", pitch=62, tempo=0.96),
    "vindemiatrix": VoiceProfile("f3", pitch=62, tempo=0.97),
    "sadachbia": VoiceProfile("m6", pitch=45, tempo=1.07),
    "sadaltager": VoiceProfile("m2", pitch=55, tempo=1.02),
    "sulafat": VoiceProfile("f1", pitch=47, tempo=0.98),
}


def voice_profile(voice: str) -> VoiceProfile:
    """The profile for a provider voice name (case-insensitive).

    Unknown names get a stable profile derived from a hash of the name, so a session asking for a
    voice the emulator has never heard of still sounds the same on every run.
    """
    key = voice.strip().lower()
    if key in _NAMED:
        return _NAMED[key]
    digest = hashlib.sha256(key.encode()).digest()
    variants = _FEMALE + _MALE
    return VoiceProfile(
        variants[digest[0] % len(variants)],
        pitch=35 + digest[1] % 31,
        pitch_range=40 + digest[2] % 31,
        tempo=0.94 + (digest[3] % 13) / 100,
    )


def espeak_voice_for(voice: str) -> str:
    """The espeak voice behind a provider voice name, e.g. `alloy` -> `en-us+f5`."""
    return voice_profile(voice).espeak_name


def known_voices() -> list[str]:
    """Every provider voice name with a hand-picked profile (lowercase)."""
    return sorted(_NAMED)


# --------------------------------------------------------------------------------------------
# The process-wide espeak engine


class _Engine:
    """One initialised espeak-ng library. Not thread-safe by itself: use under `_LOCK`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise RuntimeError(
                "The emulator's voice needs the espeakng-loader wheel: pip install espeakng-loader"
            ) from exc
        self._data_dir = _private_data_dir(Path(espeakng_loader.get_data_path()))
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._libc: ctypes.CDLL | None
        try:
            self._libc = ctypes.CDLL(None)
            self._libc.srand  # noqa: B018 - probe: the breath noise uses libc rand()
        except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
            self._libc = None
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self._data_dir).encode(), 0
        )
        if rate != ESPEAK_RATE:
            raise RuntimeError(
                f"espeak_Initialize returned {rate}; expected {ESPEAK_RATE} Hz "
                f"(data directory {self._data_dir})"
            )
        self._chunks: list[bytes] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )

        def on_audio(wav: ctypes._Pointer[ctypes.c_short], n: int, _events: int) -> int:
            if n > 0:
                self._chunks.append(ctypes.string_at(wav, n * 2))
            return 0

        # keep a reference: espeak calls back into it for the lifetime of the process
        self._callback: Callable[..., int] = callback_type(on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]

    def synth(self, text: str, profile: VoiceProfile, wpm: int) -> bytes:
        """PCM16 mono at 22050 Hz for `text`."""
        name = f"en-us+{_VARIANT_PREFIX}{profile.variant}".encode()
        if self._lib.espeak_SetVoiceByName(name) != 0:
            raise RuntimeError(f"espeak-ng has no voice {name.decode()!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, profile.pitch, 0)
        self._lib.espeak_SetParameter(_PARAM_RANGE, profile.pitch_range, 0)
        self._lib.espeak_ng_SetRandSeed(1)
        if self._libc is not None:
            self._libc.srand(1)
        self._chunks = []
        data = text.encode("utf-8")
        status = self._lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self._lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r}")
        return b"".join(self._chunks)


def _private_data_dir(source: Path) -> Path:
    """A throw-away espeak data directory: the wheel's data plus our deterministic variants."""
    root = Path(tempfile.mkdtemp(prefix="realtimelab-espeak-"))
    atexit.register(shutil.rmtree, root, True)
    data = root / "espeak-ng-data"
    variants = data / "voices" / "!v"
    variants.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name != "voices":
            _link(entry, data / entry.name)
    for entry in (source / "voices").iterdir():
        if entry.name != "!v":
            _link(entry, data / "voices" / entry.name)
    for variant in {p.variant for p in _NAMED.values()} | set(_FEMALE + _MALE):
        stock = (source / "voices" / "!v" / variant).read_text(encoding="utf-8")
        (variants / f"{_VARIANT_PREFIX}{variant}").write_text(
            f"{stock}\n// realtimelab: deterministic output\nflutter 0\nroughness 8\n",
            encoding="utf-8",
        )
    return data


def _link(src: Path, dst: Path) -> None:
    try:
        os.symlink(src, dst, target_is_directory=src.is_dir())
    except OSError:  # pragma: no cover - platforms without symlinks
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def preload() -> None:
    """Start the espeak engine now (~0.1 s: loads the library, writes the variant files)."""
    with _LOCK:
        _engine()


@lru_cache(maxsize=512)
def _synthesize_cached(text: str, profile: VoiceProfile, wpm: int, rate: int) -> bytes:
    with _LOCK:
        pcm = _engine().synth(text, profile, wpm)
    if rate == ESPEAK_RATE or not pcm:
        return pcm
    import soxr

    samples = np.frombuffer(pcm, dtype=np.int16)
    out = soxr.resample(samples, ESPEAK_RATE, rate, quality="HQ")
    return np.asarray(out, dtype=np.int16).tobytes()


# --------------------------------------------------------------------------------------------
# Public API

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_CLAUSE_END = re.compile(r"(?<=,)\s+")
_WORD = re.compile(r"[\w']+")
_MAX_SEGMENT_WORDS = 14


def split_segments(text: str) -> list[str]:
    """Split a reply into sentence or phrase pieces whose concatenation is exactly `text`.

    Pieces are sentences; sentences longer than ~14 words are cut again after commas, so a long
    answer starts playing (and can be interrupted) after its first phrase.
    """
    pieces: list[str] = []
    for sentence, gap in _split_keep(text, _SENTENCE_END):
        if len(_WORD.findall(sentence)) <= _MAX_SEGMENT_WORDS:
            pieces.append(sentence + gap)
            continue
        clauses = _split_keep(sentence, _CLAUSE_END)
        for i, (clause, inner_gap) in enumerate(clauses):
            pieces.append(clause + (inner_gap if i < len(clauses) - 1 else gap))
    return [p for p in pieces if p]


def _split_keep(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append((text[pos : match.start()], match.group()))
        pos = match.end()
    out.append((text[pos:], ""))
    return out


def _check_rate_and_speed(rate: int, speed: float) -> None:
    if rate < 8000 or rate > 96000:
        raise ValueError(f"rate must be within 8000..96000 Hz, got {rate}")
    if not 0.25 <= speed <= 4.0:
        raise ValueError(f"speed must be within 0.25..4.0, got {speed}")


def estimate_duration_ms(
    text: str, *, words_per_minute: int = DEFAULT_WPM, speed: float = 1.0
) -> float:
    """Rough spoken length of `text` without synthesising it (within ~25% for espeak).

    Fitted on espeak-ng output (15 texts, 2 to 110 words): at a nominal N wpm it speaks about
    1.36 N words per minute, plus ~250 ms per sentence end and ~500 ms per comma, all of it
    scaled by `speed`.
    """
    words = len(_WORD.findall(text))
    if words == 0:
        return 0.0
    sentences = max(1, len(re.findall(r"[.!?;:]", text)))
    total = words * 60_000 / (1.36 * words_per_minute) + 250 * sentences + 500 * text.count(",")
    return total / speed


class Voice:
    """Offline text-to-speech for the emulator, PCM16 mono at any rate.

    All instances share one espeak engine (espeak is global state) and one LRU cache keyed by
    (text, voice profile, words per minute, rate), so a repeated answer costs nothing.
    `words_per_minute` sets the pace at speed 1.0; `speed` (OpenAI's `speed` session field,
    0.25..4.0) multiplies it.
    """

    def __init__(self, *, words_per_minute: int = DEFAULT_WPM) -> None:
        if not 80 <= words_per_minute <= 450:
            raise ValueError(f"words_per_minute must be within 80..450, got {words_per_minute}")
        self.words_per_minute = words_per_minute

    def synthesize(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> bytes:
        """Speak `text` with a provider voice; returns PCM16 mono bytes at `rate` Hz.

        Deterministic: the same arguments always give the same bytes, in any process.
        """
        _check_rate_and_speed(rate, speed)
        text = " ".join(text.split())
        if not text:
            return b""
        profile = voice_profile(voice)
        wpm = round(self.words_per_minute * speed * profile.tempo)
        wpm = min(450, max(80, wpm))
        return _synthesize_cached(text, profile, wpm, rate)

    def synthesize_stream(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> Iterator[tuple[str, bytes]]:
        """`synthesize_segments` one phrase at a time: (piece, audio) pairs in speaking order,
        each phrase synthesised only when the consumer asks for the next one.

        The first pair is ready after the first phrase's synthesis, not the whole reply's. The
        pieces and bytes are exactly `synthesize_segments(text, ...)`'s (deterministic, the
        pieces concatenate to `text`). Arguments are checked at once, not at the first `next`.
        Blocking: on an event loop, use `synthesize_stream_async`.
        """
        _check_rate_and_speed(rate, speed)
        return self._phrases(split_segments(text), voice, rate, speed)

    async def synthesize_stream_async(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> AsyncIterator[tuple[str, bytes]]:
        """`synthesize_stream` for an event loop: each phrase is synthesised in a worker thread,
        and the next one is started as soon as the current one is handed over, so a consumer
        that plays phrase *n* finds phrase *n + 1* ready (synthesis runs ~200x real time)."""
        phrases = self.synthesize_stream(text, voice=voice, rate=rate, speed=speed)
        ahead = asyncio.ensure_future(asyncio.to_thread(next, phrases, None))
        try:
            while (item := await ahead) is not None:
                ahead = asyncio.ensure_future(asyncio.to_thread(next, phrases, None))
                yield item
        finally:
            ahead.cancel()  # a consumer that stops early (barge-in) leaves at most one phrase

    def _phrases(
        self, pieces: list[str], voice: str, rate: int, speed: float
    ) -> Iterator[tuple[str, bytes]]:
        for piece in pieces:
            yield piece, self.synthesize(piece, voice=voice, rate=rate, speed=speed)

    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]:
        """`text` as (piece, audio) pairs in speaking order; the pieces concatenate to `text`.

        Dialects stream each piece's transcript delta next to its audio, so the transcript a
        client sees is exactly what was spoken up to that point, also when barge-in cuts it.
        """
        return [
            (piece, self.synthesize(piece, voice=voice, rate=rate, speed=speed))
            for piece in split_segments(text)
        ]

    def estimate_duration_ms(self, text: str, *, speed: float = 1.0) -> float:
        """`estimate_duration_ms` at this voice's words per minute."""
        return estimate_duration_ms(text, words_per_minute=self.words_per_minute, speed=speed)
