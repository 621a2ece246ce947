"""Cells of notebooks/00_setup_and_audio.ipynb (built by scripts/build_notebooks.py)."""

CELLS = [
("md", r"""
# 00 · Setup and audio basics

Realtime voice APIs move **raw PCM16** (16-bit little-endian, mono) over a WebSocket, base64
encoded inside JSON. Nothing in the bytes says how fast they should be played: the **sample
rate** travels separately, and the two providers disagree on it.

| | input | output |
|---|---|---|
| OpenAI Realtime | 24 000 Hz (`audio/pcm`, rate 24000 — nothing else accepted) | 24 000 Hz |
| Gemini Live | 16 000 Hz natively (`audio/pcm;rate=16000`) | 24 000 Hz |

This notebook shows the formats, resampling between them, and what goes wrong — audibly and
visibly — when a rate is silently wrong.
"""),
("code", r"""
%matplotlib inline
import time
import numpy as np
import matplotlib.pyplot as plt
from realtimelab import lab
from realtimelab.audio import (AudioFormat, OPENAI_FORMAT, GEMINI_INPUT_FORMAT, StreamResampler,
                               resample, iter_frames, pcm16_to_float32, check_rate, RateGuard,
                               SampleRateError, estimate_rate)

lab.banner()
for name, f in [("OpenAI in/out", OPENAI_FORMAT), ("Gemini in", GEMINI_INPUT_FORMAT)]:
    print(f"{name:14} {f.mime:22} {f.bytes_per_ms:.0f} bytes/ms, 20 ms frame = {f.nbytes(20)} bytes")
"""),
("md", r"""
> **Emulator or real provider — the switch.** This notebook opens no session: it is about the
> audio you would send. Notebooks 01–06 connect with
> `connect(provider, config, **lab.connect_kwargs(provider))`, which uses the local emulator
> until `OPENAI_API_KEY` / `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) is set in the environment that
> started Jupyter. The banner above shows which backend each provider would use.
"""),
("md", r"""
## A speech sample

The kit's fixtures are synthesised offline (espeak-ng), at 16 kHz and 24 kHz.
"""),
("code", r"""
pcm16k = lab.speech("weather_paris", 16000)
fmt = GEMINI_INPUT_FORMAT
print(f"{len(pcm16k)} bytes = {fmt.duration_ms(len(pcm16k)):.0f} ms at {fmt.rate} Hz")
lab.play(pcm16k, 16000)
"""),
("md", r"""
## Resampling, in a stream

A microphone delivers 20 ms chunks; a resampler must keep its filter state across chunks or
every chunk boundary clicks. `StreamResampler` wraps `soxr.ResampleStream` and flushes the tail
at the end. Its output matches resampling the whole file at once:
"""),
("code", r"""
rs = StreamResampler(16000, 24000)
t0 = time.perf_counter()
chunks = [rs.process(frame) for frame in iter_frames(pcm16k, 16000, 20)]
streamed = b"".join(chunks) + rs.flush()
elapsed = time.perf_counter() - t0
oneshot = resample(pcm16k, 16000, 24000)
a, b = pcm16_to_float32(streamed), pcm16_to_float32(oneshot)
n = min(len(a), len(b))
print(f"{len(chunks)} chunks, {len(streamed)//2} vs {len(oneshot)//2} samples, "
      f"max difference {np.max(np.abs(a[:n] - b[:n])):.5f}")
print(f"speed: {fmt.duration_ms(len(pcm16k)) / 1000 / elapsed:.0f}x real time")
print("output per chunk (samples):", [len(c) // 2 for c in chunks[:12]], "... (bursty: soxr buffers)")
"""),
("md", r"""
## What a wrong rate sounds and looks like

Send 16 kHz audio to a 24 kHz API without resampling and nothing errors: the server just plays
it **1.5× too fast and high-pitched**, and recognition quality collapses. The opposite mistake
plays it slow and low. Listen, then look at the spectrograms: speech energy sits below ~4 kHz
in the correct version and is stretched upwards when mis-rated.
"""),
("code", r"""
print("correct (16 kHz declared as 16 kHz):"); display(lab.play(pcm16k, 16000))
print("wrong (16 kHz declared as 24 kHz): chipmunk"); display(lab.play(pcm16k, 24000))
"""),
("code", r"""
x = pcm16_to_float32(pcm16k)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
for ax, rate, title in [(axes[0], 16000, "declared 16 kHz (correct)"), (axes[1], 24000, "declared 24 kHz (wrong)")]:
    ax.specgram(x, NFFT=512, Fs=rate, noverlap=256, cmap="magma")
    ax.set_title(title); ax.set_xlabel("seconds"); ax.set_ylim(0, 12000)
axes[0].set_ylabel("Hz")
fig.tight_layout(); plt.show()
"""),
("md", r"""
## Guarding the boundary

realtimelab never lets a wrong rate through silently. At the socket boundary a **rate guard**
compares the declared rate with what the session expects; without a resampler in the path it
raises `SampleRateError`, naming both rates. `RateGuard` also records each finding so the event
log can show it (notebook 05).
"""),
("code", r"""
with lab.quiet_errors():
    check_rate(16000, 24000, where="openai input")
guard = RateGuard(24000)
guard.check(24000, where="openai input")
with lab.quiet_errors():
    guard.check(16000, where="openai input")
for finding in guard.findings:
    print(finding)
"""),
("md", r"""
And when nobody declared anything? `estimate_rate` looks at where the energy of the signal sits
relative to the declared Nyquist frequency — a heuristic, but it catches the common mistake:
"""),
("code", r"""
for declared in (16000, 24000, 8000):
    est = estimate_rate(pcm16k, declared)
    print(f"declared {declared:>5}: plausible={est.plausible!s:5}  suggested={est.suggested_rate}  {est.explanation}")
"""),
]
