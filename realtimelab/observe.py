"""See what a session did: a redacted JSONL event log, WAV capture, and `replay`.

Why a log at all: the questions people ask about realtime voice ("why was that reply slow?",
"did the tool result go back?", "what did the server actually send?") are answered by a
timeline of wire frames next to the unified events they became. :class:`EventLog` writes that
timeline, one JSON object per line, while the session runs:

```python
log = EventLog("run.jsonl", secrets=[api_key], clock=clock)
async with connect("openai", config, api_key=api_key, frame_tap=log.frame, clock=clock) as s:
    async for ev in log.tap(s):        # or: log.event(ev) yourself
        ...
log.close()
```

The session's tap says ``"send"``/``"recv"``; the log writes ``"out"``/``"in"`` (either is
accepted). Event lines are written when you *iterate*, frame lines when the socket sees them, so
a file is not strictly in ``t_ms`` order; readers (:mod:`realtimelab.metrics`) sort by time.

Line shape (every line has the first six keys):

```
{"t_ms": 1234.5, "dir": "in"|"out"|"event"|"note", "provider": "openai"|"gemini",
 "type": "response.output_audio.delta" | "serverContent.modelTurn" | "AudioChunk" | ...,
 "size": <bytes of the compact JSON frame>, "summary": "<short human text>",
 "audio_bytes": 960, "audio_ms": 20.0,      # frames/events that carry audio
 "frame": {...}}                            # the frame itself, audio elided, redacted
```

`t_ms` is monotonic milliseconds since the log started (pass the session's clock so both agree).
Audio payloads are never stored: they are replaced by ``"<audio 960 B>"`` and counted in
``audio_bytes``/``audio_ms``. Secrets are removed before anything is written (see
:mod:`realtimelab.redact`). Rate-guard findings and your own marks are ``"dir": "note"`` lines.

Where the user stopped talking is measured on the client too: the log runs
:class:`realtimelab.vad.StreamingVad` over the audio the client sends and writes a
``"note"`` line ``client_vad.speech_end`` stamped with the time the last voiced frame was sent.
Gemini reports no speech events, so without it a spoken Gemini turn has no start for TTFB; and
because the same detector runs for every provider, it gives one comparable "perceived" latency.

``record_audio_dir=`` additionally keeps the audio, as WAV files per turn: what the client sent
(``turn_000_in.wav``) and what the model said (``turn_000_out.wav``). Turns are cut at each
``TurnComplete`` event, so a tool call on OpenAI (two responses) yields two recording turns.

``python -m realtimelab replay LOG.jsonl [--plot out.png]`` prints per-turn metrics from a log.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import dataclasses
import io
import json
import os
import sys
import time
import warnings
import wave
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal

from realtimelab.events import AudioChunk, Event, TurnComplete
from realtimelab.redact import Redactor
from realtimelab.vad import SpeechStopped, StreamingVad, VadParams

Direction = Literal["in", "out", "recv", "send"]
#: The session's tap says "recv"/"send"; logs say "in" (from the server) / "out" (client sent).
_DIRECTIONS: Final = {"in": "in", "out": "out", "recv": "in", "send": "out"}
Line = dict[str, Any]

#: Out-frame types that stop model audio on the client's side (the end of a barge-in).
FLUSH_TYPES: Final = frozenset(
    {"response.cancel", "conversation.item.truncate", "output_audio_buffer.clear", "flush"}
)

#: Gemini containers whose members name the frame (``serverContent.modelTurn``).
_GEMINI_CONTAINERS: Final = {"serverContent", "realtimeInput", "toolCall", "toolResponse"}
_GEMINI_EXPAND: Final = {"serverContent", "realtimeInput"}

_SUMMARY_MAX: Final = 80


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _camel(name: str) -> str:
    """``realtime_input`` -> ``realtimeInput``: the Gemini SDK sends snake_case top-level keys,
    Google's docs use camelCase; logs use one spelling so filters work on both."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _short(text: str, n: int = _SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def b64_decoded_len(data: str) -> int:
    """Decoded size of base64 ``data`` (standard or URL-safe, padded or not) without decoding."""
    return len(data.strip().rstrip("=")) * 3 // 4


def _b64decode(data: str) -> bytes:
    s = data.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def _json_size(obj: Any) -> int:
    try:
        return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return 0


