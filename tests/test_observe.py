"""EventLog: line shape, audio elision, redaction, notes, WAV capture, reading back, replay CLI."""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path
from typing import Any

import pytest

from realtimelab.audio import RateFinding, RateGuard, StreamResampler
from realtimelab.auth import Secret
from realtimelab.events import (
    AudioChunk,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    TurnComplete,
    Usage,
)
from realtimelab.observe import (
    EventLog,
    ObservedSession,
    b64_decoded_len,
    frame_type,
)
from realtimelab.replay import LogReadWarning, read_log
from realtimelab.replay import main as replay_main

SECRET = "sk-test-SECRET123456"
TOKEN = "auth_tokens/abc"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def b64(n_bytes: int, fill: int = 1) -> str:
    return base64.b64encode(bytes([fill]) * n_bytes).decode()


def pcm_b64_urlsafe(n_bytes: int) -> str:
    return base64.urlsafe_b64encode(
        bytes(range(256)) * (n_bytes // 256) + bytes(n_bytes % 256)
    ).decode()


def test_line_shape_and_openai_audio_elided(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "run.jsonl"
    payload = b64(960)
    with EventLog(path, clock=clock) as log:
        log.frame("out", {"type": "session.update", "session": {"type": "realtime"}}, 100.0)
        log.frame("out", {"type": "input_audio_buffer.append", "audio": payload}, 100.25)
        log.frame(
            "in", {"type": "response.output_audio.delta", "delta": b64(4800), "item_id": "i"}, 100.5
        )
    text = path.read_text()
    assert payload not in text and b64(4800) not in text
    lines = read_log(path)
    assert [ln["dir"] for ln in lines] == ["out", "out", "in"]
    for ln in lines:
        assert {"t_ms", "dir", "provider", "type", "size", "summary"} <= ln.keys()
        assert ln["provider"] == "openai"
    assert [ln["t_ms"] for ln in lines] == [0.0, 250.0, 500.0]
    append = lines[1]
    assert append["type"] == "input_audio_buffer.append"
    assert append["audio_bytes"] == 960 and append["audio_ms"] == 20.0  # PCM16 @ 24 kHz
    assert append["frame"]["audio"] == "<audio 960 B>"
    expected_size = len(
        json.dumps({"type": "input_audio_buffer.append", "audio": payload}, separators=(",", ":"))
    )
    assert append["size"] == expected_size
    assert lines[2]["audio_ms"] == 100.0 and "audio 100.0 ms" in lines[2]["summary"]


def pcmu_log() -> EventLog:
    """A log that has seen an OpenAI session switch its input audio to G.711 mu-law."""
    log = EventLog(None, clock=Clock())
    update = {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    log.frame("out", {"type": "session.update", "session": update}, 100.0)
    return log


def test_openai_g711_format_changes_audio_ms() -> None:
    log = pcmu_log()
    log.frame("out", {"type": "input_audio_buffer.append", "audio": b64(160)}, 100.0)
    assert log.lines[-1]["audio_ms"] == 20.0  # 160 bytes of 8 kHz mu-law


def test_openai_pictures_and_item_audio_are_elided() -> None:
    """A picture's `data:` URL is a payload like audio: the log keeps its type and size.
    Audio in a retrieved user item is in the *input* format whatever the direction."""
    log = pcmu_log()
    image = "data:image/png;base64," + b64(3000)
    part = {"type": "input_image", "image_url": image}
    user = {"type": "message", "role": "user", "content": [part]}
    log.frame("out", {"type": "conversation.item.create", "item": user}, 100.1)
    assert log.lines[-1]["frame"]["item"]["content"][0]["image_url"] == "<image/png 3000 B>"
    oob = {"type": "response.create", "response": {"conversation": "none", "input": [user]}}
    log.frame("out", oob, 100.2)
    assert log.lines[-1]["frame"]["response"]["input"][0]["content"][0]["image_url"] == (
        "<image/png 3000 B>"
    )
    audio = {"type": "input_audio", "audio": b64(800), "transcript": "hi"}
    retrieved = {
        "type": "conversation.item.retrieved",
        "item": {"id": "i", "type": "message", "role": "user", "content": [audio]},
    }
    log.frame("in", retrieved, 100.3)
    line = log.lines[-1]
    assert line["frame"]["item"]["content"][0]["audio"] == "<audio 800 B>"
    assert line["audio_ms"] == 100.0  # 800 bytes of 8 kHz G.711, the user's input format
    assert image not in json.dumps(log.lines)


def test_gemini_frames_named_and_elided_both_spellings() -> None:
    log = EventLog(None, clock=Clock())
    data_in = pcm_b64_urlsafe(640)
    log.frame(
        "out",
        {"realtime_input": {"audio": {"data": data_in, "mime_type": "audio/pcm;rate=16000"}}},
        100.0,
    )
    log.frame(
        "out",
        {"realtimeInput": {"audio": {"data": b64(3200), "mimeType": "audio/pcm;rate=16000"}}},
        100.1,
    )
    log.frame(
        "in",
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(4800)}}
                    ]
                }
            }
        },
        100.2,
    )
    log.frame(
        "in",
        {"serverContent": {"turnComplete": True}, "usageMetadata": {"promptTokenCount": 3}},
        100.3,
    )
    log.frame(
        "in",
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm", "data": b64(480)}}]
                }
            }
        },
        100.4,
    )  # no ;rate= -> 24 kHz default
    a, b, c, d, e = log.lines
    assert all(x["provider"] == "gemini" for x in log.lines)
    assert a["type"] == "realtimeInput.audio" and a["audio_bytes"] == 640 and a["audio_ms"] == 20.0
    assert b["audio_ms"] == 100.0
    assert c["type"] == "serverContent.modelTurn" and c["audio_ms"] == 100.0
    assert c["frame"]["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"] == (
        "<audio 4800 B>"
    )
    assert d["type"] == "serverContent.turnComplete,usageMetadata" and "audio_bytes" not in d
    assert e["audio_ms"] == 10.0
    assert data_in not in json.dumps(log.lines)


