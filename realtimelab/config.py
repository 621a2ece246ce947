"""Provider-neutral session configuration, and the pure functions that map it onto each wire.

Why one config: a notebook that compares OpenAI and Gemini should change one word (the provider),
not rewrite its settings. `SessionConfig` says *what* you want in neutral terms; the codecs in
`realtimelab.providers` call the helpers here (`openai_turn_detection`,
`gemini_realtime_input_config`, `resolve_voice`, `to_openai_tool`, `to_gemini_declaration`) to say
it in each provider's dialect. Where a provider simply lacks a knob, the helpers say so
(`gemini_unsupported_vad_fields`) and the codec's `Capabilities` decide; nothing is dropped
without a trace.

Values are frozen dataclasses validated in `__post_init__`, so a bad setting fails where it is
written (`ConfigError` names the field), not minutes later as a provider error frame.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from realtimelab.schema import SchemaError, Tool
from realtimelab.vad import SEMANTIC_SILENCE_MS, SENSITIVITY_TABLE
from realtimelab.voices import NEUTRAL_VOICES, VoiceError, resolve_voice

__all__ = [
    "GEMINI_UNSUPPORTED_VAD_FIELDS",
    "SEMANTIC_SILENCE_MS",
    "SENSITIVITY_TABLE",
    "ConfigError",
    "SessionConfig",
    "Vad",
    "deep_merge",
    "gemini_realtime_input_config",
    "gemini_unsupported_vad_fields",
    "openai_turn_detection",
]

VadMode = Literal["server", "semantic", "manual"]
Sensitivity = Literal["low", "medium", "high"]
Eagerness = Literal["low", "medium", "high", "auto"]
Output = Literal["audio", "text"]
ToolChoice = Literal["auto", "none", "required"]

#: Vad fields Gemini's `automaticActivityDetection` cannot express. The Gemini codec's
#: Capabilities decide whether setting one is an error or a documented no-op:
#: `threshold` is OpenAI's raw 0..1 knob (Gemini only has the two-level sensitivities, which
#: `sensitivity` already maps onto); `idle_timeout_ms` has no Gemini counterpart; and with
#: automatic VAD Gemini always answers at end of speech, so `create_response=False` is lost.
GEMINI_UNSUPPORTED_VAD_FIELDS: tuple[str, ...] = ("threshold", "idle_timeout_ms", "create_response")


_PROVIDERS: tuple[Literal["openai", "gemini"], ...] = ("openai", "gemini")


class ConfigError(ValueError):
    """A session setting is invalid; the message names the field and what would be valid."""


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
      detection). Tune with `sensitivity` (neutral, see `SENSITIVITY_TABLE`) or OpenAI's raw
      `threshold` (0..1; overrides `sensitivity` on OpenAI, has no Gemini equivalent),
      `prefix_padding_ms`, `silence_duration_ms`, and `idle_timeout_ms` (OpenAI only).
    - `mode="semantic"`: OpenAI `semantic_vad`, which judges whether the user sounds finished.
      Only `eagerness` tunes it. Gemini has no semantic VAD: there it is approximated by an
      end-of-speech sensitivity and silence duration per eagerness (see
      `gemini_realtime_input_config`).
    - `mode="manual"`: no VAD; the client marks turns (OpenAI `turn_detection: null` + commit,
      Gemini `activityStart`/`activityEnd`).

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


def openai_turn_detection(vad: Vad) -> dict[str, Any] | None:
    """GA `session.audio.input.turn_detection` for `vad` (None = manual turns).

    Only fields that were set are sent, so the server's defaults stay visible as defaults.
    `threshold` wins over `sensitivity`; `sensitivity` maps through `SENSITIVITY_TABLE`.
    """
    if vad.mode == "manual":
        return None
    if vad.mode == "semantic":
        out: dict[str, Any] = {"type": "semantic_vad"}
        if vad.eagerness is not None:
            out["eagerness"] = vad.eagerness
    else:
        out = {"type": "server_vad"}
        if vad.threshold is not None:
            out["threshold"] = float(vad.threshold)
        elif vad.sensitivity is not None:
            out["threshold"] = float(SENSITIVITY_TABLE[vad.sensitivity]["openai_threshold"])
        for name in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
            value = getattr(vad, name)
            if value is not None:
                out[name] = value
    out["create_response"] = vad.create_response
    out["interrupt_response"] = vad.interrupt_response
    return out


# Gemini has no semantic VAD. Approximation: eagerness picks the end-of-speech sensitivity (HIGH
# ends turns sooner) and the silence that ends a turn (the same SEMANTIC_SILENCE_MS the
# emulator uses to approximate OpenAI's semantic_vad, so both providers behave alike offline).
_GEMINI_SEMANTIC_END: Mapping[str, str | None] = {
    "high": "END_SENSITIVITY_HIGH",
    "medium": None,
    "auto": None,
    "low": "END_SENSITIVITY_LOW",
}


def gemini_realtime_input_config(vad: Vad) -> dict[str, Any]:
    """camelCase `setup.realtimeInputConfig` for `vad`.

    - server: sensitivities from `SENSITIVITY_TABLE` when `sensitivity` is set, plus
      `prefixPaddingMs` / `silenceDurationMs` when set.
    - semantic: an approximation (Gemini has no semantic VAD): eagerness "high" → END_HIGH and
      250 ms silence, "medium"/"auto"/unset → 700 ms, "low" → END_LOW and 1500 ms.
    - manual: `automaticActivityDetection.disabled = true` (the client sends activityStart/End).
    - `interrupt_response=False` → `activityHandling: NO_INTERRUPTION`.

    Fields in `GEMINI_UNSUPPORTED_VAD_FIELDS` are not represented; see
    `gemini_unsupported_vad_fields`.
    """
    aad: dict[str, Any] = {"disabled": vad.mode == "manual"}
    if vad.mode == "server":
        if vad.sensitivity is not None:
            row = SENSITIVITY_TABLE[vad.sensitivity]
            aad["startOfSpeechSensitivity"] = row["gemini_start_sensitivity"]
            aad["endOfSpeechSensitivity"] = row["gemini_end_sensitivity"]
        if vad.prefix_padding_ms is not None:
            aad["prefixPaddingMs"] = vad.prefix_padding_ms
        if vad.silence_duration_ms is not None:
            aad["silenceDurationMs"] = vad.silence_duration_ms
    elif vad.mode == "semantic":
        eagerness = vad.eagerness or "auto"
        end = _GEMINI_SEMANTIC_END[eagerness]
        if end is not None:
            aad["endOfSpeechSensitivity"] = end
        aad["silenceDurationMs"] = SEMANTIC_SILENCE_MS[eagerness]
    return {
        "automaticActivityDetection": aad,
        "activityHandling": (
            "START_OF_ACTIVITY_INTERRUPTS" if vad.interrupt_response else "NO_INTERRUPTION"
        ),
    }


def gemini_unsupported_vad_fields(vad: Vad) -> tuple[str, ...]:
    """The fields of `vad` that are set to something Gemini cannot honour (empty = all good).

    `create_response=False` only counts with automatic VAD: with manual turns the client
    decides when to ask for an answer on both providers.
    """
    out: list[str] = []
    if vad.threshold is not None:
        out.append("threshold")
    if vad.idle_timeout_ms is not None:
        out.append("idle_timeout_ms")
    if not vad.create_response and vad.mode != "manual":
        out.append("create_response")
    return tuple(out)


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """Everything about a realtime session that does not depend on the provider.

    `voice` takes a neutral name ("warm", see `realtimelab.voices.VOICE_TABLE`) or a provider's
    own name. `tools` takes `Tool`s or plain functions (converted with `Tool.from_callable`).
    `openai` / `gemini` are raw escape hatches: dicts the codec deep-merges (`deep_merge`) into
    the OpenAI `session` object / the Gemini `setup` object, for knobs this class does not name
    (noise reduction, context compression, ...). Use `.replace(...)` to derive a variant.
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
    openai: Mapping[str, Any] = field(default_factory=dict)
    gemini: Mapping[str, Any] = field(default_factory=dict)

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
        for name in ("openai", "gemini"):
            raw = getattr(self, name)
            if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
                raise ConfigError(
                    f"{owner}.{name} must be a mapping with str keys (merged into the "
                    f"{'session' if name == 'openai' else 'setup'} object), got {raw!r}"
                )
            # Our own copy: a later change to the caller's dict must not alter this config.
            object.__setattr__(self, name, copy.deepcopy(dict(raw)))

    def _check_voice(self) -> None:
        if self.voice is None:
            return
        errors: list[str] = []
        for provider in _PROVIDERS:
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

    This is how the codecs apply `SessionConfig.openai` / `.gemini` escape hatches, so
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
