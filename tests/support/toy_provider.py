"""A third provider that exists only in tests: the smallest complete `ProviderSpec`.

It proves that adding a provider needs nothing outside its own code: register `toy_spec()` and
config validation, voices, the event log, `make_codec`, `wire_tool`, `lab` and the router all
know it. Its wire protocol is made up and tiny: every frame is a JSON object whose `"toy"` key
names its kind (`{"toy": "say", "text": "hi"}`), audio is base64 PCM16 at 16 kHz in `"audio"`.

The codec implements the whole `Codec` protocol (trivially), so a session test can drive it
against a fake socket later.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Unsupported, deep_merge, warn_unsupported
from realtimelab.providers.base import (
    Capabilities,
    ConnectRequest,
    Frame,
    HistoryItem,
    ToolResult,
    close_events,
    with_query,
)
from realtimelab.providers.framelog import AudioFormat, Elided, cut_audio
from realtimelab.providers.registry import ProviderSpec
from realtimelab.schema import Tool
from realtimelab.vad import VadParams
from realtimelab.voices import NEUTRAL_VOICES, VoiceSet

__all__ = ["NAME", "ToyCodec", "ToyFrames", "toy_spec"]

NAME = "toy"
RATE = 16000
CAPABILITIES = Capabilities(provider=NAME, input_rate=RATE, output_rate=RATE, semantic_vad=False)
VOICES = ("Ada", "Bob")


def unsupported_settings(config: SessionConfig) -> tuple[Unsupported, ...]:
    """The toy has no raw VAD threshold."""
    if config.vad.threshold is not None:
        return (Unsupported("Vad.threshold", "the toy has none; not sent"),)
    return ()


class ToyCodec:
    """Sans-IO codec of the toy protocol: one frame per verb, events for `say` and `done`."""

    provider = NAME
    capabilities = CAPABILITIES

    def __init__(self, model: str | None = None) -> None:
        self.model = model or "toy-1"
        self._audio_ms = 0.0

    def connect_request(
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ConnectRequest:
        base = (base_url or "wss://toy.invalid").rstrip("/")
        url = with_query(f"{base}/toy?model={self.model}", query)
        return ConnectRequest(url=url, headers={"Authorization": f"Bearer {token or api_key}"})

    def initial_frames(self, config: SessionConfig, *, resume: str | None = None) -> list[Frame]:
        warn_unsupported(NAME, unsupported_settings(config), title="Toy")
        hello: dict[str, Any] = {"toy": "hello", "model": self.model, "text": config.instructions}
        return [deep_merge(hello, config.extra.get(NAME, {}))]

    def update_frames(self, config: SessionConfig) -> list[Frame]:
        return self.initial_frames(config)

    def encode_audio(self, pcm: bytes) -> list[Frame]:
        return [{"toy": "audio", "audio": base64.b64encode(pcm).decode()}]

    def encode_text(self, text: str) -> list[Frame]:
        return [{"toy": "say", "text": text}]

    def encode_tool_responses(self, results: Sequence[ToolResult]) -> list[Frame]:
        return [{"toy": "result", "id": r.call_id, "output": json.dumps(r.output)} for r in results]

    def encode_late_tool_results(self, results: Sequence[ToolResult]) -> list[Frame]:
        return self.encode_tool_responses(results)

    def encode_commit(self) -> list[Frame]:
        return [{"toy": "commit"}]

    def encode_create_response(self) -> list[Frame]:
        return [{"toy": "reply"}]

    def encode_cancel(self) -> list[Frame]:
        return []

    def encode_interrupt(self, item_id: str | None, played_ms: float) -> list[Frame]:
        return [{"toy": "stop"}]

    def encode_history(self, items: Sequence[HistoryItem]) -> list[Frame]:
        return [{"toy": "history", "items": [i.kind for i in items]}]

    def decode(self, frame: str | bytes | dict[str, Any], t: float) -> list[ev.Event]:
        msg = frame if isinstance(frame, dict) else json.loads(frame)
        kind = msg.get("toy")
        if kind == "hello":
            return [ev.SessionStarted(provider=NAME, t=t, raw=(msg,), model=self.model)]
        if kind == "say":
            return [ev.OutputTranscript(provider=NAME, t=t, raw=(msg,), text=msg["text"])]
        if kind == "audio":
            pcm = base64.b64decode(msg["audio"])
            self._audio_ms += len(pcm) / 2 / RATE * 1000
            return [ev.AudioChunk(provider=NAME, t=t, raw=(msg,), pcm=pcm, rate=RATE)]
        if kind == "done":
            return [ev.TurnComplete(provider=NAME, t=t, raw=(msg,))]
        return []

    def decode_close(
        self, code: int | None, reason: str, t: float, expected: bool
    ) -> list[ev.Event]:
        return close_events(NAME, code, reason, t, expected)

    def take_outgoing(self) -> list[Frame]:
        return []

    @property
    def last_audio_item(self) -> str | None:
        return "toy-item" if self._audio_ms else None

    def received_ms(self, item_id: str | None) -> float:
        return self._audio_ms


class ToyFrames:
    """How the event log reads toy frames."""

    def claims(self, frame: Mapping[str, Any]) -> bool:
        return isinstance(frame.get("toy"), str)

    def frame_type(self, frame: Mapping[str, Any]) -> str:
        return f"toy.{frame['toy']}"

    def elide(
        self, frame: Mapping[str, Any], direction: str, acc: Elided, keep_pcm: bool
    ) -> dict[str, Any]:
        out = dict(frame)
        if isinstance(frame.get("audio"), str):
            out["audio"] = cut_audio(frame["audio"], AudioFormat(RATE, 2), acc, keep_pcm)
        return out

    def summary(self, frame: Mapping[str, Any]) -> list[str]:
        return [repr(frame["text"])] if isinstance(frame.get("text"), str) else []

    def model(self, frame: Mapping[str, Any]) -> str | None:
        return frame.get("model") if isinstance(frame.get("model"), str) else None


def _wire_tool(tool: Tool) -> dict[str, Any]:
    return {"toy_tool": tool.name, "schema": dict(tool.parameters)}


def _foreign_hint(name: str) -> str | None:
    return f"{name!r} is a toy voice." if name in VOICES else None


def toy_spec() -> ProviderSpec:
    """A fresh spec (register it, and unregister it when the test is done)."""
    return ProviderSpec(
        name=NAME,
        title="Toy Live",
        codec=ToyCodec,
        default_model="toy-1",
        capabilities=CAPABILITIES,
        env_keys=("TOY_API_KEY",),
        voices=VoiceSet(
            names=VOICES,
            picks=MappingProxyType(dict.fromkeys(NEUTRAL_VOICES, "Ada") | {"deep": "Bob"}),
            foreign_hint=_foreign_hint,
        ),
        wire_tool=_wire_tool,
        unsupported=unsupported_settings,
        describer=ToyFrames,
        extra_target="the toy `hello` frame",
        vad_presets={"Toy defaults": VadParams(threshold=0.4)},
    )