def _rate_from_mime(mime: str | None, default: int) -> int:
    """``audio/pcm;rate=24000`` -> 24000. Gemini frames sometimes omit ``;rate=``; the default
    is the provider's documented rate for that direction."""
    if mime:
        for part in mime.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.strip().lower() == "rate" and v.strip().isdigit():
                return int(v.strip())
    return default


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
# frames -> lines
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _AudioFormat:
    rate: int
    width: int  # bytes per sample: 2 for PCM16, 1 for G.711


@dataclasses.dataclass
class _Elided:
    """What was cut out of one frame: sizes for the line, PCM for the WAV recorder."""

    audio_bytes: int = 0
    audio_ms: float = 0.0
    pcm: list[tuple[bytes, int]] = dataclasses.field(default_factory=list)


def frame_type(frame: Mapping[str, Any]) -> str:
    """The name a log line uses for a wire frame.

    OpenAI frames name themselves (``"type"``). Gemini frames are a oneof of top-level keys, so
    the name is built from them, one level deep for containers: ``serverContent.modelTurn``,
    ``realtimeInput.audio``, ``serverContent.turnComplete,usageMetadata``. Snake_case keys
    (what the Gemini SDK sends) are written camelCase.
    """
    t = frame.get("type")
    if isinstance(t, str):
        return t
    parts: list[str] = []
    for key, value in frame.items():
        name = _camel(str(key))
        if name in _GEMINI_EXPAND and isinstance(value, Mapping) and value:
            parts.append(name + "." + "+".join(_camel(str(k)) for k in value))
        else:
            parts.append(name)
    return ",".join(parts) or "?"


def infer_provider(frame: Mapping[str, Any]) -> str:
    """OpenAI frames carry a string ``type``; Gemini frames never do."""
    return "openai" if isinstance(frame.get("type"), str) else "gemini"


class _FrameReader:
    """Per-log state needed to read frames: the audio formats negotiated so far.

    OpenAI declares formats once, in ``session.update``/``session.created`` (PCM16 at 24 kHz, or
    G.711 at 8 kHz); later audio frames carry bare base64, so the log must remember the format
    to turn bytes into milliseconds. Gemini labels every chunk with its MIME type.
    """

    def __init__(self) -> None:
        self.openai_in = _AudioFormat(24000, 2)
        self.openai_out = _AudioFormat(24000, 2)

    # -- format tracking --------------------------------------------------------------------

    def _learn_openai_formats(self, frame: Mapping[str, Any]) -> None:
        session = frame.get("session")
        if not isinstance(session, Mapping):
            return
        audio = session.get("audio")
        if not isinstance(audio, Mapping):
            return
        for side, attr in (("input", "openai_in"), ("output", "openai_out")):
            fmt = (
                audio.get(side, {}).get("format") if isinstance(audio.get(side), Mapping) else None
            )
            if not isinstance(fmt, Mapping):
                continue
            kind = str(fmt.get("type", "audio/pcm"))
            if kind in {"audio/pcmu", "audio/pcma"}:
                setattr(self, attr, _AudioFormat(8000, 1))
            else:
                rate = fmt.get("rate", 24000)
                setattr(self, attr, _AudioFormat(int(rate) if isinstance(rate, int) else 24000, 2))

    # -- audio elision ----------------------------------------------------------------------

    @staticmethod
    def _cut(data: str, fmt: _AudioFormat, acc: _Elided, keep_pcm: bool) -> str:
        n = b64_decoded_len(data)
        acc.audio_bytes += n
        acc.audio_ms += n / fmt.width / fmt.rate * 1000.0
        if keep_pcm and fmt.width == 2:
            with contextlib.suppress(
                binascii.Error, ValueError
            ):  # not base64: no WAV, still logged
                acc.pcm.append((_b64decode(data), fmt.rate))
        return f"<audio {n} B>"

    def _elide_openai(
        self, frame: Mapping[str, Any], direction: str, acc: _Elided, keep_pcm: bool
    ) -> dict[str, Any]:
        out = dict(frame)
        t = str(frame.get("type", ""))
        if t in {"session.update", "session.created", "session.updated"}:
            self._learn_openai_formats(frame)
        fmt = self.openai_in if direction == "out" else self.openai_out
        if t == "input_audio_buffer.append" and isinstance(frame.get("audio"), str):
            out["audio"] = self._cut(frame["audio"], fmt, acc, keep_pcm)
        if t.endswith("audio.delta") and isinstance(frame.get("delta"), str):
            out["delta"] = self._cut(frame["delta"], fmt, acc, keep_pcm)
        # audio inside conversation items (item.create with input_audio, item echoes)
        item = frame.get("item")
        if isinstance(item, Mapping) and isinstance(item.get("content"), list):
            content = []
            for part in item["content"]:
                if isinstance(part, Mapping) and isinstance(part.get("audio"), str):
                    part = {**part, "audio": self._cut(part["audio"], fmt, acc, False)}
                content.append(part)
            out["item"] = {**item, "content": content}
        return out

    def _elide_gemini(self, obj: Any, direction: str, acc: _Elided, keep_pcm: bool) -> Any:
        """Walk a Gemini frame; every ``{data, mimeType}`` blob (inlineData, realtimeInput.audio,
        mediaChunks, video) loses its bytes. Only audio counts towards ``audio_ms``."""
        if isinstance(obj, Mapping):
            mime = obj.get("mimeType", obj.get("mime_type"))
            if isinstance(obj.get("data"), str) and isinstance(mime, str):
                out = dict(obj)
                if mime.startswith("audio/"):
                    rate = _rate_from_mime(mime, 16000 if direction == "out" else 24000)
                    out["data"] = self._cut(obj["data"], _AudioFormat(rate, 2), acc, keep_pcm)
                else:
                    out["data"] = f"<{mime} {b64_decoded_len(obj['data'])} B>"
                return out
            return {k: self._elide_gemini(v, direction, acc, keep_pcm) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._elide_gemini(v, direction, acc, keep_pcm) for v in obj]
        return obj

    def elide(
        self, frame: Mapping[str, Any], provider: str, direction: str, keep_pcm: bool = False
    ) -> tuple[dict[str, Any], _Elided]:
        """A copy of ``frame`` without audio bytes, and what was removed."""
        acc = _Elided()
        if provider == "openai":
            return self._elide_openai(frame, direction, acc, keep_pcm), acc
        return self._elide_gemini(frame, direction, acc, keep_pcm), acc


