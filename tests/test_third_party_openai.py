"""Real third-party clients' frames, replayed against the emulator: what each framework needs.

The fixtures in tests/frames/third_party/*openai*.json were recorded from openai-agents,
pipecat-ai, livekit-agents and pydantic-ai-slim driving the emulator (scripts/third_party/).
This module replays the *client* frames of each one, in order, against a fresh emulator with
the real brain, voice and ears, and checks the outcome the framework needs:

* text:  a completed response that says something;
* tool:  exactly one `get_weather(city=Paris)` call, then a completed response built from its
         result ("21 degrees");
* audio: the same, from the spoken question (data/speech/weather_paris_24k.wav).

Replaying a conversation needs a little translation, since ids are minted by the server: call
ids and server item ids in the recorded frames are mapped, by order, to the ones this run
mints; the recorded audio (cut to 96 base64 characters in the fixtures) is replaced by the
real recording. A frame about a server call that this run never made is dropped with the
`response.create` after it (pipecat answered a second, duplicate call the old brain made).
Each `response.create` waits for its `response.done`, like the frameworks do.

The regressions these pin down: livekit's `"instructions": null` failed every reply; pipecat's
re-sent context made the brain call the tool twice; livekit's tool output is a Python repr;
openai-agents names `gpt-realtime-2.1` in `session.update` on a `?model=gpt-realtime`
connection, which is refused (the model cannot change) — so it is replayed with the model it
asks for, and the as-recorded refusal is checked separately.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.conformance.openai import FrameRecorder
from websockets.asyncio.client import ClientConnection, connect

from realtimelab.audio import read_wav
from realtimelab.emulator.server import Emulator

FIXTURES = sorted((Path(__file__).parent / "frames" / "third_party").glob("*_openai_*.json"))
SPEECH = Path(__file__).parent.parent / "data" / "speech" / "weather_paris_24k.wav"


def _name(path: Path) -> str:
    return path.stem


class Replay:
    """One connection replaying one fixture's client frames."""

    def __init__(self, ws: ClientConnection, fixture: dict[str, Any]) -> None:
        self.ws = ws
        self.fixture = fixture
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        outs = [f["frame"] for f in fixture["frames"] if f["dir"] == "out"]
        self.recorded_calls = [
            o["call_id"] for o in outs if o["type"] == "response.function_call_arguments.done"
        ]
        self.recorded_items = [
            o["item"]["id"] for o in outs if o["type"] == "conversation.item.added"
        ]
        self.dropped: list[str] = []

    async def read(self) -> None:
        async for message in self.ws:
            self.events.append(json.loads(message))
            self.changed.set()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def our_calls(self) -> list[str]:
        return [e["call_id"] for e in self.of_type("response.function_call_arguments.done")]

    @property
    def our_items(self) -> list[str]:
        return [e["item"]["id"] for e in self.of_type("conversation.item.added")]

    def settled(self) -> bool:
        return len(self.of_type("response.done")) >= len(self.of_type("response.created"))

    async def until(self, check: Any, timeout: float = 30.0) -> bool:
        """Wait for `check()`; False when it is still false once nothing has moved for 1.5 s
        with no response in progress (or at the timeout)."""
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while not check():
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 0.25)
                quiet_since = time.monotonic()
            except TimeoutError:
                if self.settled() and time.monotonic() - quiet_since > 1.5:
                    return False
            if time.monotonic() > deadline:
                return False
        return True

    async def mapped(self, recorded: str, own: str, ids: list[str]) -> str | None:
        """The id this run minted for a recorded server id (waiting for it if need be)."""
        if recorded not in ids:
            return recorded  # a client-chosen id: the same in both runs
        index = ids.index(recorded)
        ok = await self.until(lambda: len(getattr(self, own)) > index)
        return getattr(self, own)[index] if ok else None

    async def send_audio(self) -> None:
        pcm, fmt = read_wav(SPEECH)
        assert fmt.rate == 24000
        pcm += bytes(48 * 1500)  # the drivers' 1.5 s of silence: the VAD ends the turn
        step = 48 * 20
        for i in range(0, len(pcm), step):
            chunk = base64.b64encode(pcm[i : i + step]).decode()
            await self.ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        # the VAD-created response (the tool call) ends before the client's next frames
        assert await self.until(lambda: len(self.of_type("response.done")) >= 1, 60)

    async def run(self) -> None:
        frames = [f["frame"] for f in self.fixture["frames"] if f["dir"] == "in"]
        audio_sent = False
        skip_next_create = False
        for frame in frames:
            kind = frame.get("type")
            if kind == "input_audio_buffer.append":
                if not audio_sent:
                    audio_sent = True
                    await self.send_audio()
                continue
            if kind == "response.create" and skip_next_create:
                skip_next_create = False
                self.dropped.append(kind)
                continue
            frame = json.loads(json.dumps(frame))
            item = frame.get("item") if isinstance(frame.get("item"), dict) else None
            if item and item.get("type") == "function_call_output":
                call_id = await self.mapped(item["call_id"], "our_calls", self.recorded_calls)
                if call_id is None:
                    self.dropped.append(f"function_call_output {item['call_id']}")
                    skip_next_create = True
                    continue
                item["call_id"] = call_id
            previous = frame.get("previous_item_id")
            if isinstance(previous, str) and previous != "root":
                mapped = await self.mapped(previous, "our_items", self.recorded_items)
                if mapped is None:
                    del frame["previous_item_id"]
                else:
                    frame["previous_item_id"] = mapped
            done_before = len(self.of_type("response.done"))
            await self.ws.send(json.dumps(frame))
            if kind == "response.create":
                assert await self.until(
                    lambda n=done_before: len(self.of_type("response.done")) > n, 60
                ), "no response.done"
        await self.until(lambda: False, 3)  # let anything still running finish
        await self.follow_up()

    async def follow_up(self) -> None:
        """Answer calls the recording never answered, as this framework answers them.

        livekit's text and tool recordings stop where the old emulator failed their first
        reply, so they hold no tool output; the framework's own follow-up frames (the output
        item and the `response.create` after it) are taken from its other recordings.
        """
        answered = {
            f["frame"]["item"]["call_id"]
            for f in self.fixture["frames"]
            if f["dir"] == "in" and f["frame"].get("type") == "conversation.item.create"
            and f["frame"]["item"].get("type") == "function_call_output"
        }  # fmt: skip
        if answered or not self.our_calls:
            return
        template = follow_up_frames(self.fixture["client"], self.fixture["scenario"])
        assert template, "no follow-up frames recorded for this framework"
        self.dropped.append("(follow-up from the framework's other recording)")
        output, create = template
        output = json.loads(json.dumps(output))
        output["item"]["call_id"] = self.our_calls[0]
        output["item"].pop("id", None)
        if "previous_item_id" in output:
            fc_items = [
                e["item"]["id"]
                for e in self.of_type("conversation.item.added")
                if e["item"]["type"] == "function_call"
            ]
            output["previous_item_id"] = fc_items[0]
        done_before = len(self.of_type("response.done"))
        await self.ws.send(json.dumps(output))
        await self.ws.send(json.dumps(create))
        assert await self.until(lambda: len(self.of_type("response.done")) > done_before, 60)


