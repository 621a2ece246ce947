"""Generate the barge-in microphone fixture for the TalkPanel browser test (data/talk/).

    .venv/bin/python scripts/make_talk_fixture.py            # data/talk/*
    .venv/bin/python scripts/make_talk_fixture.py --out DIR  # DIR/talk/*

What it is: one 16 kHz PCM16 mono WAV that Chromium plays as its fake microphone
(`--use-file-for-fake-audio-capture`), scripted so that a model's long answer is *playing in
the page* when the user talks over it:

    300 ms silence · "tell me a story" · 3.7 s silence · "thank you" · 6 s silence

* "tell me a story" is a phrase the emulator's brain answers at length (~25 s of speech), so
  the answer is still being heard when the second phrase starts.
* "thank you" is how the user cuts it short: a phrase the emulator's ears know (they decode
  against a grammar of what its brain can answer, see `realtimelab/emulator/hearing.py`), so
  the transcript shows it and the model answers it. "stop please" is not in that grammar:
  the ears hear the nearest phrase they know, "tell me a story", and the story starts again.
* The 3.7 s pause: the emulator's server VAD ends the question after ~0.5 s of silence and the
  first audio follows ~0.3 s later, so the answer has been audible for about 2.5 s when
  "thank you" starts: a truncation point well inside the first item, far from its start.
* The 6 s of silence after "thank you" give the reply to it time to start before the file
  loops (Chromium's fake capture plays the file again and again, so a test either stops the
  microphone after one cycle or tolerates a second "tell me a story" a cycle later).

Why 16 kHz: the rate of the existing fake-microphone fixture that the browser tests verified
against the captured frames; the page resamples to the rate the session wants.

Reproducible: the emulator's espeak voice is deterministic and nothing here is random, so
running it again rewrites byte-identical files on the same platform. The sidecar JSON gives
the speech extents (ms) and the WAV's SHA-256 (tests read the extents, not magic numbers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "scripts"):  # running as a script from a checkout
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from make_fixtures import speech_extent  # noqa: E402  (trims speech as the other fixtures)

from realtimelab.audio import resample, write_wav  # noqa: E402
from realtimelab.emulator.voice import Voice  # noqa: E402

VOICE = "alloy"
BASE_RATE = 24000
RATE = 16000
NAME = "story_then_thanks"
#: (text, silence after it in ms); LEAD_MS of silence comes first
SCRIPT: tuple[tuple[str, int], ...] = (("tell me a story", 3700), ("thank you", 6000))
LEAD_MS = 300


def _silence(ms: int, rate: int) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


def build(out_dir: Path) -> list[Path]:
    """Write the WAV and its sidecar under `out_dir`/talk; returns both paths."""
    talk = out_dir / "talk"
    talk.mkdir(parents=True, exist_ok=True)
    voice = Voice()
    parts = [_silence(LEAD_MS, RATE)]
    cursor = RATE * LEAD_MS // 1000  # samples
    segments = []
    for text, pause_ms in SCRIPT:
        pcm24 = voice.synthesize(text, voice=VOICE, rate=BASE_RATE)
        start, end = speech_extent(pcm24, BASE_RATE)
        speech = resample(pcm24[2 * start : 2 * end], BASE_RATE, RATE)
        n = len(speech) // 2
        segments.append(
            {
                "text": text,
                "start_ms": round(cursor * 1000 / RATE, 1),
                "end_ms": round((cursor + n) * 1000 / RATE, 1),
                "pause_after_ms": pause_ms,
            }
        )
        parts += [speech, _silence(pause_ms, RATE)]
        cursor += n + RATE * pause_ms // 1000
    pcm = b"".join(parts)
    wav = talk / f"{NAME}_16k.wav"
    write_wav(wav, pcm, RATE)
    meta = {
        "generator": "scripts/make_talk_fixture.py",
        "file": wav.name,
        "rate": RATE,
        "voice": VOICE,
        "duration_ms": round(len(pcm) / 2 / RATE * 1000, 1),
        "segments": segments,
        "sha256": hashlib.sha256(wav.read_bytes()).hexdigest(),
        "note": "segments are speech extents (10 ms frames above -50 dBFS); Chromium loops "
        "the file as its fake microphone",
    }
    sidecar = talk / f"{NAME}.json"
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return [wav, sidecar]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data", help="output directory")
    args = parser.parse_args(argv)
    paths = build(args.out)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