def _user_end_marker(frame: Mapping[str, Any], ftype: str) -> str | None:
    """Does this client frame end a user turn? "text" for a typed user message, "commit" for
    push-to-talk (OpenAI commit, Gemini activityEnd). Metrics start TTFB there when the provider
    sends no SpeechStopped."""
    if ftype == "conversation.item.create":
        item = frame.get("item")
        if isinstance(item, Mapping) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list) and any(
                isinstance(p, Mapping) and p.get("type") in {"input_text", "text"} for p in content
            ):
                return "text"
        return None
    if ftype == "input_audio_buffer.commit":
        return "commit"
    if ftype.startswith("realtimeInput."):
        ri = frame.get("realtimeInput", frame.get("realtime_input"))
        if isinstance(ri, Mapping):
            if isinstance(ri.get("text"), str):
                return "text"
            if "activityEnd" in ri or "activity_end" in ri:
                return "commit"
        return None
    if ftype.split(",")[0] == "clientContent":
        cc = frame.get("clientContent", frame.get("client_content"))
        if isinstance(cc, Mapping) and (cc.get("turnComplete") or cc.get("turn_complete")):
            return "text"
    return None


def _frame_model(frame: Mapping[str, Any]) -> str | None:
    """The model a frame names (OpenAI ``session.created``; Gemini ``setup.model``)."""
    session = frame.get("session")
    if isinstance(session, Mapping) and isinstance(session.get("model"), str):
        return str(session["model"])
    setup = frame.get("setup")
    if isinstance(setup, Mapping) and isinstance(setup.get("model"), str):
        return str(setup["model"]).removeprefix("models/")
    return None