def test_frame_type_and_b64_len() -> None:
    assert frame_type({"type": "response.done"}) == "response.done"
    assert frame_type({"setupComplete": {}}) == "setupComplete"
    assert frame_type({"serverContent": {"modelTurn": {}, "outputTranscription": {}}}) == (
        "serverContent.modelTurn+outputTranscription"
    )
    for n in (0, 1, 2, 3, 959, 960):
        raw = bytes(n)
        assert b64_decoded_len(base64.b64encode(raw).decode()) == n
        assert b64_decoded_len(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == n


def test_events_logged_without_pcm() -> None:
    clock = Clock()
    log = EventLog(None, clock=clock)
    log.event(SpeechStopped(provider="openai", t=101.0, audio_ms=900.0))
    log.event(AudioChunk(provider="openai", t=101.5, pcm=b"\x01\x02" * 2400, rate=24000))
    log.event(
        TurnComplete(provider="openai", t=102.0, usage=Usage(input_tokens=5, output_tokens=7))
    )
    stop, chunk, done = log.lines
    assert stop == {**stop, "dir": "event", "type": "SpeechStopped", "t_ms": 1000.0}
    assert chunk["audio_bytes"] == 4800 and chunk["audio_ms"] == 100.0 and "pcm" not in chunk
    assert chunk["summary"] == "AudioChunk 100.0 ms @24000 Hz"
    assert done["usage"]["input_tokens"] == 5 and done["status"] == "completed"
    json.dumps(log.lines)  # every line is JSON-serialisable


def test_no_secret_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    with EventLog(path, clock=Clock(), secrets=["my-own-weird-key-77"]) as log:
        log.mark(
            "connect",
            url=f"wss://x/ws/Constrained?access_token={TOKEN}&key=AIzaFAKEFAKE123",
            headers={"Authorization": f"Bearer {SECRET}", "x-goog-api-key": "AIzaFAKEFAKE123"},
        )
        log.frame(
            "in",
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Incorrect API key provided: {SECRET}",
                },
            },
            100.0,
        )
        log.frame("out", {"setup": {"model": "models/x", "note": f"token {TOKEN}"}}, 100.0)
        log.event(
            ToolCall(
                provider="openai",
                t=100.1,
                call_id="c1",
                name="login",
                arguments={"api_key": "my-own-weird-key-77", "user": "ann"},
                arguments_json="{}",
            )
        )
        log.note(
            {
                "declared": 16000,
                "expected": 24000,
                "action": "resampled",
                "message": f"while using {SECRET}",
            }
        )
    text = path.read_text()
    for secret in (SECRET, "SECRET123456", TOKEN, "AIzaFAKEFAKE123", "my-own-weird-key-77"):
        assert secret not in text, secret
    assert "[REDACTED]" in text
    lines = read_log(path)
    assert len(lines) == 5 and lines[3]["arguments"]["user"] == "ann"


def test_rate_guard_findings_become_notes() -> None:
    clock = Clock()
    log = EventLog(None, clock=clock, provider="gemini")
    log.note(RateFinding(t=100.5, declared=16000, expected=24000, action="resampled", where="mic"))
    log.note({"declared": 8000, "expected": 16000, "action": "rejected"})
    a, b = log.lines
    assert a["dir"] == "note" and a["type"] == "rate_guard" and a["t_ms"] == 500.0
    assert (a["declared"], a["expected"], a["action"], a["where"]) == (
        16000,
        24000,
        "resampled",
        "mic",
    )
    assert "16000" in a["summary"] and "resampled" in a["summary"]
    assert b["action"] == "rejected" and b["provider"] == "gemini"


