"""OpenAI frames as the event log sees them: names, audio, summaries (a `FrameDescriber`).

OpenAI frames name themselves (`"type": "response.output_audio.delta"`), so naming is easy;
audio is the subtle part. Formats are declared once, in `session.update` / `session.created`
(PCM16 at 24 kHz, or G.711 at 8 kHz), and later audio frames carry bare base64, so the reader
remembers the formats to turn bytes into milliseconds. That memory is why the event log keeps
one `OpenAIFrames` per log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from realtimelab.providers.framelog import AudioFormat, Elided, b64_decoded_len, cut_audio, short

__all__ = ["OpenAIFrames"]

_SESSION_TYPES: Final = frozenset({"session.update", "session.created", "session.updated"})
_G711: Final = frozenset({"audio/pcmu", "audio/pcma"})


class OpenAIFrames:
    """Reads OpenAI Realtime frames for one event log (remembers the negotiated formats)."""

    def __init__(self) -> None:
        self.input = AudioFormat(24000, 2)
        self.output = AudioFormat(24000, 2)

    def claims(self, frame: Mapping[str, Any]) -> bool:
        """OpenAI frames carry a string `type`."""
        return isinstance(frame.get("type"), str)

    def frame_type(self, frame: Mapping[str, Any]) -> str:
        t = frame.get("type")
        return t if isinstance(t, str) else "?"

    # -- audio ----------------------------------------------------------------------------------

    def _learn_formats(self, frame: Mapping[str, Any]) -> None:
        session = frame.get("session")
        if not isinstance(session, Mapping):
            return
        audio = session.get("audio")
        if not isinstance(audio, Mapping):
            return
        for side, attr in (("input", "input"), ("output", "output")):
            fmt = (
                audio.get(side, {}).get("format") if isinstance(audio.get(side), Mapping) else None
            )
            if not isinstance(fmt, Mapping):
                continue
            kind = str(fmt.get("type", "audio/pcm"))
            if kind in _G711:
                setattr(self, attr, AudioFormat(8000, 1))
            else:
                rate = fmt.get("rate", 24000)
                setattr(self, attr, AudioFormat(int(rate) if isinstance(rate, int) else 24000, 2))

    def elide(
        self, frame: Mapping[str, Any], direction: str, acc: Elided, keep_pcm: bool
    ) -> dict[str, Any]:
        out = dict(frame)
        t = str(frame.get("type", ""))
        if t in _SESSION_TYPES:
            self._learn_formats(frame)
        fmt = self.input if direction == "out" else self.output
        if t == "input_audio_buffer.append" and isinstance(frame.get("audio"), str):
            out["audio"] = cut_audio(frame["audio"], fmt, acc, keep_pcm)
        if t.endswith("audio.delta") and isinstance(frame.get("delta"), str):
            out["delta"] = cut_audio(frame["delta"], fmt, acc, keep_pcm)
        # audio and pictures inside conversation items (item.create, echoes, retrieved items)
        item = frame.get("item")
        if isinstance(item, Mapping):
            out["item"] = self._elide_item(item, acc)
        # an out-of-band response's own input items
        response = frame.get("response")
        if isinstance(response, Mapping) and isinstance(response.get("input"), list):
            items = [
                self._elide_item(i, acc) if isinstance(i, Mapping) else i for i in response["input"]
            ]
            out["response"] = {**response, "input": items}
        return out

    def _elide_item(self, item: Mapping[str, Any], acc: Elided) -> dict[str, Any]:
        """An item without its payloads: audio in an item is the user's (input format) or
        the model's (output format); a picture's `data:` URL becomes `<image/png N B>`."""
        if not isinstance(item.get("content"), list):
            return dict(item)
        fmt = self.output if item.get("role") == "assistant" else self.input
        content = []
        for part in item["content"]:
            if isinstance(part, Mapping) and isinstance(part.get("audio"), str):
                part = {**part, "audio": cut_audio(part["audio"], fmt, acc, False)}
            url = part.get("image_url") if isinstance(part, Mapping) else None
            if isinstance(url, str) and url.startswith("data:"):
                mime = url[5:].split(";", 1)[0] or "image"
                part = {**part, "image_url": f"<{mime} {b64_decoded_len(url.split(',', 1)[-1])} B>"}
            content.append(part)
        return {**item, "content": content}

    # -- meaning ----------------------------------------------------------------------------------

    def summary(self, frame: Mapping[str, Any]) -> list[str]:
        bits: list[str] = []
        err = frame.get("error")
        if isinstance(err, Mapping):
            bits.append(f"error {err.get('code') or err.get('type')}: {err.get('message', '')}")
        resp = frame.get("response")
        if isinstance(resp, Mapping) and isinstance(resp.get("status"), str):
            bits.append(str(resp["status"]))
        for key in ("transcript", "delta", "text"):
            v = frame.get(key)
            if isinstance(v, str) and not v.startswith("<audio"):
                bits.append(repr(short(v, 40)))
                break
        if isinstance(frame.get("name"), str):
            bits.append(f"{frame['name']}({short(str(frame.get('arguments', '')), 40)})")
        item = frame.get("item")
        if isinstance(item, Mapping):
            bits.append(f"{item.get('role') or item.get('type') or 'item'}")
            for part in item.get("content", []) or []:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    bits.append(repr(short(part["text"], 40)))
            if isinstance(item.get("output"), str):
                bits.append(f"output={short(item['output'], 40)}")
        return bits

    def model(self, frame: Mapping[str, Any]) -> str | None:
        """`session.created` / `session.updated` name the model."""
        session = frame.get("session")
        if isinstance(session, Mapping) and isinstance(session.get("model"), str):
            return str(session["model"])
        return None
