"""Notebook conveniences: which backend each provider uses, one shared emulator, playback.

Every notebook starts with `lab.banner()`, so a reader sees at once whether a cell will talk to
the local emulator or to a real provider (and never sees a key: only where it came from).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from realtimelab.events import Provider
from realtimelab.providers.registry import get, names

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

_lock = threading.Lock()
_emulator: Any = None


@dataclass(frozen=True)
class Backend:
    """Where a provider's sessions go. `url` is None for the real service."""

    provider: Provider
    mode: Literal["emulator", "real"]
    url: str | None
    key_source: str | None = None

    def describe(self) -> str:
        if self.mode == "real":
            return f"{self.provider}: REAL service (key from ${self.key_source})"
        return f"{self.provider}: local emulator at {self.url}"


def __getattr__(name: str) -> Any:
    # `lab.PROVIDERS` is computed on each use, so a provider registered after this module
    # was imported shows up in every notebook loop too.
    if name == "PROVIDERS":
        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Every registered provider name, in registration order. Annotated only (no value here), so
#: each lookup reaches `__getattr__` above and sees the registry as it is now.
PROVIDERS: tuple[Provider, ...]


def key_source(provider: Provider) -> str | None:
    """The environment variable holding this provider's key, if any (never the key)."""
    return next((v for v in get(provider).env_keys if os.environ.get(v)), None)


def emulator_url(*, speed: float | None = None) -> str:
    """The lab's emulator: `REALTIMELAB_EMULATOR_URL` if set, else one started in-process.

    `python3 dev.py lab` starts one emulator for all notebooks and exports its URL; a notebook
    run on its own (nbval, a plain `jupyter lab`) starts a private one on a background thread.
    """
    url = os.environ.get("REALTIMELAB_EMULATOR_URL")
    if url:
        return url
    global _emulator
    with _lock:
        if _emulator is None:
            from realtimelab.emulator.server import EmulatorConfig, EmulatorThread

            if speed is None:
                # Headless runs (nbval in CI) set a pacing factor so notebooks stay fast; in
                # the lab the emulator speaks in real time, as a real provider does.
                speed = float(os.environ.get("REALTIMELAB_EMULATOR_SPEED", "1"))
            cfg = EmulatorConfig(speed=speed)
            _emulator = EmulatorThread(cfg)
            _emulator.start()
            atexit.register(_emulator.stop)
        return str(_emulator.url)


def backend(provider: Provider) -> Backend:
    source = key_source(provider)
    if source is not None:
        return Backend(provider, "real", None, source)
    return Backend(provider, "emulator", emulator_url())


def connect_kwargs(provider: Provider) -> dict[str, Any]:
    """Keyword arguments for `realtimelab.connect`: the emulator URL unless a key is set."""
    target = backend(provider)
    return {"url": target.url} if target.mode == "emulator" else {}


def banner() -> None:
    """Print the backend of each provider and the audio device status (one line each)."""
    for provider in names():
        print(backend(provider).describe())
    print(audio_status())


def audio_status() -> str:
    from realtimelab.devices import device_status

    status = device_status()
    if status.available:
        return "audio: sound device found, playback is live"
    return f"audio: no sound device ({status.reason}); using in-notebook players instead"


def play(pcm: bytes, rate: int, *, autoplay: bool = False) -> Any:
    """Play through the speaker when one exists; always return an in-notebook player too."""
    from realtimelab.devices import BufferPlayer, device_status, open_player

    if device_status().available:
        player = open_player(rate)
        player.write(pcm)
    buffer = BufferPlayer(rate, realtime=False)
    buffer.write(pcm)
    return buffer.to_ipython(autoplay=autoplay)


def speech(name: str, rate: int = 16000) -> bytes:
    """A speech fixture from data/speech (see data/speech/manifest.json)."""
    from realtimelab.audio import read_wav

    suffix = {16000: "16k", 24000: "24k"}.get(rate)
    if suffix is None:
        raise ValueError(f"fixtures exist at 16000 and 24000 Hz, not {rate}")
    pcm, _ = read_wav(DATA / "speech" / f"{name}_{suffix}.wav")
    return pcm


