"""See what a session did: a redacted JSONL event log, WAV capture, and `replay`.

Why a log at all: the questions people ask about realtime voice ("why was that reply slow?",
"did the tool result go back?", "what did the server actually send?") are answered by a
timeline of wire frames next to the unified events they became. :class:`EventLog` writes that
timeline, one JSON object per line, while the session runs:

```python
log = EventLog("run.jsonl", secrets=[api_key], clock=clock)
async with connect("openai", config, api_key=api_key, frame_tap=log.frame, clock=clock) as s:
    log.attach(s)                      # the session's trace points, before the first verb
    await s.send_text("hello")
    async for ev in log.tap(s):        # or log.event(ev) yourself
        ...
log.close()
```

The session's tap says ``"send"``/``"recv"``; the log writes ``"out"``/``"in"`` (either is
accepted). Event lines are written when you *iterate*, frame lines when the socket sees them, so
a file is not strictly in ``t_ms`` order; readers (:mod:`realtimelab.metrics`) sort by time.

Line shape (every line has the first six keys):

```
{"t_ms": 1234.5, "dir": "in"|"out"|"event"|"trace"|"note", "provider": "openai"|...,
 "type": "response.output_audio.delta" | "serverContent.modelTurn" | "AudioChunk" | ...,
 "size": <bytes of the compact JSON frame>, "summary": "<short human text>",
 "audio_bytes": 960, "audio_ms": 20.0,      # frames/events that carry audio
 "frame": {...}}                            # the frame itself, audio elided, redacted
```

`t_ms` is monotonic milliseconds since the log started (pass the session's clock so both agree).
Audio payloads are never stored: they are replaced by ``"<audio 960 B>"`` and counted in
``audio_bytes``/``audio_ms``. Secrets are removed before anything is written (see
:mod:`realtimelab.redact`). Rate-guard findings and your own marks are ``"dir": "note"`` lines.

Timing facts the wire does not carry come from the session itself, as ``"dir": "trace"``
lines (`RealtimeSession.on_trace`; `tap` and `attach` subscribe): ``user_end`` (a typed turn
or a commit), ``speech_start``/``speech_end`` (where the client's own VAD heard the user,
back-dated to the audio: Gemini reports no speech events, and one detector for every provider
gives one comparable "perceived" latency), ``flush`` (playback stopped for a barge-in). The
log never re-parses frames to find them: metrics read the trace points.

``record_audio_dir=`` additionally keeps the audio, as WAV files per turn: what the client sent
(``turn_000_in.wav``) and what the model said (``turn_000_out.wav``). Turns are cut at each
``TurnComplete`` event, so a tool call on OpenAI (two responses) yields two recording turns.

``python -m realtimelab replay LOG.jsonl [--plot out.png]`` prints per-turn metrics from a log
(`realtimelab.replay`, which also reads logs back).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal

from realtimelab.events import AudioChunk, Event, TurnComplete
from realtimelab.providers.framelog import Elided, FrameDescriber, b64_decoded_len, short
from realtimelab.providers.registry import ProviderSpec, UnknownProviderError, get, specs
from realtimelab.redact import Redactor, SplitSecretGuard

Direction = Literal["in", "out", "recv", "send"]
#: The session's tap says "recv"/"send"; logs say "in" (from the server) / "out" (client sent).
_DIRECTIONS: Final = {"in": "in", "out": "out", "recv": "in", "send": "out"}
Line = dict[str, Any]

# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _short(text: str, n: int = 80) -> str:
    return short(text, n)


def _json_size(obj: Any) -> int:
    try:
        return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return 0


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _jsonable(value: Any) -> Any:
    """Event field values -> JSON values (tuples to lists, dataclasses to dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} B>"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


# --------------------------------------------------------------------------------------------
# frames -> lines: each provider's folder reads its own frames (`describe.py`)
# --------------------------------------------------------------------------------------------


@functools.cache
def _probe(spec: ProviderSpec) -> FrameDescriber:
    """A describer for stateless questions (is this frame yours, what is it called)."""
    return spec.describer()


