"""Per-turn latency and cost, from an event log or a live list of events.

The numbers users feel, defined once so both providers are measured the same way. Every
timing says which clock it is on:

* **wire**: when bytes *arrived* at the client. `wire_first_audio_ms` / `wire_last_audio_ms`,
  and the two latencies measured from the end of the user's turn: **ttfb_ms** (first audio
  byte) and **ttlb_ms** (last audio byte: the server's whole answer delivered). Both
  services generate faster than real time, so the last byte arrives long before the answer
  has been heard.
* **audible**: when the listener *hears* it, on a player that starts each chunk on arrival
  (or when the audio before it ends) at real time — the session's playout model.
  `audible_first_ms` / `audible_last_ms` (playback end, or the moment a barge-in flushed it),
  and **perceived_ms**: first audible audio − where the user's speech really ended according
  to the client's own VAD (the same detector for every provider, so this is the number to
  compare providers by: it includes each provider's end-of-turn silence wait).

The end of the user's turn (the TTFB start) is the server's ``SpeechStopped``, or for typed /
push-to-talk turns the session's ``user_end`` trace point, or, where the provider sends no
speech events (Gemini), the client VAD's ``speech_end`` trace (`speech_end_source` says which
one a turn used). Wire numbers include one network leg.

- **tool_gap_ms**: silence caused by tool calls: from the end of the model's audible audio
  before a ``ToolCall`` (or the call itself if the model had not spoken yet) to the first
  audio after it, summed over the turn's tool calls.
- **interruption_latency_ms**: from the user starting to talk over audible audio (the client
  VAD's ``speech_start`` trace, else the server's ``SpeechStarted``) to playback stopping
  (the session's ``Interrupted``/``flush``, or a ``log.mark("flush")``).

A *turn* is one user input and the model's answer to it, up to ``TurnComplete`` (one per
answer on every provider, across tool round trips). Model output with no user input before it
(a greeting) is a turn of its own. The facts come from events and the session's trace points
(`RealtimeSession.on_trace`), never from re-reading wire frames.

Cost uses ``data/prices.json`` (editable, dated example prices): see :func:`cost`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from realtimelab.events import Event, Usage
from realtimelab.observe import event_line

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRICES_ENV: Final = "REALTIMELAB_PRICES"
_DEFAULT_PRICES: Final = Path(__file__).resolve().parent.parent / "data" / "prices.json"

#: Audio arriving within this long after the previous chunk finished playing joins its span
#: (network jitter is not a gap anyone hears).
_SPAN_JOIN_MS: Final = 40.0

_OUTPUT_KINDS: Final = frozenset(
    {"AudioChunk", "ToolCall", "TextDelta", "OutputTranscript", "ResponseStarted"}
)


# --------------------------------------------------------------------------------------------
# prices and cost
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens. ``cached_in=None``: no known discount, cached tokens billed as input."""

    audio_in: float
    audio_out: float
    text_in: float
    text_out: float
    cached_in: float | None = None


