"""The notebook panels' callbacks, exercised without a browser (the browser check is separate)."""

from __future__ import annotations

import numpy as np
import pytest

from realtimelab.vad import Segment, VadParams
from realtimelab.widgets import VadExplorer, vad_presets

RATE = 16000


def _bursts(gaps_ms: list[int], burst_ms: int = 600) -> tuple[bytes, list[Segment]]:
    """Loud harmonic bursts separated by silences of the given lengths."""
    rng = np.random.default_rng(0)
    parts: list[np.ndarray] = [np.zeros(RATE * 300 // 1000)]
    truth, pos = [], 300
    for gap in [*gaps_ms, 700]:
        n = RATE * burst_ms // 1000
        t = np.arange(n) / RATE
        burst = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 900), 1))
        parts.append(0.15 * burst + 0.01 * rng.standard_normal(n))
        truth.append(Segment(pos, pos + burst_ms))
        pos += burst_ms + gap
        parts.append(np.zeros(RATE * gap // 1000))
    x = np.concatenate(parts)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), truth


@pytest.fixture
def explorer() -> VadExplorer:
    pcm, truth = _bursts([150, 400, 800, 1500])
    return VadExplorer(pcm, RATE, truth)


def test_silence_slider_merges_and_splits_turns(explorer: VadExplorer) -> None:
    short = explorer.recompute(VadParams(silence_duration_ms=100))
    long_ = explorer.recompute(VadParams(silence_duration_ms=1000))
    assert short.score.detected_count == 5
    assert long_.score.detected_count == 2  # only the 1500 ms pause still splits


def test_slider_callback_redraws_the_plot(explorer: VadExplorer) -> None:
    pytest.importorskip("ipywidgets")
    explorer.widget()
    before = explorer.image.value
    explorer.silence.value = 1000  # fires the observer exactly as the browser would
    assert explorer.params.silence_duration_ms == 1000
    assert explorer.image.value != before
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 turns detected" in explorer.label.value


def test_gemini_preset_sets_every_slider(explorer: VadExplorer) -> None:
    pytest.importorskip("ipywidgets")
    explorer.widget()
    name = "Gemini LOW start / LOW end"
    explorer.preset.value = name
    expected = vad_presets()[name]
    assert explorer.params.threshold == pytest.approx(expected.threshold)
    assert explorer.params.silence_duration_ms == expected.silence_duration_ms
    assert explorer.params.min_speech_ms == expected.min_speech_ms