def follow_up_frames(client: str, scenario: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A function_call_output frame and the response.create after it, from any recording of
    the same client."""
    for path in FIXTURES:
        data = json.loads(path.read_text())
        if data["client"] != client or data["scenario"] == scenario:
            continue
        frames = [f["frame"] for f in data["frames"] if f["dir"] == "in"]
        for i, frame in enumerate(frames):
            item = frame.get("item") or {}
            if frame.get("type") == "conversation.item.create" and (
                item.get("type") == "function_call_output"
            ):
                create = next(
                    (f for f in frames[i + 1 :] if f.get("type") == "response.create"), None
                )
                if create is not None:
                    return frame, create
    return None


async def replay(emu: Emulator, fixture: dict[str, Any], model: str | None = None) -> Replay:
    path = fixture["connections"][0]["path"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
    query["model"] = model or query.get("model", "gpt-realtime")
    url = f"{emu.openai_ws_base}/realtime?{urllib.parse.urlencode(query)}"
    async with connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        rep = Replay(ws, fixture)
        reader = asyncio.create_task(rep.read())
        try:
            await rep.run()
        finally:
            await ws.close()
            await asyncio.gather(reader, return_exceptions=True)
    return rep


def said(rep: Replay) -> list[str]:
    texts = []
    for done in rep.of_type("response.done"):
        for item in done["response"]["output"]:
            for part in item.get("content", []) if item.get("type") == "message" else []:
                texts.append(part.get("transcript") or part.get("text") or "")
    return [t for t in texts if t]


@pytest.fixture
async def emu(make_emulator: Any) -> AsyncIterator[Emulator]:
    recorder = FrameRecorder()
    emulator = await make_emulator(frame_tap=recorder, speed=20.0)
    yield emulator
    assert recorder.invalid == [], recorder.invalid[:3]


def _session_model(fixture: dict[str, Any]) -> str | None:
    """The model the framework names in its own session.update, if any."""
    for f in fixture["frames"]:
        frame = f["frame"]
        if f["dir"] == "in" and frame.get("type") == "session.update":
            model = frame.get("session", {}).get("model")
            if model:
                return str(model)
    return None


@pytest.mark.parametrize("path", FIXTURES, ids=_name)
async def test_replayed_client_frames_get_what_the_framework_needs(
    emu: Emulator, path: Path, capsys: Any
) -> None:
    fixture = json.loads(path.read_text())
    scenario = fixture["scenario"]
    # connect with the model the framework itself names (openai-agents' URL and its
    # session.update disagree in the recording; the as-recorded refusal is tested below)
    rep = await replay(emu, fixture, model=_session_model(fixture))
    errors = [e["error"] for e in rep.of_type("error")]
    statuses = [d["response"]["status"] for d in rep.of_type("response.done")]
    calls = [
        (e["name"], json.loads(e["arguments"]))
        for e in rep.of_type("response.function_call_arguments.done")
    ]
    words = said(rep)
    with capsys.disabled():
        print(
            f"\n{path.stem}: responses {statuses}, calls {calls}, said {words}, "
            f"dropped {rep.dropped or 'nothing'}"
        )
    assert errors == []
    assert statuses and all(s == "completed" for s in statuses)
    assert words, "no assistant reply"
    if scenario == "text":
        assert calls == []
    else:
        assert calls == [("get_weather", {"city": "Paris"})]
        assert "21 degrees" in words[-1]
    for done in rep.of_type("response.done"):  # livekit's metadata comes back
        assert done["response"]["metadata"] is None or isinstance(
            done["response"]["metadata"], dict
        )


async def test_openai_agents_as_recorded_model_change_is_refused(emu: Emulator) -> None:
    """`?model=gpt-realtime` then `session.update` naming gpt-realtime-2.1: the model cannot
    change (SDK `SessionUpdateEvent` docstring), so that update is refused whole."""
    path = next(p for p in FIXTURES if p.stem == "openai_agents_openai_text")
    rep = await replay(emu, json.loads(path.read_text()))
    (error, *_) = [e["error"] for e in rep.of_type("error")]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == ("invalid_value", "session.model")
    assert "cannot switch to 'gpt-realtime-2.1'" in error["message"]
    # the session stays usable: the typed question is still answered
    assert said(rep)
