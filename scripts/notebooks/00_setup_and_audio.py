# %% [markdown]
# # 00 · Setup and audio basics
#
# Realtime voice APIs move **raw PCM16** (16-bit little-endian, mono) over a WebSocket, base64
# encoded inside JSON. Nothing in the bytes says how fast they should be played: the **sample
# rate** travels separately, and the two providers disagree on it.
#
# | | input | output |
# |---|---|---|
# | OpenAI Realtime | 24 000 Hz (`audio/pcm`), or 8 kHz G.711 for phone lines | 24 000 Hz |
# | Gemini Live | 16 000 Hz natively (`audio/pcm;rate=16000`) | 24 000 Hz |
#
# This notebook shows the formats, resampling between them, and what goes wrong — audibly and
# visibly — when a rate is silently wrong. Every claim the text makes is checked by the cell
# under it: a ✓ line means it held on this run.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np

from realtimelab import lab
from realtimelab.audio import (
    GEMINI_INPUT_FORMAT,
    OPENAI_FORMAT,
    RateGuard,
    SampleRateError,
    StreamResampler,
    check_rate,
    estimate_rate,
    iter_frames,
    pcm16_to_float32,
    resample,
)

lab.banner()

# %% [markdown]
# Everything here runs on your machine: this notebook opens no session at all. The numbers
# below are the ones to keep in mind: a 20 ms frame is 960 bytes at 24 kHz and 640 at 16 kHz.

# %%
for name, f in [("OpenAI in/out", OPENAI_FORMAT), ("Gemini in", GEMINI_INPUT_FORMAT)]:
    print(f"{name:14} {f.mime:22} {f.bytes_per_ms:.0f} bytes/ms, 20 ms = {f.nbytes(20)} bytes")
lab.check(OPENAI_FORMAT.nbytes(20) == 960, "20 ms of 24 kHz PCM16 is 960 bytes")
lab.check(GEMINI_INPUT_FORMAT.nbytes(20) == 640, "20 ms of 16 kHz PCM16 is 640 bytes")

# %% [markdown]
# ## A speech sample
#
# The kit's fixtures are synthesised offline (espeak-ng), at 16 kHz and 24 kHz.

# %%
pcm16k = lab.speech("weather_paris", 16000)
fmt = GEMINI_INPUT_FORMAT
print(f"{len(pcm16k)} bytes = {fmt.duration_ms(len(pcm16k)):.0f} ms at {fmt.rate} Hz")
lab.play(pcm16k, 16000)

# %% [markdown]
# ## Resampling, in a stream
#
# A microphone delivers 20 ms chunks; a resampler must keep its filter state across chunks or
# every chunk boundary clicks. `StreamResampler` wraps `soxr.ResampleStream`: its output is the
# one-shot result, sample for sample, plus a short filter tail that only `flush()` releases at
# the end of the stream (so the lengths differ, by a few milliseconds of near-silence):

# %%
rs = StreamResampler(16000, 24000)
t0 = time.perf_counter()
chunks = [rs.process(frame) for frame in iter_frames(pcm16k, 16000, 20)]
tail = rs.flush()
elapsed = time.perf_counter() - t0
streamed = pcm16_to_float32(b"".join(chunks) + tail)
oneshot = pcm16_to_float32(resample(pcm16k, 16000, 24000))
extra = streamed[len(oneshot) :]
print(f"input {len(pcm16k) // 2} samples -> one-shot {len(oneshot)}, streamed {len(streamed)}")
print(f"speed: {fmt.duration_ms(len(pcm16k)) / 1000 / elapsed:.0f}x real time")
lab.check(
    np.array_equal(streamed[: len(oneshot)], oneshot),
    "streamed in 20 ms chunks, the audio is the one-shot audio, sample for sample",
)
lab.check(
    len(extra) <= 24000 * 0.02 and float(np.abs(extra).max(initial=0)) < 0.01,
    "the rest is the flushed filter tail: under 20 ms, and silent",
    f"{len(extra)} samples = {len(extra) / 24:.0f} ms",
)

# %% [markdown]
# The chunk sizes are bursty: soxr buffers internally and releases audio in blocks, so a
# player fed from a stream must queue what it gets rather than expect 30 ms per 20 ms in.

