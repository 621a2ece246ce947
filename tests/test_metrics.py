"""Turn metrics from a synthetic timeline with known answers; cost; summaries; waterfall."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from support.event_builders import tool_call

from realtimelab.events import (
    AudioChunk,
    Event,
    GenerationComplete,
    Interrupted,
    Provider,
    ResponseStarted,
    SpeechStarted,
    SpeechStopped,
    TurnComplete,
    Usage,
)
from realtimelab.metrics import (
    cost,
    format_table,
    load_prices,
    percentile,
    price_for,
    summarize,
    turn_metrics,
    waterfall,
)
from realtimelab.observe import EventLog

PRICES: dict[str, Any] = {
    "_note": "test table",
    "openai": {
        "default": "m1",
        "models": {
            "m1": {
                "audio_in": 10.0,
                "audio_out": 20.0,
                "text_in": 1.0,
                "text_out": 2.0,
                "cached_in": 0.5,
            },
            "m1-mini": {
                "audio_in": 1.0,
                "audio_out": 2.0,
                "text_in": 0.1,
                "text_out": 0.2,
                "cached_in": None,
            },
        },
    },
    "gemini": {
        "default": "g1",
        "models": {
            "g1": {
                "audio_in": 3.0,
                "audio_out": 12.0,
                "text_in": 0.5,
                "text_out": 2.0,
                "cached_in": None,
            },
        },
    },
}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def chunk(t: float, ms: float = 100.0, provider: str = "openai") -> AudioChunk:
    return AudioChunk(provider=provider, t=t, pcm=bytes(int(48 * ms)), rate=24000)  # type: ignore[arg-type]


def usage(a_in: int, a_out: int) -> Usage:
    return Usage(
        input_tokens=a_in,
        input_audio_tokens=a_in,
        output_tokens=a_out,
        output_audio_tokens=a_out,
        total_tokens=a_in + a_out,
    )


def timeline() -> list[Event]:
    """Four OpenAI turns with hand-computed answers (times in seconds)."""
    o: Provider = "openai"
    return [
        # turn 0: plain reply. stop 2.0 -> first audio 2.35 (ttfb 350) -> last 3.0 (ttlb 1000)
        SpeechStarted(provider=o, t=1.0),
        SpeechStopped(provider=o, t=2.0),
        ResponseStarted(provider=o, t=2.1),
        chunk(2.35),
        chunk(2.5),
        chunk(3.0),
        TurnComplete(provider=o, t=3.05, usage=usage(100, 200)),
        # turn 1: audio, tool call, response ends; continuation audio 1000 ms after last audio
        SpeechStarted(provider=o, t=5.0),
        SpeechStopped(provider=o, t=6.0),
        chunk(6.4),
        chunk(6.5),
        tool_call("c1", "get_weather", {"city": "Paris"}, t=6.6, provider=o),
        # OpenAI ends the response that called the tool; the answer goes on in a new one
        GenerationComplete(provider=o, t=6.65, reason="tool_calls", usage=usage(10, 20)),
        ResponseStarted(provider=o, t=7.2),
        chunk(7.5),
        chunk(7.6),
        # one TurnComplete per answer, its usage summed over the turn's responses
        TurnComplete(provider=o, t=7.7, usage=usage(40, 60)),
        # turn 2: barge-in while the model is speaking: speech 10.8 -> interrupted 10.95 (150)
        SpeechStarted(provider=o, t=9.0),
        SpeechStopped(provider=o, t=10.0),
        chunk(10.3),
        chunk(10.4),
        chunk(10.5),
        SpeechStarted(provider=o, t=10.8),
        Interrupted(provider=o, t=10.95),
        TurnComplete(provider=o, t=11.0, status="cancelled"),
        # turn 3: the interrupting utterance, answered after 200 ms
        SpeechStopped(provider=o, t=11.5),
        chunk(11.7),
        TurnComplete(provider=o, t=11.9, usage=usage(5, 5)),
    ]


def test_known_numbers_from_events() -> None:
    m = turn_metrics(timeline(), prices=PRICES)
    assert len(m) == 4
    t0, t1, t2, t3 = m
    assert (t0.user_speech_end_ms, t0.wire_first_audio_ms, t0.wire_last_audio_ms) == (
        1000.0,
        1350.0,
        2000.0,
    )
    # audible: the last 100 ms chunk arrived at 3.0 s and plays until 3.1 s
    assert (t0.audible_first_ms, t0.audible_last_ms) == (1350.0, 2100.0)
    assert (t0.ttfb_ms, t0.ttlb_ms, t0.tool_gap_ms, t0.interruption_latency_ms) == (
        350.0,
        1000.0,
        None,
        None,
    )
    assert t0.audio_out_ms == pytest.approx(300.0)
    assert t1.ttfb_ms == pytest.approx(400.0) and t1.tool_gap_ms == pytest.approx(1000.0)
    assert t1.tool_calls == 1 and t1.ttlb_ms == pytest.approx(1600.0)
    assert t1.audio_spans_ms == ((5400.0, 5600.0), (6500.0, 6700.0))  # the hole is the tool gap
    assert t1.usage == Usage(
        input_tokens=40,
        input_audio_tokens=40,
        output_tokens=60,
        output_audio_tokens=60,
        total_tokens=100,
    )
    assert t2.barge_in_ms == pytest.approx(9800.0)
    assert t2.interruption_latency_ms == pytest.approx(150.0) and t2.status == "cancelled"
    assert t3.user_speech_start_ms == pytest.approx(9800.0)
    assert t3.ttfb_ms == pytest.approx(200.0) and t3.interruption_latency_ms is None
    # cost: m1 audio in 10/M, out 20/M
    assert t0.cost_usd == pytest.approx((100 * 10 + 200 * 20) / 1e6)
    assert t2.cost_usd is None  # cancelled without usage


def test_same_numbers_from_a_log_file(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    # events-only input is timed from its first event (t=1.0 s); start the log there too
    with EventLog(path, clock=Clock(), start=1.0) as log:
        for ev in timeline():
            log.event(ev)
    from realtimelab.replay import read_log

    from_log = turn_metrics(read_log(path), prices=PRICES)
    from_events = turn_metrics(timeline(), prices=PRICES)
    assert from_log == from_events


def test_text_turn_and_client_flush_via_trace_points() -> None:
    """The session's trace points (`user_end`, `flush`) mark what frames never say."""
    clock = Clock()
    log = EventLog(None, clock=clock)
    log.frame("in", {"type": "session.created", "session": {"model": "m1-mini"}}, 0.0)
    log.trace("user_end", 1.0, {"how": "text"})
    for t in (1.3, 1.4, 1.5, 1.6, 1.7):  # 5 x 100 ms: playback until ~1.8 s
        log.event(chunk(t))
    log.event(TurnComplete(provider="openai", t=1.75, usage=usage(10, 10)))
    # the server already finished; the user barges in during playback, the client flushes
    log.event(SpeechStarted(provider="openai", t=1.76))
    log.trace("flush", 1.79, {"item_id": "i", "heard_ms": 400.0})
    (m0, m1) = turn_metrics(log.lines, prices=PRICES)
    assert m0.user_input == "text" and m0.user_speech_end_ms == 1000.0
    assert m0.ttfb_ms == pytest.approx(300.0) and m0.ttlb_ms == pytest.approx(700.0)
    assert m0.interruption_latency_ms == pytest.approx(30.0)
    assert m0.audible_last_ms == pytest.approx(1790.0)  # playback stopped at the flush
    assert m0.model == "m1-mini" and m0.cost_usd == pytest.approx((10 * 1 + 10 * 2) / 1e6)
    assert m1.user_speech_start_ms == pytest.approx(1760.0) and m1.wire_first_audio_ms is None


