"""Generate the speech fixtures in data/ (the sample audio every notebook and test uses).

    .venv/bin/python scripts/make_fixtures.py            # data/speech/*, data/demo_tools.json
    .venv/bin/python scripts/make_fixtures.py --out DIR  # DIR/speech/*, DIR/demo_tools.json

Reproducible: running it again regenerates byte-identical files on the same platform (the
emulator's espeak voice is deterministic, the noise is seeded, soxr is deterministic, JSON is
written in a fixed order). Checksums are in data/speech/manifest.json and tests/test_fixtures.py
regenerates into a temporary directory and compares. It takes well under a second.

The demo tool set (data/demo_tools.json), used across notebooks and tests, is two functions with
plain JSON Schema parameters:

    get_weather(city: str)  "Get the current weather for a city."
    get_time(city: str)     "Get the local time in a city."

What is written (all PCM16 mono WAV; `<name>_16k.wav` is the `_24k` file resampled with soxr):

- speech/<name>_{16k,24k}.wav for six utterances (hello, weather_paris, time_tokyo,
  weather_and_time, story, which_voice), each with 300 ms of silence before the speech and
  700 ms after it, spoken by the emulator's default voice ("alloy").
- speech/conversation_{16k,24k}.wav + conversation.json (~15 s): eight utterances separated by
  pauses of 150, 400, 800, 1500, 250, 1000 and 600 ms. The sidecar gives the ground-truth speech
  extents, so the VAD notebook can show that a short pause merges two turns under a long
  `silence_duration_ms` and splits them under a short one.
- speech/noisy_16k.wav + noisy.json: one utterance over seeded pink noise at -37 dBFS RMS
  (speech at about -21 dBFS, so an SNR of about 16 dB).
- speech/manifest.json: every file with its text, rate, duration, size and SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout
    sys.path.insert(0, str(ROOT))

from realtimelab.audio import resample, write_wav  # noqa: E402
from realtimelab.emulator.voice import Voice  # noqa: E402

VOICE = "alloy"
RATES = (16000, 24000)
BASE_RATE = 24000
LEAD_MS = 300
TRAIL_MS = 700
NOISE_SEED = 20240917
NOISE_DBFS = -37.0
SPEECH_FLOOR_DBFS = -50.0  # 10 ms frames quieter than this count as silence when trimming

DEMO_TOOLS: list[dict[str, object]] = [
    {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
    {
        "name": "get_time",
        "description": "Get the local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Tokyo"}},
            "required": ["city"],
        },
    },
]

UTTERANCES: dict[str, str] = {
    "hello": "hello there",
    "weather_paris": "what is the weather in paris",
    "time_tokyo": "what time is it in tokyo",
    "weather_and_time": "what is the weather in paris and what time is it in tokyo",
    "story": "tell me a story",
    "which_voice": "what voice are you using",
}

CONVERSATION: list[tuple[str, int]] = [  # (text, pause after it in ms)
    ("hello there", 150),
    ("what is the weather in paris", 400),
    ("what time is it in tokyo", 800),
    ("tell me a story", 1500),
    ("what voice are you using", 250),
    ("what is the weather in london", 1000),
    ("good morning", 600),
    ("thank you", 0),
]

NOISY_TEXT = "what is the weather in paris"


@dataclass(frozen=True)
class Written:
    """One fixture file and what the manifest says about it."""

    path: Path
    text: str
    rate: int
    duration_ms: float


def _samples(pcm: bytes) -> npt.NDArray[np.int16]:
    return np.frombuffer(pcm, dtype=np.int16)


def speech_extent(pcm: bytes, rate: int) -> tuple[int, int]:
    """(first, last+1) sample of speech: the span of 10 ms frames louder than -50 dBFS."""
    x = _samples(pcm).astype(np.float64) / 32768.0
    frame = rate // 100
    n = len(x) // frame
    if n == 0:
        return 0, 0
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-10)) > SPEECH_FLOOR_DBFS)[0]
    if loud.size == 0:
        return 0, 0
    return int(loud[0]) * frame, min(len(x), (int(loud[-1]) + 1) * frame)


def _silence(ms: int, rate: int) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


def _speech(voice: Voice, text: str) -> bytes:
    """The utterance at BASE_RATE, trimmed to its speech so padding is exact."""
    pcm = voice.synthesize(text, voice=VOICE, rate=BASE_RATE)
    start, end = speech_extent(pcm, BASE_RATE)
    return pcm[2 * start : 2 * end]


def _write_both(out: Path, name: str, pcm24: bytes, text: str) -> list[Written]:
    written = []
    for rate in RATES:
        pcm = pcm24 if rate == BASE_RATE else resample(pcm24, BASE_RATE, rate)
        path = out / f"{name}_{rate // 1000}k.wav"
        write_wav(path, pcm, rate)
        written.append(Written(path, text, rate, len(pcm) / 2 / rate * 1000))
    return written


def _pink_noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Seeded 1/f noise (white noise shaped in the frequency domain), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    return pink / np.sqrt(np.mean(pink**2))


def _dbfs(x: npt.NDArray[np.float64]) -> float:
    return float(20 * np.log10(np.sqrt(np.mean((x / 32768.0) ** 2))))


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def build(out_dir: Path) -> list[Path]:
    """Write every fixture under `out_dir` (speech/ and demo_tools.json); returns the paths."""
    speech_dir = out_dir / "speech"
    speech_dir.mkdir(parents=True, exist_ok=True)
    voice = Voice()
    written: list[Written] = []

    for name, text in UTTERANCES.items():
        pcm = _silence(LEAD_MS, BASE_RATE) + _speech(voice, text) + _silence(TRAIL_MS, BASE_RATE)
        written += _write_both(speech_dir, name, pcm, text)

    # conversation: exact pauses between speech extents, ground truth in milliseconds
    parts = [_silence(LEAD_MS, BASE_RATE)]
    segments = []
    cursor = len(parts[0]) // 2
    for text, pause_ms in CONVERSATION:
        speech = _speech(voice, text)
        start = cursor
        cursor += len(speech) // 2
        segments.append(
            {
                "start_ms": round(start * 1000 / BASE_RATE, 1),
                "end_ms": round(cursor * 1000 / BASE_RATE, 1),
                "text": text,
                "pause_after_ms": pause_ms,
            }
        )
        gap = _silence(pause_ms or TRAIL_MS, BASE_RATE)
        parts += [speech, gap]
        cursor += len(gap) // 2
    conversation = b"".join(parts)
    conversation_text = " / ".join(t for t, _ in CONVERSATION)
    written += _write_both(speech_dir, "conversation", conversation, conversation_text)
    _write_json(
        speech_dir / "conversation.json",
        {
            "files": {f"{r}": f"conversation_{r // 1000}k.wav" for r in RATES},
            "voice": VOICE,
            "duration_ms": round(len(conversation) / 2 / BASE_RATE * 1000, 1),
            "segments": segments,
            "note": "segments are speech extents (10 ms frames above -50 dBFS); "
            "the same milliseconds hold for both rates",
        },
    )

    # noisy: one utterance over seeded pink noise
    rate = 16000
    speech16 = resample(_speech(voice, NOISY_TEXT), BASE_RATE, rate)
    clean = _samples(_silence(LEAD_MS, rate) + speech16 + _silence(TRAIL_MS, rate))
    clean_f = clean.astype(np.float64)
    noise = _pink_noise(clean.size, np.random.default_rng(NOISE_SEED))
    noise *= 32768.0 * 10 ** (NOISE_DBFS / 20)
    mixed = np.clip(np.round(clean_f + noise), -32768, 32767).astype("<i2").tobytes()
    noisy_path = speech_dir / "noisy_16k.wav"
    write_wav(noisy_path, mixed, rate)
    s0, s1 = speech_extent(speech16, rate)
    speech_level = _dbfs(_samples(speech16)[s0:s1].astype(np.float64))
    noise_level = _dbfs(noise)
    written.append(Written(noisy_path, NOISY_TEXT, rate, clean.size / rate * 1000))
    _write_json(
        speech_dir / "noisy.json",
        {
            "file": "noisy_16k.wav",
            "rate": rate,
            "text": NOISY_TEXT,
            "noise": "pink (1/f), seeded",
            "noise_seed": NOISE_SEED,
            "noise_dbfs": round(noise_level, 1),
            "speech_dbfs": round(speech_level, 1),
            "snr_db": round(speech_level - noise_level, 1),
            "speech_start_ms": round(LEAD_MS + s0 * 1000 / rate, 1),
            "speech_end_ms": round(LEAD_MS + s1 * 1000 / rate, 1),
        },
    )

    tools_path = out_dir / "demo_tools.json"
    _write_json(tools_path, DEMO_TOOLS)

    manifest = {
        "generator": "scripts/make_fixtures.py",
        "voice": VOICE,
        "files": [
            {
                "file": w.path.name,
                "text": w.text,
                "rate": w.rate,
                "duration_ms": round(w.duration_ms, 1),
                "bytes": w.path.stat().st_size,
                "sha256": hashlib.sha256(w.path.read_bytes()).hexdigest(),
            }
            for w in written
        ],
    }
    _write_json(speech_dir / "manifest.json", manifest)
    sidecars = [speech_dir / n for n in ("conversation.json", "noisy.json", "manifest.json")]
    return [w.path for w in written] + sidecars + [tools_path]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data", help="output directory")
    args = parser.parse_args(argv)
    paths = build(args.out)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {total / 1e6:.2f} MB, under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
