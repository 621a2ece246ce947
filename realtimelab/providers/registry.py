"""The provider registry: one `ProviderSpec` per provider, looked up by name.

Why a registry: every part of the kit that used to keep its own list of providers (the env
keys in `auth`, the backends in `lab`, the voice table, the event log's frame reader, the
config's escape hatches, the router's defaults) now asks this module instead. A provider is a
folder under `realtimelab/providers/` plus one `ProviderSpec` naming what is in it; adding a
provider means writing that folder and calling `register(spec)`, nothing else.

    from realtimelab.providers import get, names
    names()                      # ('openai', 'gemini'), in registration order
    get("gemini").env_keys       # ('GEMINI_API_KEY', 'GOOGLE_API_KEY')
    get("gemini").codec(None)    # a fresh GeminiCodec on the default model

The built-in providers are registered by `realtimelab.providers.builtin`, the one module
outside the provider folders that names them; it is imported on the first lookup (not at
import time), so the neutral modules that import this one never import a codec themselves.
A provider registered later (a test's toy provider, an experiment) works everywhere the
built-in ones do.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from realtimelab.errors import RealtimeLabError
from realtimelab.providers.base import Capabilities, Codec

if TYPE_CHECKING:
    from realtimelab.auth import EphemeralToken
    from realtimelab.config import SessionConfig, Unsupported
    from realtimelab.providers.framelog import FrameDescriber
    from realtimelab.schema import Tool
    from realtimelab.vad import VadParams
    from realtimelab.voices import VoiceSet

__all__ = [
    "ProviderAlreadyRegistered",
    "ProviderSpec",
    "UnknownProviderError",
    "get",
    "names",
    "register",
    "specs",
    "unregister",
]

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


class UnknownProviderError(RealtimeLabError, ValueError):
    """No provider is registered under this name; the message lists the registered ones."""


class ProviderAlreadyRegistered(RealtimeLabError, ValueError):
    """`register` was given a name that is taken (unregister the old spec first)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ProviderSpec:
    """Everything the provider-neutral modules need to know about one provider.

    Each field points into the provider's own folder; nothing here is computed elsewhere.
    Compared by identity: two specs are the same provider only if they are the same object.
    """

    name: str
    """Registry key, lowercase (`"openai"`): what `connect(name, ...)` and events carry."""
    title: str
    """How people write it (`"OpenAI Realtime"`), for messages and tables."""
    codec: Callable[[str | None], Codec]
    """Codec factory: `codec(model)` returns a fresh codec (None: the codec's default model)."""
    default_model: str
    """The catalogue's recommended model (`realtimelab.catalogue.default_model(name).name`)."""
    capabilities: Capabilities
    """What the provider can do on its default model (a codec's own flags may differ per
    model: read `session.capabilities` for the connection you have)."""
    env_keys: tuple[str, ...]
    """Environment variables holding an API key, in the order they are tried."""
    voices: VoiceSet
    """The provider's voice names, its pick for each neutral voice, its naming rules."""
    wire_tool: Callable[[Tool], dict[str, Any]]
    """A `Tool` as this provider's tool declaration, exactly as the codec sends it."""
    unsupported: Callable[[SessionConfig], Sequence[Unsupported]]
    """The settings of a config this provider cannot honour, and what happens instead; the
    codec warns with `UnsupportedSetting` for each when it builds its setup."""
    describer: Callable[[], FrameDescriber]
    """Factory of the event log's reader of this provider's frames (one per log: it may
    remember formats negotiated earlier in the session)."""
    extra_target: str
    """What `SessionConfig.extra[name]` is deep-merged into (e.g. "the `session` object of
    `session.update`"), for messages that explain the escape hatch."""
    mint_token: Callable[..., Awaitable[EphemeralToken]] | None = None
    """`mint_token(api_key, **options)`: a short-lived client token; None when the provider
    has none."""
    vad_presets: Mapping[str, VadParams] = field(default_factory=dict)
    """Named starting points for the VAD notebook's panel: this provider's own turn-detection
    settings as the kit's energy detector reads them (`realtimelab.vad.VadParams`)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ValueError(
                f"provider name {self.name!r} must be lowercase letters, digits or '_', "
                "starting with a letter"
            )
        if not isinstance(self.env_keys, tuple) or not all(
            isinstance(k, str) and k for k in self.env_keys
        ):
            raise ValueError(f"{self.name}: env_keys must be a tuple of variable names")
        if self.capabilities.provider != self.name:
            raise ValueError(
                f"{self.name}: capabilities.provider is {self.capabilities.provider!r}; "
                "events would carry the wrong provider name"
            )


_lock = threading.RLock()
_specs: dict[str, ProviderSpec] = {}
_builtins_loaded = False


def _ensure_builtins() -> None:
    """Register the built-in providers on first use (see the module docstring for why lazily)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        _builtins_loaded = True  # before the import: `builtin` itself calls `register`
        before = set(_specs)
        try:
            importlib.import_module("realtimelab.providers.builtin")
        except BaseException:
            for name in set(_specs) - before:
                del _specs[name]
            _builtins_loaded = False
            raise


def register(spec: ProviderSpec) -> ProviderSpec:
    """Add a provider. Its name must be free (`ProviderAlreadyRegistered` otherwise); returns
    the spec, so a module can write `SPEC = register(ProviderSpec(...))`."""
    if not isinstance(spec, ProviderSpec):
        raise TypeError(f"register() takes a ProviderSpec, got {type(spec).__name__}")
    _ensure_builtins()
    with _lock:
        if spec.name in _specs:
            raise ProviderAlreadyRegistered(
                f"a provider named {spec.name!r} is already registered "
                f"({_specs[spec.name].title}); unregister({spec.name!r}) first to replace it"
            )
        _specs[spec.name] = spec
    return spec


def unregister(name: str) -> ProviderSpec:
    """Remove a provider and return its spec (for tests and experiments that registered one)."""
    _ensure_builtins()
    with _lock:
        spec = get(name)
        del _specs[name]
    return spec


def get(name: str) -> ProviderSpec:
    """The spec registered as `name`; `UnknownProviderError` lists the registered names."""
    _ensure_builtins()
    try:
        return _specs[name]
    except (KeyError, TypeError):
        raise UnknownProviderError(
            f"unknown provider {name!r}; registered providers: {', '.join(_specs) or 'none'}"
        ) from None


def names() -> tuple[str, ...]:
    """Registered provider names, in registration order (built-in ones first)."""
    _ensure_builtins()
    return tuple(_specs)


def specs() -> tuple[ProviderSpec, ...]:
    """Registered specs, in registration order."""
    _ensure_builtins()
    return tuple(_specs.values())
