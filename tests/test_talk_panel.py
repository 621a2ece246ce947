"""realtimelab.talk_panel.TalkPanel without a browser: a simulated page, the real emulator.

`FakePage` (the lab's `SimulatedPage` with a WAV file as its microphone) does in Python what
the browser does for a `BrowserAudio`: it plays what the kernel sends at real time and reports
its position like the worklet (at once when playback starts or stops, every `report_ms` while
playing), honours flushes, and streams a WAV as the microphone in 20 ms frames batched
`mic_batch` to a message. Everything else is real: the session, the
emulator (at real speed, since the page plays at real time), its ears and brain. So the
barge-in path is checked end to end in a few seconds: the truncation point must be the page's
played position, not a wall-clock guess. The same scenario in Chromium is in
`tests/test_talk_panel_browser.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("anywidget")

from realtimelab.audio import read_wav
from realtimelab.config import SessionConfig
from realtimelab.lab import SimulatedPage, wait_until
from realtimelab.providers.registry import get
from realtimelab.talk_panel import TalkPanel

ROOT = Path(__file__).resolve().parents[1]
TALK = ROOT / "data" / "talk"
SPEECH = ROOT / "data" / "speech"
PROVIDERS = ("openai", "gemini")


class FakePage(SimulatedPage):
    """A page showing the panel's BrowserAudio (see the module docstring): the lab's simulated
    page, its microphone a WAV file that loops unless `loop=False`."""

    def __init__(self, panel: TalkPanel, mic_wav: Path | None = None, *, loop: bool = True) -> None:
        pcm, rate = b"", 16000
        if mic_wav is not None:
            pcm, fmt = read_wav(mic_wav)
            rate = fmt.rate
        super().__init__(panel, pcm, rate, loop=loop)


class EagerPage(FakePage):
    """A page that reports at once when a flush stops playback (as Chromium's does), and whose
    idle report reaches the kernel before the panel has seen the session's `Interrupted`."""

    def _from_kernel(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        super()._from_kernel(data, metadata, buffers)
        custom = isinstance(data, dict) and data.get("method") == "custom"
        if custom and data["content"]["type"] == "flush":
            state = self._state()
            self._playing, self._last_report = state["playing"], time.monotonic()
            content = {"client": "sim", "type": "played", "latency_ms": 0.0, **state}
            msg = {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
            self.audio._handle_msg(msg)


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


# ----------------------------------------------------------------------------------------------
# the conversation, end to end with a simulated page
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "page_kind"),
    [("openai", FakePage), ("gemini", FakePage), ("openai", EagerPage)],
    ids=["openai", "gemini", "openai-eager-page"],
)
@pytest.mark.timeout(60)
async def test_barge_in_truncates_at_the_position_the_page_reported(
    provider: str, page_kind: type[FakePage], make_emulator: Any
) -> None:
    meta = json.loads((TALK / "story_then_thanks.json").read_text())
    stop_ms = meta["segments"][1]["start_ms"]
    emu = await make_emulator(speed=1.0)
    sent: list[tuple[str, dict[str, Any]]] = []
    panel = TalkPanel(provider, url=emu.url, frame_tap=lambda d, f, t: sent.append((d, f)))
    page = page_kind(panel, TALK / meta["file"])
    try:
        assert await panel.start() is True
        assert panel.audio.mic_rate == panel.session.capabilities.input_rate  # type: ignore[union-attr]
        barged_in = await wait_until(lambda: panel.stats()["interruptions"], stop_ms / 1000 + 6)
        assert barged_in, "a barge-in"
        assert await wait_until(
            lambda: panel.stats()["interruptions"][0]["page_final_ms"] is not None, 3
        ), "flush"
        caps = panel.session.capabilities  # type: ignore[union-attr]
        await asyncio.sleep(0.3)
        stats = panel.stats()
    finally:
        await panel.stop()
        page.close()
    cut = stats["interruptions"][0]
    # the session's heard position is the page's, not a wall-clock guess
    assert cut["heard_ms"] == pytest.approx(cut["page_heard_ms"], abs=40)
    assert 1000 < cut["heard_ms"] < 4000, cut
    # and the page stopped right there (a flush is a loop turn away here)
    assert 0 <= cut["page_final_ms"] - cut["heard_ms"] < 60
    assert stats["discarded_ms"] > 1000  # the rest of the story was never played
    if caps.truncation:
        truncates = [f for d, f in sent if d == "send" and "audio_end_ms" in f]
        assert len(truncates) == 1
        assert truncates[0]["audio_end_ms"] == pytest.approx(cut["heard_ms"], abs=1)
        assert truncates[0]["item_id"] == cut["item_id"]
    said = [words(e["text"]) for e in stats["transcript"] if e["role"] == "user"]
    assert "tell me a story" in said
    answer = next(e for e in stats["transcript"] if e["role"] == "assistant")
    assert answer["interrupted"] and len(answer["heard_text"]) < len(answer["text"])
    assert stats["mic_ms"] >= stop_ms and stats["played_ms"] >= cut["heard_ms"]
    assert stats["state"] == "live" and not stats["error"]
    turn = stats["turns"][0]
    assert turn["input"] == "speech" and turn["interrupt_ms"] is not None
    assert turn["ttfb_ms"] is not None and turn["page_ms"] is not None
    assert turn["page_ms"] >= 0


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.timeout(60)
async def test_push_to_talk_ends_the_turn_on_release(provider: str, make_emulator: Any) -> None:
    emu = await make_emulator(speed=1.0)
    sent: list[dict[str, Any]] = []
    panel = TalkPanel(
        provider, url=emu.url, mode="push_to_talk", frame_tap=lambda d, f, t: sent.append(f)
    )
    page = FakePage(panel, SPEECH / "hello_16k.wav")
    try:
        assert await panel.start()
        assert panel.session is not None
        assert panel.session.config.vad.mode == "manual"  # the client ends turns
        await asyncio.sleep(0.3)
        assert panel.stats()["mic_sent_ms"] == 0  # nothing flows until the button is held
        page.held = True
        await asyncio.sleep(1.6)  # hello_16k.wav: 300 ms silence, "hello there", 700 ms silence
        page.held = False

        def answered() -> bool:
            return any(e["role"] == "assistant" and e["final"] for e in panel.transcript)

        assert await wait_until(answered, 10), "the answer"
        stats = panel.stats()
    finally:
        await panel.stop()
        page.close()
    assert 1400 <= stats["mic_sent_ms"] <= 2000
    assert any(words(e["text"]) == "hello there" for e in stats["transcript"])
    assert stats["turns"] and stats["turns"][0]["input"] == "commit"


@pytest.mark.timeout(60)
async def test_tool_calls_are_answered_and_shown(make_emulator: Any) -> None:
    emu = await make_emulator(speed=1.0)

    def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city.

        Args:
            city: the city name
        """
        return {"city": city, "forecast": "sunny", "temp_c": 21}

    panel = TalkPanel("gemini", url=emu.url, tools=[get_weather])
    assert [t.name for t in panel.config.tools] == ["get_weather"]
    page = FakePage(panel, SPEECH / "weather_paris_16k.wav", loop=False)
    try:
        assert await panel.start()

        def told() -> bool:
            return any("21" in e["text"] for e in panel.transcript if e["role"] == "assistant")

        assert await wait_until(told, 15), "the answer from the tool result"
        panel._render()
        stats = panel.stats()
        shown = panel._tools_box.value
    finally:
        await panel.stop()
        page.close()
    [call] = stats["tool_calls"][:1]
    assert call["name"] == "get_weather" and "paris" in call["arguments"].lower()
    assert call["outcome"] == "result"
    assert "get_weather" in shown and "result" in shown


# ----------------------------------------------------------------------------------------------
# failures are one line in the panel
# ----------------------------------------------------------------------------------------------


async def test_a_session_that_cannot_connect_is_one_line() -> None:
    panel = TalkPanel("openai", url="ws://127.0.0.1:9")  # nothing listens on the discard port
    assert await panel.start() is False
    assert panel.state == "failed" and panel.session is None
    assert panel.error.startswith("Could not connect to openai") and "\n" not in panel.error
    panel._render()
    assert "Could not connect" in panel._error.value
    assert not panel.audio.mic_enabled
    await panel.stop()  # harmless when nothing runs
    assert panel.stats()["state"] == "failed"


async def test_the_pages_own_errors_are_shown_first() -> None:
    panel = TalkPanel("gemini")
    for text in (
        "Microphone permission denied: allow the microphone for this page (icon in the "
        "address bar), then switch the mic on again.",
        "This browser has no Web Audio (AudioContext): use a recent Chrome, Edge, Firefox "
        "or Safari.",
        "The microphone needs a secure page: open the notebook over https:// or "
        "http://localhost (this page is http://lab.example:8888).",
    ):
        panel.audio.error = text  # as the page writes it
        panel.error = "Could not connect to gemini: refused"
        panel._render()
        assert panel.stats()["page_error"] == text
        assert "Browser: " + text.split(":")[0] in panel._error.value
    panel.audio.error = ""
    panel._render()
    assert "Could not connect to gemini" in panel._error.value


def test_start_needs_a_running_loop() -> None:
    panel = TalkPanel("openai")
    with pytest.raises(RuntimeError, match="running event loop"):
        panel.start()


async def test_defaults_and_config() -> None:
    panel = TalkPanel("openai")
    assert panel.config.input_transcription  # the panel shows what the user said
    assert panel.audio.mic_batch == 3 and panel.audio.report_ms == 250
    own = SessionConfig(instructions="x")
    quiet = TalkPanel("gemini", own, transcribe_input=False)
    assert quiet.config is own
    ptt = TalkPanel("openai", mode="push_to_talk")
    caps = get("openai").capabilities
    assert (ptt._config_for("push_to_talk").vad.mode == "manual") == (
        caps.manual_commit or caps.manual_activity
    )
    assert ptt._config_for("hands_free").vad == panel.config.vad
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert set(panel.stats()) >= {"mic_ms", "played_ms", "transcript"}


async def test_stop_while_connecting_is_quiet() -> None:
    panel = TalkPanel("openai", url="ws://127.0.0.1:9")
    started = panel.start()
    assert panel.start() is started  # one session at a time
    await asyncio.sleep(0)
    await asyncio.wait_for(panel.stop(), 5)  # no CancelledError for the caller
    assert await started is False
    assert panel.state in ("stopped", "failed") and panel.session is None