def test_speech_after_playback_is_not_a_barge_in() -> None:
    evs: list[Event] = [
        SpeechStopped(provider="gemini", t=1.0),
        chunk(1.2, provider="gemini"),  # plays 1.2 .. 1.3
        TurnComplete(provider="gemini", t=1.25),
        SpeechStarted(provider="gemini", t=2.0),
    ]
    m = turn_metrics(evs)
    assert m[0].barge_in_ms is None and m[0].interruption_latency_ms is None


def test_tool_call_before_any_audio_gaps_from_the_call() -> None:
    g: Provider = "gemini"
    evs: list[Event] = [
        SpeechStopped(provider=g, t=1.0),
        tool_call("f", "f", t=1.2, provider=g),
        tool_call("g", "g", t=1.21, provider=g),
        chunk(1.9, provider=g),
        TurnComplete(provider=g, t=2.0),
    ]
    (m,) = turn_metrics(evs)
    assert m.tool_calls == 2 and m.tool_gap_ms == pytest.approx(700.0)
    assert m.ttfb_ms == pytest.approx(900.0)


def test_unprompted_greeting_is_its_own_turn() -> None:
    (m,) = turn_metrics([chunk(0.5), TurnComplete(provider="openai", t=0.7)])
    assert m.user_input is None and m.ttfb_ms is None and m.wire_first_audio_ms == 0.0