def load_prices(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Load a price table (``data/prices.json`` by default, or ``$REALTIMELAB_PRICES``).

    Shape: ``{provider: {"default": model, "models": {model: {audio_in, audio_out, text_in,
    text_out, cached_in}}}}``; keys starting with ``_`` are comments."""
    if path is None:
        env = os.environ.get(PRICES_ENV)
        return _load_prices_cached(env or str(_DEFAULT_PRICES))
    return _load_prices_uncached(str(path))


@functools.lru_cache(maxsize=8)
def _load_prices_cached(path: str) -> dict[str, Any]:
    return _load_prices_uncached(path)


def _load_prices_uncached(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        table = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"price table not found: {p} (set ${PRICES_ENV} or pass prices=...)"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}:{e.lineno}: price table is not valid JSON ({e.msg})") from None
    if not isinstance(table, dict):
        raise ValueError(f"{p}: price table must be a JSON object")
    return table


def price_for(
    provider: str, model: str | None = None, prices: Mapping[str, Any] | None = None
) -> tuple[str, ModelPrice]:
    """Find the price entry for ``model`` (exact, else the longest known prefix, so dated
    snapshots like ``gpt-realtime-2025-08-28`` resolve), or the provider's default model.
    Raises KeyError naming the known models when nothing matches."""
    table = load_prices() if prices is None else prices
    entry = table.get(provider)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("models"), Mapping):
        raise KeyError(f"no prices for provider {provider!r} (have: {_public_keys(table)})")
    models: Mapping[str, Any] = entry["models"]
    name = (model or entry.get("default") or "").removeprefix("models/")
    if name not in models:
        candidates = [m for m in models if name.startswith(m)]
        if not candidates:
            raise KeyError(
                f"no price for {provider} model {name!r}; known: {sorted(models)} "
                f"(edit data/prices.json)"
            )
        name = max(candidates, key=len)
    raw = models[name]
    try:
        price = ModelPrice(
            audio_in=float(raw["audio_in"]),
            audio_out=float(raw["audio_out"]),
            text_in=float(raw["text_in"]),
            text_out=float(raw["text_out"]),
            cached_in=None if raw.get("cached_in") is None else float(raw["cached_in"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"bad price entry for {provider}/{name}: {e}") from None
    return name, price


def _public_keys(table: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in table if not k.startswith("_"))


def cost(
    usage: Usage | Mapping[str, Any] | None,
    provider: str,
    model: str | None = None,
    prices: Mapping[str, Any] | None = None,
) -> float:
    """USD for ``usage`` at ``provider``/``model`` list prices.

    Audio and text are priced separately (audio is ~8-16x text, which is why the split
    matters). Cached input tokens are a subset of input tokens; they are split between audio and
    text in proportion and billed at ``cached_in``. Tokens a provider reports without a modality
    split are billed at the *audio* rate, so an unsplit voice session is not under-estimated;
    pictures and video frames (`input_image_tokens`, `input_video_tokens`) are among them, as
    the price table has no rate of their own (Gemini Live bills video with audio). Thinking
    (`thoughts_tokens`, outside `output_tokens`) is billed as text output and what a built-in
    tool added to the prompt (`tool_use_prompt_tokens`, outside `input_tokens`) as text input,
    as Google bills both.
    """
    u = _as_usage(usage)
    if u is None:
        return 0.0
    _, p = price_for(provider, model, prices)
    a_in, t_in = u.input_audio_tokens, u.input_text_tokens
    a_in += max(0, u.input_tokens - a_in - t_in)
    cached = min(u.cached_tokens, a_in + t_in)
    cached_a = cached * a_in / (a_in + t_in) if a_in + t_in else 0.0
    cached_t = cached - cached_a
    cached_rate_a = p.audio_in if p.cached_in is None else p.cached_in
    cached_rate_t = p.text_in if p.cached_in is None else p.cached_in
    a_out, t_out = u.output_audio_tokens, u.output_text_tokens
    a_out += max(0, u.output_tokens - a_out - t_out)
    usd = (
        (a_in - cached_a) * p.audio_in
        + (t_in - cached_t) * p.text_in
        + cached_a * cached_rate_a
        + cached_t * cached_rate_t
        + a_out * p.audio_out
        + t_out * p.text_out
        + u.thoughts_tokens * p.text_out
        + u.tool_use_prompt_tokens * p.text_in
    )
    return usd / 1_000_000


def _as_usage(usage: Usage | Mapping[str, Any] | None) -> Usage | None:
    """A `Usage` from an event or a log line's dict; counts that are not whole, finite,
    non-negative numbers (a hand-edited or damaged log) are left out, never raised on."""
    if usage is None or isinstance(usage, Usage):
        return usage
    names = {f.name for f in dataclasses.fields(Usage)}
    return Usage(**{k: int(v) for k, v in usage.items() if k in names and _is_count(v)})


def _is_count(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value >= 0 and float(value).is_integer()
    except OverflowError:
        return False


def add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """Field-wise sum; None + x = x."""
    if a is None or b is None:
        return a if b is None else b
    return Usage(
        **{f.name: getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(Usage)}
    )


# --------------------------------------------------------------------------------------------
# per-turn metrics
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TurnMetrics:
    """One turn's timings (ms since the log started) and derived latencies (ms); `wire_*`
    are arrival times, `audible_*` playback times (see the module docstring).

    ``audio_spans_ms`` are (start, end) stretches of model audio as a player that starts each
    chunk on arrival (or when the previous one ends) would play it, cut where a barge-in
    flushed the player; silences between spans are real gaps the listener hears.
    """

    index: int
    provider: str | None
    user_speech_start_ms: float | None
    user_speech_end_ms: float | None
    user_input: str | None  # "speech" | "text" | "commit" | None (model spoke unprompted)
    speech_end_source: str | None  # "server" | "client" | "text" | "commit" | None
    wire_first_audio_ms: float | None
    wire_last_audio_ms: float | None
    audible_first_ms: float | None
    audible_last_ms: float | None
    ttfb_ms: float | None
    ttlb_ms: float | None
    perceived_ms: float | None
    tool_gap_ms: float | None
    tool_call_ms: tuple[float, ...]
    barge_in_ms: float | None
    interrupted_ms: float | None
    interruption_latency_ms: float | None
    audio_out_ms: float
    audio_spans_ms: tuple[tuple[float, float], ...]
    status: str | None
    usage: Usage | None
    model: str | None
    cost_usd: float | None

    @property
    def tool_calls(self) -> int:
        return len(self.tool_call_ms)


@dataclasses.dataclass
class _Turn:
    index: int
    provider: str | None = None
    speech_start: float | None = None
    speech_end: float | None = None
    end_source: str | None = None
    client_end: float | None = None
    user_input: str | None = None
    first_audio: float | None = None
    last_audio: float | None = None
    audio_ms: float = 0.0
    spans: list[list[float]] = dataclasses.field(default_factory=list)
    tool_calls: list[float] = dataclasses.field(default_factory=list)
    gap_start: float | None = None  # open tool gap
    tool_gap: float | None = None
    barge: float | None = None
    interrupted: float | None = None
    flushed: float | None = None
    status: str | None = None
    usage: Usage | None = None
    state: str = "input"  # input -> responding -> (tool_wait ->) done
    model: str | None = None

    def playback_end(self) -> float | None:
        """Estimated end of playback (each chunk plays on arrival or after the previous one)."""
        return self.spans[-1][1] if self.spans else None

    def cut_playback(self, t: float) -> None:
        """A barge-in flushed the player at `t`: nothing after it was heard."""
        self.spans = [[a, min(b, t)] for a, b in self.spans if a < t]

    def add_audio(self, t: float, ms: float) -> None:
        if self.spans and t <= self.spans[-1][1] + _SPAN_JOIN_MS:
            self.spans[-1][1] = max(self.spans[-1][1], t) + ms
        else:
            self.spans.append([t, t + ms])


class _TurnBuilder:
    """Reads lines in time order and assigns each to a turn (see the module docstring)."""

    def __init__(self) -> None:
        self.turns: list[_Turn] = []
        self.inp: _Turn | None = None  # collecting user input, not yet answered
        self.resp: _Turn | None = None  # receiving model output
        self.model: dict[str, str] = {}

    def _new(self, provider: str | None) -> _Turn:
        turn = _Turn(index=len(self.turns), provider=provider)
        self.turns.append(turn)
        return turn

    def _finish_tool_wait(self) -> None:
        if self.resp is not None and self.resp.state == "tool_wait":
            self.resp.state = "done"
            self.resp = None

    def _barge(self, t: float) -> None:
        """Speech started: if model audio is still playing, that's a barge-in on its turn."""
        cands = [x for x in (self.resp, self.turns[-1] if self.turns else None) if x is not None]
        for turn in cands:
            if turn.first_audio is None or turn.barge is not None:
                continue
            end = turn.playback_end()
            if turn.state == "responding" or (end is not None and t < end):
                turn.barge = t
                return

    def _responder(self, provider: str | None) -> _Turn:
        if self.resp is not None and self.resp.state == "tool_wait" and self.inp is not None:
            self._finish_tool_wait()
        if self.resp is None or self.resp.state == "done":
            if self.inp is not None:
                self.resp, self.inp = self.inp, None
            else:
                self.resp = self._new(provider)
        self.resp.state = "responding"
        return self.resp

    def feed(self, line: Mapping[str, Any]) -> None:
        t = line.get("t_ms")
        if not isinstance(t, int | float) or not math.isfinite(t):
            return
        t = float(t)
        kind = str(line.get("type", ""))
        direction = line.get("dir")
        provider = line.get("provider") if isinstance(line.get("provider"), str) else None
        if isinstance(line.get("model"), str) and provider:
            self.model.setdefault(provider, str(line["model"]))
        if direction == "event":
            self._event(kind, t, provider, line)
        elif direction == "trace":
            if kind == "user_end" and line.get("how") in {"text", "commit"}:
                self._user_end(t, provider, str(line["how"]))
            elif kind == "speech_end":
                self._client_end(t, provider)
            elif kind == "speech_start":
                self._barge(t)
            elif kind == "flush":
                self._flush(t)
        elif direction == "note" and kind == "flush":
            self._flush(t)

    def _client_end(self, t: float, provider: str | None) -> None:
        """The client's VAD says speech ended at `t`: always the perceived start; the TTFB
        start only where the provider sent no SpeechStopped for this input."""
        if self.inp is None:
            self._finish_tool_wait()
            self.inp = self._new(provider)
            self.inp.user_input = "speech"
        self.inp.client_end = t
        if self.inp.end_source in (None, "client"):
            self.inp.speech_end, self.inp.end_source = t, "client"

    def _user_end(self, t: float, provider: str | None, how: str) -> None:
        self._finish_tool_wait()
        if self.inp is None or (how == "text" and self.inp.speech_end is not None):
            self.inp = self._new(provider)
        self.inp.speech_end, self.inp.end_source = t, how
        if self.inp.user_input is None or how == "text":
            self.inp.user_input = how

    def _flush(self, t: float) -> None:
        for turn in reversed(self.turns):
            if turn.barge is not None and turn.flushed is None and t >= turn.barge:
                turn.flushed = t
                turn.cut_playback(t)
                return

    def _event(self, kind: str, t: float, provider: str | None, line: Mapping[str, Any]) -> None:
        if kind == "SpeechStarted":
            self._barge(t)
            self._finish_tool_wait()
            if self.inp is None:
                self.inp = self._new(provider)
                self.inp.speech_start = t
                self.inp.user_input = "speech"
        elif kind == "SpeechStopped":
            if self.inp is None:
                self.inp = self._new(provider)
                self.inp.user_input = "speech"
            self.inp.speech_end, self.inp.end_source = t, "server"
        elif kind == "SessionStarted" and isinstance(line.get("model"), str) and provider:
            self.model[provider] = str(line["model"])
        elif kind in _OUTPUT_KINDS:
            turn = self._responder(provider)
            if kind == "AudioChunk":
                if turn.first_audio is None:
                    turn.first_audio = t
                turn.last_audio = t
                ms = line.get("audio_ms")
                dur = float(ms) if isinstance(ms, int | float) else 0.0
                turn.audio_ms += dur
                turn.add_audio(t, dur)
                if turn.gap_start is not None:
                    turn.tool_gap = (turn.tool_gap or 0.0) + (t - turn.gap_start)
                    turn.gap_start = None
            elif kind == "ToolCall":
                turn.tool_calls.append(t)
                if turn.gap_start is None:
                    turn.gap_start = turn.last_audio if turn.last_audio is not None else t
        elif kind == "Interrupted":
            # the barge-in it answers, else whatever turn is audible, else the last one; the
            # session emits it at the moment it stopped playback
            target: _Turn | None = next(
                (x for x in reversed(self.turns) if x.barge is not None and x.interrupted is None),
                None,
            ) or next(
                (x for x in reversed(self.turns) if x.first_audio is not None),
                self.resp,
            )
            if target is not None and target.interrupted is None:
                if target.barge is None:
                    target.barge = t  # stopped by the client (no speech seen before it)
                target.interrupted = t
                target.cut_playback(t)
        elif kind == "TurnComplete":
            done = self.resp
            if done is None or done.state == "done":
                done = self._responder(provider)
            turn = done
            turn.usage = add_usage(turn.usage, _as_usage(_usage_of(line)))
            turn.status = str(line.get("status") or "completed")
            if line.get("reason") == "tool_calls" and turn.status == "completed":
                # a log written before TurnComplete meant "the answer": a tool-call pause
                turn.state = "tool_wait"
            else:
                turn.state = "done"
                self.resp = None


def _usage_of(line: Mapping[str, Any]) -> Mapping[str, Any] | None:
    u = line.get("usage")
    return u if isinstance(u, Mapping) else None


def _lines_of(items: Iterable[Mapping[str, Any] | Event]) -> list[Mapping[str, Any]]:
    """Accept log lines and/or live events; events get t_ms relative to the first event."""
    items = list(items)
    events = [x for x in items if isinstance(x, Event)]
    t0 = min((e.t for e in events), default=0.0)
    out = [event_line(x, t0) if isinstance(x, Event) else x for x in items]

    # a stable sort: frame taps and events are written as they happen, but merged sources
    # (a live event list plus out frames) may not be
    def when(line: Mapping[str, Any]) -> float:
        t = line.get("t_ms")
        return float(t) if isinstance(t, int | float) else math.inf

    return sorted(out, key=when)


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def turn_metrics(
    lines: Iterable[Mapping[str, Any] | Event],
    *,
    prices: Mapping[str, Any] | None = None,
    model: str | None = None,
) -> list[TurnMetrics]:
    """Per-turn metrics from log lines (:func:`realtimelab.replay.read_log`) or from unified
    events (a live list). ``model`` overrides the model found in the log, for pricing. Cost is
    None when there is no usage or no price for the model."""
    builder = _TurnBuilder()
    for line in _lines_of(lines):
        builder.feed(line)
    out: list[TurnMetrics] = []
    for turn in builder.turns:
        prov = turn.provider
        mdl = model or (builder.model.get(prov) if prov else None)
        usd: float | None = None
        if turn.usage is not None and prov is not None:
            try:
                usd = cost(turn.usage, prov, mdl, prices)
            except (KeyError, ValueError, FileNotFoundError):
                usd = None
        ends = [
            x
            for x in (turn.interrupted, turn.flushed)
            if x is not None and turn.barge is not None and x >= turn.barge
        ]
        out.append(
            TurnMetrics(
                index=turn.index,
                provider=prov,
                user_speech_start_ms=turn.speech_start,
                user_speech_end_ms=turn.speech_end,
                user_input=turn.user_input,
                wire_first_audio_ms=turn.first_audio,
                wire_last_audio_ms=turn.last_audio,
                audible_first_ms=round(turn.spans[0][0], 3) if turn.spans else None,
                audible_last_ms=round(turn.spans[-1][1], 3) if turn.spans else None,
                ttfb_ms=_ms(turn.first_audio, turn.speech_end),
                ttlb_ms=_ms(turn.last_audio, turn.speech_end),
                perceived_ms=_ms(turn.spans[0][0] if turn.spans else None, turn.client_end),
                speech_end_source=turn.end_source,
                tool_gap_ms=None if turn.tool_gap is None else round(turn.tool_gap, 3),
                tool_call_ms=tuple(turn.tool_calls),
                barge_in_ms=turn.barge,
                interrupted_ms=turn.interrupted,
                interruption_latency_ms=_ms(min(ends), turn.barge) if ends else None,
                audio_out_ms=round(turn.audio_ms, 3),
                audio_spans_ms=tuple((round(a, 3), round(b, 3)) for a, b in turn.spans),
                status=turn.status,
                usage=turn.usage,
                model=mdl,
                cost_usd=usd,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# summaries and tables
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def describe(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, mean, p50, p90, min, max of the non-None values (None stats when there are none)."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "p50": None, "p90": None, "min": None, "max": None}
    return {
        "n": len(xs),
        "mean": round(sum(xs) / len(xs), 3),
        "p50": round(percentile(xs, 50), 3),
        "p90": round(percentile(xs, 90), 3),
        "min": round(min(xs), 3),
        "max": round(max(xs), 3),
    }


_LATENCIES: Final = ("ttfb_ms", "ttlb_ms", "perceived_ms", "tool_gap_ms", "interruption_latency_ms")


def summarize(metrics: Sequence[TurnMetrics]) -> dict[str, Any]:
    """Distribution of each latency (n/mean/p50/p90/min/max) plus totals, overall and per
    provider (``by_provider``) when more than one provider appears."""

    def block(ms: Sequence[TurnMetrics]) -> dict[str, Any]:
        costs = [m.cost_usd for m in ms if m.cost_usd is not None]
        usage: Usage | None = None
        for m in ms:
            usage = add_usage(usage, m.usage)
        return {
            "turns": len(ms),
            **{name: describe(getattr(m, name) for m in ms) for name in _LATENCIES},
            "interruptions": sum(1 for m in ms if m.barge_in_ms is not None),
            "tool_calls": sum(m.tool_calls for m in ms),
            "audio_out_ms": round(sum(m.audio_out_ms for m in ms), 3),
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0,
            "cost_usd": round(sum(costs), 6) if costs else None,
        }

    out = block(metrics)
    providers = sorted({m.provider for m in metrics if m.provider})
    if len(providers) > 1:
        out["by_provider"] = {p: block([m for m in metrics if m.provider == p]) for p in providers}
    return out


def _fmt(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_table(metrics: Sequence[TurnMetrics]) -> str:
    """A plain-text table, one row per turn (milliseconds; ``-`` = not applicable)."""
    header = (
        "turn",
        "provider",
        "input",
        "user_end",
        "ttfb",
        "ttlb",
        "perceived",
        "tool_gap",
        "tools",
        "interrupt",
        "audio_out",
        "tok_in",
        "tok_out",
        "cost_usd",
    )
    rows = [header]
    for m in metrics:
        rows.append(
            (
                str(m.index),
                m.provider or "-",
                m.user_input or "-",
                _fmt(m.user_speech_end_ms),
                _fmt(m.ttfb_ms),
                _fmt(m.ttlb_ms),
                _fmt(m.perceived_ms),
                _fmt(m.tool_gap_ms),
                str(m.tool_calls) if m.tool_calls else "-",
                _fmt(m.interruption_latency_ms),
                _fmt(m.audio_out_ms),
                str(m.usage.input_tokens) if m.usage else "-",
                str(m.usage.output_tokens) if m.usage else "-",
                _fmt(m.cost_usd, 5),
            )
        )
    if len(rows) == 1:
        return "(no turns)"
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_summary(summary: Mapping[str, Any]) -> str:
    """The :func:`summarize` dict as a few readable lines."""
    out = [f"turns: {summary.get('turns', 0)}"]
    for name in _LATENCIES:
        d = summary.get(name) or {}
        if d.get("n"):
            out.append(
                f"{name[:-3]:<24} n={d['n']:<3} p50={d['p50']:.0f} ms  p90={d['p90']:.0f} ms"
                f"  mean={d['mean']:.0f} ms"
            )
    c = summary.get("cost_usd")
    out.append(
        f"tokens in/out: {summary.get('input_tokens', 0)}/{summary.get('output_tokens', 0)}"
        f"   cost: {'-' if c is None else f'${c:.5f}'}"
    )
    for prov, block in (summary.get("by_provider") or {}).items():
        ttfb = block["ttfb_ms"]
        p50 = "-" if ttfb["p50"] is None else f"{ttfb['p50']:.0f} ms"
        bc = block.get("cost_usd")
        out.append(
            f"  {prov}: turns={block['turns']} ttfb p50={p50} "
            f"cost={'-' if bc is None else f'${bc:.5f}'}"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# waterfall
# --------------------------------------------------------------------------------------------


def waterfall(
    lines: Iterable[Mapping[str, Any] | Event] | Sequence[TurnMetrics],
    ax: Axes | None = None,
) -> Figure:
    """A timeline, one row per turn: user speech, the TTFB gap, model audio spans (as played
    on arrival, so tool gaps show as holes), tool calls (▼), barge-in (|), interruptions (✕).

    Takes log lines, events, or already computed :class:`TurnMetrics`. Returns the Figure
    (``ax``'s figure when given); matplotlib is imported only here.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    items = list(lines)
    metrics: list[TurnMetrics] = (
        [m for m in items if isinstance(m, TurnMetrics)]
        if items and all(isinstance(m, TurnMetrics) for m in items)
        else turn_metrics(items)  # type: ignore[arg-type]
    )
    if ax is None:
        fig = Figure(figsize=(10, 1.4 + 0.7 * max(1, len(metrics))))
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]
    colors = {
        "speech": "#4c72b0",
        "gap": "#dddddd",
        "audio": "#55a868",
        "tool": "#dd8452",
        "stop": "#c44e52",
    }
    h = 0.6
    for m in metrics:
        y = m.index
        if m.user_speech_start_ms is not None and m.user_speech_end_ms is not None:
            ax.broken_barh(
                [(m.user_speech_start_ms, m.user_speech_end_ms - m.user_speech_start_ms)],
                (y - h / 2, h),
                color=colors["speech"],
            )
        elif m.user_speech_end_ms is not None:
            ax.plot([m.user_speech_end_ms], [y], marker=">", color=colors["speech"], ms=8)
        if m.ttfb_ms is not None and m.user_speech_end_ms is not None:
            ax.broken_barh(
                [(m.user_speech_end_ms, m.ttfb_ms)],
                (y - h / 4, h / 2),
                facecolor=colors["gap"],
                hatch="//",
                edgecolor="#999999",
            )
            ax.text(
                m.user_speech_end_ms + m.ttfb_ms / 2,
                y - h / 2 - 0.03,
                f"TTFB {m.ttfb_ms:.0f} ms",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        if m.audio_spans_ms:
            ax.broken_barh(
                [(a, max(b - a, 1.0)) for a, b in m.audio_spans_ms],
                (y - h / 2, h),
                color=colors["audio"],
            )
        for t in m.tool_call_ms:
            ax.plot([t], [y], marker="v", color=colors["tool"], ms=10, ls="none", zorder=4)
        if m.barge_in_ms is not None:
            ax.plot([m.barge_in_ms], [y], marker="|", color=colors["stop"], ms=18, mew=2, zorder=4)
        if m.interrupted_ms is not None:
            ax.plot(
                [m.interrupted_ms], [y], marker="x", color=colors["stop"], ms=10, mew=2, zorder=4
            )
        if m.tool_gap_ms is not None and m.tool_call_ms:
            ax.text(
                m.tool_call_ms[0],
                y + h / 2 + 0.03,
                f"tool gap {m.tool_gap_ms:.0f} ms",
                fontsize=7,
                va="top",
                color=colors["tool"],
            )
        if m.interruption_latency_ms is not None and m.barge_in_ms is not None:
            ax.text(
                m.barge_in_ms,
                y + h / 2 + 0.03,
                f"interrupt {m.interruption_latency_ms:.0f} ms",
                fontsize=7,
                va="top",
                color=colors["stop"],
            )
    ax.set_ylim(len(metrics) - 0.25 if metrics else 0.6, -0.75)
    ax.set_yticks([m.index for m in metrics])
    ax.set_yticklabels([f"turn {m.index} ({m.provider or '?'})" for m in metrics])
    ax.set_xlabel("time since log start (ms)")
    ax.set_title("Turn waterfall: user speech → TTFB → model audio")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        handles=[
            Patch(color=colors["speech"], label="user speech"),
            Patch(facecolor=colors["gap"], hatch="//", edgecolor="#999999", label="TTFB gap"),
            Patch(color=colors["audio"], label="model audio (played on arrival)"),
            ax.plot([], [], "v", color=colors["tool"], label="tool call")[0],
            ax.plot([], [], "|", color=colors["stop"], mew=2, label="user barges in")[0],
            ax.plot([], [], "x", color=colors["stop"], mew=2, label="interrupted")[0],
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        frameon=False,
    )
    return fig


__all__ = [
    "ModelPrice",
    "TurnMetrics",
    "add_usage",
    "cost",
    "describe",
    "format_summary",
    "format_table",
    "load_prices",
    "percentile",
    "price_for",
    "summarize",
    "turn_metrics",
    "waterfall",
]
