"""The receive path's shortcuts give exactly what the general code gives.

`events.audio_chunk` skips the frozen dataclass `__init__`; the Gemini codec reads a frame that
is one audio part without probing every other field; the OpenAI codec decodes PCM16 deltas
inline. Each is compared with the general path on the same input, so a shortcut that drifts
(a new field, a changed rule) fails here rather than in a user's session.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from realtimelab import events as ev
from realtimelab.providers import make_codec

PCM = bytes(range(256)) * 4


def test_audio_chunk_is_the_dataclass_built_the_usual_way() -> None:
    fast = ev.audio_chunk("openai", 1.5, ({"a": 1},), PCM, 24000, "item", "resp")
    slow = ev.AudioChunk(
        provider="openai",
        t=1.5,
        raw=({"a": 1},),
        pcm=PCM,
        rate=24000,
        item_id="item",
        response_id="resp",
    )
    assert fast == slow
    assert vars(fast) == vars(slow)  # every field, including those left out of ==
    assert {f.name for f in dataclasses.fields(ev.AudioChunk)} == set(vars(fast))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.rate = 1  # type: ignore[misc]


def gemini_audio(data: str, **extra: object) -> dict[str, object]:
    return {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]
            },
            **extra,
        }
    }


def decoded(provider: str, frames: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    """Each frame's events as plain dicts (item ids without the per-connection number)."""
    codec = make_codec(provider)
    return [
        [
            {"kind": e.kind, **{k: _plain(k, v) for k, v in vars(e).items() if k != "raw"}}
            for e in codec.decode(f, 0.0)
        ]
        for f in frames
    ]


def _plain(key: str, value: object) -> object:
    return value.split("-", 1)[1] if key == "item_id" and isinstance(value, str) else value


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(PCM).decode(),  # standard, padded: the shortcut
        base64.urlsafe_b64encode(PCM[:-3]).decode().rstrip("="),  # URL-safe, unpadded
        "not base64!",  # malformed
        base64.b64encode(PCM[:-1]).decode(),  # odd byte count
    ],
)
def test_gemini_audio_only_frames_decode_as_in_the_general_path(data: str) -> None:
    turn = [gemini_audio(base64.b64encode(PCM).decode())]  # opens the turn
    short = decoded("gemini", [*turn, gemini_audio(data)])
    # `inputTranscription: {}` adds nothing, but makes the frame take the general path
    general = decoded("gemini", [*turn, gemini_audio(data, inputTranscription={})])
    assert short == general
    assert short[1][0]["kind"] in ("AudioChunk", "Error")


@pytest.mark.parametrize(
    "delta",
    [base64.b64encode(PCM).decode(), "not base64!", base64.b64encode(PCM[:-1]).decode(), 7],
)
def test_openai_pcm_deltas_decode_as_the_checked_reading(delta: object) -> None:
    frame = {
        "type": "response.output_audio.delta",
        "event_id": "e1",
        "response_id": "resp",
        "item_id": "item",
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
    }
    codec = make_codec("openai")
    (event,) = codec.decode(json.dumps(frame), 0.0)
    if isinstance(delta, str) and delta == base64.b64encode(PCM).decode():
        assert isinstance(event, ev.AudioChunk) and event.pcm == PCM
        assert (event.item_id, event.response_id, event.encoding) == ("item", "resp", "pcm16")
        assert codec.received_ms("item") == pytest.approx(len(PCM) / 48)
    else:
        assert isinstance(event, ev.Error) and event.code == "malformed_frame"
        assert codec.received_ms("item") == 0.0  # a bad frame leaves the codec as it was
