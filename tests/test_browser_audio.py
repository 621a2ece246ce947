"""realtimelab.browser_audio: the kernel side without a browser, then the whole thing in Chromium.

The unit tests replace the widget's comm with a recorder and feed it the messages a page would
send, so the protocol (binary buffers, sequence numbers, reports, ownership) is pinned without
a front end. The `browser` tests run a notebook in JupyterLab in headless Chromium with a fake
microphone that plays a speech fixture, and check what a learner would hear and say.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("anywidget")

import itertools

from support.page_fakes import RecordingComm, from_page, played

from realtimelab.browser_audio import (
    MIC_RATES,
    STATIC,
    BrowserAudio,
    FlushReport,
)

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "data" / "speech"


# ----------------------------------------------------------------------------------------------
# unit tests: a recorder in place of the comm
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def widget() -> Iterator[tuple[BrowserAudio, RecordingComm]]:
    w = BrowserAudio()
    comm = RecordingComm()
    w.comm.send = comm.send  # the widget keeps its (dummy) comm; only sending is recorded
    yield w, comm


def tone(ms: float, rate: int) -> bytes:
    n = round(rate * ms / 1000)
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)
    return (x * 32767).astype("<i2").tobytes()


def test_play_sends_pcm_as_binary_buffers_in_pieces_of_at_most_a_second(widget: Any) -> None:
    w, comm = widget
    pcm = tone(2500, 24000)
    w.play(pcm, 24000, item_id="resp_1")
    plays = comm.custom("play")
    assert [len(b[0]) for _, b in plays] == [48000, 48000, 24000]
    assert b"".join(b[0] for _, b in plays) == pcm  # raw bytes, not base64 text
    for i, (content, buffers) in enumerate(plays, start=1):
        assert content["seq"] == i and content["rate"] == 24000 and content["item"] == "resp_1"
        assert len(buffers) == 1 and "pcm" not in content
    s = w.stats()
    assert s.chunks_sent == 3 and s.sent_ms == pytest.approx(2500.0)


def test_play_accepts_bytes_like_and_checks_its_input(widget: Any) -> None:
    w, comm = widget
    w.play(bytearray(tone(20, 16000)), 16000)
    w.play(memoryview(tone(20, 16000)), 16000)
    w.play(b"", 16000)  # nothing to send
    assert len(comm.custom("play")) == 2
    with pytest.raises(ValueError, match="even number of bytes"):
        w.play(b"\x00\x01\x02", 16000)
    with pytest.raises(ValueError, match="rate"):
        w.play(b"\x00\x00", 0)


def test_played_reports_drive_the_position_hook_and_traits(widget: Any) -> None:
    w, comm = widget
    seen: list[tuple[float, float]] = []
    observed: list[float] = []
    w.on_played(lambda ms, t: seen.append((ms, t)))
    w.observe(lambda change: observed.append(change["new"]), names="played_ms")
    before = time.monotonic()
    played(w, 120.0, item_id="resp_1", item_ms=120.0, gaps=0, latency_ms=12.5)
    assert w.played_ms == 120.0 and w.playing
    assert seen[0][0] == 120.0 and before <= seen[0][1] <= time.monotonic()
    assert observed == [120.0]
    report = w.last_report
    assert report is not None and report.item_id == "resp_1" and report.latency_ms == 12.5
    assert w.item_played_ms == 120.0
    assert w.connected
    # The first page to speak becomes the owner and is told so.
    assert comm.custom("owner")[0][0]["client"] == "A"


def test_estimate_interpolates_between_reports_within_what_was_sent(
    widget: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, _ = widget
    clock = [50.0]
    monkeypatch.setattr("realtimelab.browser_audio.time.monotonic", lambda: clock[0])
    w.play(tone(300, 24000), 24000)
    played(w, 100.0)
    clock[0] += 0.08
    assert w.estimate_played_ms() == pytest.approx(180.0)
    clock[0] += 10.0
    assert w.estimate_played_ms() == pytest.approx(300.0)  # never beyond what was sent
    played(w, 300.0, playing=False)
    clock[0] += 1.0
    assert w.estimate_played_ms() == 300.0


def test_played_position_never_goes_back(widget: Any) -> None:
    w, _ = widget
    played(w, 500.0)
    played(w, 400.0)  # a stale or reordered report
    assert w.played_ms == 500.0


def test_flush_sends_a_sequenced_request_and_reports_what_was_dropped(widget: Any) -> None:
    w, comm = widget
    reports: list[FlushReport] = []
    w.on_flushed(reports.append)
    w.play(tone(1000, 24000), 24000)
    played(w, 300.0)
    w.flush()
    w.flush()
    assert [c["seq"] for c, _ in comm.custom("flush")] == [1, 2]
    from_page(
        w, {"type": "flushed", "client": "A", "seq": 1, "discarded_ms": 695.0, "played_ms": 305.0}
    )
    from_page(
        w, {"type": "flushed", "client": "A", "seq": 2, "discarded_ms": 0.0, "played_ms": 305.0}
    )
    assert [r.seq for r in reports] == [1, 2]
    assert reports[0].discarded_ms == 695.0 and reports[0].played_ms == 305.0
    assert reports[0].t >= reports[0].sent_t
    assert w.discarded_ms == 695.0 and w.last_flush == reports[1]
    s = w.stats()
    assert s.flushes == 2 and s.played_ms + s.discarded_ms == pytest.approx(s.sent_ms)


def test_mic_frames_reach_the_hook_as_bytes_with_counters(widget: Any) -> None:
    w, _ = widget
    frames: list[tuple[bytes, int]] = []
    captures: list[bool] = []
    w.on_mic(lambda pcm, rate: frames.append((pcm, rate)))
    w.on_capture(captures.append)
    frame = tone(20, 16000)
    from_page(w, {"type": "capture", "client": "A", "capturing": True, "seq": 0})
    now = time.time() * 1000
    # One frame per message, then two in one message (mic_batch = 2); frame 2 went missing.
    from_page(w, {"type": "mic", "client": "A", "rate": 16000, "frames": [[0, now]]}, [frame])
    from_page(
        w,
        {"type": "mic", "client": "A", "rate": 16000, "ts": now, "frames": [[1, now], [3, now]]},
        [frame, frame],
    )
    # the page reopened the mic: its sequence starts again, nothing is missing
    from_page(w, {"type": "mic", "client": "A", "rate": 16000, "frames": [[0, now]]}, [frame])
    from_page(w, {"type": "capture", "client": "A", "capturing": False, "seq": 1})
    assert captures == [True, False]
    assert len(frames) == 4 and all(p == frame and r == 16000 for p, r in frames)
    assert isinstance(frames[0][0], bytes)
    assert w.mic_ms == pytest.approx(80.0)
    s = w.stats()
    assert s.mic_frames == 4 and s.mic_missing_frames == 1
    assert len(w.mic_lags_ms) == 4 and len(w.mic_transport_ms) == 1
    assert s.mic_lag_ms is not None and 0 <= s.mic_lag_ms < 1000


def test_the_kernel_answers_liveness_checks_from_any_page(widget: Any) -> None:
    w, comm = widget
    played(w, 1.0, client="A")
    from_page(w, {"type": "hb", "client": "B", "n": 7})  # not the owner: answered all the same
    assert comm.custom("hb")[-1][0] == {"type": "hb", "n": 7}


async def test_messages_from_another_thread_are_handled_on_the_widgets_loop() -> None:
    """JupyterLab delivers widget messages on a kernel subshell thread; callbacks must still
    run on the loop the widget was created on (where a notebook's session tasks live)."""
    w = BrowserAudio()  # created inside a running loop, like in a notebook cell
    comm = RecordingComm()
    w.comm.send = comm.send
    seen: list[int] = []
    w.on_played(lambda ms, t: seen.append(threading.get_ident()))
    worker = threading.Thread(target=played, args=(w, 10.0))
    worker.start()
    worker.join()
    assert seen == []  # not handled on the subshell's thread...
    for _ in range(20):
        await asyncio.sleep(0.01)
        if seen:
            break
    assert seen == [threading.get_ident()]  # ...but here, on the loop
    assert w.played_ms == 10.0


def test_mic_batch_is_validated() -> None:
    w = BrowserAudio()
    w.mic_batch = 3
    with pytest.raises(Exception, match="mic_batch"):
        w.mic_batch = 0


def test_a_second_page_is_ignored_until_the_owner_goes_quiet(
    widget: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, comm = widget
    clock = [100.0]
    monkeypatch.setattr("realtimelab.browser_audio.time.monotonic", lambda: clock[0])
    w.play(tone(1000, 24000), 24000)
    played(w, 400.0, client="A")
    from_page(w, {"type": "hello", "client": "B", "origin": "http://x", "secure": True})
    assert comm.custom("owner")[-1][0]["client"] == "A"  # B is told who plays
    played(w, 50.0, client="B")
    assert w.played_ms == 400.0  # B's numbers are not this widget's position
    clock[0] += 3.0  # A reloaded or closed: silent for longer than STALE_S
    assert not w.connected
    played(w, 50.0, client="B")
    assert comm.custom("owner")[-1][0]["client"] == "B"
    # B starts counting from 0: the widget's position carries on from A's.
    assert w.played_ms == pytest.approx(450.0)
    assert w.stats().lost_ms == pytest.approx(600.0)  # sent to A, never played there
    from_page(w, {"type": "claim", "client": "A"})  # "use audio here" in A
    assert comm.custom("owner")[-1][0]["client"] == "A"


def test_a_failing_callback_does_not_stop_the_others(widget: Any) -> None:
    w, _ = widget
    seen: list[float] = []

    def broken(ms: float, t: float) -> None:
        raise RuntimeError("boom")

    w.on_played(broken)
    w.on_played(lambda ms, t: seen.append(ms))
    played(w, 10.0)
    played(w, 20.0)
    assert seen == [10.0, 20.0] and w.stats().callback_errors == 2
    w.on_played(broken, remove=True)
    played(w, 30.0)
    assert w.stats().callback_errors == 2


def test_settings_are_validated() -> None:
    w = BrowserAudio()
    for rate in MIC_RATES:
        w.mic_rate = rate
    with pytest.raises(Exception, match="mic_rate"):
        w.mic_rate = 44100
    with pytest.raises(Exception, match="report_ms"):
        w.report_ms = 5
    with pytest.raises(Exception, match="prebuffer_ms must be between 0 and 2000 ms"):
        w.prebuffer_ms = -1
    with pytest.raises(Exception, match="mode"):
        w.mode = "always"


def test_ping_measures_round_trip_and_clock_offset(widget: Any) -> None:
    w, comm = widget
    w.ping()
    t0 = comm.custom("ping")[0][0]["t0"]
    from_page(w, {"type": "pong", "client": "A", "t0": t0, "tb": t0 + 5000.0})
    s = w.stats()
    assert s.rtt_ms is not None and 0 <= s.rtt_ms < 1000
    assert s.clock_offset_ms == pytest.approx(5000.0, abs=1000)


def test_trace_pairs_each_chunk_with_its_send_time(widget: Any) -> None:
    w, _ = widget
    w.trace = True
    w.play(tone(20, 24000), 24000)
    sent = time.time() * 1000
    played(w, 5.0, seq=1, starts=[[1, sent + 2.0, sent + 4.0]], latency_ms=10.0)
    [trace] = w.chunk_traces
    assert trace.seq == 1 and trace.arrive_ms == sent + 2.0 and trace.render_ms == sent + 4.0
    assert trace.sent_ms <= sent and trace.latency_ms == 10.0


async def test_wait_played_returns_when_the_page_has_played_everything(widget: Any) -> None:
    w, _ = widget
    w.play(tone(40, 24000), 24000)
    w.play(tone(40, 24000), 24000)
    waiter = asyncio.ensure_future(w.wait_played(timeout=5))
    await asyncio.sleep(0)
    played(w, 40.0, seq=2, queued_ms=40.0)
    await asyncio.sleep(0)
    assert not waiter.done()
    played(w, 80.0, seq=2, playing=False)
    assert await waiter is True
    w.play(tone(40, 24000), 24000)
    assert await w.wait_played(timeout=0.05) is False


def test_play_from_many_threads_keeps_messages_in_sequence(widget: Any) -> None:
    w, comm = widget
    pcm = tone(20, 24000)

    def burst() -> None:
        for _ in range(50):
            w.play(pcm, 24000)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seqs = [c["seq"] for c, _ in comm.custom("play")]
    assert seqs == list(range(1, 201))


async def test_play_from_an_asyncio_task(widget: Any) -> None:
    w, comm = widget

    async def feed() -> None:
        for _ in range(5):
            w.play(tone(20, 24000), 24000, item_id="x")
            await asyncio.sleep(0)

    await asyncio.create_task(feed())
    assert len(comm.custom("play")) == 5


def loop_widget(**traits: Any) -> tuple[BrowserAudio, RecordingComm]:
    """A widget made inside the running loop, as in a notebook cell (it can coalesce)."""
    w = BrowserAudio(**traits)
    comm = RecordingComm()
    w.comm.send = comm.send
    return w, comm


def played_pcm(comm: RecordingComm) -> bytes:
    return b"".join(b[0] for _, b in comm.custom("play"))


async def test_a_burst_is_coalesced_once_the_page_holds_enough() -> None:
    """20 ms chunks arriving faster than real time: call by call until the page holds more
    than coalesce_ms, then merged; the bytes and their order are unchanged."""
    w, comm = loop_widget()
    chunks = [bytes([i, 0]) * 480 for i in range(40)]  # 20 ms each, each one recognisable
    for chunk in chunks:
        w.play(chunk, 24000, item_id="x")
    # 13 calls go out one by one (260 ms ahead: the page has no report yet, so nothing is
    # played), then two 260 ms merges as soon as each has gathered; 20 ms is still held
    assert [len(b[0]) for _, b in comm.custom("play")] == [960] * 13 + [12480, 12480]
    assert w.sent_ms == pytest.approx(800.0)  # passed to play(), sent or held
    await asyncio.sleep(0.2)  # the rest goes within coalesce_ms / 2
    messages = comm.custom("play")
    assert len(messages) == 16
    assert played_pcm(comm) == b"".join(chunks)
    assert [c["seq"] for c, _ in messages] == list(range(1, 17))
    assert {c["item"] for c, _ in messages} == {"x"}


async def test_held_audio_keeps_order_across_items_and_goes_out_on_wait_played() -> None:
    w, comm = loop_widget()
    w.play(tone(300, 24000), 24000, item_id="a")  # one call of 300 ms: sent at once
    w.play(tone(20, 24000), 24000, item_id="a")  # held
    w.play(tone(40, 24000), 24000, item_id="b")  # another item: the held audio goes first
    assert [(c["item"], len(b[0])) for c, b in comm.custom("play")] == [
        ("a", 14400),
        ("a", 960),
    ]
    waiting = asyncio.ensure_future(w.wait_played(timeout=0.05))
    await asyncio.sleep(0)
    assert [c["item"] for c, _ in comm.custom("play")] == ["a", "a", "b"]
    assert not await waiting  # no page: nothing was played


async def test_flush_drops_what_the_kernel_holds_and_counts_it_as_discarded() -> None:
    w, comm = loop_widget()
    w.play(tone(300, 24000), 24000, item_id="a")
    w.play(tone(100, 24000), 24000, item_id="a")  # held
    w.flush()
    assert w.discarded_ms == pytest.approx(100.0)
    w.play(tone(20, 24000), 24000, item_id="b")
    await asyncio.sleep(0.2)
    assert [c["item"] for c, _ in comm.custom("play")] == ["a", "b"]  # the held 100 ms never went
    seq = comm.custom("flush")[-1][0]["seq"]
    from_page(w, {"type": "flushed", "client": "A", "seq": seq, "discarded_ms": 250.0})
    assert w.last_flush is not None and w.last_flush.discarded_ms == pytest.approx(350.0)
    assert w.discarded_ms == pytest.approx(350.0)


async def test_a_real_time_stream_and_coalesce_zero_go_out_call_by_call() -> None:
    w, comm = loop_widget()
    for _ in range(30):
        w.play(tone(20, 24000), 24000)
        played(w, w.sent_ms - 40.0)  # the page keeps up: 40 ms queued
    assert len(comm.custom("play")) == 30
    w2, comm2 = loop_widget(coalesce_ms=0)
    for _ in range(30):
        w2.play(tone(20, 24000), 24000)
    assert len(comm2.custom("play")) == 30
    with pytest.raises(Exception, match="coalesce_ms"):
        BrowserAudio(coalesce_ms=5000)


def test_front_end_files_ship_with_the_package() -> None:
    esm = (STATIC / "browser_audio.js").read_text()
    worklet = (STATIC / "browser_audio_worklet.js").read_text()
    assert "export default" in esm and "msg:custom" in esm
    assert 'registerProcessor("rtl-player"' in worklet and 'registerProcessor("rtl-mic"' in worklet
    assert (STATIC / "browser_audio.css").exists()
    w = BrowserAudio()
    assert w._worklet == worklet and "export default" in str(w._esm)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"static/*.js"' in pyproject and '"static/*.css"' in pyproject


# ----------------------------------------------------------------------------------------------
# analysis helpers for the browser tests
# ----------------------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as f:
        return np.frombuffer(f.readframes(f.getnframes()), "<i2"), f.getframerate()


def envelope(x: np.ndarray, rate: int, ms: int = 20) -> np.ndarray:
    """RMS per `ms` frame: the shape of speech, robust to small delays and resampling."""
    n = rate * ms // 1000
    k = len(x) // n
    return np.sqrt((x[: k * n].astype(np.float64).reshape(k, n) ** 2).mean(axis=1))


def best_loop_correlation(received: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Highest Pearson correlation of `received` against `reference` repeated end to end (the
    fake microphone loops its file), over every starting offset; and that offset."""
    n = len(received)
    tiled = np.tile(reference, n // len(reference) + 2)
    scores = [
        float(np.corrcoef(received, tiled[lag : lag + n])[0, 1]) for lag in range(len(reference))
    ]
    best = int(np.argmax(scores))
    return scores[best], best


# ----------------------------------------------------------------------------------------------
# real browser: JupyterLab + Chromium with a fake microphone
# ----------------------------------------------------------------------------------------------

NOTEBOOK = "browser_audio.ipynb"
INSECURE_NOTEBOOK = "browser_audio_insecure.ipynb"
INSECURE_HOST = "rtl-insecure.test"
MIC_WAV = SPEECH / "weather_and_time_16k.wav"
CELL = "from realtimelab.browser_audio import BrowserAudio\naudio = BrowserAudio()\naudio"
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class Rig:
    lab: Any
    browser: Any
    page: Any
    kernel: Any


def _open_widget(browser: Any, url: str) -> Any:
    """A page with the notebook run and the widget drawn (retried in a fresh page once)."""
    from support.browser_lab import open_and_run

    return open_and_run(
        browser,
        url,
        ".rtl-ba",
        artifacts=ARTIFACTS,
        viewport={"width": 1200, "height": 800},
        permissions=["microphone"],
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    from support.browser_lab import (
        audio_args,
        jupyter_lab,
        launch_chromium,
        skip_reason,
        write_notebook,
    )

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    work = tmp_path_factory.mktemp("audio_lab")
    write_notebook(work / NOTEBOOK, [CELL])
    write_notebook(work / INSECURE_NOTEBOOK, [CELL])
    with ExitStack() as stack:
        lab = stack.enter_context(
            jupyter_lab(work, extra_args=["--ServerApp.allow_remote_access=True"])
        )
        pw = stack.enter_context(sync_playwright())
        browser = launch_chromium(
            pw,
            [
                *audio_args(MIC_WAV, fake_ui=False),  # pages get the mic per context, revocably
                # a host name that is not localhost: the page is an insecure context there
                f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
            ],
        )
        stack.callback(browser.close)
        page = _open_widget(browser, lab.url(NOTEBOOK))
        kernel = lab.kernel(NOTEBOOK)
        stack.callback(kernel.close)
        kernel.wait_for("audio.connected and audio.context_rate > 0", timeout=30)
        kernel.run(
            "from realtimelab.lab import speech\n"
            "pcm = speech('weather_paris', 24000)[: 2 * 24000 * 2]  # 2.0 s"
        )
        yield Rig(lab, browser, page, kernel)


@pytest.fixture
def shot(rig: Rig, request: pytest.FixtureRequest) -> Iterator[None]:
    """A screenshot of the page when a browser test fails."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:  # this test's call just failed
        ARTIFACTS.mkdir(exist_ok=True)
        rig.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_page_plays_two_seconds_of_speech_in_real_time(rig: Rig, shot: None) -> None:
    k = rig.kernel
    k.run(
        "import threading\nthreads = set()\n"
        "audio.on_played(lambda ms, t: threads.add(threading.get_ident()))\n"
        "reports = []\naudio.on_played(lambda ms, t: reports.append((ms, t)))\n"
        "base = audio.played_ms\naudio.play(pcm, 24000, item_id='one')"
    )
    started = time.monotonic()
    k.wait_for("audio.playing", timeout=10, interval=0.05)
    k.wait_for("not audio.playing and audio.played_ms - base > 1900", timeout=15)
    elapsed = time.monotonic() - started
    played_ms = k.value("audio.played_ms - base")
    assert played_ms == pytest.approx(2000.0, abs=5.0)
    assert elapsed > 1.7, f"2 s of audio 'played' in {elapsed:.2f} s: not in real time"
    item = k.value("[audio.item_id, audio.item_played_ms, audio.stats().gaps]")
    assert item[0] == "one" and item[1] == pytest.approx(2000.0, abs=5.0) and item[2] == 0
    # Several reports a second while playing, each later one at a larger position.
    series = k.value("[(ms - base, t) for ms, t in reports]")
    during = [(ms, t) for ms, t in series if 0 < ms < 2000]
    assert len(during) >= 10
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(series))
    # Callbacks run on the kernel's main thread (its asyncio loop), whichever thread the
    # front end's messages arrive on.
    assert k.value("threads == {threading.main_thread().ident}") is True


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_flush_mid_way_silences_the_page_and_reports_the_discarded_audio(
    rig: Rig, shot: None
) -> None:
    k = rig.kernel
    k.run(
        "flushes = []\naudio.on_flushed(flushes.append)\n"
        "base = audio.played_ms\naudio.play(pcm, 24000, item_id='two')"
    )
    k.wait_for("audio.played_ms - base > 700", timeout=10, interval=0.05)
    k.run("audio.flush()")
    k.wait_for("len(flushes)", timeout=5, interval=0.05)
    flush = k.value("[flushes[0].discarded_ms, flushes[0].played_ms - base]")
    discarded, at = flush
    assert 700 <= at <= 1500
    assert discarded == pytest.approx(2000.0 - at, abs=2.0)
    k.wait_for("not audio.playing", timeout=2, interval=0.05)
    time.sleep(0.6)
    after = k.value("audio.played_ms - base")
    assert after == pytest.approx(at, abs=1.0), "the page kept playing after the flush"
    s = k.value("(lambda s: [s.sent_ms, s.played_ms, s.discarded_ms])(audio.stats())")
    assert s[1] + s[2] == pytest.approx(s[0], abs=2.0)  # every ms sent: played or discarded
    # A flush does not break the player: the next answer plays.
    k.run("base2 = audio.played_ms\naudio.play(pcm[: 24000], 24000, item_id='three')")
    k.wait_for("audio.played_ms - base2 >= 499.9 and not audio.playing", timeout=10)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_microphone_streams_20ms_frames_of_what_it_hears(rig: Rig, shot: None) -> None:
    k = rig.kernel
    k.run(
        "frames = []\ncaptures = []\n"
        "audio.on_mic(lambda pcm, rate: frames.append((pcm, rate)))\n"
        "audio.on_capture(captures.append)\n"
        "audio.echo_cancellation = audio.noise_suppression = audio.auto_gain_control = False\n"
        "audio.mic_rate = 16000\nmic0 = audio.mic_ms\naudio.mic_enabled = True"
    )
    k.wait_for("audio.mic_ms - mic0 >= 3000", timeout=30)
    k.run("audio.mic_enabled = False")
    k.wait_for("captures and captures[-1] is False", timeout=5)
    sizes = k.value("sorted({(len(p), r) for p, r in frames})")
    assert sizes == [[640, 16000]]  # 20 ms of PCM16 at 16 kHz
    settings = k.value("audio.mic_settings")
    assert settings["echoCancellation"] is False and settings["autoGainControl"] is False
    assert k.value("captures[0]") is True
    assert k.value("audio.stats().mic_missing_frames") == 0
    pcm = base64.b64decode(
        k.value("__import__('base64').b64encode(b''.join(p for p, _ in frames)).decode()")
    )
    got = np.frombuffer(pcm, "<i2")
    ref, rate = read_wav(MIC_WAV)
    assert rate == 16000
    score, _lag = best_loop_correlation(envelope(got, 16000), envelope(ref, 16000))
    assert score > 0.9, f"mic audio does not follow the fixture (envelope r = {score:.2f})"
    level = 20 * np.log10(
        np.sqrt(np.mean(got.astype(float) ** 2)) / np.sqrt(np.mean(ref.astype(float) ** 2))
    )
    assert abs(level) < 6, f"mic level {level:+.1f} dB off the fixture's"
    # The kernel may switch the rate: frames follow at once.
    k.run("frames.clear()\naudio.mic_rate = 24000\naudio.mic_enabled = True")
    k.wait_for("len(frames) >= 10", timeout=15)
    k.run("audio.mic_enabled = False")
    assert [960, 24000] in k.value("sorted({(len(p), r) for p, r in frames})")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_push_to_talk_button_and_mute_gate_the_frames(rig: Rig, shot: None) -> None:
    k, page = rig.kernel, rig.page
    k.run(
        "captures.clear()\naudio.mic_rate = 16000\naudio.mode = 'push_to_talk'\n"
        "audio.mic_enabled = True"
    )
    k.wait_for("'hold the button' in audio.status", timeout=15)
    n0 = k.value("audio.stats().mic_frames")
    time.sleep(0.5)
    assert k.value("audio.stats().mic_frames") == n0, "frames flowed without the talk button"
    button = page.locator(".rtl-ba-ptt")
    button.hover()
    page.mouse.down()
    time.sleep(0.6)
    page.mouse.up()
    k.wait_for("captures[-2:] == [True, False]", timeout=5)
    talked = k.value("audio.stats().mic_frames") - n0
    assert 15 <= talked <= 60, f"{talked} frames for a 0.6 s press"
    # Mute keeps the microphone open and sends nothing.
    k.run("audio.mode = 'hands_free'\naudio.muted = True")
    k.wait_for("'muted' in audio.status", timeout=5)
    n1 = k.value("audio.stats().mic_frames")
    time.sleep(0.5)
    assert k.value("audio.stats().mic_frames") == n1
    k.run("audio.muted = False")
    k.wait_for(f"audio.stats().mic_frames > {n1 + 5}", timeout=5)
    k.run("audio.mic_enabled = False")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_denied_microphone_permission_is_one_clear_line(rig: Rig, shot: None) -> None:
    k, page = rig.kernel, rig.page
    cdp = page.context.new_cdp_session(page)
    # Playwright pages live in their own browser context: the permission must be set there.
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]

    def permission(setting: str) -> None:
        cdp.send(
            "Browser.setPermission",
            {
                "permission": {"name": "microphone"},
                "setting": setting,
                "origin": rig.lab.base,
                "browserContextId": context_id,
            },
        )

    permission("denied")
    try:
        k.run("audio.mic_enabled = True")
        error = k.wait_for("audio.error", timeout=15)
        assert "permission denied" in error and "\n" not in error
        assert k.wait_for("not audio.mic_enabled", timeout=5) is True
        assert "permission denied" in page.locator(".rtl-ba-error").inner_text()
    finally:
        permission("granted")
    k.run("audio.mic_enabled = True")  # allowed again: the error clears, frames flow
    k.wait_for("audio.capturing and not audio.error", timeout=15)
    k.run("audio.mic_enabled = False")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_insecure_page_says_why_there_is_no_audio(rig: Rig) -> None:
    port = rig.lab.base.rsplit(":", 1)[1]
    url = (
        f"http://{INSECURE_HOST}:{port}/lab/workspaces/insecure/tree/{INSECURE_NOTEBOOK}"
        f"?token={rig.lab.token}"
    )
    page = _open_widget(rig.browser, url)
    kernel = rig.lab.kernel(INSECURE_NOTEBOOK)
    try:
        error = kernel.wait_for("audio.error", timeout=20)
        assert "secure page" in error and "localhost" in error and "\n" not in error
        assert "secure page" in page.locator(".rtl-ba-error").inner_text()
        kernel.run("audio.mic_enabled = True")
        assert kernel.wait_for("not audio.mic_enabled", timeout=10) is True
    finally:
        kernel.close()
        page.close()
        rig.lab.api(f"/api/kernels/{rig.lab.kernel_id(INSECURE_NOTEBOOK)}", "DELETE")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_kernel_restart_is_shown_in_the_widget(rig: Rig, shot: None) -> None:
    page = rig.page
    error_includes = (
        "(text) => (document.querySelector('.rtl-ba-error') || {}).textContent?.includes(text)"
    )
    # Restarted from elsewhere (REST API, another tab): this page only notices the silence.
    rig.lab.api(f"/api/kernels/{rig.lab.kernel_id(NOTEBOOK)}/restart", "POST")
    page.wait_for_function(error_includes, arg="has not answered", timeout=30_000)
    # Restarted from this page's menu: ipywidgets marks the model dead at once.
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_text("Restart Kernel…", exact=True).click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(error_includes, arg="Disconnected from the kernel", timeout=30_000)
    assert "\n" not in page.locator(".rtl-ba-error").inner_text()
    # Let the restart finish, so that shutting the server down does not race it.
    kid = rig.lab.kernel_id(NOTEBOOK)
    deadline = time.monotonic() + 30
    while rig.lab.api(f"/api/kernels/{kid}").get("execution_state") != "idle":
        assert time.monotonic() < deadline, "the kernel did not come back after the restart"
        time.sleep(0.3)
