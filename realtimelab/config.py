"""Provider-neutral session configuration: what you want, validated where you write it.

Why one config: a notebook that compares providers should change one word (the provider), not
rewrite its settings. `SessionConfig` says *what* you want in neutral terms; each provider's
folder says it in that provider's dialect (`realtimelab/providers/<name>/session_config.py`,
used by its codec). Values are frozen dataclasses validated in `__post_init__`, so a bad
setting fails where it is written (`ConfigError` names the field), not minutes later as a
provider error frame.

Nothing is dropped without a trace. Each provider's `session_config.py` lists, in its
docstring, the settings that provider cannot honour and what happens to each:

* **warn**: the codec issues an `UnsupportedSetting` warning (a `UserWarning`) naming the
  field, the provider and what happens instead, when it builds the session's setup, and the
  session goes on without the setting. For settings whose absence changes details, not the
  conversation (a sampling temperature, a VAD knob the provider does not have).
* **raise**: the codec raises `ValueError` before anything is sent, where going on would do
  something other than what was asked (a tool choice it cannot enforce, text replies from a
  model that only speaks).
* **approximate**: a documented mapping onto the nearest setting the provider has (a
  semantic VAD built from silence durations); something faithful to the intent is sent, so
  there is no warning, and the provider's `Capabilities` flag says it is not native.

`ProviderSpec.unsupported(config)` (`realtimelab.providers.get(name)`) lists the warned settings
of a config without connecting. `SessionConfig.extra` is the raw escape hatch for knobs this
class does not name: `extra={name: {...}}` is deep-merged (`deep_merge`) by that provider's
codec into its own setup message and ignored by the others.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from realtimelab.errors import RealtimeLabError, UnsupportedSetting
from realtimelab.providers.registry import get, names
from realtimelab.schema import SchemaError, Tool
from realtimelab.voices import NEUTRAL_VOICES, VoiceError, resolve_voice

__all__ = [
    "AudioWireFormat",
    "ConfigError",
    "SessionConfig",
    "Unsupported",
    "UnsupportedSetting",
    "Vad",
    "deep_merge",
    "warn_unsupported",
]

VadMode = Literal["server", "semantic", "manual"]
Sensitivity = Literal["low", "medium", "high"]
Eagerness = Literal["low", "medium", "high", "auto"]
Output = Literal["audio", "text"]
ToolChoice = Literal["auto", "none", "required"]
AudioWireFormat = Literal["pcm16", "pcmu", "pcma"]
Mode = Literal["conversation", "transcription"]


class ConfigError(RealtimeLabError, ValueError):
    """A session setting is invalid; the message names the field and what would be valid."""


@dataclass(frozen=True)
class Unsupported:
    """One setting a provider cannot honour, as its `ProviderSpec.unsupported` reports it."""

    field: str
    """The setting as written: `Vad.threshold`, `SessionConfig.temperature`."""
    instead: str
    """What happens instead, in a sentence."""


def warn_unsupported(
    provider: str, settings: Iterable[Unsupported], *, title: str = "", stacklevel: int = 3
) -> None:
    """Issue one `UnsupportedSetting` warning per setting (codecs call this while building
    their setup, so every session that drops a setting says so). The default `stacklevel`
    points at whoever asked the codec for its setup frames."""
    for item in settings:
        warnings.warn(
            UnsupportedSetting(item.field, provider, item.instead, title=title),
            stacklevel=stacklevel,
        )


def _check_choice(owner: str, name: str, value: Any, literal: Any, *, allow_none: bool) -> None:
    choices = get_args(literal)
    if value is None and allow_none:
        return
    if value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {list(choices)}, got {value!r}")


def _check_ms(owner: str, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{owner}.{name} must be a non-negative int of milliseconds or None, got {value!r}"
        )


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}.{name} must be True or False, got {value!r}")


# --------------------------------------------------------------------------------------------
# Voice activity detection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Vad:
    """How the server decides that the user started and stopped talking.

    - `mode="server"`: silence-based VAD (OpenAI `server_vad`, Gemini automatic activity
      detection). Tune with `sensitivity` (neutral: "low" / "medium" = the provider's default /
      "high" hears speech most readily) or a raw `threshold` (0..1; overrides `sensitivity`
      where it exists), `prefix_padding_ms`, `silence_duration_ms`, and `idle_timeout_ms`.
    - `mode="semantic"`: a detector that judges whether the user sounds finished (OpenAI
      `semantic_vad`); only `eagerness` tunes it. Providers without one approximate it.
    - `mode="manual"`: no VAD; the client marks turns (OpenAI `turn_detection: null` + commit,
      Gemini `activityStart`/`activityEnd`).

    Each provider's `session_config.py` shows how these map onto its wire, and which of them it
    cannot honour (those warn with `UnsupportedSetting` when a session starts).

    `create_response`: answer automatically when the user stops. `interrupt_response`: cut the
    model off when the user starts talking (barge-in); False on Gemini is `NO_INTERRUPTION`.
    """

    mode: VadMode = "server"
    sensitivity: Sensitivity | None = None
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None
    eagerness: Eagerness | None = None
    create_response: bool = True
    interrupt_response: bool = True

    def __post_init__(self) -> None:
        owner = "Vad"
        _check_choice(owner, "mode", self.mode, VadMode, allow_none=False)
        _check_choice(owner, "sensitivity", self.sensitivity, Sensitivity, allow_none=True)
        _check_choice(owner, "eagerness", self.eagerness, Eagerness, allow_none=True)
        if self.threshold is not None and (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not 0.0 <= self.threshold <= 1.0
        ):
            raise ConfigError(f"Vad.threshold must be a number in 0..1, got {self.threshold!r}")
        for name in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
            _check_ms(owner, name, getattr(self, name))
        _check_bool(owner, "create_response", self.create_response)
        _check_bool(owner, "interrupt_response", self.interrupt_response)
        server_only = ("sensitivity", "threshold", "prefix_padding_ms", "silence_duration_ms")
        if self.mode != "server":
            for name in (*server_only, "idle_timeout_ms"):
                if getattr(self, name) is not None:
                    semantic = self.mode == "semantic"
                    hint = " (semantic VAD is tuned with eagerness)" if semantic else ""
                    raise ConfigError(
                        f"Vad.{name} applies only to mode='server', not mode={self.mode!r}{hint}"
                    )
        if self.eagerness is not None and self.mode != "semantic":
            raise ConfigError(
                f"Vad.eagerness applies only to mode='semantic', not mode={self.mode!r}; "
                "use sensitivity / silence_duration_ms for mode='server'"
            )


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """Everything about a realtime session that does not depend on the provider.

    `voice` takes a neutral name ("warm", see `realtimelab.voices.VOICE_TABLE`) or a provider's
    own name. `tools` takes `Tool`s or plain functions (converted with `Tool.from_callable`).
    `extra` is the raw escape hatch, keyed by provider name: `extra={"openai": {...}}` is
    deep-merged (`deep_merge`) by that provider's codec into its own setup (the OpenAI
    `session` object, the Gemini `setup` message: `ProviderSpec.extra_target`), for knobs this
    class does not name (noise reduction, context compression, ...). Keys must be registered
    provider names. Use `.replace(...)` to derive a variant.

    Telephone audio: `input_format` / `output_format` take "pcm16" (the default), "pcmu"
    (G.711 µ-law) or "pcma" (G.711 A-law), 8 kHz. With a G.711 input, `send_g711(data)`
    takes the phone line's bytes as they are (`send_audio` still takes PCM16 at any rate);
    with a G.711 output every `AudioChunk` is 8 kHz and carries the G.711 bytes in `g711`.
    Providers whose wire speaks G.711 (`capabilities.g711_native`) get it end to end; the
    others get PCM16 and the session transcodes (see `realtimelab.wire_audio`).

    `mode="transcription"`: a session that only transcribes the user (`InputTranscript`
    events and spoken history) and never answers (`capabilities.transcription_sessions`);
    tools and search make no sense there and are refused. `web_search=True` lets the model
    search the web and report its sources as `Grounding` events
    (`capabilities.web_search`). Both are checked against the provider's capabilities when
    the session opens (`realtimelab.contract.check_config`).
    """

    instructions: str = ""
    voice: str | None = None
    output: Output = "audio"
    vad: Vad = field(default_factory=Vad)
    input_transcription: bool = False
    output_transcription: bool = True
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = "auto"
    temperature: float | None = None
    max_output_tokens: int | None = None
    model: str | None = None
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    input_format: AudioWireFormat = "pcm16"
    output_format: AudioWireFormat = "pcm16"
    mode: Mode = "conversation"
    web_search: bool = False

    def __post_init__(self) -> None:
        owner = "SessionConfig"
        if not isinstance(self.instructions, str):
            raise ConfigError(f"{owner}.instructions must be a str, got {self.instructions!r}")
        self._check_voice()
        _check_choice(owner, "output", self.output, Output, allow_none=False)
        if not isinstance(self.vad, Vad):
            raise ConfigError(f"{owner}.vad must be a Vad(...), got {self.vad!r}")
        _check_bool(owner, "input_transcription", self.input_transcription)
        _check_bool(owner, "output_transcription", self.output_transcription)
        object.__setattr__(self, "tools", _coerce_tools(self.tools))
        _check_choice(owner, "tool_choice", self.tool_choice, ToolChoice, allow_none=False)
        if self.tool_choice == "required" and not self.tools:
            raise ConfigError(f"{owner}.tool_choice='required' needs at least one tool")
        if self.temperature is not None and (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or not math.isfinite(self.temperature)
            or not 0.0 <= self.temperature <= 2.0
        ):
            raise ConfigError(
                f"{owner}.temperature must be a number in 0..2 or None, got {self.temperature!r}"
            )
        if self.max_output_tokens is not None and (
            isinstance(self.max_output_tokens, bool)
            or not isinstance(self.max_output_tokens, int)
            or self.max_output_tokens < 1
        ):
            raise ConfigError(
                f"{owner}.max_output_tokens must be a positive int or None (unlimited), "
                f"got {self.max_output_tokens!r}"
            )
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ConfigError(f"{owner}.model must be a non-empty str or None, got {self.model!r}")
        object.__setattr__(self, "extra", _checked_extra(self.extra))
        for name in ("input_format", "output_format"):
            value = getattr(self, name)
            if value not in get_args(AudioWireFormat):
                raise ConfigError(
                    f"{owner}.{name} must be 'pcm16' (16-bit PCM), 'pcmu' (G.711 µ-law) or "
                    f"'pcma' (G.711 A-law), got {value!r}"
                )
        _check_choice(owner, "mode", self.mode, Mode, allow_none=False)
        _check_bool(owner, "web_search", self.web_search)
        if self.mode == "transcription":
            for name, wrong in (("tools", bool(self.tools)), ("web_search", self.web_search)):
                if wrong:
                    raise ConfigError(
                        f"{owner}.{name} cannot be used with mode='transcription': a "
                        "transcription session only transcribes; no model answers or calls tools"
                    )

    def _check_voice(self) -> None:
        if self.voice is None:
            return
        errors: list[str] = []
        for provider in names():
            try:
                resolve_voice(self.voice, provider)
                return  # usable on at least one provider; the codec checks its own
            except VoiceError as exc:
                errors.append(str(exc))
        raise ConfigError(
            f"SessionConfig.voice {self.voice!r} is not a voice on any provider. "
            f"Neutral voices: {', '.join(NEUTRAL_VOICES)}.\n" + "\n".join(errors)
        )

    def replace(self, **changes: Any) -> SessionConfig:
        """A copy with `changes` applied (and validated again)."""
        return dataclasses.replace(self, **changes)

    def tool(self, name: str) -> Tool:
        """The tool called `name` (KeyError lists the declared names)."""
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(f"no tool {name!r}; declared: {[t.name for t in self.tools]}")


def _checked_extra(extra: Any) -> dict[str, dict[str, Any]]:
    """Our own deep copy of `extra` (a later change to the caller's dict must not alter the
    config), keyed by registered provider names only: a typo would otherwise be ignored."""
    owner = "SessionConfig.extra"
    if not isinstance(extra, Mapping):
        raise ConfigError(
            f"{owner} must be a mapping of provider name to settings, e.g. "
            f"extra={{{names()[0]!r}: {{...}}}}, got {extra!r}"
        )
    out: dict[str, dict[str, Any]] = {}
    for provider, raw in extra.items():
        if not isinstance(provider, str) or provider not in names():
            raise ConfigError(
                f"{owner} key {provider!r} is not a registered provider; "
                f"use one of {', '.join(names())}"
            )
        if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
            raise ConfigError(
                f"{owner}[{provider!r}] must be a mapping with str keys (merged into "
                f"{get(provider).extra_target}), got {raw!r}"
            )
        out[provider] = copy.deepcopy(dict(raw))
    return out


def _coerce_tools(tools: Any) -> tuple[Tool, ...]:
    """Accept Tools and plain functions; refuse duplicates (the model could not tell them apart)."""
    if isinstance(tools, Tool) or callable(tools) or isinstance(tools, str | bytes | Mapping):
        raise ConfigError(
            "SessionConfig.tools must be a sequence of Tool or functions, e.g. tools=[get_weather]"
        )
    if not isinstance(tools, Iterable):
        raise ConfigError(f"SessionConfig.tools must be a sequence, got {tools!r}")
    out: list[Tool] = []
    for i, item in enumerate(tools):
        if isinstance(item, Tool):
            out.append(item)
        elif callable(item):
            try:
                out.append(Tool.from_callable(item))
            except (TypeError, SchemaError) as exc:
                raise ConfigError(f"SessionConfig.tools[{i}]: {exc}") from exc
        else:
            raise ConfigError(
                f"SessionConfig.tools[{i}] must be a Tool or a function, got {item!r}; "
                "wrap hand-written schemas with Tool.from_schema(name, description, parameters)"
            )
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise ConfigError(f"SessionConfig.tools has two tools named {t.name!r}; rename one")
        seen.add(t.name)
    return tuple(out)


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overlay` merged in: nested mappings merge, anything else (lists, None) replaces.

    This is how the codecs apply their `SessionConfig.extra` entry, so
    `{"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}` adds one knob without
    erasing the rest of `audio`, and `{"audio": {"input": {"turn_detection": None}}}` clears one.
    Neither input is modified.
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