def test_wav_recording_per_turn(tmp_path: Path) -> None:
    clock = Clock()
    rec = tmp_path / "wav"
    pcm_in = b"\x10\x00" * 320
    with EventLog(None, clock=clock, record_audio_dir=rec) as log:
        log.frame(
            "out",
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm_in).decode()},
            100.0,
        )
        log.frame(
            "out",
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm_in).decode()},
            100.1,
        )
        log.event(AudioChunk(provider="openai", t=100.2, pcm=b"\x01\x00" * 480, rate=24000))
        log.event(TurnComplete(provider="openai", t=100.3))
        log.event(AudioChunk(provider="openai", t=100.4, pcm=b"\x02\x00" * 240, rate=24000))
    names = sorted(p.name for p in rec.iterdir())
    assert names == ["turn_000_in.wav", "turn_000_out.wav", "turn_001_out.wav"]
    with wave.open(str(rec / "turn_000_in.wav")) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (24000, 640, 2)
        assert w.readframes(640) == pcm_in * 2
    with wave.open(str(rec / "turn_001_out.wav")) as w:
        assert w.getnframes() == 240
    assert [ln["type"] for ln in log.lines if ln["dir"] == "note"] == ["wav"] * 3


async def test_tap_and_observed_session_log_events() -> None:
    class Session:
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.rate_guard = RateGuard(24000, clock=lambda: 100.5)
            self.rate_guard.check(16000, resampler=StreamResampler(16000, 24000), where="mic")

        async def send_text(self, text: str) -> None:
            self.sent.append(text)

        async def __aiter__(self) -> Any:
            yield SpeechStarted(provider="gemini", t=100.0)
            yield TurnComplete(provider="gemini", t=101.0)

    log = EventLog(None, clock=Clock())
    raw = Session()
    wrapped = ObservedSession(raw, log)
    await wrapped.send_text("hi")
    kinds = [ev.kind async for ev in wrapped]
    assert kinds == ["SpeechStarted", "TurnComplete"] and raw.sent == ["hi"]
    assert [ln["type"] for ln in log.lines] == [*kinds, "rate_guard"]
    assert log.lines[-1]["t_ms"] == 500.0 and log.lines[-1]["declared"] == 16000
    log.note_rate_guard(raw.rate_guard)  # already logged: not repeated
    assert len(log.lines) == 3


def test_session_tap_direction_names_and_secret_objects() -> None:
    log = EventLog(None, clock=Clock(), secrets=[Secret(SECRET)])
    log.frame("send", {"type": "session.update", "session": {"instructions": f"key {SECRET}"}}, 100)
    log.frame("recv", {"type": "session.created", "session": {"model": "gpt-realtime"}}, 100)
    assert [ln["dir"] for ln in log.lines] == ["out", "in"]
    assert SECRET not in json.dumps(log.lines) and log.lines[1]["model"] == "gpt-realtime"
    with pytest.raises(ValueError, match="direction"):
        log.frame("sideways", {}, 100)  # type: ignore[arg-type]


def test_read_log_skips_bad_lines_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t_ms": 0, "dir": "event", "type": "X"}\n{not json\n[1, 2]\n\n{"t_ms": 1}\n')
    with pytest.warns(LogReadWarning) as record:
        lines = read_log(path)
    assert len(lines) == 1
    messages = [str(w.message) for w in record]
    assert any(":2: bad JSON" in m for m in messages) and any(
        ":3: expected a JSON object" in m for m in messages
    )
    assert any(":5: dir must be a string" in m for m in messages)
    with pytest.raises(ValueError, match=":2:"):
        read_log(path, strict=True)
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        read_log(tmp_path / "nope.jsonl")


def _write_demo_log(path: Path) -> None:
    clock = Clock(0.0)
    with EventLog(path, clock=clock) as log:
        log.event(SpeechStarted(provider="openai", t=0.5))
        log.event(SpeechStopped(provider="openai", t=1.0))
        for i in range(5):
            log.event(AudioChunk(provider="openai", t=1.4 + 0.1 * i, pcm=bytes(4800), rate=24000))
        log.event(
            TurnComplete(
                provider="openai",
                t=2.0,
                usage=Usage(
                    input_tokens=100,
                    input_audio_tokens=100,
                    output_tokens=200,
                    output_audio_tokens=200,
                ),
            )
        )


def test_replay_prints_table_and_plots(tmp_path: Path) -> None:
    path = tmp_path / "demo.jsonl"
    _write_demo_log(path)
    out = io.StringIO()
    png = tmp_path / "w.png"
    assert replay_main([str(path), "--plot", str(png)], out=out) == 0
    text = out.getvalue()
    assert "ttfb" in text and "turns: 1" in text
    row = next(line for line in text.splitlines() if line.startswith("0 "))
    assert " 400 " in row and " 800 " in row  # ttfb 400 ms, ttlb 800 ms
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_reports_bad_lines_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.jsonl"
    _write_demo_log(path)
    with path.open("a") as fh:
        fh.write("{oops\n")
    n_lines = len(path.read_text().splitlines())
    out = io.StringIO()
    assert replay_main([str(path)], out=out) == 1
    assert f":{n_lines}: bad JSON" in capsys.readouterr().err
    assert "ttfb" in out.getvalue()
    assert replay_main([str(tmp_path / "missing.jsonl")], out=io.StringIO()) == 2
    assert "missing.jsonl" in capsys.readouterr().err
