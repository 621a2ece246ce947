"""Resampling 16k↔24k and 48k→24k: × real time per core (seconds of audio per CPU second; higher
is better).

60 s of an FM tone plus noise (the reference's test signal), PCM16. 16k↔24k are the two
providers' rates; 48k→24k is a typical sound card feeding OpenAI. Variants:
* `StreamResampler (20 ms)`: realtimelab's streaming wrapper, bytes in/out, 20 ms chunks, flush.
* `soxr.ResampleStream (20 ms)`: the raw soxr stream on float32 arrays, same chunks: the floor
  for streaming, so the ratio shows what the wrapper (int16↔float32, bytes) costs.
* `soxr.resample (one-shot)`: the whole file at once, int16 in, int16 out, HQ.
* `scipy resample_poly (one-shot)`: float32 in (it returns float64 for int16 input).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from benchmarks.common import chunks, median, progress, rotated, test_tone

PAIRS = ((16000, 24000), (24000, 16000), (48000, 24000))


def _variants(in_rate: int, out_rate: int, pcm: bytes) -> dict[str, Callable[[], int]]:
    import soxr
    from scipy.signal import resample_poly

    from realtimelab.audio import StreamResampler

    parts = chunks(pcm, in_rate, 20.0)
    x16 = np.frombuffer(pcm, dtype="<i2")
    x32 = x16.astype(np.float32) / 32768.0
    f32_parts = [np.frombuffer(p, dtype="<i2").astype(np.float32) / 32768.0 for p in parts]
    ratio = Fraction(out_rate, in_rate)

    def ours() -> int:
        rs = StreamResampler(in_rate, out_rate)
        n = sum(len(rs.process(p)) for p in parts)
        return (n + len(rs.flush())) // 2

    def raw_stream() -> int:
        rs = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
        n = sum(len(rs.resample_chunk(p)) for p in f32_parts)
        return n + len(rs.resample_chunk(np.zeros(0, np.float32), last=True))

    def one_shot() -> int:
        return len(soxr.resample(x16, in_rate, out_rate, quality="HQ"))

    def scipy_poly() -> int:
        return len(resample_poly(x32, ratio.numerator, ratio.denominator))

    return {
        "StreamResampler (20 ms)": ours,
        "soxr.ResampleStream (20 ms)": raw_stream,
        "soxr.resample (one-shot)": one_shot,
        "scipy resample_poly (one-shot)": scipy_poly,
    }


def run(*, quick: bool) -> dict[str, Any]:
    seconds = 10.0 if quick else 60.0
    rounds = 3 if quick else 7
    out: dict[str, Any] = {"audio_s": seconds, "rounds": rounds, "pairs": {}}
    for in_rate, out_rate in PAIRS:
        pcm = test_tone(seconds, in_rate, seed=2)
        variants = _variants(in_rate, out_rate, pcm)
        lengths = {name: fn() for name, fn in variants.items()}  # warm-up + sanity
        expected = round(seconds * out_rate)
        for name, n in lengths.items():
            if abs(n - expected) > out_rate // 100:
                raise RuntimeError(f"{name} produced {n} samples, expected ≈{expected}")
        xrt: dict[str, list[float]] = {name: [] for name in variants}
        label = f"{in_rate // 1000}k→{out_rate // 1000}k"
        for i in range(rounds):
            progress(f"resampling {label}: round {i + 1}/{rounds}")
            for name in rotated(list(variants), i):
                t0 = time.process_time()
                variants[name]()
                xrt[name].append(seconds / max(time.process_time() - t0, 1e-9))
        ours = median(xrt["StreamResampler (20 ms)"])
        out["pairs"][label] = {
            name: {"x_realtime": median(v), "ours_over_this": ours / median(v), "runs": v}
            for name, v in xrt.items()
        }
    return out


def table(res: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["conversion", "resampler", "× real time per core (median)", "ours ÷ this"]
    rows: list[list[Any]] = []
    for label, per in res["pairs"].items():
        for name, r in per.items():
            rows.append([label, name, round(r["x_realtime"]), f"{r['ours_over_this']:.2f}"])
    return headers, rows
