"""Notebook conveniences: which backend each provider uses, one shared emulator, claims, playback.

Every notebook starts with `lab.banner()`, so a reader sees at once whether a cell will talk to
the local emulator or to a real provider (and never sees a key: only where it came from). The
explanation of that switch lives here, in :data:`SWITCH_NOTE`, and nowhere else.

The lessons *assert* what their prose claims, where it is claimed: :func:`check` prints a
visible ✓ line for the reader and raises :class:`ClaimFailed` when the claim is false, and
:func:`expect_error` shows an exception that a cell means to provoke, while letting any other
exception through. So a notebook that runs green is a notebook whose text is still true.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from realtimelab.events import Provider
from realtimelab.providers.registry import get, names

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

_lock = threading.Lock()
_emulator: Any = None

SWITCH_NOTE = (
    "Emulator or real provider: every session goes to the local emulator until a key is set. "
    "Set OPENAI_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY) in the shell that starts "
    "`python3 dev.py lab`, then restart the kernel: the lines above then say REAL service, and "
    "the same cells talk to it (keys are never printed, and never sent to the emulator). Real "
    "sessions cost money (notebook 07) and real models answer freely: checks that pin the "
    "emulator's own words or timings say 'not checked' there instead of failing."
)
"""The one explanation of the emulator / real-provider switch, printed by :func:`banner`."""


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

    `python3 dev.py lab` (and the test command, which runs the notebooks as the lab does) starts
    one emulator for all notebooks and exports its URL; a notebook run some other way starts a
    private one on a background thread, at real time unless `$REALTIMELAB_EMULATOR_SPEED` says
    otherwise.
    """
    url = os.environ.get("REALTIMELAB_EMULATOR_URL")
    if url:
        return url
    global _emulator
    with _lock:
        if _emulator is None:
            from realtimelab.emulator.server import EmulatorConfig, EmulatorThread

            cfg = EmulatorConfig(speed=emulator_speed() if speed is None else speed)
            _emulator = EmulatorThread(cfg)
            _emulator.start()
            atexit.register(_emulator.stop)
        return str(_emulator.url)


def backend(provider: Provider) -> Backend:
    source = key_source(provider)
    if source is not None:
        return Backend(provider, "real", None, source)
    return Backend(provider, "emulator", emulator_url())


def on_emulator(*providers: Provider) -> bool:
    """True when every one of `providers` (default: all) goes to the emulator."""
    return all(backend(p).mode == "emulator" for p in (providers or names()))


def connect_kwargs(provider: Provider) -> dict[str, Any]:
    """Keyword arguments for `realtimelab.connect`: the emulator URL unless a key is set."""
    target = backend(provider)
    return {"url": target.url} if target.mode == "emulator" else {}


def banner() -> None:
    """Print the backend of each provider, the audio status, and how to switch (one place)."""
    for provider in names():
        print(backend(provider).describe())
    print(audio_status())
    print(_wrap(SWITCH_NOTE))


def _wrap(text: str, width: int = 96) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def audio_status() -> str:
    from realtimelab.devices import device_status

    status = device_status()
    if status.available:
        return "audio: sound device found, playback is live"
    return "audio: no sound device here; answers play in the players below the cells"


def play(pcm: bytes, rate: int, *, autoplay: bool = False) -> Any:
    """Play through the speaker when one exists; always return an in-notebook player too."""
    from realtimelab.devices import BufferPlayer, device_status, open_player

    if device_status().available:
        player = open_player(rate)
        player.write(pcm)
    buffer = BufferPlayer(rate, realtime=False)
    buffer.write(pcm)
    return buffer.to_ipython(autoplay=autoplay)


_speakers: Any = None


def live_players(providers: Any = None, *, audible: Any = None) -> Any:
    """Show an in-browser speaker per provider; sessions given `player=lab.speaker(p)` play
    their answers there *as they arrive* (see `realtimelab.speakers`).

    Only the first speaker has its sound on (two answers at once talk over each other); each
    has a *sound* switch. Outside a notebook kernel with widgets this prints why and returns
    None: `lab.speaker()` then returns None and sessions play nowhere live, and the static
    players below the cells remain (they are the fallback everywhere).
    """
    global _speakers
    names_ = tuple(providers) if providers is not None else names()
    try:
        from IPython import get_ipython

        from realtimelab.speakers import Speakers

        if get_ipython() is None or not hasattr(get_ipython(), "kernel"):
            raise RuntimeError("not running in a notebook kernel")
    except Exception as e:  # no IPython, no anywidget, a plain script
        print(f"live players: not available here ({e}); the players below the cells remain")
        _speakers = None
        return None
    if _speakers is not None:
        _speakers.close()
    _speakers = Speakers(names_, audible=audible)
    from IPython.display import display

    display(_speakers)
    return _speakers


