"""Providers: one folder per provider (`openai/`, `gemini/`), found by name in one registry.

Each folder holds everything about its provider: the sans-IO codec, how a `SessionConfig` maps
onto its wire, its tool schemas, voices, credentials and how the event log reads its frames,
indexed by a `ProviderSpec`. The rest of the kit asks the registry (`get`, `names`) and then
the codec's `Capabilities`; it never compares a provider's name.

`make_codec("openai")` is the usual way in: a fresh codec (codecs hold per-connection state).
"""

from __future__ import annotations

from realtimelab.providers.base import Capabilities, Codec, ConnectRequest, ToolResult
from realtimelab.providers.registry import (
    ProviderAlreadyRegistered,
    ProviderSpec,
    UnknownProviderError,
    get,
    names,
    register,
    specs,
    unregister,
)

__all__ = [
    "Capabilities",
    "Codec",
    "ConnectRequest",
    "ProviderAlreadyRegistered",
    "ProviderSpec",
    "ToolResult",
    "UnknownProviderError",
    "get",
    "make_codec",
    "names",
    "register",
    "specs",
    "unregister",
]


def make_codec(provider: str, model: str | None = None) -> Codec:
    """A fresh codec for `provider` (`UnknownProviderError`, a ValueError, lists the names)."""
    return get(provider).codec(model)