def _probe_for(provider: str | None) -> FrameDescriber | None:
    if provider is None:
        return None
    try:
        return _probe(get(provider))
    except UnknownProviderError:
        return None


def infer_provider(frame: Mapping[str, Any]) -> str | None:
    """The registered provider whose dialect `frame` is in (the first whose describer claims
    it: OpenAI frames carry a string ``type``, Gemini frames BidiGenerateContent keys), or None
    when no registered provider recognises it."""
    for spec in specs():
        if _probe(spec).claims(frame):
            return spec.name
    return None


def _plain_type(frame: Mapping[str, Any]) -> str:
    """A name for a frame no registered provider reads: its ``type``, else its keys."""
    t = frame.get("type")
    return t if isinstance(t, str) else ",".join(str(k) for k in frame) or "?"


def frame_type(frame: Mapping[str, Any], provider: str | None = None) -> str:
    """The name a log line uses for a wire frame, in its provider's terms.

    OpenAI frames name themselves (``"type"``). Gemini frames are a oneof of top-level keys, so
    the name is built from them, one level deep for containers: ``serverContent.modelTurn``,
    ``realtimeInput.audio``, ``serverContent.turnComplete,usageMetadata``. Without `provider`
    the frame's dialect is inferred (`infer_provider`).
    """
    describer = _probe_for(provider or infer_provider(frame))
    return describer.frame_type(frame) if describer is not None else _plain_type(frame)


def _frame_summary(
    frame: Mapping[str, Any], ftype: str, el: Elided, describer: FrameDescriber | None
) -> str:
    """Short human text for a frame; the full (elided, redacted) frame is in the line anyway."""
    bits: list[str] = []
    if el.audio_bytes:
        bits.append(f"audio {el.audio_ms:.1f} ms")
    if describer is not None:
        bits += describer.summary(frame)
    return _short(" ".join([ftype, *bits]))


def _event_summary(ev: Event, fields: Mapping[str, Any]) -> str:
    kind = ev.kind
    if isinstance(ev, AudioChunk):
        return f"{kind} {ev.duration_ms:.1f} ms @{ev.rate} Hz"
    if isinstance(ev, TurnComplete):
        u = ev.usage
        usage = f" in={u.input_tokens} out={u.output_tokens}" if u else ""
        return _short(f"{kind} {ev.status}{usage}")
    detail = []
    for key in ("name", "text", "reason", "message", "status", "state_restored", "model"):
        v = fields.get(key)
        if isinstance(v, str) and v:
            detail.append(repr(_short(v, 50)) if key == "text" else _short(v, 50))
    if "arguments" in fields and fields["arguments"] is not None:
        detail.append(_short(json.dumps(fields["arguments"]), 50))
    return _short(" ".join([kind, *detail]))


