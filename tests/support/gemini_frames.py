"""Valid Gemini Live client frames to start from: recorded third-party traffic and SDK shapes.

Used by the fuzz test (as seeds for `support.mutate.Mutator`) and by the third-party replay
test. The recorded fixtures (`tests/frames/third_party/*gemini*.json`) cut base64 audio to a
preview; `restore_audio` puts real PCM of the recorded length back, so a replayed frame is
valid again.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.media import png

__all__ = [
    "FIXTURES",
    "Fixture",
    "SeedFrame",
    "load_fixture",
    "restore_audio",
    "seed_frames",
    "tiny_png",
]

FRAMES_DIR = Path(__file__).resolve().parents[1] / "frames"
FIXTURES = sorted((FRAMES_DIR / "third_party").glob("*gemini*.json"))
_TRUNCATED = re.compile(r"\.\.\.\[truncated base64, (\d+) chars\]$")


@dataclass(frozen=True)
class Fixture:
    """One recorded third-party session: who sent it and the client frames in order."""

    name: str
    client: str
    scenario: str
    setup: dict[str, Any]
    frames: tuple[dict[str, Any], ...]  # client → emulator, setup excluded, audio restored
    times_ms: tuple[int, ...]  # when each frame was sent, ms after the upgrade


@dataclass(frozen=True)
class SeedFrame:
    """A frame to mutate and the valid setup to send before it (None: it *is* the setup)."""

    origin: str
    setup: dict[str, Any] | None
    frame: dict[str, Any]


def tiny_png(rgb: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    return png(size, size, rgb)


def _tone(n_bytes: int, seed: int) -> bytes:
    n = n_bytes // 2
    hz = 180 + 40 * (seed % 5)
    return b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * i / 16000))) for i in range(n)
    )


def restore_audio(frame: dict[str, Any], pcm: bytes | None = None, seed: int = 0) -> dict[str, Any]:
    """A copy of `frame` whose truncated base64 audio is replaced by real PCM of that length."""
    out = json.loads(json.dumps(frame))
    body = out.get("realtime_input") or out.get("realtimeInput")
    if not isinstance(body, dict) or not isinstance(body.get("audio"), dict):
        return out
    data = body["audio"].get("data", "")
    match = _TRUNCATED.search(data) if isinstance(data, str) else None
    if match is None and pcm is None:
        return out
    size = int(match.group(1)) * 3 // 4 if match else len(pcm or b"")
    size -= size % 2
    payload = pcm if pcm is not None else _tone(size, seed)
    body["audio"]["data"] = base64.urlsafe_b64encode(payload).decode()
    return out


def load_fixture(path: Path) -> Fixture:
    doc = json.loads(path.read_text())
    incoming = [f for f in doc["frames"] if f["dir"] == "in"]
    setup = incoming[0]["frame"]
    assert "setup" in setup, path
    rest = incoming[1:]
    return Fixture(
        name=path.stem,
        client=doc["client"],
        scenario=doc["scenario"],
        setup=setup,
        frames=tuple(restore_audio(f["frame"], seed=i) for i, f in enumerate(rest)),
        times_ms=tuple(int(f["t"]) for f in rest),
    )


#: SDK-shaped setups (google-genai's mixed camelCase / snake_case wire form), on served models.
SDK_SETUPS: tuple[dict[str, Any], ...] = (
    {
        "setup": {
            "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "temperature": 0.7,
                "mediaResolution": "MEDIA_RESOLUTION_LOW",
                "speechConfig": {
                    "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}},
                    "language_code": "en-US",
                },
                "thinkingConfig": {"thinking_budget": 0},
                "enableAffectiveDialog": True,
            },
            "systemInstruction": {"parts": [{"text": "You are a helpful tutor."}], "role": "user"},
            "tools": [
                {"googleSearch": {}},
                {
                    "functionDeclarations": [
                        {
                            "description": "Get weather",
                            "name": "get_weather",
                            "parameters": {
                                "properties": {"city": {"description": "City", "type": "STRING"}},
                                "required": ["city"],
                                "type": "OBJECT",
                            },
                            "behavior": "NON_BLOCKING",
                        },
                        {
                            "description": "Get time",
                            "name": "get_time",
                            "parameters_json_schema": {
                                "type": "object",
                                "properties": {"tz": {"type": "string"}},
                                "required": ["tz"],
                            },
                        },
                    ]
                },
            ],
            "sessionResumption": {},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
            "realtimeInputConfig": {
                "automatic_activity_detection": {
                    "disabled": False,
                    "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
                    "end_of_speech_sensitivity": "END_SENSITIVITY_HIGH",
                    "prefix_padding_ms": 20,
                    "silence_duration_ms": 100,
                },
                "activity_handling": "NO_INTERRUPTION",
                "turn_coverage": "TURN_INCLUDES_ALL_INPUT",
            },
            "contextWindowCompression": {
                "trigger_tokens": 25600,
                "sliding_window": {"target_tokens": 12800},
            },
            "proactivity": {"proactive_audio": True},
        }
    },
    {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
            "historyConfig": {"initialHistoryInClientContent": True},
            "outputAudioTranscription": {},
        }
    },
    {
        "setup": {
            "model": "models/gemini-3.1-flash-live-preview",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "thinkingConfig": {"thinkingLevel": "low"},
            },
            "tools": [{"functionDeclarations": [{"name": "turn_on_the_lights"}]}],
        }
    },
)


def _sdk_frames() -> list[dict[str, Any]]:
    png = base64.urlsafe_b64encode(tiny_png()).decode()
    pcm = base64.urlsafe_b64encode(_tone(640, 1)).decode()
    return [
        {"realtime_input": {"audio": {"data": pcm, "mime_type": "audio/pcm;rate=16000"}}},
        {"realtime_input": {"video": {"data": png, "mime_type": "image/png"}}},
        {"realtime_input": {"text": "typed text"}},
        {"realtime_input": {"activityStart": {}}},
        {"realtime_input": {"activityEnd": {}}},
        {"realtime_input": {"audioStreamEnd": True}},
        {"realtime_input": {"mediaChunks": [{"data": pcm, "mime_type": "audio/pcm;rate=16000"}]}},
        {
            "client_content": {
                "turns": [
                    {"role": "user", "parts": [{"text": "Hello"}]},
                    {"role": "model", "parts": [{"text": "Hi!"}]},
                ],
                "turnComplete": True,
            }
        },
        {
            "tool_response": {
                "functionResponses": [
                    {
                        "will_continue": False,
                        "scheduling": "INTERRUPT",
                        "id": "function-call-1",
                        "name": "get_weather",
                        "response": {"result": "sunny"},
                    }
                ]
            }
        },
        {
            "contextUpdate": {
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "tools": {"tools": [{"functionDeclarations": [{"name": "f"}]}]},
            }
        },
    ]


def seed_frames() -> list[SeedFrame]:
    """Every seed: fixture setups and frames, SDK-shaped setups and messages, server frames."""
    seeds: list[SeedFrame] = []
    for path in FIXTURES:
        fixture = load_fixture(path)
        seeds.append(SeedFrame(fixture.name, None, fixture.setup))
        kinds: set[str] = set()
        for frame in fixture.frames:
            kind = json.dumps(sorted(frame))  # a few of each kind, not 400 audio chunks
            if kind in kinds and "audio" in json.dumps(frame)[:60]:
                continue
            kinds.add(kind)
            seeds.append(SeedFrame(fixture.name, fixture.setup, frame))
    for setup in SDK_SETUPS:
        seeds.append(SeedFrame("sdk-setup", None, setup))
    manual_vad = ("activityStart", "activityEnd")
    for frame in _sdk_frames():
        manual = any(k in json.dumps(frame) for k in manual_vad)
        seeds.append(SeedFrame("sdk", SDK_SETUPS[1] if manual else SDK_SETUPS[0], frame))
    for path in sorted(FRAMES_DIR.glob("gemini_*.json")):  # a server frame sent the wrong way
        frame = json.loads(path.read_text())["frames"][-1]
        seeds.append(SeedFrame(path.stem, SDK_SETUPS[1], frame))
    return seeds