@contextmanager
def quiet_errors() -> Iterator[None]:
    """Show an exception as one readable line instead of a traceback (teaching cells)."""
    try:
        yield
    except Exception as exc:  # the point is to show any error briefly
        print(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# helpers for notebooks 01, 05 and 06
# ---------------------------------------------------------------------------------------------

_extra_emulators: list[Any] = []


def utterance(text: str, rate: int = 16000, *, fixture: str | None = None) -> bytes:
    """Speech to send as a user turn: the fixture `data/speech/<fixture>_<16k|24k>.wav` when it
    exists, else `text` synthesised offline by the emulator's voice (deterministic)."""
    if fixture is not None:
        suffix = {16000: "16k", 24000: "24k"}.get(rate)
        if suffix is not None and (DATA / "speech" / f"{fixture}_{suffix}.wav").exists():
            return speech(fixture, rate)
    from realtimelab.emulator.voice import Voice

    return Voice().synthesize(text, rate=rate)


async def send_speech(
    session: Any,
    pcm: bytes,
    rate: int,
    *,
    chunk_ms: int = 20,
    silence_ms: int = 800,
    realtime: bool = False,
) -> None:
    """Stream `pcm` in `chunk_ms` pieces, then `silence_ms` of silence so the server's VAD hears
    the end of the turn. `realtime=True` paces the chunks like a microphone: at the speed of
    speech, or `pace_factor(session)` times faster against a sped-up emulator; otherwise they
    go out as fast as the socket takes them."""
    import asyncio
    import time

    step = rate * 2 * chunk_ms // 1000
    data = bytes(pcm) + bytes(rate * 2 * silence_ms // 1000)
    factor = pace_factor(session) if realtime else 0.0
    start = time.monotonic()
    for n, i in enumerate(range(0, len(data), step)):
        if factor:
            delay = start + n * chunk_ms / 1000 / factor - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await session.send_audio(data[i : i + step], rate)


def pace_factor(session: Any) -> float:
    """How much faster than real time the session's server plays: the lab emulator's speed
    (`$REALTIMELAB_EMULATOR_SPEED`, sped up in headless test runs) for a loopback URL, else 1."""
    from urllib.parse import urlsplit

    host = urlsplit(str(getattr(session, "url", ""))).hostname or ""
    return emulator_speed() if host in {"127.0.0.1", "localhost", "::1"} else 1.0


def extra_emulator(**config: Any) -> str:
    """Start another in-process emulator with its own `EmulatorConfig` fields (for example
    `latency_ms=120` to simulate a slower network) and return its URL. It runs until the
    kernel exits. `speed` defaults to the lab emulator's ($REALTIMELAB_EMULATOR_SPEED)."""
    from realtimelab.emulator.server import EmulatorConfig, EmulatorThread

    config.setdefault("speed", emulator_speed())
    thread = EmulatorThread(EmulatorConfig(**config))
    thread.start()
    atexit.register(thread.stop)
    _extra_emulators.append(thread)
    return str(thread.url)


def html_table(
    rows: list[list[Any]] | list[tuple[Any, ...]],
    header: list[str] | tuple[str, ...],
    *,
    highlight: list[bool] | None = None,
    title: str | None = None,
) -> str:
    """A small HTML table (pandas-free). `highlight[i]` shades row i. Cells are escaped."""
    from html import escape

    def cell(tag: str, value: Any) -> str:
        return f"<{tag} style='text-align:left;padding:1px 6px'>{escape(str(value))}</{tag}>"

    out = ["<table style='border-collapse:collapse;font-family:monospace;font-size:12px'>"]
    if title:
        out.append(f"<caption style='text-align:left;font-weight:bold'>{escape(title)}</caption>")
    out.append("<tr>" + "".join(cell("th", h) for h in header) + "</tr>")
    for i, row in enumerate(rows):
        shade = " style='background:#fff3c4'" if highlight and highlight[i] else ""
        out.append(f"<tr{shade}>" + "".join(cell("td", v) for v in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def side_by_side(*tables: str) -> Any:
    """Display HTML tables next to each other (wrapping on narrow screens)."""
    from IPython.display import HTML

    cols = "".join(f"<div style='flex:1;min-width:360px'>{t}</div>" for t in tables)
    style = "display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap"
    return HTML(f"<div style='{style}'>{cols}</div>")


def warm_up_emulator() -> None:
    """Load the in-process emulator's speech recogniser now, so that the first spoken turn of a
    notebook does not pay its one-time start-up (~0.5-1 s: a cost of the emulator, not of any
    provider, that would otherwise show up as latency of whichever provider went first).
    Does nothing when both providers use the real service."""
    if all(backend(p).mode == "real" for p in names()):
        return
    from realtimelab.emulator.hearing import Hearing

    Hearing(["hello there"]).transcribe(utterance("hello there"), 16000)


# ---------------------------------------------------------------------------------------------
# helpers for notebook 04
# ---------------------------------------------------------------------------------------------


def emulator_speed() -> float:
    """The pacing factor for emulators a notebook starts itself (`EmulatorThread`):
    $REALTIMELAB_EMULATOR_SPEED (headless runs set it), else 1 (real time)."""
    return float(os.environ.get("REALTIMELAB_EMULATOR_SPEED", "1"))