def _frame_summary(frame: Mapping[str, Any], ftype: str, el: _Elided) -> str:
    """Short human text for a frame; the full (elided, redacted) frame is in the line anyway."""
    bits: list[str] = []
    if el.audio_bytes:
        bits.append(f"audio {el.audio_ms:.1f} ms")
    err = frame.get("error")
    if isinstance(err, Mapping):
        bits.append(f"error {err.get('code') or err.get('type')}: {err.get('message', '')}")
    resp = frame.get("response")
    if isinstance(resp, Mapping) and isinstance(resp.get("status"), str):
        bits.append(str(resp["status"]))
    for key in ("transcript", "delta", "text"):
        v = frame.get(key)
        if isinstance(v, str) and not v.startswith("<audio"):
            bits.append(repr(_short(v, 40)))
            break
    if isinstance(frame.get("name"), str):
        bits.append(f"{frame['name']}({_short(str(frame.get('arguments', '')), 40)})")
    item = frame.get("item")
    if isinstance(item, Mapping):
        bits.append(f"{item.get('role') or item.get('type') or 'item'}")
        for part in item.get("content", []) or []:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                bits.append(repr(_short(part["text"], 40)))
        if isinstance(item.get("output"), str):
            bits.append(f"output={_short(item['output'], 40)}")
    sc = frame.get("serverContent")
    if isinstance(sc, Mapping):
        for key in ("inputTranscription", "outputTranscription"):
            tr = sc.get(key)
            if isinstance(tr, Mapping) and tr.get("text"):
                bits.append(f"{key[:-13]}: {_short(str(tr['text']), 40)!r}")
    tc = frame.get("toolCall")
    if isinstance(tc, Mapping):
        for fc in tc.get("functionCalls", []) or []:
            if isinstance(fc, Mapping):
                bits.append(f"{fc.get('name')}({_short(json.dumps(fc.get('args', {})), 40)})")
    ga = frame.get("goAway")
    if isinstance(ga, Mapping):
        bits.append(f"timeLeft={ga.get('timeLeft')}")
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


CLIENT_SPEECH_END: Final = "client_vad.speech_end"
CLIENT_VAD = VadParams(silence_duration_ms=500)
"""The detector the log runs on sent audio; its silence only decides *that* speech ended, the
mark is back-dated to where it did."""


class _ClientSpeech:
    """Where the user's speech ended, in the clock of the frames that carried it."""

    def __init__(self, params: VadParams) -> None:
        self.params = params
        self.rate = 0
        self.vad: StreamingVad | None = None
        self.sent_ms = 0.0
        self.marks: collections.deque[tuple[float, float]] = collections.deque(maxlen=3000)

    def feed(self, pcm: bytes, rate: int, t: float) -> list[float]:
        """Feed one sent frame (sent at `t`); returns the times speech ended, if it did."""
        if self.vad is None or rate != self.rate:
            self.vad, self.rate, self.sent_ms = StreamingVad(rate, self.params), rate, 0.0
            self.marks.clear()
        self.sent_ms += len(pcm) / 2 / rate * 1000.0
        self.marks.append((self.sent_ms, t))  # stream position at the end of this frame
        ends = []
        for event in self.vad.feed(pcm):
            if isinstance(event, SpeechStopped):
                speech_end = event.audio_end_ms - self.params.silence_duration_ms
                ends.append(self._time_at(speech_end))
        return ends

    def _time_at(self, stream_ms: float) -> float:
        for end_ms, t in self.marks:
            if end_ms >= stream_ms:
                return t
        return self.marks[-1][1]


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
        client_vad: VadParams | None = CLIENT_VAD,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._speech = _ClientSpeech(client_vad) if client_vad is not None else None
        self._redactor = Redactor(secrets) if redact else None
        self._clock = clock
        self.start = clock() if start is None else start
        self.provider = provider
        self._seen_provider: str | None = provider
        self.include_frames = include_frames
        self.keep_lines = (path is None) if keep_lines is None else keep_lines
        self.lines: list[Line] = []
        self._reader = _FrameReader()
        self._noted: set[Any] = set()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._wav = _WavRecorder(Path(record_audio_dir)) if record_audio_dir is not None else None
        self.closed = False

    # -- plumbing ---------------------------------------------------------------------------

    def _t_ms(self, t: float | None) -> float:
        return round(((self._clock() if t is None else t) - self.start) * 1000.0, 3)

    def write(self, line: Line) -> Line:
        """Redact and append one line (a dict with at least t_ms/dir/type)."""
        if self.closed:
            raise RuntimeError("EventLog is closed")
        if self._redactor is not None:
            line = self._redactor(line)
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
        provider = self.provider or infer_provider(frame)
        self._seen_provider = provider
        ftype = frame_type(frame)
        keep_pcm = direction == "out" and (self._wav is not None or self._speech is not None)
        elided, el = self._reader.elide(frame, provider, direction, keep_pcm)
        line: Line = {
            "t_ms": self._t_ms(t),
            "dir": direction,
            "provider": provider,
            "type": ftype,
            "size": _json_size(frame),
            "summary": _frame_summary(elided, ftype, el),
        }
        if el.audio_bytes:
            line["audio_bytes"] = el.audio_bytes
            line["audio_ms"] = round(el.audio_ms, 3)
        if direction == "out":
            marker = _user_end_marker(frame, ftype)
            if marker:
                line["user_end"] = marker
        model = _frame_model(frame)
        if model:
            line["model"] = model
        if self.include_frames:
            line["frame"] = elided
        self.write(line)
        if self._wav is not None:
            for pcm, rate in el.pcm:
                self._wav.write("in", pcm, rate)
        if self._speech is not None:
            sent = self._clock() if t is None else t
            for pcm, rate in el.pcm:
                for end in self._speech.feed(pcm, rate, sent):
                    self.write({
                        "t_ms": self._t_ms(end), "dir": "note", "provider": provider,
                        "type": CLIENT_SPEECH_END, "size": 0,
                        "summary": "user stopped speaking (client-side VAD on the sent audio)",
                    })

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
        """A free-form note, e.g. ``log.mark("flush")`` when your player drops queued audio
        (metrics treat it as the end of a barge-in) or ``log.mark("connect", url=...)``."""
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
        """``async for ev in log.tap(session)``: the session's events, each logged first.

        When iteration ends, the session's rate-guard findings (``session.rate_guard``, if it
        has one) are logged as notes, each at its own time."""
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

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.log.tap(self._session)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    @property
    def wrapped(self) -> Any:
        return self._session


