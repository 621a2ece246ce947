"""realtimelab.speakers: the lessons' live players, without a browser (the page is simulated
the way tests/test_browser_audio.py does; Chromium plays them when the notebooks run in CI).

What must hold: a session's playout clock follows a page only while the page really plays, its
reports count this session's audio only (the page counts from its creation, across sessions),
and a page that never plays leaves the session on its wall-clock model instead of freezing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

pytest.importorskip("anywidget")

from support.page_fakes import RecordingComm, played

from realtimelab import connect, lab
from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.contract import ReportingPlayer
from realtimelab.speakers import ReportingSpeaker, Speaker, Speakers


def silent_pcm(ms: float, rate: int = 24000) -> bytes:
    return np.zeros(round(rate * ms / 1000), "<i2").tobytes()


@pytest.fixture
def speakers() -> Any:
    s = Speakers(["openai", "gemini"])
    for audio in s.audio.values():
        audio.comm.send = RecordingComm().send
    yield s
    s.close()


def test_speakers_are_speaker_only_and_only_the_first_is_audible(speakers: Speakers) -> None:
    a, b = speakers.audio["openai"], speakers.audio["gemini"]
    assert (a.microphone, b.microphone) == (False, False)
    assert (a.label, b.label) == ("openai", "gemini")
    assert (a.volume, b.volume) == (1.0, 0.0)
    assert Speakers(["x", "y"], audible=["y"]).audio["y"].volume == 1.0
    assert speakers.player("nobody") is None


def test_without_a_playing_page_a_session_gets_a_player_that_does_not_report(
    speakers: Speakers,
) -> None:
    player = speakers.player("openai")
    assert type(player) is Speaker and not isinstance(player, ReportingPlayer)
    # a page that shows the speaker but whose AudioContext waits for a click
    played(speakers.audio["openai"], 0.0, playing=False, running=False)
    assert not speakers.playing("openai")
    assert type(speakers.player("openai")) is Speaker


def test_a_playing_page_reports_this_sessions_audio_only(speakers: Speakers) -> None:
    audio = speakers.audio["openai"]
    audio.play(silent_pcm(800), 24000)  # an earlier session's answer: 800 ms sent
    played(audio, 500.0, running=True)  # the page has played 500 ms of it
    assert speakers.playing("openai")
    player = speakers.player("openai")
    assert isinstance(player, ReportingSpeaker) and isinstance(player, ReportingPlayer)
    seen: list[float] = []
    player.on_played(lambda ms, t: seen.append(ms))
    player.play(silent_pcm(400), 24000, item_id="item_1")
    played(audio, 700.0, running=True)  # still the earlier answer's tail: nothing of ours
    played(audio, 1000.0, running=True)  # 200 ms into ours
    played(audio, 1100.0, playing=True, running=False)  # the page got suspended: not passed on
    assert seen == [0.0, 200.0]


def test_a_new_session_takes_the_speaker_and_the_old_one_stops_hearing_reports(
    speakers: Speakers,
) -> None:
    audio = speakers.audio["gemini"]
    played(audio, 0.0, running=True)
    first, second = speakers.player("gemini"), speakers.player("gemini")
    got: dict[str, list[float]] = {"first": [], "second": []}
    assert isinstance(first, ReportingSpeaker) and isinstance(second, ReportingSpeaker)
    first.on_played(lambda ms, t: got["first"].append(ms))
    second.on_played(lambda ms, t: got["second"].append(ms))
    played(audio, 100.0, running=True)
    assert got == {"first": [], "second": [100.0]}


async def test_a_session_playout_follows_the_page_while_it_plays(speakers: Speakers) -> None:
    """End to end on the emulator: the answer's audio goes to the page as it arrives, and the
    page's report (not the wall clock) says how much of it was heard."""
    audio = speakers.audio["openai"]
    played(audio, 0.0, playing=False, running=True)
    player = speakers.player("openai")
    url = lab.emulator_url(speed=8.0)
    async with connect("openai", SessionConfig(), url=url, player=player) as session:
        await session.send_text("Hello there!")
        async with asyncio.timeout(20):
            async for event in session:
                if isinstance(event, ev.TurnComplete):
                    break
        assert audio.sent_ms == pytest.approx(session.playout.received_ms, abs=1.0)
        assert audio.sent_ms > 500
        played(audio, 300.0, playing=False, running=True)
        assert session.playout.reporting
        # the page said 300 ms; the session advances it at real time until the next report
        assert session.playout.position(session.now()) == pytest.approx(300.0, abs=50.0)


def test_outside_a_notebook_kernel_there_are_no_live_players(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert lab.live_players() is None
    assert "not available here" in capsys.readouterr().out
    assert lab.speaker("openai") is None
    lab.check_played_live()  # nothing to check, nothing said
    assert capsys.readouterr().out == ""


def test_a_playing_page_that_played_nothing_fails_the_live_check(
    speakers: Speakers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lab, "_speakers", speakers)
    played(speakers.audio["openai"], 0.0, running=True)  # plays, but nothing reached it
    with pytest.raises(lab.ClaimFailed, match="openai: the page played the answers live"):
        lab.check_played_live()
    played(speakers.audio["openai"], 1500.0, running=True)
    lab.check_played_live()  # gemini's page is not playing: not checked
    assert capsys.readouterr().out.count("✓") == 1
