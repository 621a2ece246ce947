"""Router policies and per-session bookkeeping, with a scripted fake `connect` (no network)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from realtimelab.events import AudioChunk, Event, SpeechStopped, TurnComplete, Usage
from realtimelab.router import (
    ABSplit,
    ByUrgency,
    Cheapest,
    LowestTTFB,
    RouteContext,
    Router,
)

PRICES: dict[str, Any] = {
    "openai": {
        "default": "o",
        "models": {
            "o": {
                "audio_in": 30.0,
                "audio_out": 60.0,
                "text_in": 4.0,
                "text_out": 16.0,
                "cached_in": 0.4,
            }
        },
    },
    "gemini": {
        "default": "g",
        "models": {
            "g": {
                "audio_in": 3.0,
                "audio_out": 12.0,
                "text_in": 0.5,
                "text_out": 2.0,
                "cached_in": None,
            }
        },
    },
}
USAGE = Usage(input_tokens=100, input_audio_tokens=100, output_tokens=200, output_audio_tokens=200)


class FakeSession:
    """Yields one scripted turn: user stops at t, first audio at t + ttfb."""

    def __init__(self, provider: str, ttfb_ms: float, t0: float) -> None:
        self.provider = provider
        self.ttfb = ttfb_ms / 1000
        self.t0 = t0
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def __aiter__(self) -> AsyncIterator[Event]:
        p: Any = self.provider
        t = self.t0
        yield SpeechStopped(provider=p, t=t)
        yield AudioChunk(provider=p, t=t + self.ttfb, pcm=bytes(4800), rate=24000)
        yield TurnComplete(provider=p, t=t + self.ttfb + 0.2, usage=USAGE)


class FakeConnect:
    """Stands in for realtimelab.session.connect; TTFB per provider is settable mid-test."""

    def __init__(self, ttfb: dict[str, float]) -> None:
        self.ttfb = ttfb
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self.t = 10.0

    def __call__(self, provider: str, config: Any, **kwargs: Any) -> Any:
        self.calls.append((provider, config, kwargs))

        @contextlib.asynccontextmanager
        async def cm() -> AsyncIterator[FakeSession]:
            tap: Callable[..., None] = kwargs["frame_tap"]
            tap("out", {"type": "session.update", "session": {"type": "realtime"}}, self.t)
            self.t += 5.0
            yield FakeSession(provider, self.ttfb[provider], self.t)

        return cm()


async def run(router: Router, urgency: Any = None) -> str:
    async with router.session({"instructions": "hi"}, urgency=urgency) as s:
        await s.send_text("hello")
        async for _ in s:
            pass
        return str(s.provider)


def test_ab_split_is_seeded_and_proportional() -> None:
    r = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), seed=1, connect=FakeConnect({}))
    picks = [r.choose() for _ in range(200)]
    n = Counter(picks)
    assert set(n) == {"openai", "gemini"}
    assert abs(n["openai"] - 100) <= 20  # ~3 sigma for p=0.5, n=200
    again = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), seed=1, connect=FakeConnect({}))
    assert [again.choose() for _ in range(200)] == picks
    other = Router(ABSplit({"openai": 0.5, "gemini": 0.5}), seed=2, connect=FakeConnect({}))
    assert [other.choose() for _ in range(200)] != picks

    skewed = Router(ABSplit({"openai": 0.8, "gemini": 0.2}), seed=3, connect=FakeConnect({}))
    share = Counter(skewed.choose() for _ in range(200))["openai"] / 200
    assert 0.72 <= share <= 0.88
    only = Router(ABSplit({"openai": 0.0, "gemini": 1.0}), connect=FakeConnect({}))
    assert {only.choose() for _ in range(50)} == {"gemini"}


@pytest.mark.parametrize("weights", [{}, {"openai": -1.0}, {"openai": 0.0}])
def test_ab_split_rejects_bad_weights(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ABSplit(weights)


def test_cheapest_follows_the_price_table() -> None:
    ctx = RouteContext(rng=__import__("random").Random(0), records=())
    assert Cheapest(PRICES).choose(ctx) == "gemini"
    flipped = {"openai": PRICES["gemini"], "gemini": PRICES["openai"]}
    assert Cheapest(flipped).choose(ctx) == "openai"
    est = Cheapest(PRICES).estimates()
    assert est["openai"] > est["gemini"] > 0
    assert Cheapest().choose(ctx) == "gemini"  # shipped list prices: Gemini audio ~5-10x cheaper


async def test_lowest_ttfb_explores_then_exploits() -> None:
    fake = FakeConnect({"openai": 300.0, "gemini": 700.0})
    router = Router(LowestTTFB(window=2), connect=fake, prices=PRICES)
    assert [await run(router) for _ in range(2)] == ["openai", "gemini"]  # each tried once
    assert [await run(router) for _ in range(2)] == ["openai", "openai"]
    fake.ttfb["openai"] = 1500.0  # openai degrades: its window mean becomes (300+1500)/2 = 900
    assert [await run(router) for _ in range(3)] == ["openai", "gemini", "gemini"]
    assert router.records[0].ttfb_ms == pytest.approx(300.0)
    means = LowestTTFB(window=2).means(router.records)
    assert means == {"openai": pytest.approx(900.0), "gemini": pytest.approx(700.0)}
    assert LowestTTFB(window=20).means(router.records)["openai"] == pytest.approx(600.0)


class TracingSession(FakeSession):
    """A typed turn, as a real session marks it: a `user_end` trace point inside `send_text`
    (before anyone iterates), then the answer's first audio `ttfb` later."""

    def __init__(self, provider: str, ttfb_ms: float, t0: float) -> None:
        super().__init__(provider, ttfb_ms, t0)
        self.listeners: list[Callable[..., None]] = []

    def on_trace(self, listener: Callable[..., None]) -> None:
        self.listeners.append(listener)

    async def send_text(self, text: str) -> None:
        await super().send_text(text)
        for listener in self.listeners:
            listener("user_end", self.t0, {"how": "text"})

    async def __aiter__(self) -> AsyncIterator[Event]:
        p: Any = self.provider
        yield AudioChunk(provider=p, t=self.t0 + self.ttfb, pcm=bytes(4800), rate=24000)
        yield TurnComplete(provider=p, t=self.t0 + self.ttfb + 0.2, usage=USAGE)


