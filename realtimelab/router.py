"""A/B routing: send each new session to a provider by policy, and measure the outcome.

The case study this serves: "should this product use OpenAI Realtime or Gemini Live?" is a
question about latency and cost *on your traffic*, not about benchmarks. A :class:`Router`
opens every session through one policy, records what each session cost and how fast it
answered (from the session's own events, via :mod:`realtimelab.metrics`), and summarises the
two side by side.

```python
router = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), seed=7)
async with router.session(config) as s:          # picks a provider, opens it, observes it
    await s.send_text("hello")
    async for ev in s: ...
print(router.format_summary()); router.plot()
```

Policies are small objects with ``choose(ctx) -> provider``:

- :class:`ABSplit` — weighted random split, seeded (reproducible experiments).
- :class:`Cheapest` — lowest list price for a reference turn (``data/prices.json``).
- :class:`LowestTTFB` — lowest mean measured TTFB over the last ``window`` sessions; tries every
  provider once first (otherwise an unmeasured provider would never be picked).
- :class:`ByUrgency` — per-request: ``urgency="urgent"`` goes one way, the rest the other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from realtimelab.events import Usage
from realtimelab.metrics import TurnMetrics, cost, describe, turn_metrics
from realtimelab.observe import EventLog, ObservedSession
from realtimelab.providers.registry import names

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Urgency = str | bool | None
_URGENT = frozenset({"urgent", "high", "realtime", "interactive"})
_RELAXED = frozenset({"relaxed", "low", "normal", "batch", "background"})

#: A typical short voice turn, used by :class:`Cheapest` to compare price tables: ~5 s of user
#: audio in (OpenAI counts ~10 audio tokens/s of input, ~20/s of output), a 10 s spoken answer,
#: some instructions as text.
REFERENCE_TURN = Usage(
    input_tokens=350,
    input_audio_tokens=50,
    input_text_tokens=300,
    output_tokens=240,
    output_audio_tokens=200,
    output_text_tokens=40,
    total_tokens=590,
)


@dataclasses.dataclass(frozen=True)
class SessionRecord:
    """One routed session: where it went, why, and what it measured."""

    index: int
    provider: str
    policy: str
    urgency: Urgency
    turns: tuple[TurnMetrics, ...]
    ttfb_ms: float | None  # median of the session's turn TTFBs
    cost_usd: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass(frozen=True)
class RouteContext:
    """What a policy may look at when choosing."""

    rng: random.Random
    records: Sequence[SessionRecord]
    urgency: Urgency = None


class Policy(Protocol):
    """Anything with ``choose(ctx) -> provider`` and a ``providers`` tuple."""

    @property
    def providers(self) -> tuple[str, ...]: ...

    def choose(self, ctx: RouteContext) -> str: ...


def _even_split() -> dict[str, float]:
    providers = names()
    return {p: 1 / len(providers) for p in providers}


def _nth_provider(n: int) -> str:
    providers = names()
    if len(providers) <= n:
        raise ValueError(f"ByUrgency needs {n + 1} registered providers; name them explicitly")
    return providers[n]


@dataclasses.dataclass(frozen=True)
class ABSplit:
    """Weighted random split. Weights need not sum to 1; zero-weight providers are never chosen.
    Deterministic for a given Router seed: the same seed replays the same assignment. By
    default every registered provider gets an equal share."""

    weights: Mapping[str, float] = dataclasses.field(default_factory=_even_split)

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("ABSplit needs at least one provider weight")
        for name, w in self.weights.items():
            if not isinstance(w, int | float) or w < 0 or w != w:
                raise ValueError(f"ABSplit weight for {name!r} must be a number >= 0, got {w!r}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("ABSplit weights must not all be zero")

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def choose(self, ctx: RouteContext) -> str:
        total = float(sum(self.weights.values()))
        x = ctx.rng.random() * total
        acc = 0.0
        chosen = ""
        for name, w in self.weights.items():
            if w <= 0:
                continue
            acc += w
            chosen = name
            if x < acc:
                break
        return chosen


@dataclasses.dataclass(frozen=True)
class Cheapest:
    """Lowest price for :data:`REFERENCE_TURN` (or your own ``reference`` usage) under
    ``prices`` (default ``data/prices.json``); ``models`` picks the model per provider (default:
    each provider's ``default`` entry). Ties go to the first provider listed. ``providers``
    defaults to every registered provider (each needs an entry in the price table)."""

    prices: Mapping[str, Any] | None = None
    models: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    providers: tuple[str, ...] = dataclasses.field(default_factory=names)
    reference: Usage = REFERENCE_TURN

    def estimates(self) -> dict[str, float]:
        """USD per reference turn, per provider."""
        return {p: cost(self.reference, p, self.models.get(p), self.prices) for p in self.providers}

    def choose(self, ctx: RouteContext) -> str:
        est = self.estimates()
        return min(self.providers, key=lambda p: est[p])


@dataclasses.dataclass(frozen=True)
class LowestTTFB:
    """Pick the provider with the lowest mean TTFB over its last ``window`` measured sessions.

    Every provider is tried once before any comparison (in ``providers`` order, by default
    every registered provider); a provider that was tried but never produced a measurement
    ranks last, so it is not retried forever.
    """

    window: int = 20
    providers: tuple[str, ...] = dataclasses.field(default_factory=names)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")

    def means(self, records: Sequence[SessionRecord]) -> dict[str, float | None]:
        """Mean TTFB (ms) per provider over the window; None when never measured."""
        out: dict[str, float | None] = {}
        for p in self.providers:
            xs = [r.ttfb_ms for r in records if r.provider == p and r.ttfb_ms is not None]
            xs = xs[-self.window :]
            out[p] = statistics.fmean(xs) if xs else None
        return out

    def choose(self, ctx: RouteContext) -> str:
        tried = {r.provider for r in ctx.records}
        for p in self.providers:
            if p not in tried:
                return p
        means = self.means(ctx.records)
        return min(self.providers, key=lambda p: (means[p] is None, means[p] or 0.0))


@dataclasses.dataclass(frozen=True)
class ByUrgency:
    """Urgent requests to the fast/expensive provider, the rest to the relaxed one.

    ``urgency`` (per request): True / "urgent" / "high" / "realtime" / "interactive" → urgent;
    False / None / "relaxed" / "low" / "normal" / "batch" / "background" → relaxed. Anything
    else is an error, so a typo does not silently route to the default.

    Without arguments, urgent requests go to the first registered provider and the rest to the
    second (the built-in registration order: see `realtimelab.providers.builtin`).
    """

    urgent: str = dataclasses.field(default_factory=lambda: _nth_provider(0))
    relaxed: str = dataclasses.field(default_factory=lambda: _nth_provider(1))

    @property
    def providers(self) -> tuple[str, ...]:
        return (self.urgent, self.relaxed)

    @staticmethod
    def is_urgent(urgency: Urgency) -> bool:
        if urgency is None or isinstance(urgency, bool):
            return bool(urgency)
        key = str(urgency).strip().lower()
        if key in _URGENT:
            return True
        if key in _RELAXED:
            return False
        raise ValueError(
            f"unknown urgency {urgency!r}; use one of {sorted(_URGENT | _RELAXED)} or a bool"
        )

    def choose(self, ctx: RouteContext) -> str:
        return self.urgent if self.is_urgent(ctx.urgency) else self.relaxed


def _default_connect() -> Callable[..., Any]:
    from realtimelab.session import connect  # lazy: the router is importable without it

    return connect


class Router:
    """Open sessions through a policy and keep score.

    ``connect`` is :func:`realtimelab.session.connect` unless injected (tests pass a fake).
    It is called as ``connect(provider, config, frame_tap=..., **kwargs)`` and must return an
    async context manager yielding a session that iterates unified events. ``seed`` makes
    random policies reproducible. ``prices`` is used for per-session cost.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        connect: Callable[..., Any] | None = None,
        seed: int = 0,
        prices: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._connect = connect
        self.rng = random.Random(seed)
        self.prices = prices
        self.clock = clock
        self.records: list[SessionRecord] = []

    def choose(self, urgency: Urgency = None) -> str:
        """The provider the policy picks now (consumes randomness, opens nothing)."""
        provider = self.policy.choose(RouteContext(self.rng, tuple(self.records), urgency))
        if not provider:
            raise RuntimeError(f"{type(self.policy).__name__} chose no provider")
        return provider

    @contextlib.asynccontextmanager
    async def session(
        self, config: Any = None, urgency: Urgency = None, **connect_kwargs: Any
    ) -> AsyncIterator[ObservedSession]:
        """Pick a provider, open a session there, and yield it wrapped so its events are
        measured. The session is recorded on exit, also when the body raised (with ``error``).
        A ``frame_tap`` in ``connect_kwargs`` still receives every frame."""
        provider = self.choose(urgency)
        connect = self._connect or _default_connect()
        connect_kwargs.setdefault("clock", self.clock)
        log = EventLog(
            None,
            clock=connect_kwargs["clock"],
            secrets=[connect_kwargs.get("api_key"), connect_kwargs.get("token")],
        )
        user_tap = connect_kwargs.pop("frame_tap", None)

        def tap(direction: Any, frame: Any, t: float | None = None) -> None:
            log.frame(direction, frame, t)
            if user_tap is not None:
                user_tap(direction, frame, t)

        error: str | None = None
        try:
            async with connect(provider, config, frame_tap=tap, **connect_kwargs) as raw:
                try:
                    yield ObservedSession(raw, log)
                finally:
                    log.note_rate_guard(getattr(raw, "rate_guard", None))
        except BaseException as e:
            error = f"{type(e).__name__}: {e}"
            raise
        finally:
            self._record(provider, urgency, log, error)
            log.close()

    def _record(self, provider: str, urgency: Urgency, log: EventLog, error: str | None) -> None:
        turns = tuple(turn_metrics(log.lines, prices=self.prices))
        ttfbs = [t.ttfb_ms for t in turns if t.ttfb_ms is not None]
        costs = [t.cost_usd for t in turns if t.cost_usd is not None]
        self.records.append(
            SessionRecord(
                index=len(self.records),
                provider=provider,
                policy=type(self.policy).__name__,
                urgency=urgency,
                turns=turns,
                ttfb_ms=statistics.median(ttfbs) if ttfbs else None,
                cost_usd=sum(costs) if costs else None,
                error=error,
            )
        )

    # -- reporting ----------------------------------------------------------------------------

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per provider: sessions, errors, turns, session-TTFB stats (ms), total/mean cost."""
        providers = list(
            dict.fromkeys([*self.policy.providers, *(r.provider for r in self.records)])
        )
        out: dict[str, dict[str, Any]] = {}
        for p in providers:
            rs = [r for r in self.records if r.provider == p]
            d = describe(r.ttfb_ms for r in rs)
            costs = [r.cost_usd for r in rs if r.cost_usd is not None]
            out[p] = {
                "sessions": len(rs),
                "errors": sum(1 for r in rs if not r.ok),
                "turns": sum(len(r.turns) for r in rs),
                "ttfb_mean_ms": d["mean"],
                "ttfb_p50_ms": d["p50"],
                "ttfb_p90_ms": d["p90"],
                "cost_usd_total": round(sum(costs), 6) if costs else 0.0,
                "cost_usd_mean": round(sum(costs) / len(costs), 6) if costs else None,
            }
        return out

    def format_summary(self) -> str:
        """:meth:`summary` as a plain-text table."""
        header = ("provider", "sessions", "errors", "turns", "ttfb_mean", "ttfb_p50", "cost_total")
        rows = [header]
        for p, d in self.summary().items():
            rows.append(
                (
                    p,
                    str(d["sessions"]),
                    str(d["errors"]),
                    str(d["turns"]),
                    "-" if d["ttfb_mean_ms"] is None else f"{d['ttfb_mean_ms']:.0f} ms",
                    "-" if d["ttfb_p50_ms"] is None else f"{d['ttfb_p50_ms']:.0f} ms",
                    f"${d['cost_usd_total']:.5f}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def plot(self, axes: Sequence[Axes] | None = None) -> Figure:
        """Two bar charts per provider: TTFB (mean, with p50 dots) and total cost."""
        from matplotlib.figure import Figure

        s = self.summary()
        names = list(s)
        if axes is None:
            fig = Figure(figsize=(8, 3.2))
            ax1, ax2 = fig.subplots(1, 2)
        else:
            ax1, ax2 = axes[0], axes[1]
            fig = ax1.figure  # type: ignore[assignment]
        xs = range(len(names))
        means = [s[n]["ttfb_mean_ms"] or 0.0 for n in names]
        ax1.bar(xs, means, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(names)])
        p50 = [(i, s[n]["ttfb_p50_ms"]) for i, n in enumerate(names) if s[n]["ttfb_p50_ms"]]
        if p50:
            ax1.plot([i for i, _ in p50], [v for _, v in p50], "ko", label="p50")
            ax1.legend(fontsize=8)
        ax1.set_title("TTFB per provider (mean)")
        ax1.set_ylabel("ms")
        ax2.bar(
            xs,
            [s[n]["cost_usd_total"] for n in names],
            color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(names)],
        )
        ax2.set_title("total cost")
        ax2.set_ylabel("USD")
        for ax in (ax1, ax2):
            ax.set_xticks(list(xs))
            ax.set_xticklabels([f"{n}\n({s[n]['sessions']} sessions)" for n in names])
        fig.tight_layout()
        return fig


__all__ = [
    "REFERENCE_TURN",
    "ABSplit",
    "ByUrgency",
    "Cheapest",
    "LowestTTFB",
    "Policy",
    "RouteContext",
    "Router",
    "SessionRecord",
]