# %%
sizes = [len(c) // 2 for c in chunks]
print("output per 20 ms chunk (samples):", sizes[:12], "...")
lab.check(len(set(sizes)) > 1, "chunks out are not all the same size: a player must queue")

# %% [markdown]
# ## What a wrong rate sounds and looks like
#
# Send 16 kHz audio to a 24 kHz API without resampling and nothing errors: the server just plays
# it **1.5× too fast and high-pitched**, and recognition quality collapses. The opposite mistake
# plays it slow and low. Listen, then look at the spectrograms: speech energy sits below ~4 kHz
# in the correct version and is stretched upwards when mis-rated.

# %%
from IPython.display import display

print("correct (16 kHz declared as 16 kHz):")
display(lab.play(pcm16k, 16000))
print("wrong (16 kHz declared as 24 kHz): chipmunk")
display(lab.play(pcm16k, 24000))

# %%
x = pcm16_to_float32(pcm16k)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
panels = [
    (axes[0], 16000, "declared 16 kHz (correct)"),
    (axes[1], 24000, "declared 24 kHz (wrong)"),
]
centroids = {}
for ax, rate, title in panels:
    # the silent stretches have zero energy: log10(0) is -inf, drawn as the darkest colour
    with np.errstate(divide="ignore"):
        spectrum, freqs, _, _ = ax.specgram(x, NFFT=512, Fs=rate, noverlap=256, cmap="magma")
    centroids[rate] = float((spectrum.sum(axis=1) * freqs).sum() / spectrum.sum())
    ax.axhline(centroids[rate], color="white", ls="--", lw=1)
    ax.set_title(f"{title}: energy centred at {centroids[rate]:.0f} Hz", fontsize=10)
    ax.set_xlabel("seconds")
    ax.set_ylim(0, 12000)
axes[0].set_ylabel("Hz")
fig.tight_layout()
lab.show_figure(fig)
lab.check(
    abs(centroids[24000] / centroids[16000] - 1.5) < 0.01,
    "declaring 24 kHz moves every frequency up by exactly 1.5x",
)

# %% [markdown]
# ## Guarding the boundary
#
# realtimelab never lets a wrong rate through silently. At the socket boundary a **rate guard**
# compares the declared rate with what the session expects; without a resampler in the path it
# raises `SampleRateError`, naming both rates. `RateGuard` also records each finding so the event
# log can show it (notebook 05).

# %%
with lab.expect_error(SampleRateError, match="16000.*24000"):
    check_rate(16000, 24000, where="openai input")

guard = RateGuard(24000)
guard.check(24000, where="openai input")  # matching rates: nothing to say
with lab.expect_error(SampleRateError):
    guard.check(16000, where="openai input")
for f in guard.findings:
    print(f"finding: {f.declared} Hz sent, {f.expected} Hz expected ({f.where}): {f.action}")
lab.check(
    [f.action for f in guard.findings] == ["rejected"], "the guard recorded the refusal, once"
)

# %% [markdown]
# With a resampler in the path the same mismatch is fine — and still recorded, as `resampled`,
# so a log shows that a conversion happened (this is what a session does by default):

# %%
guard.check(16000, resampler=StreamResampler(16000, 24000), where="openai input")
print([f.action for f in guard.findings])
lab.check(guard.findings[-1].action == "resampled", "a bridged mismatch is recorded, not refused")

# %% [markdown]
# And when nobody declared anything? `estimate_rate` looks at where the energy of the signal sits
# — pitch and spectral centroid, in Hz at the declared rate — a heuristic for a *warning* worth
# a listen, never a reason to refuse audio:

# %%
verdicts = {declared: estimate_rate(pcm16k, declared) for declared in (16000, 24000, 8000)}
for declared, est in verdicts.items():
    print(
        f"declared {declared:>5} Hz: plausible={est.plausible!s:5} "
        f"suggested={est.suggested_rate}  ({est.explanation})"
    )
lab.check(verdicts[16000].plausible, "the true rate is judged plausible")
lab.check(not verdicts[8000].plausible, "half the true rate is flagged as implausible")
