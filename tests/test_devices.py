"""Tests for realtimelab.devices, without any sound hardware.

PortAudio is simulated three ways: missing (the import raises OSError, as on this machine),
present with no devices (streams raise PortAudioError), and present with a fake stream whose
callback the test drives by hand.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from realtimelab import devices
from realtimelab.audio import AudioFormat, read_wav, write_wav
from realtimelab.devices import (
    BufferPlayer,
    DeviceUnavailable,
    Microphone,
    Player,
    Speaker,
    WavMicrophone,
    device_status,
    open_player,
)

FMT24 = AudioFormat(24000)


def tone(rate: int, ms: float) -> bytes:
    n = AudioFormat(rate).nbytes(ms) // 2
    return (np.arange(n) % 200 - 100).astype("<i2").tobytes()  # distinct, non-zero samples


# ------------------------------------------------------------------------- simulated PortAudio


class _BlockSounddevice(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`import sounddevice` raises OSError('PortAudio library not found'), as it really does."""
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    finder = _BlockSounddevice()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class FakePortAudioError(Exception):
    pass


def _raise_no_device(*args: Any, **kwargs: Any) -> Any:
    raise FakePortAudioError("Error querying device -1")


@pytest.fixture
def no_devices(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A sounddevice module whose PortAudio has no devices at all."""
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = FakePortAudioError  # type: ignore[attr-defined]
    sd.RawOutputStream = _raise_no_device  # type: ignore[attr-defined]
    sd.RawInputStream = _raise_no_device  # type: ignore[attr-defined]
    sd.query_devices = _raise_no_device  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    return sd


class FakeStream:
    """Stands in for sd.RawInputStream / RawOutputStream; the test calls `callback`."""

    instances: ClassVar[list[FakeStream]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback: Callable[..., None] = kwargs["callback"]
        self.started = self.closed = False
        FakeStream.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    FakeStream.instances = []
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError = FakePortAudioError  # type: ignore[attr-defined]
    sd.RawOutputStream = FakeStream  # type: ignore[attr-defined]
    sd.RawInputStream = FakeStream  # type: ignore[attr-defined]
    sd.query_devices = lambda kind=None: {"name": "Fake Card"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    return sd


# ------------------------------------------------------------------------- unavailable devices


def test_importing_devices_does_not_import_sounddevice() -> None:
    code = "import sys, realtimelab.devices; assert 'sounddevice' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_portaudio_gives_one_actionable_error(no_portaudio: None) -> None:
    with pytest.raises(DeviceUnavailable) as info:
        Speaker()
    msg = str(info.value)
    assert "PortAudio library not found" in msg
    assert "sudo apt-get install libportaudio2" in msg and "brew install portaudio" in msg
    assert "BufferPlayer" in msg
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(DeviceUnavailable, match=r"Microphone\.from_wav"):
        Microphone()
    status = device_status()
    assert not status.available and "PortAudio library not found" in status.reason
    assert "BufferPlayer" in str(status)


def test_no_devices_gives_device_unavailable(no_devices: types.ModuleType) -> None:
    with pytest.raises(DeviceUnavailable, match="Error querying device -1") as info:
        Speaker()
    assert info.value.kind == "output" and "libportaudio2" in str(info.value)
    with pytest.raises(DeviceUnavailable, match="Error querying device -1") as info_in:
        Microphone()
    assert info_in.value.kind == "input"
    assert not device_status("input").available


def test_open_player_falls_back_to_buffer_player(no_devices: types.ModuleType) -> None:
    player = open_player(16000)
    assert isinstance(player, BufferPlayer) and player.rate == 16000
    assert isinstance(player, Player)


def test_this_machine_gets_a_working_player() -> None:
    """Whatever the real state of PortAudio here, the notebook path never crashes."""
    player = open_player()
    assert isinstance(player, Player)
    status = device_status()
    assert isinstance(player, Speaker) == status.available, str(status)
    player.close()


def test_open_player_uses_a_working_device(fake_sd: types.ModuleType) -> None:
    player = open_player()
    assert isinstance(player, Speaker)
    assert device_status().available and "Fake Card" in str(device_status())
    assert isinstance(open_player(prefer_device=False), BufferPlayer)
    player.close()


# ------------------------------------------------------------------------- BufferPlayer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_buffer_player_barge_in() -> None:
    clock = FakeClock()
    player = BufferPlayer(24000, clock=clock)
    audio = tone(24000, 1000)
    player.write(audio)
    clock.now += 0.3
    assert player.played_ms == pytest.approx(300, abs=0.1)
    assert player.flush() == pytest.approx(700, abs=0.1)
    heard = player.audio()
    assert FMT24.duration_ms(len(heard)) == pytest.approx(300, abs=0.1)
    assert heard == audio[: len(heard)]
    clock.now += 5
    assert player.played_ms == pytest.approx(300, abs=0.1)  # nothing more after the flush
    assert player.discarded_ms == pytest.approx(700, abs=0.1)


def test_buffer_player_queues_writes_back_to_back() -> None:
    clock = FakeClock()
    player = BufferPlayer(24000, clock=clock)
    player.write(tone(24000, 100))
    clock.now += 0.05
    player.write(tone(24000, 100))  # starts when the first ends, not when written
    clock.now += 0.1
    assert player.played_ms == pytest.approx(150, abs=0.1)
    assert player.pending_ms == pytest.approx(50, abs=0.1)
    clock.now += 1
    assert player.played_ms == pytest.approx(200, abs=0.1) and player.flush() == 0


def test_buffer_player_mark_counts_only_the_new_item() -> None:
    clock = FakeClock()
    player = BufferPlayer(24000, clock=clock)
    player.write(tone(24000, 200))  # item 1
    clock.now += 0.1
    player.mark()  # item 2 begins after item 1's remaining 100 ms
    player.write(tone(24000, 500))
    clock.now += 0.05
    assert player.played_ms == 0  # still playing item 1
    clock.now += 0.25
    assert player.played_ms == pytest.approx(200, abs=0.1)
    assert player.flush() == pytest.approx(300, abs=0.1)
    player.mark()
    assert player.played_ms == 0


def test_buffer_player_not_realtime_plays_everything_at_once(tmp_path: Path) -> None:
    player = BufferPlayer(16000, realtime=False)
    player.write(tone(16000, 400))
    assert player.played_ms == pytest.approx(400) and player.flush() == 0
    path = player.save(tmp_path / "out.wav")
    assert read_wav(path) == (player.audio(), AudioFormat(16000))
    audio = player.to_ipython()
    assert audio.data[:4] == b"RIFF"
    player.close()
    with pytest.raises(RuntimeError, match="closed"):
        player.write(b"\x00\x00")
    with pytest.raises(ValueError, match="got 3"):
        BufferPlayer().write(b"abc")


# ------------------------------------------------------------------------- Speaker (fake stream)


def test_speaker_jitter_buffer_flush_and_played_ms(fake_sd: types.ModuleType) -> None:
    spk = Speaker(24000)
    stream = FakeStream.instances[-1]
    assert stream.started and stream.kwargs["samplerate"] == 24000
    assert stream.kwargs["dtype"] == "int16" and stream.kwargs["blocksize"] == 480
    audio = tone(24000, 100)
    spk.write(audio)
    out = bytearray(960)
    stream.callback(out, 480, None, None)  # device pulls 20 ms
    assert bytes(out) == audio[:960] and spk.played_ms == pytest.approx(20)
    assert spk.flush() == pytest.approx(80) and spk.pending_ms == 0
    stream.callback(out, 480, None, None)  # underrun -> silence
    assert bytes(out) == bytes(960)
    spk.mark()
    spk.write(tone(24000, 10))
    stream.callback(out, 480, None, None)  # 10 ms of audio then silence
    assert bytes(out[480:]) == bytes(480) and spk.underruns == 1
    assert spk.played_ms == pytest.approx(10)
    spk.close()
    assert stream.closed
    with pytest.raises(RuntimeError, match="closed"):
        spk.write(b"\x00\x00")


# ------------------------------------------------------------------------- Microphone (fake)


async def test_microphone_delivers_frames_from_the_audio_thread(fake_sd: types.ModuleType) -> None:
    mic = Microphone(16000, frame_ms=20)
    stream = FakeStream.instances[-1]
    assert stream.kwargs["blocksize"] == 320 and not stream.started
    frames = [bytes([i]) * 640 for i in range(3)]
    async with mic:
        assert stream.started

        def audio_thread() -> None:
            for f in frames:
                stream.callback(f, 320, None, None)

        t = threading.Thread(target=audio_thread)
        t.start()
        got = [await asyncio.wait_for(mic.__anext__(), 2) for _ in frames]
        t.join()
    assert got == frames
    assert [f async for f in mic] == []  # closed: iteration ends


async def test_microphone_drops_oldest_when_consumer_lags(fake_sd: types.ModuleType) -> None:
    mic = Microphone(16000, frame_ms=20, max_queued_ms=60)  # room for 3 frames
    stream = FakeStream.instances[-1]
    async with mic:
        for i in range(5):
            stream.callback(bytes([i]) * 640, 320, None, None)
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks run
        await asyncio.sleep(0)
        mic.close()
        got = [f[0] async for f in mic]
    assert got == [2, 3, 4] and mic.dropped_frames == 2


# ------------------------------------------------------------------------- Microphone.from_wav


async def test_from_wav_yields_the_file_frames(tmp_path: Path) -> None:
    pcm = tone(16000, 110)
    path = write_wav(tmp_path / "in.wav", pcm, 16000)
    mic = Microphone.from_wav(path, frame_ms=20, realtime=False)
    assert isinstance(mic, WavMicrophone) and mic.rate == 16000
    frames = [f async for f in mic]
    assert [len(f) for f in frames] == [640] * 5 + [320]
    assert b"".join(frames) == pcm
    resampled = Microphone.from_wav(path, realtime=False, rate=24000)
    assert resampled.rate == 24000
    assert sum(len(f) for f in [f async for f in resampled]) == FMT24.nbytes(110)


async def test_from_wav_paces_in_real_time_with_speed(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "in.wav", tone(16000, 300), 16000)
    start = time.perf_counter()
    frames = [f async for f in Microphone.from_wav(path, realtime=True, speed=3.0)]
    elapsed = time.perf_counter() - start
    assert len(frames) == 15
    assert 0.095 <= elapsed < 0.5, elapsed  # 300 ms of audio at 3x = 100 ms


def test_from_wav_rejects_bad_speed(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "in.wav", tone(16000, 20), 16000)
    with pytest.raises(ValueError, match="speed"):
        devices.WavMicrophone(path, speed=0)