def test_cost_rules() -> None:
    assert cost(None, "openai", prices=PRICES) == 0.0
    # text and audio priced separately; unsplit tokens billed at the audio rate
    u = Usage(
        input_tokens=1000,
        input_text_tokens=400,
        input_audio_tokens=100,
        output_tokens=300,
        output_text_tokens=100,
    )
    expected = (400 * 1.0 + 100 * 10.0 + 500 * 10.0 + 100 * 2.0 + 200 * 20.0) / 1e6
    assert cost(u, "openai", "m1", PRICES) == pytest.approx(expected)
    # cached tokens split in proportion and billed at cached_in
    c = Usage(input_tokens=100, input_audio_tokens=80, input_text_tokens=20, cached_tokens=50)
    assert cost(c, "openai", "m1", PRICES) == pytest.approx((40 * 10.0 + 10 * 1.0 + 50 * 0.5) / 1e6)
    # cached_in None: no discount
    assert cost(c, "openai", "m1-mini", PRICES) == pytest.approx((80 * 1.0 + 20 * 0.1) / 1e6)
    # dict usage, dated snapshot / models/ prefix resolved to the longest known prefix
    assert cost(
        {"output_audio_tokens": 1000, "output_tokens": 1000}, "openai", "m1-mini-2025-10-06", PRICES
    ) == pytest.approx(2000 / 1e6)
    assert price_for("gemini", "models/g1-preview", PRICES)[0] == "g1"
    with pytest.raises(KeyError, match="known"):
        price_for("openai", "other-model", PRICES)
    with pytest.raises(KeyError, match="provider"):
        price_for("azure", None, PRICES)


def test_thinking_and_tool_prompts_are_billed_and_pictures_at_the_audio_rate() -> None:
    u = Usage(
        input_tokens=300,
        input_text_tokens=100,
        input_image_tokens=200,  # no rate of its own: billed with the unsplit rest (audio)
        output_tokens=50,
        output_text_tokens=50,
        thoughts_tokens=40,  # outside output_tokens, billed as text output
        tool_use_prompt_tokens=30,  # outside input_tokens, billed as text input
    )
    expected = (100 * 1.0 + 200 * 10.0 + 50 * 2.0 + 40 * 2.0 + 30 * 1.0) / 1e6
    assert cost(u, "openai", "m1", PRICES) == pytest.approx(expected)


def test_shipped_price_table_is_documented_and_complete() -> None:
    table = load_prices()
    assert "_note" in table and "_date" in table
    for provider in ("openai", "gemini"):
        default, _ = price_for(provider, None, table)
        assert default == table[provider]["default"]
        for model in table[provider]["models"]:
            _, p = price_for(provider, model, table)
            assert p.audio_out > p.audio_in > p.text_in > 0  # audio costs more than text
    assert price_for("openai", "gpt-realtime-mini-2025-10-06", table)[0] == "gpt-realtime-mini"
    assert price_for("openai", "gpt-realtime-2025-08-28", table)[0] == "gpt-realtime"


def test_summary_percentiles_and_table() -> None:
    m = turn_metrics(timeline(), prices=PRICES)
    s = summarize(m)
    assert s["turns"] == 4 and s["tool_calls"] == 1 and s["interruptions"] == 1
    ttfbs = sorted(x.ttfb_ms for x in m if x.ttfb_ms is not None)
    assert s["ttfb_ms"]["n"] == 4
    assert s["ttfb_ms"]["p50"] == pytest.approx(percentile(ttfbs, 50))
    assert s["ttfb_ms"]["p90"] == pytest.approx(percentile(ttfbs, 90))
    assert s["tool_gap_ms"]["p50"] == pytest.approx(1000.0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 90) == pytest.approx(19.0)
    table = format_table(m)
    rows = table.splitlines()
    assert rows[0].split()[:5] == ["turn", "provider", "input", "user_end", "ttfb"]
    assert len(rows) == 2 + 4 and rows[2].split()[4] == "350"
    assert format_table([]) == "(no turns)"


def test_summary_by_provider() -> None:
    evs = [
        *timeline()[:7],
        *[dataclasses.replace(e, provider="gemini", t=e.t + 20) for e in timeline()[:7]],
    ]
    s = summarize(turn_metrics(evs, prices=PRICES))
    assert set(s["by_provider"]) == {"gemini", "openai"}
    assert s["by_provider"]["gemini"]["ttfb_ms"]["p50"] == pytest.approx(350.0)


def test_waterfall_figure(tmp_path: Path) -> None:
    fig = waterfall(timeline())
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"turn {i} (openai)" for i in range(4)]
    texts = [t.get_text() for t in ax.texts]
    assert "TTFB 350 ms" in texts and any("tool gap 1000" in t for t in texts)
    fig.savefig(tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 1000
