"""Provider codecs: one sans-IO module per wire protocol, chosen by name from `CODECS`.

`make_codec("openai")` is the only place a provider name turns into behaviour; everything
past it asks the codec's `Capabilities`.
"""

from __future__ import annotations

from collections.abc import Callable

from realtimelab.events import Provider
from realtimelab.providers.base import Capabilities, Codec, ConnectRequest, ToolResult
from realtimelab.providers.gemini import GeminiCodec
from realtimelab.providers.openai import OpenAICodec

__all__ = [
    "CODECS",
    "Capabilities",
    "Codec",
    "ConnectRequest",
    "GeminiCodec",
    "OpenAICodec",
    "ToolResult",
    "make_codec",
]

CODECS: dict[str, Callable[[str | None], Codec]] = {
    "openai": OpenAICodec,
    "gemini": GeminiCodec,
}


def make_codec(provider: Provider | str, model: str | None = None) -> Codec:
    """A fresh codec (codecs hold per-connection state) for `provider`."""
    try:
        factory = CODECS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; use one of {sorted(CODECS)}") from None
    return factory(model)
