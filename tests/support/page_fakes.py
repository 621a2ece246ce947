"""A page's side of BrowserAudio without a browser: a recorder in place of the comm, and the
messages a page would send, delivered the way ipywidgets delivers them."""

from __future__ import annotations

from typing import Any

from realtimelab.browser_audio import BrowserAudio


class RecordingComm:
    """Records what the widget sends through its comm."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        if isinstance(data, dict) and data.get("method") == "custom":
            self.sent.append((data["content"], [bytes(b) for b in buffers or ()]))

    def custom(self, kind: str) -> list[tuple[dict[str, Any], list[bytes]]]:
        return [(c, b) for c, b in self.sent if c.get("type") == kind]


def from_page(w: BrowserAudio, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    """Deliver `content` to the widget exactly as ipywidgets does for a page's custom msg."""
    msg = {
        "content": {"data": {"method": "custom", "content": content}},
        "buffers": [memoryview(b) for b in buffers or []],
    }
    w._handle_msg(msg)


def played(
    w: BrowserAudio, ms: float, *, client: str = "A", playing: bool = True, **extra: Any
) -> None:
    from_page(
        w,
        {
            "type": "played",
            "client": client,
            "played_ms": ms,
            "playing": playing,
            "queued_ms": extra.pop("queued_ms", 0.0),
            "chunk_seq": extra.pop("seq", 0),
            "t": 1.0,
            **extra,
        },
    )
