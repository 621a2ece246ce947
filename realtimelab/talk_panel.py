"""Talk to a realtime model from a notebook: the browser's microphone and speaker, one panel.

    from realtimelab.widgets import TalkPanel
    panel = TalkPanel("openai")      # or "gemini"; the emulator unless a key is set
    panel                            # shows the panel: mic and speaker are in *this page*
    panel.start()                    # (or `await panel.start()`): connect, open the mic, talk

Why a panel: a realtime conversation has more moving parts than a cell can print: what the
user said (partial, then final), what the model says *and how much of it was really heard*,
who is speaking according to which VAD, the tool calls it makes, and how long each turn took
on the wire versus in the listener's ears. `TalkPanel` ties one session to one
:class:`~realtimelab.browser_audio.BrowserAudio` and shows all of that as it happens.

How the pieces connect, and why each is wired that way:

* **Speaker.** The `BrowserAudio` is the session's *player* (`connect(..., player=...)`): the
  session plays each chunk the moment it is decoded, its playout clock follows the page's own
  played-position reports, and on a barge-in it flushes the page and (where the provider needs
  it, `capabilities.truncation`) truncates the item at what the page really played. The panel
  adds nothing to that path: what is tested about the session holds here.
* **Microphone.** 20 ms PCM16 frames from the page go, in order, through one pump task to
  `session.send_audio`. The page batches frames (`mic_batch`) because every widget message
  costs the kernel ~1-2 ms of CPU whatever it carries; the pump sends a batch as one chunk for
  the same reason on the socket side. The mic rate is the provider's input rate
  (`capabilities.input_rate`) when the page can produce it, so the kernel does not resample.
* **Push-to-talk** means the *client* ends turns, so the session runs with `Vad(mode="manual")`
  where the provider has a way to end a turn by hand (`capabilities.manual_commit` or
  `manual_activity`); releasing the talk button commits the turn (and asks for a reply where
  a commit alone does not: `manual_commit` without `manual_activity`). Pressing it while the
  model is audible interrupts the model, as speaking over it does in hands-free mode. Switching
  mode on a live session updates it in place where the provider allows
  (`capabilities.session_update`), else reconnects (a new conversation).
* **Latency per turn** uses `realtimelab.metrics` on the session's events and trace points
  (no wire frames are re-read): `ttfb_ms` (wire: first audio byte after the end of the user's
  turn), `perceived_ms` (the metrics' playout model: first audible audio after the client
  VAD's end of speech) and, measured here, `page_ms`: when the *page* actually started
  playing the answer, from the browser's own report, against the same end-of-speech mark.
* **Everything a learner must be told** is one line in the panel: the page's own errors
  (microphone permission denied, no AudioContext/AudioWorklet, an insecure origin; a restarted
  kernel is shown by the page itself, since the kernel side is gone), and a session that could
  not connect or closed.

Threading: the panel lives on the loop it was created on (the kernel's). Widget messages may
arrive on a kernel *subshell* thread (JupyterLab >= 4.4 with ipykernel 7): button clicks and
trait changes coming from the page are handed to that loop before they touch any state.
`BrowserAudio` already delivers its callbacks (`on_mic`, `on_played`, ...) there.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Vad
from realtimelab.metrics import TurnMetrics, turn_metrics
from realtimelab.schema import Tool
from realtimelab.tools import ToolDispatcher, ToolRegistry

if TYPE_CHECKING:
    from realtimelab.browser_audio import BrowserAudio, PlayedReport
    from realtimelab.session import RealtimeSession

__all__ = ["DEFAULT_INSTRUCTIONS", "TalkPanel"]

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTIONS: Final = "You are a friendly voice assistant. Keep answers short."
Mode = Literal["hands_free", "push_to_talk"]
State = Literal["idle", "connecting", "live", "stopping", "stopped", "failed"]

#: The panel's widgets are redrawn at most this often: a streamed transcript brings dozens of
#: deltas a second, and every widget update is a message the kernel must send.
RENDER_S: Final = 0.15
#: A push-to-talk press shorter than this sent too little audio to be a turn (OpenAI refuses a
#: commit of less than 100 ms); the release then commits nothing.
MIN_TURN_MS: Final = 100.0
#: Lines kept for the per-turn metrics (an hour of talk is far below; the oldest go first).
MAX_METRIC_LINES: Final = 50_000
MAX_TRANSCRIPT: Final = 400
MAX_TOOL_CALLS: Final = 100
SHOWN_LINES: Final = 12  # transcript entries drawn in the panel (all are in stats())

_COMMIT: Final = "commit"
_PRESS: Final = "press"

#: Event kinds the metrics read (others are not kept: they would only cost memory).
_METRIC_KINDS: Final = frozenset(
    {
        "SessionStarted",
        "SpeechStarted",
        "SpeechStopped",
        "ResponseStarted",
        "AudioChunk",
        "TextDelta",
        "OutputTranscript",
        "ToolCall",
        "Interrupted",
        "TurnComplete",
    }
)


@dataclass
class _Entry:
    """One transcript line. Mutable: partial text grows, then the final text replaces it."""

    role: Literal["user", "assistant"]
    t: float
    item_id: str | None = None
    text: str = ""
    final: bool = False
    heard_fraction: float | None = None  # set when a barge-in cut the assistant's item

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "text": self.text, "final": self.final}
        if self.item_id is not None:
            out["item_id"] = self.item_id
        if self.heard_fraction is not None:
            out["interrupted"] = True
            out["heard_text"] = _cut(self.text, self.heard_fraction)
        return out


@dataclass
class _ToolEntry:
    call_id: str
    name: str
    arguments: str
    t: float
    outcome: str = "running"
    output: Any = None


@dataclass
class _Interruption:
    """One barge-in as the panel saw it: the session's decision and the page's own numbers."""

    t: float
    item_id: str | None
    heard_ms: float | None
    reason: str
    page_heard_ms: float | None  # the page's played position in that item at `t` (estimated)
    page_final_ms: float | None = None  # ... once the flush took effect in the page
    mono: float = 0.0  # `t` on time.monotonic(), the clock of the page's reports

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Vad:
    """Who is speaking, according to whom. `server` is None where the provider reports no
    speech events (`capabilities.speech_started_events` is False)."""

    server: str | None = None
    server_t: float | None = None
    client: str = "silent"
    client_t: float | None = None
    marks: deque[tuple[str, str, float]] = field(default_factory=lambda: deque(maxlen=6))


class TalkPanel:
    """One conversation with a realtime model, through the browser's microphone and speaker.

    ``TalkPanel(provider, config=None, *, tools=None, mode="hands_free", ...,
    **connect_kwargs)``; display it (``panel`` as a cell's last value), then ``start()``.

    * ``config``: a :class:`~realtimelab.config.SessionConfig` (default: short answers, user
      transcription on). The panel turns ``input_transcription`` on when
      ``transcribe_input`` is True (the default), since showing what the user said is half its
      point; in push-to-talk mode the VAD becomes ``Vad(mode="manual")`` (see the module
      docstring).
    * ``tools``: a :class:`~realtimelab.tools.ToolRegistry` or an iterable of ``Tool`` /
      plain functions. They are declared to the model (unless ``config.tools`` already names
      tools) and a :class:`~realtimelab.tools.ToolDispatcher` answers the calls; each call is
      shown as it happens with its outcome.
    * ``mic_batch`` (frames per page message) and ``report_ms`` (played-position report
      period) trade kernel CPU for latency: see ``docs/talk.md`` for the measured numbers.
    * ``connect_kwargs`` go to :func:`realtimelab.connect` unchanged (``url=``,
      ``api_key=``, ``model=``, ``frame_tap=``, ``query=``, ...). Without ``url`` and without
      a key in the environment, that is an in-process emulator; with a key, the real service.

    The contract tests rely on: :meth:`start` (plain or awaitable), :meth:`stop`, and
    :meth:`stats` with ``mic_ms``, ``played_ms`` and ``transcript``.
    """

    def __init__(
        self,
        provider: str,
        config: SessionConfig | None = None,
        *,
        tools: ToolRegistry | Iterable[Tool | Callable[..., Any]] | None = None,
        mode: Mode = "hands_free",
        transcribe_input: bool = True,
        mic_batch: int = 3,
        report_ms: int = 250,
        tool_timeout_s: float = 10.0,
        **connect_kwargs: Any,
    ) -> None:
        from realtimelab.browser_audio import BrowserAudio  # anywidget: only with the lab extra

        self.provider = provider
        self.registry: ToolRegistry | None = None
        if tools is not None:
            self.registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        base = config or SessionConfig(instructions=DEFAULT_INSTRUCTIONS)
        if transcribe_input and not base.input_transcription:
            base = base.replace(input_transcription=True)
        if self.registry is not None and not base.tools:
            base = base.replace(tools=self.registry.tools)
        self.config = base
        """The configuration asked for; push-to-talk derives a manual-VAD variant of it."""
        self.connect_kwargs = dict(connect_kwargs)
        self.tool_timeout_s = tool_timeout_s
        self.audio: BrowserAudio = BrowserAudio(mode=mode, mic_batch=mic_batch, report_ms=report_ms)
        """The page's speaker and microphone; also the session's player."""
        self.session: RealtimeSession | None = None
        """The live session (None before `start()` and after `stop()`)."""
        self.dispatcher: ToolDispatcher | None = None
        self.state: State = "idle"
        self.error: str = ""
        """One line: why the session is not running (connect failure, closed), else ''."""
        self.backend: str = ""
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._loop_thread = threading.get_ident()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[bool] | None = None
        self._queue: asyncio.Queue[tuple[bytes, int] | str] | None = None
        self._listeners: list[Callable[[ev.Event], Any]] = []
        self._session_config: SessionConfig = base
        self._t0 = time.monotonic()
        self._clock: Callable[[], float] = time.monotonic
        self._lines: deque[dict[str, Any]] = deque(maxlen=MAX_METRIC_LINES)
        self._transcript: deque[_Entry] = deque(maxlen=MAX_TRANSCRIPT)
        self._tool_calls: deque[_ToolEntry] = deque(maxlen=MAX_TOOL_CALLS)
        self._interruptions: list[_Interruption] = []
        self._vad = _Vad()
        self._generating = False
        self._page_starts: dict[str | None, float] = {}  # item -> when the page began it
        self._turn_rows: list[dict[str, Any]] = []
        self._metrics_dirty = False
        self._press_ms = 0.0  # audio sent during the current push-to-talk press
        self._mic_dropped_ms = 0.0
        self._sent_ms = 0.0
        self._render_handle: asyncio.TimerHandle | None = None
        self._last_event_error = ""
        self._build_widgets()
        self.audio.on_mic(self._on_mic)
        self.audio.on_capture(self._on_capture)
        self.audio.on_played(self._on_played)
        self.audio.observe(self._from_page, names=["error", "status", "mode"])
        self._render()

    # ------------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------------

    def start(self) -> asyncio.Future[bool]:
        """Open the session, then the microphone; playback follows the session's audio.

        Returns at once with an awaitable that resolves to True once the session is live (the
        microphone opens as soon as the page shows the panel), or False when it could not
        connect (the reason is in the panel and in :attr:`error`). Calling it while running
        returns the same awaitable. Call it from a notebook cell or a coroutine (it needs the
        kernel's running event loop).
        """
        loop = self._require_loop()
        if self._task is not None and not self._task.done() and self._ready is not None:
            return self._ready
        self._ready = loop.create_future()
        self.error = ""
        self._set_state("connecting")
        self._task = loop.create_task(self._run(self._ready), name="realtimelab-talk-panel")
        return self._ready

    def stop(self) -> Awaitable[None]:
        """Close the microphone and the session and silence the page. Returns an awaitable that
        completes once everything is shut down (awaiting it is optional)."""
        task = self._task
        self.audio.mic_enabled = False
        done: asyncio.Future[None] = self._require_loop().create_future()
        if task is None or task.done():
            done.set_result(None)
            return done
        if self.state in ("connecting", "live"):
            self._set_state("stopping")
        session = self.session
        if session is not None:
            task.get_loop().create_task(session.close())
        else:
            task.cancel()  # still connecting
        # the caller waits for the shutdown, never inherits the task's cancellation

        def finished(_task: asyncio.Task[None]) -> None:
            if not done.done():
                done.set_result(None)

        task.add_done_callback(finished)
        return done

    def on_event(self, callback: Callable[[ev.Event], Any], remove: bool = False) -> None:
        """Call ``callback(event)`` for every event of the session (after the panel saw it).
        A callback that raises is logged and does not stop the conversation."""
        if remove:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)
        elif callback not in self._listeners:
            self._listeners.append(callback)

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """The conversation so far: ``{"role", "text", "final"[, "item_id", "interrupted",
        "heard_text"]}`` per utterance, partials included (``final`` False), empty ones not."""
        return [e.as_dict() for e in self._transcript if e.text.strip()]

    def stats(self) -> dict[str, Any]:
        """A snapshot for tests and notebooks (milliseconds; times in seconds since the panel
        was created). ``mic_ms``: microphone audio received from the page; ``played_ms``:
        audio the page reports as played; ``transcript``: see :attr:`transcript`."""
        self._refresh_metrics()
        audio = self.audio.stats()
        return {
            "provider": self.provider,
            "state": self.state,
            "backend": self.backend,
            "error": self.error,
            "page_error": self.audio.error,
            "mic_ms": audio.mic_ms,
            "mic_sent_ms": round(self._sent_ms, 1),
            "mic_dropped_ms": round(self._mic_dropped_ms, 1),
            "mic_lag_ms": audio.mic_lag_ms,
            "played_ms": audio.played_ms,
            "sent_ms": audio.sent_ms,
            "discarded_ms": audio.discarded_ms,
            "playing": self.audio.playing,
            "transcript": self.transcript,
            "interruptions": [i.as_dict() for i in self._interruptions],
            "tool_calls": [dict(t.__dict__) for t in self._tool_calls],
            "turns": list(self._turn_rows),
            "vad": {
                "server": self._vad.server,
                "client": self._vad.client,
                "marks": list(self._vad.marks),
            },
        }

    @property
    def widget(self) -> Any:
        """The ipywidgets layout (a VBox); displaying the panel displays it."""
        return self._box

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self._box._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"TalkPanel({self.provider!r}, state={self.state!r})"

    # ------------------------------------------------------------------------------------------
    # the session's life
    # ------------------------------------------------------------------------------------------

    async def _run(self, ready: asyncio.Future[bool]) -> None:
        from realtimelab.session import connect

        self._session_config = self._config_for(self.audio.mode)
        kwargs = dict(self.connect_kwargs)
        self._clock = kwargs.get("clock", time.monotonic)
        self._t0 = self._clock()
        self._lines.clear()
        self._page_starts.clear()
        self._turn_rows = []
        try:
            async with connect(
                self.provider, self._session_config, player=self.audio, **kwargs
            ) as session:
                self.session = session
                self.backend = _backend(session.url)
                await self._live(session, ready)
        except asyncio.CancelledError:
            if not ready.done():
                ready.set_result(False)
            self._set_state("stopped")
            raise
        except Exception as e:  # connect failures and anything else: one line in the panel
            self.error = _one_line(
                f"Could not connect to {self.provider}: {e}"
                if self.session is None
                else f"The {self.provider} session failed: {type(e).__name__}: {e}"
            )
            self._set_state("failed")
            log.info("TalkPanel: %s", self.error)
        finally:
            self.audio.mic_enabled = False
            self.session = None
            self.dispatcher = None
            if not ready.done():
                ready.set_result(False)
            if self.state not in ("failed",):
                self._set_state("stopped")
            self._schedule_render()

    async def _live(self, session: RealtimeSession, ready: asyncio.Future[bool]) -> None:
        from realtimelab.browser_audio import MIC_RATES

        caps = session.capabilities
        self._vad = _Vad(server="silent" if caps.speech_started_events else None)
        session.on_trace(self._on_trace)
        rate = caps.input_rate if caps.input_rate in MIC_RATES else max(MIC_RATES)
        self.audio.mic_rate = rate
        self._queue = asyncio.Queue()
        pump = asyncio.get_running_loop().create_task(self._pump(session, self._queue))
        dispatcher = None
        if self.registry is not None:
            dispatcher = ToolDispatcher(
                session, self.registry, default_timeout_s=self.tool_timeout_s
            )
            self.dispatcher = dispatcher
        self._set_state("live")
        self.audio.mic_enabled = True
        ready.set_result(True)
        try:
            async for event in session:
                if dispatcher is not None:
                    await dispatcher.handle(event)
                self._on_event(session, event)
        finally:
            self.audio.mic_enabled = False
            self._queue = None
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
            if dispatcher is not None:
                await dispatcher.aclose()
            with contextlib.suppress(Exception):
                self.audio.flush()  # nothing of this session plays on after it

    def _config_for(self, mode: str) -> SessionConfig:
        """The session config for `mode`: push-to-talk ends turns by hand (manual VAD) on
        providers that can; otherwise the config as given."""
        from realtimelab.providers.registry import get

        config = self.config
        caps = get(self.provider).capabilities
        manual = caps.manual_commit or caps.manual_activity
        if mode == "push_to_talk" and manual and config.vad.mode != "manual":
            config = config.replace(
                vad=Vad(mode="manual", interrupt_response=config.vad.interrupt_response)
            )
        return config

    async def _pump(self, session: RealtimeSession, queue: asyncio.Queue[Any]) -> None:
        """Microphone frames to the session, in order, coalesced: everything that arrived
        since the last send goes out as one chunk (one socket frame instead of several)."""
        from realtimelab.errors import SessionClosedError

        caps = session.capabilities
        while True:
            item = await queue.get()
            batch = [item]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                pcm = bytearray()
                rate = 0
                for x in batch:
                    if isinstance(x, tuple):
                        if pcm and x[1] != rate:
                            await self._send(session, bytes(pcm), rate)
                            pcm.clear()
                        pcm += x[0]
                        rate = x[1]
                        continue
                    if pcm:
                        await self._send(session, bytes(pcm), rate)
                        pcm.clear()
                    if x == _PRESS:
                        self._press_ms = 0.0
                        if session.playout.audible(session.now()):
                            await session.interrupt()  # the user took the floor
                    elif x == _COMMIT:
                        await self._end_turn(session, caps)
                if pcm:
                    await self._send(session, bytes(pcm), rate)
            except SessionClosedError:
                return

    async def _send(self, session: RealtimeSession, pcm: bytes, rate: int) -> None:
        await session.send_audio(pcm, rate)
        ms = len(pcm) / 2 / rate * 1000.0
        self._sent_ms += ms
        self._press_ms += ms

    async def _end_turn(self, session: RealtimeSession, caps: Any) -> None:
        """A push-to-talk release: commit where the provider ends turns by hand, and ask for
        the reply where a commit alone does not start one."""
        if self._press_ms < MIN_TURN_MS or self._session_config.vad.mode != "manual":
            return
        await session.commit()
        if caps.manual_commit and not caps.manual_activity:
            await session.create_response()

    async def _apply_mode(self, mode: str) -> None:
        """The page switched hands-free / push-to-talk: change the session's VAD to match."""
        session = self.session
        wanted = self._config_for(mode)
        if session is None or wanted.vad == self._session_config.vad:
            return
        if session.capabilities.session_update:
            await session.update(wanted)
            self._session_config = wanted
            return
        # no in-place update: a new connection with the new turn handling
        await self.stop()
        await self.start()

    # ------------------------------------------------------------------------------------------
    # from the page
    # ------------------------------------------------------------------------------------------

    def _on_mic(self, pcm: bytes, rate: int) -> None:
        queue = self._queue
        if queue is None or self.state != "live":
            self._mic_dropped_ms += len(pcm) / 2 / rate * 1000.0
            return
        queue.put_nowait((pcm, rate))

    def _on_capture(self, capturing: bool) -> None:
        queue = self._queue
        if queue is None or self.audio.mode != "push_to_talk":
            return
        queue.put_nowait(_PRESS if capturing else _COMMIT)
        if capturing:
            self._user_turn(None, self._clock())
        self._schedule_render()

    def _on_played(self, played_ms: float, t: float) -> None:
        report = self.audio.last_report
        if report is None:
            return
        now = self._clock()
        item = report.item_id
        if report.item_played_ms > 0 and item not in self._page_starts:
            # the page reports at once when playback starts: back-date by what it played
            self._page_starts[item] = now - report.item_played_ms / 1000.0
            self._metrics_dirty = True
        self._settle_cuts(report)
        self._schedule_render()

    def _settle_cuts(self, report: PlayedReport) -> None:
        """The first idle report after a barge-in: where the page's flush left the item."""
        for cut in self._interruptions:
            if (
                cut.page_final_ms is None
                and not report.playing
                and cut.item_id == report.item_id
                and report.t >= cut.mono
            ):
                cut.page_final_ms = report.item_played_ms

    def _from_page(self, change: Mapping[str, Any]) -> None:
        """A trait the page wrote (maybe on a subshell thread): handled on the loop."""
        self._call_on_loop(self._page_changed, str(change["name"]), change["new"])

    def _page_changed(self, name: str, value: Any) -> None:
        if name == "mode" and self.state == "live":
            self._require_loop().create_task(self._apply_mode(str(value)))
        self._schedule_render()

    # ------------------------------------------------------------------------------------------
    # from the session
    # ------------------------------------------------------------------------------------------

    def _on_trace(self, kind: str, t: float, fields: dict[str, Any]) -> None:
        if kind == "audio_sent":
            return  # one per frame: nothing the panel or the metrics need
        self._lines.append(
            {
                "t_ms": (t - self._t0) * 1000.0,
                "dir": "trace",
                "provider": self.provider,
                "type": kind,
                **fields,
            }
        )
        if kind in ("speech_start", "speech_end"):
            self._vad.client = "speaking" if kind == "speech_start" else "silent"
            self._vad.client_t = t
            self._vad.marks.append(("client", kind.removeprefix("speech_"), self._rel(t)))
            if kind == "speech_start" and self._vad.server is None:
                self._user_turn(None, t)  # the only sign of speech on this provider
        self._metrics_dirty = True
        self._schedule_render()

    def _on_event(self, session: RealtimeSession, event: ev.Event) -> None:
        kind = event.kind
        if kind in _METRIC_KINDS:
            line: dict[str, Any] = {
                "t_ms": (event.t - self._t0) * 1000.0,
                "dir": "event",
                "provider": event.provider,
                "type": kind,
            }
            if isinstance(event, ev.AudioChunk):
                line["audio_ms"] = event.duration_ms
            elif isinstance(event, ev.TurnComplete):
                line["status"] = event.status
                line["reason"] = event.reason
            elif isinstance(event, ev.SessionStarted) and event.model:
                line["model"] = event.model
            self._lines.append(line)
        if isinstance(event, ev.AudioChunk):
            pass  # the session already gave it to the page; the hot path stops here
        elif isinstance(event, ev.SpeechStarted):
            self._vad.server, self._vad.server_t = "speaking", event.t
            self._vad.marks.append(("server", "start", self._rel(event.t)))
            self._user_turn(event.item_id, event.t)
        elif isinstance(event, ev.SpeechStopped):
            self._vad.server, self._vad.server_t = "silent", event.t
            self._vad.marks.append(("server", "end", self._rel(event.t)))
        elif isinstance(event, ev.InputTranscript):
            self._user_text(event)
        elif isinstance(event, ev.OutputTranscript | ev.TextDelta):
            self._assistant_text(event)
        elif isinstance(event, ev.ResponseStarted):
            self._generating = True
        elif isinstance(event, ev.GenerationComplete):
            self._generating = False
        elif isinstance(event, ev.ToolCall):
            self._tool_calls.append(
                _ToolEntry(event.call_id, event.name, event.arguments_json, self._rel(event.t))
            )
        elif isinstance(event, ev.Interrupted):
            self._interrupted(session, event)
        elif isinstance(event, ev.TurnComplete):
            self._generating = False
            for entry in self._transcript:
                entry.final = entry.final or entry.role == "assistant"
        elif isinstance(event, ev.Error):
            self._last_event_error = _one_line(
                f"{self.provider} error: {event.message}"
                + (f" [{event.code}]" if event.code else "")
            )
            if event.fatal:
                self.error = self._last_event_error
        elif isinstance(event, ev.Closed) and not event.expected:
            self.error = _one_line(
                f"The {self.provider} session closed (code {event.code}): {event.reason or '-'}"
            )
        if kind in ("TurnComplete", "Interrupted", "SpeechStopped", "ToolCall"):
            self._metrics_dirty = True
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("TalkPanel on_event callback %r failed", listener)
        if kind != "AudioChunk":
            self._schedule_render()

    def _interrupted(self, session: RealtimeSession, event: ev.Interrupted) -> None:
        # The session has flushed its player (this panel's page) already; a second flush
        # costs one message and drops nothing of a later reply, and keeps the page silent
        # whatever player the session was given.
        self.audio.flush()
        report = self.audio.last_report
        # the barge-in's moment on the reports' clock (the session's, unless a test gave one)
        at = event.t if self._clock is time.monotonic else time.monotonic()
        page: float | None = None
        if report is not None and report.item_id == event.item_id:
            page = report.item_played_ms
            if report.playing:  # between reports the page plays on at real time
                page = max(0.0, page + (at - report.t) * 1000.0)
        self._interruptions.append(
            _Interruption(
                self._rel(event.t), event.item_id, event.heard_ms, event.reason, page, mono=at
            )
        )
        if report is not None:
            # the page may have answered the session's own flush before this event got here
            self._settle_cuts(report)
        received = session.playout.item_received_ms(event.item_id)
        for entry in self._transcript:
            if entry.role == "assistant" and entry.item_id == event.item_id:
                heard = event.heard_ms or 0.0
                entry.heard_fraction = min(1.0, heard / received) if received else 0.0

    # ------------------------------------------------------------------------------------------
    # transcript
    # ------------------------------------------------------------------------------------------

    def _user_turn(self, item_id: str | None, t: float) -> None:
        """The user started speaking: an entry waits for the transcript, placed before the
        answer it will get (transcription arrives after the model started answering)."""
        last = next((e for e in reversed(self._transcript) if e.role == "user"), None)
        if last is not None and not last.final and not last.text:
            last.item_id = last.item_id or item_id
            return
        self._transcript.append(_Entry("user", self._rel(t), item_id))

    def _user_text(self, event: ev.InputTranscript) -> None:
        entry = next(
            (
                e
                for e in self._transcript
                if e.role == "user" and not e.final and event.item_id and e.item_id == event.item_id
            ),
            None,
        ) or next((e for e in self._transcript if e.role == "user" and not e.final), None)
        if entry is None:
            entry = _Entry("user", self._rel(event.t), event.item_id)
            self._transcript.append(entry)
        if event.final:
            entry.text, entry.final = event.text, True
        else:
            entry.text += event.text

    def _assistant_text(self, event: ev.OutputTranscript | ev.TextDelta) -> None:
        item = event.item_id
        entry = next(
            (e for e in reversed(self._transcript) if e.role == "assistant" and e.item_id == item),
            None,
        )
        if entry is None or (entry.final and item is None):
            entry = _Entry("assistant", self._rel(event.t), item)
            self._transcript.append(entry)
        if isinstance(event, ev.OutputTranscript) and event.final:
            entry.text, entry.final = event.text, True
        else:
            entry.text += event.text

    # ------------------------------------------------------------------------------------------
    # latency per turn
    # ------------------------------------------------------------------------------------------

    def _refresh_metrics(self) -> None:
        if not self._metrics_dirty:
            return
        self._metrics_dirty = False
        metrics = turn_metrics(list(self._lines))
        starts = sorted((t - self._t0) * 1000.0 for t in self._page_starts.values())
        rows = []
        for i, m in enumerate(metrics):
            page = _page_start(m, metrics[i + 1] if i + 1 < len(metrics) else None, starts)
            anchor = m.user_speech_end_ms
            if m.user_input == "speech" and m.perceived_ms is not None:
                # the perceived mark: the client VAD's end of speech, as `perceived_ms` uses
                assert m.audible_first_ms is not None
                anchor = m.audible_first_ms - m.perceived_ms
            rows.append(_row(m, page, anchor))
        self._turn_rows = rows

    # ------------------------------------------------------------------------------------------
    # widgets
    # ------------------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        import ipywidgets as w

        self._title = w.HTML()
        small = w.Layout(width="90px")
        self._start_btn = w.Button(
            description="Start", icon="play", button_style="success", layout=small
        )
        self._stop_btn = w.Button(description="Stop", icon="stop", layout=small)
        self._start_btn.on_click(lambda _b: self._call_on_loop(self.start))
        self._stop_btn.on_click(lambda _b: self._call_on_loop(self.stop))
        self._error = w.HTML()
        self._error.add_class("rtl-talk-error")
        self._vad_line = w.HTML()
        self._transcript_box = w.HTML()
        self._tools_box = w.HTML()
        self._latency_box = w.HTML()
        header = w.HBox([self._title, self._start_btn, self._stop_btn])
        self._box = w.VBox(
            [
                header,
                self._error,
                self.audio,
                self._vad_line,
                self._transcript_box,
                self._tools_box,
                self._latency_box,
            ],
            layout=w.Layout(border="1px solid #ddd", padding="6px", max_width="900px"),
        )
        self._box.add_class("rtl-talk")

    def _schedule_render(self) -> None:
        """Redraw soon, at most every RENDER_S (coalescing bursts of events)."""
        loop = self._loop
        if loop is None or self._render_handle is not None:
            return
        try:
            self._render_handle = loop.call_later(RENDER_S, self._render)
        except RuntimeError:  # the loop is closed: nothing left to show
            self._render_handle = None

    def _render(self) -> None:
        self._render_handle = None
        self._refresh_metrics()
        state = {
            "idle": "not started",
            "connecting": "connecting…",
            "live": "live",
            "stopping": "stopping…",
            "stopped": "stopped",
            "failed": "failed",
        }[self.state]
        where = f" · {html.escape(self.backend)}" if self.backend else ""
        mode = "push-to-talk" if self.audio.mode == "push_to_talk" else "hands-free"
        _set(
            self._title,
            f"<b>{html.escape(self.provider)}</b>{where} · session <b>{state}</b> · {mode}",
        )
        self._start_btn.disabled = self.state in ("connecting", "live", "stopping")
        self._stop_btn.disabled = self.state not in ("connecting", "live")
        problem = self._problem()
        _set(
            self._error,
            f'<span style="color:#b00020">⚠ {html.escape(problem)}</span>' if problem else "",
        )
        _set(self._vad_line, self._vad_html())
        _set(self._transcript_box, self._transcript_html())
        _set(self._tools_box, self._tools_html())
        _set(self._latency_box, self._latency_html())

    def _problem(self) -> str:
        """The one line that matters most: the page's (it blocks audio), then the session's."""
        page = self.audio.error
        if page:
            return f"Browser: {page}"
        if self.error:
            return self.error
        if self.state == "live" and self._last_event_error:
            return self._last_event_error
        return ""

    def _vad_html(self) -> str:
        v = self._vad
        parts = []
        if self.state == "live" or v.marks:
            if v.server is None:
                parts.append("server VAD: <i>no speech events on this provider</i>")
            else:
                parts.append(f"server VAD: {_badge(v.server)}")
            parts.append(f"client VAD: {_badge(v.client)}")
            if self.audio.playing:
                heard = self.audio.item_played_ms / 1000.0
                parts.append(f"model: {_badge('speaking')} (heard {heard:.1f} s in the page)")
            elif self._generating:
                parts.append("model: generating…")
            else:
                parts.append("model: idle")
        marks = " ".join(
            f"{'▶' if what == 'start' else '■'}{who[0]} {t:.1f}s" for who, what, t in v.marks
        )
        line = " · ".join(parts)
        if marks:
            line += f' <span style="color:#777">({marks})</span>'
        return line

    def _transcript_html(self) -> str:
        entries = [e for e in self._transcript if e.text or not e.final][-SHOWN_LINES:]
        if not entries:
            return '<div style="color:#777">(the conversation will appear here)</div>'
        rows = []
        for e in entries:
            who = "you" if e.role == "user" else "model"
            color = "#1f4e9c" if e.role == "user" else "#1b6e3a"
            text = html.escape(e.text) if e.text else "…"
            if e.heard_fraction is not None:
                heard = _cut(e.text, e.heard_fraction)
                rest = e.text[len(heard) :]
                text = (
                    f"{html.escape(heard)}<s style='color:#999'>{html.escape(rest)}</s>"
                    " <b style='color:#b00020'>[interrupted]</b>"
                )
            elif not e.final:
                text = f"<i>{text}</i>"
            rows.append(f'<div><b style="color:{color}">{who}:</b> {text}</div>')
        return '<div style="max-height:16em;overflow-y:auto">' + "".join(rows) + "</div>"

    def _tools_html(self) -> str:
        if not self._tool_calls:
            return ""
        records = self.dispatcher.records if self.dispatcher is not None else []
        outcome = {r.call_id: (r.kind, r.output) for r in records}
        rows = []
        for call in list(self._tool_calls)[-5:]:
            if call.call_id in outcome:
                call.outcome, call.output = outcome[call.call_id]
            elif self.dispatcher is None:
                call.outcome = "not handled (no tools= given)"
            out = "" if call.output is None else f" → {html.escape(_short(repr(call.output)))}"
            rows.append(
                f"<div><b>tool</b> {call.t:.1f}s <code>{html.escape(call.name)}"
                f"({html.escape(_short(call.arguments))})</code> "
                f"<i>{html.escape(call.outcome)}</i>{out}</div>"
            )
        return "".join(rows)

    def _latency_html(self) -> str:
        if not self._turn_rows:
            return ""
        tips = (
            ("turn", ""),
            ("input", "speech, text or commit (push-to-talk)"),
            (
                "ttfb (wire)",
                "end of your turn (the server's end of speech, or your commit) → "
                "first audio byte received",
            ),
            (
                "perceived (model)",
                "end of your speech (client VAD) → first audio, as the playout model places it",
            ),
            (
                "heard in page",
                "end of your speech (client VAD) → the page started playing the "
                "answer (its own report)",
            ),
            ("interrupted", "your speech started over the model → playback stopped"),
            ("tools", "tool calls in the turn"),
        )
        head = "<tr>" + "".join(f'<th title="{html.escape(t)}">{h}</th>' for h, t in tips)
        head += "</tr>"
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(_fmt(r.get(k)))}</td>"
                for k in ("turn", "input", "ttfb_ms", "perceived_ms", "page_ms", "interrupt_ms")
            )
            + f"<td>{r.get('tool_calls') or '-'}</td></tr>"
            for r in self._turn_rows[-6:]
        )
        return (
            '<table style="font-size:90%"><caption style="text-align:left">latency per turn, '
            "ms (hover a heading for its definition)</caption>" + head + body + "</table>"
        )

    # ------------------------------------------------------------------------------------------
    # small helpers
    # ------------------------------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        self.state = state
        self._schedule_render()

    def _rel(self, t: float) -> float:
        return round(t - self._t0, 3)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            if self._loop is not None and threading.get_ident() == self._loop_thread:
                return self._loop
            raise RuntimeError(
                "TalkPanel needs a running event loop: call start()/stop() from a notebook "
                "cell or a coroutine"
            )
        if self._loop is None:
            self._loop, self._loop_thread = loop, threading.get_ident()
        return loop

    def _call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` on the panel's loop: now when already there, else handed over (a widget
        message that arrived on a subshell thread)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the kernel is going away
            loop.call_soon_threadsafe(fn, *args)


# ----------------------------------------------------------------------------------------------
# module helpers
# ----------------------------------------------------------------------------------------------


def _backend(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host in {"127.0.0.1", "localhost", "::1"}:
        return f"local emulator ({host}:{urlsplit(url).port})"
    return f"real service ({host})"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, fraction: float) -> str:
    """The first `fraction` of `text`, at a word boundary (what the listener heard)."""
    if fraction >= 1.0:
        return text
    n = int(len(text) * max(0.0, fraction))
    cut = text[:n]
    if n < len(text) and " " in cut and not text[n : n + 1].isspace():
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip()


def _badge(state: str) -> str:
    color = {"speaking": "#1b6e3a", "silent": "#777"}.get(state, "#333")
    dot = "●" if state == "speaking" else "○"
    return f'<span style="color:{color}">{dot} {html.escape(state)}</span>'


def _set(widget: Any, value: str) -> None:
    if widget.value != value:  # every assignment is a message to the page
        widget.value = value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


def _page_start(m: TurnMetrics, nxt: TurnMetrics | None, starts: list[float]) -> float | None:
    """When the page began playing turn `m`'s answer: the first page start at or after its
    first audio byte and before the next turn's (log ms)."""
    if m.wire_first_audio_ms is None:
        return None
    end = nxt.wire_first_audio_ms if nxt is not None else None
    for s in starts:
        if s >= m.wire_first_audio_ms - 1.0 and (end is None or s < end):
            return s
    return None


def _row(m: TurnMetrics, page_start: float | None, anchor: float | None) -> dict[str, Any]:
    return {
        "turn": m.index,
        "input": m.user_input,
        "speech_end_source": m.speech_end_source,
        "ttfb_ms": m.ttfb_ms,
        "ttlb_ms": m.ttlb_ms,
        "perceived_ms": m.perceived_ms,
        "page_ms": None if page_start is None or anchor is None else round(page_start - anchor, 1),
        "interrupt_ms": m.interruption_latency_ms,
        "tool_calls": m.tool_calls,
        "tool_gap_ms": m.tool_gap_ms,
        "audio_out_ms": m.audio_out_ms,
        "status": m.status,
    }