# --------------------------------------------------------------------------------------------
# reading logs back
# --------------------------------------------------------------------------------------------


class LogReadWarning(UserWarning):
    """A line of a JSONL log could not be read (the others were)."""


@dataclasses.dataclass(frozen=True)
class LogContents:
    """What :func:`load_log` found: the good lines and a message per bad one."""

    lines: list[Line]
    problems: tuple[str, ...]


def load_log(path: str | os.PathLike[str]) -> LogContents:
    """Read a JSONL log, keeping every readable line and describing every bad one by number.

    Raises FileNotFoundError (with the path) when the file does not exist."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such log file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory, not a JSONL log")
    lines: list[Line] = []
    problems: list[str] = []
    with p.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                problems.append(f"{p}:{n}: bad JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{p}:{n}: expected a JSON object, got {type(obj).__name__}")
                continue
            lines.append(obj)
    return LogContents(lines, tuple(problems))


def read_log(path: str | os.PathLike[str], *, strict: bool = False) -> list[Line]:
    """The lines of a JSONL event log. Bad lines are skipped with a :class:`LogReadWarning`
    naming their line number, or raise ValueError with ``strict=True``."""
    contents = load_log(path)
    if contents.problems and strict:
        raise ValueError("; ".join(contents.problems))
    for problem in contents.problems:
        warnings.warn(problem, LogReadWarning, stacklevel=2)
    return contents.lines


# --------------------------------------------------------------------------------------------
# CLI: python -m realtimelab replay LOG.jsonl [--plot out.png]
# --------------------------------------------------------------------------------------------


def _replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m realtimelab replay",
        description="Per-turn latency/cost table (and optional waterfall) from a JSONL log.",
    )
    parser.add_argument("log", help="JSONL event log written by realtimelab.observe.EventLog")
    parser.add_argument("--plot", metavar="PNG", help="save the waterfall timeline here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def replay_main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None) -> int:
    """Exit codes: 0 all good; 1 printed, but some lines were unreadable; 2 no usable log."""
    from realtimelab import metrics  # lazy: metrics imports this module

    stdout = out if out is not None else sys.stdout
    args = _replay_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        contents = load_log(args.log)
    except OSError as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    for problem in contents.problems:
        print(f"replay: {problem} (skipped)", file=sys.stderr)
    if not contents.lines:
        print(f"replay: {args.log}: no readable lines", file=sys.stderr)
        return 2
    turns = metrics.turn_metrics(contents.lines)
    buf = io.StringIO()
    print(metrics.format_table(turns), file=buf)
    summary = metrics.summarize(turns)
    print("", file=buf)
    if args.json:
        print(json.dumps(summary, indent=2), file=buf)
    else:
        print(metrics.format_summary(summary), file=buf)
    stdout.write(buf.getvalue())
    if args.plot:
        fig = metrics.waterfall(contents.lines)
        fig.savefig(args.plot, dpi=110, bbox_inches="tight")
        print(f"waterfall saved to {args.plot}", file=stdout)
    return 1 if contents.problems else 0


__all__ = [
    "FLUSH_TYPES",
    "EventLog",
    "LogContents",
    "LogReadWarning",
    "ObservedSession",
    "b64_decoded_len",
    "event_fields",
    "event_line",
    "frame_type",
    "infer_provider",
    "load_log",
    "note_fields",
    "read_log",
    "replay_main",
]