def event_fields(ev: Event) -> dict[str, Any]:
    """An event's own fields as JSON values (no provider/t/raw; PCM replaced by its size)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(ev):
        if f.name in {"provider", "t", "raw"}:
            continue
        value = getattr(ev, f.name)
        if f.name == "pcm":
            continue
        if f.name == "arguments_json" and getattr(ev, "arguments", None) is not None:
            continue
        out[f.name] = _jsonable(value)
    if isinstance(ev, AudioChunk):
        out["audio_bytes"] = len(ev.pcm)
        out["audio_ms"] = round(ev.duration_ms, 3)
    return out


def event_line(ev: Event, t0: float = 0.0, redactor: Redactor | None = None) -> Line:
    """The log line for one unified event (``dir: "event"``, ``type`` = the event class)."""
    fields = event_fields(ev)
    line: Line = {
        "t_ms": round((ev.t - t0) * 1000.0, 3),
        "dir": "event",
        "provider": ev.provider,
        "type": ev.kind,
        "size": sum(_json_size(r) for r in ev.raw),
        "summary": _event_summary(ev, fields),
        **fields,
    }
    return redactor(line) if redactor is not None else line


def note_fields(finding: Any) -> tuple[str, dict[str, Any]]:
    """Rate-guard findings (``declared``/``expected``/``action`` attributes or dict keys) and
    other note objects -> (summary, fields)."""
    if isinstance(finding, Mapping):
        data = {str(k): _jsonable(v) for k, v in finding.items()}
    elif dataclasses.is_dataclass(finding) and not isinstance(finding, type):
        data = _jsonable(finding)
    else:
        data = {
            k: _jsonable(getattr(finding, k))
            for k in ("declared", "expected", "action", "where", "message")
            if hasattr(finding, k)
        }
    if not isinstance(data, dict):
        raise TypeError(f"cannot log {type(finding).__name__} as a note")
    data.pop("t", None)
    if {"declared", "expected", "action"} <= data.keys():
        where = f" at {data['where']}" if data.get("where") else ""
        summary = (
            f"sample rate: declared {data['declared']} Hz, expected {data['expected']} Hz"
            f"{where} -> {data['action']}"
        )
        data.setdefault("kind", "rate_guard")
    else:
        summary = str(data.get("message") or data.get("kind") or "note")
    return _short(summary, 120), data


# --------------------------------------------------------------------------------------------
# WAV capture
# --------------------------------------------------------------------------------------------


class _WavRecorder:
    """Writes PCM16 mono per turn and direction; a rate change mid-turn starts a new file
    (a WAV header holds one rate)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.turn = 0
        self._open: dict[str, tuple[wave.Wave_write, int, Path]] = {}
        self.written: list[Path] = []

    def write(self, side: str, pcm: bytes, rate: int) -> None:
        if not pcm:
            return
        cur = self._open.get(side)
        if cur is not None and cur[1] != rate:
            self._close_one(side)
            cur = None
        if cur is None:
            name = f"turn_{self.turn:03d}_{side}.wav"
            path = self.dir / name
            if path in self.written:
                path = self.dir / f"turn_{self.turn:03d}_{side}_{rate}.wav"
            w = wave.open(str(path), "wb")  # noqa: SIM115 - stays open across frames of a turn
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            cur = (w, rate, path)
            self._open[side] = cur
            self.written.append(path)
        cur[0].writeframes(pcm[: len(pcm) - len(pcm) % 2])

    def _close_one(self, side: str) -> None:
        w, _, _ = self._open.pop(side)
        w.close()

    def next_turn(self) -> None:
        for side in list(self._open):
            self._close_one(side)
        self.turn += 1

    def close(self) -> None:
        for side in list(self._open):
            self._close_one(side)


# --------------------------------------------------------------------------------------------
# the log
# --------------------------------------------------------------------------------------------