def speaker(provider: str) -> Any:
    """A live player for one session of `provider` (`connect(..., player=lab.speaker(p))`),
    or None when no speakers are shown (`live_players`)."""
    return None if _speakers is None else _speakers.player(provider)


def check_played_live(min_ms: float = 1000.0) -> None:
    """Where a browser page shows the speakers (`live_players`) and plays them, check that it
    played more than `min_ms` of each provider's answers. Elsewhere (a script, nbval, a tab
    whose sound is still waiting for a click) there is nothing to check, and nothing is said."""
    if _speakers is None:
        return
    for name, audio in _speakers.audio.items():
        if _speakers.playing(name):
            played = audio.played_ms
            check(played > min_ms, f"{name}: the page played the answers live", f"{played:.0f} ms")


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------


class ClaimFailed(AssertionError):
    """A claim a notebook makes is false: the lesson's text no longer matches what happens."""


def check(condition: object, claim: str, detail: str = "", *, emulator_only: bool = False) -> None:
    """Assert `claim` where the prose makes it: print ``✓ claim (detail)``, or raise.

    `detail` carries the measured values behind the claim, so the reader sees the evidence.
    `emulator_only`: the claim pins the emulator's deterministic words or timings; on a real
    provider it is reported as not checked instead of failing.
    """
    line = claim + (f" ({detail})" if detail else "")
    if emulator_only and not on_emulator():
        print(f"· not checked on a real provider: {line}")
        return
    if not condition:
        raise ClaimFailed(f"✗ {line}")
    print(f"✓ {line}", flush=True)


@contextmanager
def expect_error(
    exc_type: type[BaseException] | tuple[type[BaseException], ...], match: str | None = None
) -> Iterator[None]:
    """Show an exception the cell means to provoke, as one line; fail if it does not come.

    Only `exc_type` is caught (and only when its message matches the regex `match`): any other
    exception is a real failure and propagates with its traceback. When the block raises
    nothing, :class:`ClaimFailed` says which error was expected.
    """
    expected = exc_type if isinstance(exc_type, tuple) else (exc_type,)
    label = " or ".join(t.__name__ for t in expected)
    try:
        yield
    except expected as exc:
        message = str(exc)
        if match is not None and not re.search(match, message):
            raise ClaimFailed(
                f"✗ {type(exc).__name__} was raised, but its message does not match "
                f"{match!r}: {message}"
            ) from exc
        first = message.splitlines()[0] if message else ""
        print(f"✓ raised {type(exc).__name__}: {first}", flush=True)
        return
    raise ClaimFailed(f"✗ expected {label}, but nothing was raised")


