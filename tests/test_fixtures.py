"""The speech fixtures in data/: present, described truthfully, and reproducible byte for byte."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import itertools
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from realtimelab.audio import read_wav

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "data" / "speech"
NAMES = ("hello", "weather_paris", "time_tokyo", "weather_and_time", "story", "which_voice")


@functools.cache
def _script() -> ModuleType:
    """scripts/make_fixtures.py as a module (scripts/ is not a package)."""
    path = ROOT / "scripts" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _manifest() -> dict[str, dict[str, object]]:
    data = json.loads((SPEECH / "manifest.json").read_text())
    return {entry["file"]: entry for entry in data["files"]}


def test_every_expected_file_exists_and_is_small() -> None:
    expected = [f"{n}_{r}k.wav" for n in (*NAMES, "conversation") for r in (16, 24)]
    expected += ["noisy_16k.wav", "conversation.json", "noisy.json", "manifest.json"]
    for name in expected:
        assert (SPEECH / name).is_file(), name
    assert (ROOT / "data" / "demo_tools.json").is_file()
    total = sum(p.stat().st_size for p in SPEECH.iterdir())
    assert total < 3_000_000


def test_manifest_matches_the_files() -> None:
    manifest = _manifest()
    assert set(manifest) == {p.name for p in SPEECH.glob("*.wav")}
    for name, entry in manifest.items():
        raw = (SPEECH / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(raw).hexdigest(), name
        assert entry["bytes"] == len(raw)
        pcm, fmt = read_wav(SPEECH / name)
        assert fmt.rate == entry["rate"] and fmt.channels == 1
        assert len(pcm) / 2 / fmt.rate * 1000 == pytest.approx(entry["duration_ms"], abs=0.1)
    assert manifest["weather_paris_16k.wav"]["text"] == "what is the weather in paris"


def test_utterances_have_the_promised_silence_around_speech() -> None:
    script = _script()
    for name in NAMES:
        pcm, fmt = read_wav(SPEECH / f"{name}_24k.wav")
        start, end = script.speech_extent(pcm, fmt.rate)
        total = len(pcm) // 2
        assert start * 1000 / fmt.rate == pytest.approx(300, abs=10), name
        assert (total - end) * 1000 / fmt.rate == pytest.approx(700, abs=10), name


def test_conversation_ground_truth_matches_its_audio() -> None:
    meta = json.loads((SPEECH / "conversation.json").read_text())
    segments = meta["segments"]
    assert 14_000 <= meta["duration_ms"] <= 20_000
    pauses = [b["start_ms"] - a["end_ms"] for a, b in itertools.pairwise(segments)]
    assert pauses == pytest.approx([s["pause_after_ms"] for s in segments[:-1]], abs=1)
    assert {150, 400, 800, 1500} <= {round(p) for p in pauses}
    for rate in (16000, 24000):
        pcm, _ = read_wav(SPEECH / meta["files"][str(rate)])
        x = np.abs(np.frombuffer(pcm, dtype=np.int16).astype(np.int32))
        assert len(x) / rate * 1000 == pytest.approx(meta["duration_ms"], abs=1)
        for seg in segments:
            inside = x[int(seg["start_ms"] * rate / 1000) : int(seg["end_ms"] * rate / 1000)]
            assert inside.max() > 3000, seg["text"]
        for a, b in itertools.pairwise(segments):
            gap = x[int((a["end_ms"] + 15) * rate / 1000) : int((b["start_ms"] - 15) * rate / 1000)]
            assert gap.size and gap.max() < 100, (a["text"], rate)


def test_noisy_sidecar_describes_the_noise() -> None:
    meta = json.loads((SPEECH / "noisy.json").read_text())
    assert 15 <= meta["snr_db"] <= 20
    pcm, _ = read_wav(SPEECH / "noisy_16k.wav")
    head = np.frombuffer(pcm, dtype=np.int16)[: 16000 * 250 // 1000].astype(np.float64)
    level = 20 * np.log10(np.sqrt(np.mean((head / 32768) ** 2)))
    assert level == pytest.approx(meta["noise_dbfs"], abs=3)  # noise only before the speech


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    paths = _script().build(tmp_path)
    assert len(paths) == 19
    for path in paths:
        committed = ROOT / "data" / path.relative_to(tmp_path)
        assert path.read_bytes() == committed.read_bytes(), path.name