class EventLog:
    """Record wire frames, unified events and notes as redacted JSONL (and optionally WAV).

    ``path=None`` keeps lines in memory only (:attr:`lines`), which is what the router and
    notebooks use; with a path, every line is flushed as it is written so a crashed session
    still leaves its log behind. ``keep_lines`` defaults to True in memory-only mode and False
    with a path (a long session's frames add up); :func:`read_log` reads the file back.

    ``secrets`` are exact strings (your API key) removed wherever they appear, on top of the
    pattern-based redaction. ``redact=False`` is for debugging the redactor itself; audio is
    elided regardless.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        redact: bool = True,
        secrets: Iterable[object] = (),
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
        provider: str | None = None,
        include_frames: bool = True,
        keep_lines: bool | None = None,
        record_audio_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._attached: set[int] = set()
        secrets = list(secrets)
        self._redactor = Redactor(secrets) if redact else None
        # a key split across streamed deltas matches nothing piece by piece: see the guard
        self._split_guard = SplitSecretGuard(secrets) if redact else None
        self._clock = clock
        self.start = clock() if start is None else start
        self.provider = provider
        self._seen_provider: str | None = provider
        self.include_frames = include_frames
        self.keep_lines = (path is None) if keep_lines is None else keep_lines
        self.lines: list[Line] = []
        self._describers: dict[str, FrameDescriber | None] = {}
        self._noted: set[Any] = set()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._wav = _WavRecorder(Path(record_audio_dir)) if record_audio_dir is not None else None
        self.closed = False

    # -- plumbing ---------------------------------------------------------------------------

    def _describer(self, provider: str) -> FrameDescriber | None:
        """This log's reader of `provider`'s frames (it may remember what the session
        negotiated, so one per provider per log); None for an unregistered provider."""
        if provider not in self._describers:
            try:
                self._describers[provider] = get(provider).describer()
            except UnknownProviderError:
                self._describers[provider] = None
        return self._describers[provider]

    def _t_ms(self, t: float | None) -> float:
        return round(((self._clock() if t is None else t) - self.start) * 1000.0, 3)

    def write(self, line: Line) -> Line:
        """Redact and append one line (a dict with at least t_ms/dir/type)."""
        if self.closed:
            raise RuntimeError("EventLog is closed")
        if self._redactor is not None:
            line = self._redactor(line)
        if self._split_guard is not None:
            line = self._split_guard(line)
        if self.keep_lines:
            self.lines.append(line)
        if self._file is not None:
            self._file.write(json.dumps(line, ensure_ascii=False, default=repr) + "\n")
            self._file.flush()
        return line

    # -- the three inputs -------------------------------------------------------------------

    def frame(self, direction: Direction, frame: Mapping[str, Any], t: float | None = None) -> None:
        """The session's ``frame_tap``: one wire frame, ``"in"``/``"recv"`` from the server,
        ``"out"``/``"send"`` sent by the client. An odd frame (not a dict) is logged as
        ``{"_raw": ...}`` rather than raising into the session."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(_DIRECTIONS)}, got {direction!r}")
        direction = _DIRECTIONS[direction]  # type: ignore[assignment]
        if not isinstance(frame, Mapping):
            frame = {"_raw": _jsonable(frame)}
        # a frame no registered provider claims belongs to the session seen so far
        provider = self.provider or infer_provider(frame) or self._seen_provider or "unknown"
        self._seen_provider = provider
        describer = self._describer(provider)
        ftype = describer.frame_type(frame) if describer is not None else _plain_type(frame)
        keep_pcm = direction == "out" and self._wav is not None
        el = Elided()
        if describer is not None:
            elided = describer.elide(frame, direction, el, keep_pcm)
        else:  # an unregistered provider's frames cannot be read: logged as they are
            elided = dict(frame)
        line: Line = {
            "t_ms": self._t_ms(t),
            "dir": direction,
            "provider": provider,
            "type": ftype,
            "size": _json_size(frame),
            "summary": _frame_summary(elided, ftype, el, describer),
        }
        if el.audio_bytes:
            line["audio_bytes"] = el.audio_bytes
            line["audio_ms"] = round(el.audio_ms, 3)
        model = describer.model(frame) if describer is not None else None
        if model:
            line["model"] = model
        if self.include_frames:
            line["frame"] = elided
        self.write(line)
        if self._wav is not None:
            for pcm, rate in el.pcm:
                self._wav.write("in", pcm, rate)

    def trace(self, kind: str, t: float, fields: Mapping[str, Any]) -> None:
        """A session trace point (`RealtimeSession.on_trace`) as a ``"dir": "trace"`` line."""
        summary = _short(" ".join([kind, *(f"{k}={v}" for k, v in fields.items())]), 120)
        self.write(
            {
                "t_ms": self._t_ms(t),
                "dir": "trace",
                "provider": self._seen_provider,
                "type": kind,
                "size": 0,
                "summary": summary,
                **{k: _jsonable(v) for k, v in fields.items()},
            }
        )

    def attach(self, session: Any) -> None:
        """Subscribe to `session`'s trace points (once per session; `tap` does it for you)."""
        on_trace = getattr(session, "on_trace", None)
        if on_trace is None or id(session) in self._attached:
            return
        self._attached.add(id(session))
        self._seen_provider = self.provider or getattr(session, "provider", None)
        on_trace(self.trace)

    def event(self, ev: Event) -> None:
        """Log one unified event (call it for every event the session yields)."""
        self._seen_provider = self.provider or ev.provider
        self.write(event_line(ev, self.start))
        if self._wav is not None:
            if isinstance(ev, AudioChunk):
                self._wav.write("out", ev.pcm, ev.rate)
            elif isinstance(ev, TurnComplete):
                self._wav.next_turn()

    def note(self, finding: Any, *, t: float | None = None) -> None:
        """Log a finding as a ``dir: "note"`` line. Rate-guard findings (anything with
        ``declared``/``expected``/``action``, object or dict) get a readable summary; their
        own ``t`` is used when ``t`` is not given."""
        summary, data = note_fields(finding)
        when = t if t is not None else getattr(finding, "t", None)
        if when is None and isinstance(finding, Mapping):
            when = finding.get("t")
        kind = str(data.pop("kind", "note"))
        self.write(
            {
                "t_ms": self._t_ms(when if isinstance(when, int | float) else None),
                "dir": "note",
                "provider": self._seen_provider,
                "type": kind,
                "size": 0,
                "summary": summary,
                **data,
            }
        )

    def mark(self, kind: str, *, t: float | None = None, **fields: Any) -> None:
        """A free-form note, e.g. ``log.mark("connect", url=...)``, or ``log.mark("flush")``
        when a player the session does not know about drops queued audio (metrics treat it
        as the end of a barge-in, like the session's own ``flush`` trace)."""
        summary = _short(" ".join([kind, *(f"{k}={v}" for k, v in fields.items())]), 120)
        self.write(
            {
                "t_ms": self._t_ms(t),
                "dir": "note",
                "provider": self._seen_provider,
                "type": kind,
                "size": 0,
                "summary": summary,
                **{k: _jsonable(v) for k, v in fields.items()},
            }
        )

    async def tap(self, session: Any) -> AsyncIterator[Event]:
        """``async for ev in log.tap(session)``: the session's events, each logged first, and
        its trace points (see `attach`).

        When iteration ends, the session's rate-guard findings (``session.rate_guard``, if it
        has one) are logged as notes, each at its own time."""
        self.attach(session)
        try:
            async for ev in session:
                self.event(ev)
                yield ev
        finally:
            if not self.closed:
                self.note_rate_guard(getattr(session, "rate_guard", None))

    def note_rate_guard(self, guard: Any) -> None:
        """Log a RateGuard's findings (or any iterable of findings) not logged yet."""
        if guard is None:
            return
        findings = getattr(guard, "findings", guard)
        for finding in list(findings):
            key = id(finding) if not _hashable(finding) else finding
            if key in self._noted:
                continue
            self._noted.add(key)
            self.note(finding)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def wav_files(self) -> list[Path]:
        """WAV files written so far (empty without ``record_audio_dir``)."""
        return list(self._wav.written) if self._wav is not None else []

    def close(self) -> None:
        if self.closed:
            return
        if self._wav is not None:
            self._wav.close()
            for p in self._wav.written:
                self.mark("wav", path=str(p))
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ObservedSession:
    """A session wrapper that logs every event it yields; everything else is delegated.

    Used by the router so callers keep writing ``async for ev in s`` and ``s.send_text(...)``.
    Only iteration of the wrapper itself is logged.
    """

    def __init__(self, session: Any, log: EventLog) -> None:
        self._session = session
        self.log = log
        # trace points from now on: a verb called before iteration starts (a `send_text`
        # straight after connecting) must still mark its turn, or its TTFB has no anchor
        log.attach(session)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.log.tap(self._session)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    @property
    def wrapped(self) -> Any:
        return self._session


__all__ = [
    "EventLog",
    "ObservedSession",
    "b64_decoded_len",
    "event_fields",
    "event_line",
    "frame_type",
    "infer_provider",
    "note_fields",
]