async def test_a_turn_typed_before_reading_events_has_its_ttfb() -> None:
    @contextlib.asynccontextmanager
    async def connect(provider: str, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield TracingSession(provider, 250.0, 20.0)

    router = Router(ByUrgency(), connect=connect, prices=PRICES)
    assert await run(router) == "gemini"
    assert router.records[0].ttfb_ms == pytest.approx(250.0)


async def test_by_urgency() -> None:
    router = Router(
        ByUrgency(urgent="openai", relaxed="gemini"),
        connect=FakeConnect({"openai": 100.0, "gemini": 200.0}),
    )
    assert await run(router, urgency="urgent") == "openai"
    assert await run(router, urgency=True) == "openai"
    assert await run(router) == "gemini"
    assert await run(router, urgency="batch") == "gemini"
    with pytest.raises(ValueError, match="unknown urgency"):
        await run(router, urgency="asap!!")
    assert [r.urgency for r in router.records] == ["urgent", True, None, "batch"]


async def test_session_records_cost_latency_and_summary() -> None:
    fake = FakeConnect({"openai": 300.0, "gemini": 600.0})
    router = Router(ABSplit({"openai": 1, "gemini": 1}), connect=fake, seed=5, prices=PRICES)
    seen: list[str] = []

    async with router.session(
        "cfg", api_key="sk-test-SECRET123456", frame_tap=lambda d, f, t=None: seen.append(d)
    ) as s:
        async for _ in s:
            pass
    provider, config, kwargs = fake.calls[0]
    assert config == "cfg" and kwargs["api_key"] == "sk-test-SECRET123456" and "clock" in kwargs
    assert seen == ["out"]  # the caller's own frame tap still sees frames
    rec = router.records[0]
    assert rec.provider == provider and rec.ok and len(rec.turns) == 1
    assert rec.ttfb_ms == pytest.approx(300.0 if provider == "openai" else 600.0)
    p = PRICES[provider]["models"]["o" if provider == "openai" else "g"]
    assert rec.cost_usd == pytest.approx((100 * p["audio_in"] + 200 * p["audio_out"]) / 1e6)

    for _ in range(9):
        await run(router)
    summary = router.summary()
    assert summary["openai"]["sessions"] + summary["gemini"]["sessions"] == 10
    for name, ttfb in (("openai", 300.0), ("gemini", 600.0)):
        if summary[name]["sessions"]:
            assert summary[name]["ttfb_mean_ms"] == pytest.approx(ttfb)
            assert summary[name]["ttfb_p50_ms"] == pytest.approx(ttfb)
            assert summary[name]["cost_usd_total"] == pytest.approx(
                sum(r.cost_usd or 0 for r in router.records if r.provider == name)
            )
    table = router.format_summary()
    assert table.splitlines()[0].split()[:3] == ["provider", "sessions", "errors"]
    fig = router.plot()
    assert len(fig.axes) == 2


async def test_failed_session_is_recorded_and_reraised() -> None:
    router = Router(ByUrgency(), connect=FakeConnect({"openai": 1.0, "gemini": 1.0}))
    with pytest.raises(RuntimeError, match="boom"):
        async with router.session(None):
            raise RuntimeError("boom")
    (rec,) = router.records
    assert not rec.ok and rec.error == "RuntimeError: boom" and rec.ttfb_ms is None
    assert router.summary()["gemini"]["errors"] == 1
