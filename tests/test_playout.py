"""The playout clock: where the listener is in the assistant's audio, without sleeping."""

from __future__ import annotations

import pytest

from realtimelab.playout import Playout


def test_wall_clock_model_plays_from_arrival_at_real_time() -> None:
    p = Playout()
    p.received("a", 1000, t=10.0)
    assert p.position(10.5) == pytest.approx(500)
    assert p.heard_ms("a", 10.5) == pytest.approx(500)
    assert p.audible(10.5)
    assert p.ends_at(10.5) == pytest.approx(11.0)
    assert p.position(12.0) == pytest.approx(1000)
    assert not p.audible(12.0)


def test_audio_faster_than_real_time_queues_behind_what_plays() -> None:
    p = Playout()
    # ten 100 ms chunks arrive within 0.2 s: generation 5x real time
    for i in range(10):
        p.received("a", 100, t=i * 0.02)
    assert p.received_ms == 1000
    assert p.heard_ms("a", 0.3) == pytest.approx(300)
    assert p.pending_ms(0.3) == pytest.approx(700)


def test_an_underrun_is_silence_not_audio_played_in_advance() -> None:
    p = Playout()
    p.received("a", 200, t=0.0)
    p.received("a", 200, t=1.0)  # 0.8 s of silence in between
    assert p.position(1.1) == pytest.approx(300)
    assert p.heard_ms("a", 1.1) == pytest.approx(300)


def test_items_follow_each_other_on_the_timeline() -> None:
    p = Playout()
    p.received("a", 1000, t=0.0)
    p.received("b", 500, t=0.1)
    seg = p.current(1.2)
    assert seg is not None and seg.item_id == "b"
    assert p.heard_ms("b", 1.2) == pytest.approx(200)
    assert p.heard_ms("a", 1.2) == pytest.approx(1000)
    assert p.heard_ms("unknown", 1.2) == 0.0


def test_flush_reports_the_heard_position_and_discards_the_rest() -> None:
    p = Playout()
    p.received("a", 1000, t=0.0)
    cut = p.flush(0.3)
    assert cut is not None
    assert (cut.item_id, cut.heard_ms, cut.received_ms) == ("a", pytest.approx(300), 1000)
    assert cut.discarded_ms == pytest.approx(700)
    assert not p.audible(0.31)
    assert p.flush(0.4) is None  # nothing audible: nothing to cut
    # new audio after the flush plays from its arrival
    p.received("b", 400, t=0.5)
    assert p.heard_ms("b", 0.6) == pytest.approx(100)


def test_a_reporting_player_drives_the_cursor() -> None:
    p = Playout()
    p.attach(0.0)
    p.received("a", 2000, t=0.0)
    assert p.position(0.5) == 0.0  # attached, nothing reported playing yet
    p.report(400, t=0.5, playing=True)
    assert p.position(0.5) == pytest.approx(400)
    assert p.position(0.55) == pytest.approx(450)  # extrapolated between reports
    p.report(300, t=0.6)  # a stale report never moves the cursor back
    assert p.position(0.6) >= 400
    cut = p.flush(0.7)
    assert cut is not None and cut.item_id == "a"
    assert not p.audible(0.7)
    # the player's count continues after the flush; nothing is pending from the old item
    p.report(560, t=0.8, playing=False)
    assert not p.audible(0.9)
    p.received("b", 100, t=1.0)
    assert p.audible(1.0)
    p.report(660, t=1.2, playing=False)
    assert not p.audible(1.2)


def test_bad_reports_are_ignored() -> None:
    p = Playout()
    p.received("a", 100, t=0.0)
    p.report(float("nan"), t=0.0)
    p.report(-5, t=0.0)
    assert not p.reporting
    with pytest.raises(ValueError):
        Playout(rate=0)