@contextmanager
def timed(label: str) -> Iterator[None]:
    """Print `label … done in N s` around a block: progress for cells that take seconds."""
    print(f"{label} …", end="", flush=True)
    start = time.monotonic()
    try:
        yield
    finally:
        print(f" done in {time.monotonic() - start:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# speech and the emulator's understanding
# ---------------------------------------------------------------------------------------------


def speech(name: str, rate: int = 16000) -> bytes:
    """A speech fixture from data/speech (see data/speech/manifest.json)."""
    from realtimelab.audio import read_wav

    suffix = {16000: "16k", 24000: "24k"}.get(rate)
    if suffix is None:
        raise ValueError(f"fixtures exist at 16000 and 24000 Hz, not {rate}")
    pcm, _ = read_wav(DATA / "speech" / f"{name}_{suffix}.wav")
    return pcm


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@lru_cache(maxsize=1)
def _fixture_texts() -> dict[tuple[str, int], str]:
    """(normalised text, rate) -> fixture file name, from data/speech/manifest.json."""
    manifest = json.loads((DATA / "speech" / "manifest.json").read_text())
    return {
        (_normalise(f["text"]), int(f["rate"])): f["file"]
        for f in manifest["files"]
        if "text" in f and "rate" in f
    }


def utterance(text: str, rate: int = 16000, *, fixture: str | None = None) -> bytes:
    """Speech saying `text`: the recorded fixture whose words are exactly `text`, else `text`
    synthesised offline by the emulator's voice (deterministic).

    So editing the question in a notebook changes what is sent: a saved recording is used only
    when it says the same words. (`fixture` is accepted for older notebooks; the match is by
    text either way.)
    """
    del fixture
    name = _fixture_texts().get((_normalise(text), rate))
    if name is not None:
        from realtimelab.audio import read_wav

        pcm, _ = read_wav(DATA / "speech" / name)
        return pcm
    from realtimelab.emulator.voice import Voice

    return Voice().synthesize(text, rate=rate)


def understands(tools: Any = ()) -> str:
    """What the emulator's rule-based model understands, in its own words (deterministic).

    It is the same paragraph the emulator says when typed text matches none of its rules, so
    a learner who asks it something else gets this, not a made-up answer.
    """
    from realtimelab.emulator.brain import capabilities_text
    from realtimelab.emulator.model import ToolSpec

    specs = [
        ToolSpec(name=t.name, description=t.description, parameters=dict(t.parameters))
        for t in tools
    ]
    return capabilities_text(specs)


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
    the end of the turn. `realtime=True` paces the chunks like a microphone (at the speed of
    speech, or `pace_factor(session)` times faster against a sped-up emulator); otherwise they
    go out as fast as the socket takes them, which a server's VAD does not mind: it counts
    positions in the audio stream, not wall-clock time."""
    import asyncio

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
    (`$REALTIMELAB_EMULATOR_SPEED`, 1 unless changed) for a loopback URL, else 1."""
    from urllib.parse import urlsplit

    host = urlsplit(str(getattr(session, "url", ""))).hostname or ""
    return emulator_speed() if host in {"127.0.0.1", "localhost", "::1"} else 1.0


_extra_emulators: list[Any] = []


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


def warm_up_emulator() -> None:
    """Load the in-process speech recogniser and voice now, so that the first spoken turn of a
    notebook does not pay their one-time start-up (a cost of the emulator, not of any
    provider, that would otherwise show up as latency of whichever provider went first).
    Does nothing when both providers use the real service."""
    if all(backend(p).mode == "real" for p in names()):
        return
    from realtimelab.emulator.hearing import Hearing

    Hearing(["hello there"]).transcribe(utterance("hello there"), 16000)


def emulator_speed() -> float:
    """The pacing factor of emulators a notebook starts itself: $REALTIMELAB_EMULATOR_SPEED,
    else 1 (real time, as in the lab and in the test command)."""
    return float(os.environ.get("REALTIMELAB_EMULATOR_SPEED", "1"))


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


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


def table(
    rows: list[list[Any]] | list[tuple[Any, ...]],
    header: list[str] | tuple[str, ...],
    **kwargs: Any,
) -> Any:
    """:func:`html_table`, ready to display (an `IPython.display.HTML`)."""
    from IPython.display import HTML

    return HTML(html_table(rows, header, **kwargs))


def side_by_side(*tables: str) -> Any:
    """Display HTML tables next to each other; each column scrolls on its own and they wrap
    below each other on narrow screens, so a wide table never overlaps its neighbour."""
    from IPython.display import HTML

    column = "flex:1 1 460px;min-width:0;overflow-x:auto"
    cols = "".join(f"<div style='{column}'>{t}</div>" for t in tables)
    style = "display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap"
    return HTML(f"<div style='{style}'>{cols}</div>")


def show_figure(fig: Any) -> None:
    """Display a matplotlib figure once and close it (no duplicate, no leaked figure)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def python() -> str:
    """The kernel's interpreter, for `!{lab.python()} -m realtimelab ...` cells."""
    return sys.executable


# ---------------------------------------------------------------------------------------------
# waiting, and a browser page for a TalkPanel where there is none (notebook 10)
# ---------------------------------------------------------------------------------------------


async def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Wait until `predicate()` is true; False once `timeout` seconds have passed.

    It never raises on a timeout: the `check` after it then says which claim did not come
    true, instead of a bare `TimeoutError` that names nothing.
    """
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


class SimulatedPage:
    """What a browser page does for a `TalkPanel` (its `BrowserAudio`), done in Python.

    A notebook run without a browser (nbval, CI, a plain kernel) has no page: the panel's
    speaker and microphone are simply not there. This stands in for one, the way
    `tests/test_talk_panel.py` does: it *plays* what the kernel sends at real time and reports
    its played position like the page's AudioWorklet (at once when playback starts or stops,
    every `report_ms` while playing), honours flushes (a barge-in), and streams `mic` (PCM16 at
    `mic_rate`) as the microphone in 20 ms frames, `mic_batch` to a message, then silence (or
    the file again, `loop=True`, as Chromium's fake capture does). In push-to-talk mode it
    sends only while `held` is True (the talk button).
    Everything else is real: the panel, its session, the emulator or provider behind it.

    It takes over the widget's messages (the kernel's sends come here instead of to a front
    end), so use it only on a panel that is **not displayed**: a page showing the same panel
    would fight it for the audio. `timeline` records (seconds since start, played ms,
    playing) at every report, `flushes` (seconds since start, item, ms of that item played)
    at every flush, i.e. where the page went silent, and `mic_started` when the microphone
    opened (seconds since start). Call `close()` when done.
    """

    def __init__(
        self, panel: Any, mic: bytes = b"", mic_rate: int = 16000, *, loop: bool = False
    ) -> None:
        import asyncio
        from collections import deque

        self.audio = panel.audio
        self.loop = asyncio.get_running_loop()
        self.mic, self.mic_rate, self.loop_mic = bytes(mic), mic_rate, loop
        self.held = False  # the push-to-talk button
        self.t0 = time.monotonic()
        self.timeline: list[tuple[float, float, bool]] = []
        self.flushes: list[tuple[float, str | None, float]] = []
        self.mic_started: float | None = None
        self._queue: deque[list[Any]] = deque()  # [item, ms left to play]
        self._played = self._item_ms = self._discarded = 0.0
        self._item: str | None = None
        self._chunk_seq = -1
        self._playing = False
        self._last = self._last_report = time.monotonic()
        self._capturing = False
        self._mic_pos = self._mic_seq = self._mic_sent = 0
        self._mic_t0 = 0.0
        self.audio.comm.send = self._from_kernel
        self._task = self.loop.create_task(self._tick())

    def close(self) -> None:
        self._task.cancel()

    # kernel -> page
    def _from_kernel(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        if not isinstance(data, dict) or data.get("method") != "custom":
            return  # widget state updates: nothing to render here
        content = data["content"]
        if content["type"] == "play":
            self._advance()
            self._queue.append([content["item"], len(buffers[0]) / 2 / content["rate"] * 1000])
            self._chunk_seq = content["seq"]
        elif content["type"] == "flush":
            self._advance()
            self.flushes.append((time.monotonic() - self.t0, self._item, self._item_ms))
            dropped = sum(seg[1] for seg in self._queue)
            self._queue.clear()
            self._discarded += dropped
            state = self._state()
            self._send({"type": "flushed", "seq": content["seq"], "discarded_ms": dropped, **state})

    # page -> kernel: a loop turn later, as over a socket (never inside the kernel's own call)
    def _send(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        msg = {
            "content": {"data": {"method": "custom", "content": {"client": "sim", **content}}},
            "buffers": [memoryview(b) for b in buffers or []],
        }
        self.loop.call_soon(self.audio._handle_msg, msg)

    def _advance(self) -> None:
        now = time.monotonic()
        left, self._last = (now - self._last) * 1000.0, now
        while left > 0 and self._queue:
            seg = self._queue[0]
            if seg[0] != self._item:
                self._item, self._item_ms = seg[0], 0.0
            take = min(left, seg[1])
            seg[1] -= take
            left -= take
            self._played += take
            self._item_ms += take
            if seg[1] <= 1e-9:
                self._queue.popleft()

    def _state(self) -> dict[str, Any]:
        return {
            "played_ms": self._played,
            "playing": bool(self._queue),
            "queued_ms": sum(seg[1] for seg in self._queue),
            "item_id": self._item,
            "item_ms": self._item_ms,
            "discarded_total_ms": self._discarded,
            "gaps": 0,
            "chunk_seq": self._chunk_seq,
            "t": time.time() * 1000,
        }

    def _report(self) -> None:
        state = self._state()
        self._playing, self._last_report = state["playing"], time.monotonic()
        self.timeline.append((self._last_report - self.t0, self._played, self._playing))
        self._send({"type": "played", "latency_ms": 0.0, **state})

    async def _tick(self) -> None:
        import asyncio

        # Own the audio at once, even if a real front end has announced itself for this
        # widget's model (JupyterLab creates a model for every widget, displayed or not).
        self._send({"type": "claim"})
        self._report()
        while True:
            await asyncio.sleep(0.005)
            self._advance()
            now = time.monotonic()
            period = self.audio.report_ms / 1000 if self._queue else 1.0
            if bool(self._queue) != self._playing or now - self._last_report >= period:
                self._report()
            self._microphone(now)

    def _microphone(self, now: float) -> None:
        gate = self.audio.mic_enabled and not self.audio.muted
        if self.audio.mode == "push_to_talk":
            gate = gate and self.held
        if gate and not self._capturing:
            self._capturing, self._mic_t0, self._mic_sent = True, now, 0
            if self.mic_started is None:
                self.mic_started = now - self.t0
            self._send({"type": "capture", "capturing": True, "seq": self._mic_seq})
        elif not gate and self._capturing:
            self._capturing = False
            self._send({"type": "capture", "capturing": False, "seq": self._mic_seq})
        if not self._capturing:
            return
        frame = self.mic_rate * 2 // 50  # 20 ms
        batch = self.audio.mic_batch
        while (self._mic_sent + batch) * 0.02 <= now - self._mic_t0:
            frames, meta = [], []
            for _ in range(batch):
                if self.loop_mic and self.mic and self._mic_pos + frame > len(self.mic):
                    self._mic_pos = 0
                pcm = self.mic[self._mic_pos : self._mic_pos + frame]  # then silence
                frames.append(pcm + bytes(frame - len(pcm)))
                self._mic_pos += frame
                meta.append([self._mic_seq, time.time() * 1000])
                self._mic_seq += 1
            self._mic_sent += batch
            self._send({"type": "mic", "rate": self.mic_rate, "frames": meta}, frames)
