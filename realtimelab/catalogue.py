"""One catalogue of realtime models: names, status, what each can do, and where that is written.

Client and emulator both read this table, so a retired model is refused by the emulator with
the same facts the client uses to warn before it connects, and the defaults live in one place.
It is data, not behaviour: wire mappings stay in each provider's folder and in the emulator's
own dialects (which keep their own reading of the protocol so the two check each other).

Status, as of the catalogue's `AS_OF` date:

* ``ga``         generally available; the provider's recommended choice.
* ``preview``    usable, may change or be withdrawn with short notice.
* ``legacy``     superseded but still served (a preview kept running for existing users).
* ``deprecated`` still served, with an announced shutdown date (`shutdown`).
* ``retired``    no longer served: the real service refuses a connection for it.

Sources are given per entry (`docs/models.md` collects them); when a status comes only from
third-party reports it says so in `note`, and the emulator takes the stricter reading.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

from realtimelab.errors import RealtimeLabError

__all__ = [
    "AS_OF",
    "MODELS",
    "Model",
    "ModelStatus",
    "RetiredModelError",
    "default_model",
    "find_model",
    "models_for",
    "usable",
]

ModelStatus = Literal["ga", "preview", "legacy", "deprecated", "retired"]
#: The day the statuses below were last checked.
AS_OF = _dt.date(2026, 11, 30)


@dataclass(frozen=True)
class Model:
    """One model name and the facts the kit needs about it.

    `audio` says how speech is produced: ``native`` (audio-to-audio), ``cascade`` (native audio
    in, text-to-speech out; the only kind that may answer in TEXT on Gemini Live). `tools`:
    ``sync`` (the model waits for every result), ``async`` (NON_BLOCKING declarations honoured)
    or ``async_default`` (NON_BLOCKING unless declared BLOCKING). `context_updates`: the model
    accepts Gemini's mid-session `contextUpdate` (new instructions or tools without a new
    session). `default` marks the model a session uses when none is named (exactly one per
    provider).
    """

    provider: str
    name: str
    status: ModelStatus
    audio: Literal["native", "cascade"] = "native"
    text_output: bool = True
    tools: Literal["sync", "async", "async_default"] = "sync"
    reasoning: bool = False
    context_updates: bool = False
    default: bool = False
    shutdown: _dt.date | None = None
    replacement: str | None = None
    source: str = ""
    note: str = ""

    @property
    def served(self) -> bool:
        """Whether the real service still accepts sessions for this model (as of `AS_OF`)."""
        return self.status != "retired"


_OPENAI_DEPRECATION = (
    "openai SDK 3.57 `RealtimeSessionCreateRequestParam.model` docstring: deprecated values, "
    "announced shutdown 2027-01-20"
)
_OPENAI_MODELS = "developers.openai.com/api/docs/models (model pages, 2026)"
_GEMINI_MODELS = "ai.google.dev/gemini-api/docs/models and the Live API changelog (2026)"

MODELS: tuple[Model, ...] = (
    # --- OpenAI Realtime (GA interface) ---------------------------------------------------------
    Model(
        "openai",
        "gpt-realtime-2",
        "ga",
        reasoning=True,
        default=True,
        source=_OPENAI_MODELS,
        note="launched 2026-05-07; successor of gpt-realtime-1.5",
    ),
    Model("openai", "gpt-realtime-2.1", "preview", reasoning=True, source=_OPENAI_MODELS),
    Model("openai", "gpt-realtime-2.1-mini", "preview", reasoning=True, source=_OPENAI_MODELS),
    Model("openai", "gpt-realtime-1.5", "ga", source=_OPENAI_MODELS),
    Model(
        "openai",
        "gpt-realtime",
        "deprecated",
        shutdown=_dt.date(2027, 1, 20),
        replacement="gpt-realtime-2",
        source=_OPENAI_DEPRECATION,
    ),
    Model(
        "openai",
        "gpt-realtime-2025-08-28",
        "deprecated",
        shutdown=_dt.date(2027, 1, 20),
        replacement="gpt-realtime-2",
        source=_OPENAI_DEPRECATION,
    ),
    Model(
        "openai",
        "gpt-realtime-mini",
        "deprecated",
        shutdown=_dt.date(2027, 1, 20),
        replacement="gpt-realtime-2.1-mini",
        source=_OPENAI_DEPRECATION,
    ),
    Model("openai", "gpt-realtime-mini-2025-10-06", "ga", source=_OPENAI_MODELS),
    Model(
        "openai",
        "gpt-realtime-mini-2025-12-15",
        "deprecated",
        shutdown=_dt.date(2027, 1, 20),
        replacement="gpt-realtime-2.1-mini",
        source=_OPENAI_DEPRECATION,
    ),
    Model("openai", "gpt-audio-1.5", "ga", source=_OPENAI_MODELS),
    Model(
        "openai",
        "gpt-audio-mini",
        "deprecated",
        shutdown=_dt.date(2027, 1, 20),
        replacement="gpt-audio-1.5",
        source=_OPENAI_DEPRECATION,
    ),
    Model(
        "openai",
        "gpt-4o-realtime-preview",
        "legacy",
        replacement="gpt-realtime-2",
        source=_OPENAI_MODELS,
        note="beta-era preview; still listed by the SDK",
    ),
    Model(
        "openai",
        "gpt-4o-mini-realtime-preview",
        "legacy",
        replacement="gpt-realtime-2.1-mini",
        source=_OPENAI_MODELS,
        note="beta-era preview; still listed by the SDK",
    ),
    # --- Gemini Live (Gemini Developer API) -----------------------------------------------------
    Model(
        "gemini",
        "gemini-3.8-live",
        "ga",
        text_output=False,
        tools="async_default",
        context_updates=True,
        default=True,
        source=_GEMINI_MODELS,
        note="GA 2026-09-15; AUDIO output only",
    ),
    Model(
        "gemini",
        "gemini-3.8-live-extended-thinking",
        "preview",
        text_output=False,
        tools="async_default",
        reasoning=True,
        context_updates=True,
        source=_GEMINI_MODELS,
        note="seen only in third-party release notes",
    ),
    Model(
        "gemini",
        "gemini-3.1-flash-live-preview",
        "legacy",
        text_output=False,
        tools="sync",
        reasoning=True,
        replacement="gemini-3.8-live",
        source=_GEMINI_MODELS,
        note="legacy preview since 2026-03; synchronous tools only",
    ),
    Model(
        "gemini",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "preview",
        text_output=False,
        tools="async",
        reasoning=True,
        replacement="gemini-3.8-live",
        source=_GEMINI_MODELS,
    ),
    Model(
        "gemini",
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "preview",
        text_output=False,
        tools="async",
        reasoning=True,
        replacement="gemini-3.8-live",
        source=_GEMINI_MODELS,
    ),
    Model(
        "gemini",
        "gemini-live-2.5-flash-preview",
        "retired",
        audio="cascade",
        shutdown=_dt.date(2025, 12, 9),
        replacement="gemini-3.8-live",
        source=_GEMINI_MODELS,
        note="half-cascade; shut down 2025-12-09",
    ),
    Model(
        "gemini",
        "gemini-2.0-flash-live-001",
        "retired",
        audio="cascade",
        shutdown=_dt.date(2025, 12, 9),
        replacement="gemini-3.8-live",
        source=_GEMINI_MODELS,
        note="half-cascade; shut down 2025-12-09",
    ),
)

_BY_KEY = {(m.provider, m.name): m for m in MODELS}


class RetiredModelError(RealtimeLabError, ValueError):
    """The model is no longer served; the message names its replacement."""


def find_model(provider: str, name: str) -> Model | None:
    """The catalogue entry for `name` (a dated snapshot falls back to its family), or None."""
    hit = _BY_KEY.get((provider, name))
    if hit is not None:
        return hit
    # `gpt-realtime-2-2026-05-07` style snapshots: the longest catalogued prefix wins
    best: Model | None = None
    for m in MODELS:
        fits = m.provider == provider and name.startswith(m.name + "-")
        if fits and (best is None or len(m.name) > len(best.name)):
            best = m
    return best


def models_for(provider: str) -> tuple[Model, ...]:
    return tuple(m for m in MODELS if m.provider == provider)


def default_model(provider: str) -> Model:
    for m in MODELS:
        if m.provider == provider and m.default:
            return m
    raise KeyError(f"no default model for provider {provider!r}")


def usable(provider: str, name: str, *, today: _dt.date | None = None) -> Model | None:
    """The entry for `name`, raising `RetiredModelError` when the service no longer serves it
    (retired, or deprecated past its shutdown date). Unknown names return None: new models
    appear faster than catalogues, so the server is left to decide about them."""
    model = find_model(provider, name)
    if model is None:
        return None
    day = today or _dt.date.today()
    gone = not model.served or (model.shutdown is not None and day >= model.shutdown)
    if gone:
        instead = f"; use {model.replacement!r}" if model.replacement else ""
        when = f" on {model.shutdown.isoformat()}" if model.shutdown else ""
        raise RetiredModelError(f"{provider} model {name!r} was shut down{when}{instead}")
    return model
