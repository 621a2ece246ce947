"""A `SessionConfig` in Gemini Live's terms: activity detection, sensitivities, what is missing.

The codec (`codec.py`) puts `realtime_input_config(vad)` into `setup.realtimeInputConfig`:

* `mode="server"` → automatic activity detection; `sensitivity` picks start/end-of-speech
  sensitivities from `SENSITIVITIES`; `prefixPaddingMs` / `silenceDurationMs` when set.
* `mode="semantic"` → Gemini has no semantic VAD, so it is *approximated*: eagerness picks the
  end-of-speech sensitivity and the silence that ends a turn (the same
  `realtimelab.vad.SEMANTIC_SILENCE_MS` the emulator uses for OpenAI's semantic VAD, so both
  providers behave alike offline). Something is sent for every eagerness, so this is not
  reported as unsupported; `capabilities.semantic_vad` is False.
* `mode="manual"` → `automaticActivityDetection.disabled` (the client brackets speech).
* `interrupt_response=False` → `activityHandling: NO_INTERRUPTION`.

What Gemini cannot honour, and what happens:

* **warned** (`UnsupportedSetting`, the session goes on; see `unsupported_settings`):
  `Vad.threshold` (Gemini has only the two-level sensitivities), `Vad.idle_timeout_ms` (no
  counterpart), `Vad.create_response=False` with automatic VAD (Gemini always answers at the
  end of speech).
* **raised** by the codec, because going on would do something else than asked:
  `tool_choice="required"` (`ValueError`: Live has no tool choice), and `output="text"` on a
  model that only speaks (`ValueError` naming the models that can write).

`vad_params` is the other direction, for the emulator and the VAD notebook: what a Gemini
`automaticActivityDetection` means in the kit's own detector (`realtimelab.vad.VadParams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from realtimelab.config import SessionConfig, Unsupported, Vad
from realtimelab.vad import SEMANTIC_SILENCE_MS, VadParams, check_ms

__all__ = [
    "SENSITIVITIES",
    "VAD_PRESETS",
    "realtime_input_config",
    "unsupported_settings",
    "vad_params",
]

SENSITIVITIES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "low": ("START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"),
        "medium": ("START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"),
        "high": ("START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"),
    }
)
"""Neutral `Vad.sensitivity` → (startOfSpeechSensitivity, endOfSpeechSensitivity), read-only.

Gemini has only two levels per knob, so "medium" keeps the Gemini API defaults (HIGH/HIGH) —
the same as "high" — and only "low" asks for LOW/LOW: choosing "medium" on any provider means
"the provider's defaults".
"""

# Gemini has no semantic VAD. Approximation: eagerness picks the end-of-speech sensitivity (HIGH
# ends turns sooner) and the silence that ends a turn (SEMANTIC_SILENCE_MS).
_SEMANTIC_END: Final[Mapping[str, str | None]] = MappingProxyType(
    {"high": "END_SENSITIVITY_HIGH", "medium": None, "auto": None, "low": "END_SENSITIVITY_LOW"}
)


def realtime_input_config(vad: Vad) -> dict[str, Any]:
    """camelCase `setup.realtimeInputConfig` for `vad`.

    - server: sensitivities from `SENSITIVITIES` when `sensitivity` is set, plus
      `prefixPaddingMs` / `silenceDurationMs` when set.
    - semantic: an approximation (Gemini has no semantic VAD): eagerness "high" → END_HIGH and
      250 ms silence, "medium"/"auto"/unset → 700 ms, "low" → END_LOW and 1500 ms.
    - manual: `automaticActivityDetection.disabled = true` (the client sends activityStart/End).
    - `interrupt_response=False` → `activityHandling: NO_INTERRUPTION`.

    Fields Gemini cannot express are left out and reported by `unsupported_settings`.
    """
    aad: dict[str, Any] = {"disabled": vad.mode == "manual"}
    if vad.mode == "server":
        if vad.sensitivity is not None:
            start, end = SENSITIVITIES[vad.sensitivity]
            aad["startOfSpeechSensitivity"] = start
            aad["endOfSpeechSensitivity"] = end
        if vad.prefix_padding_ms is not None:
            aad["prefixPaddingMs"] = vad.prefix_padding_ms
        if vad.silence_duration_ms is not None:
            aad["silenceDurationMs"] = vad.silence_duration_ms
    elif vad.mode == "semantic":
        eagerness = vad.eagerness or "auto"
        end_sensitivity = _SEMANTIC_END[eagerness]
        if end_sensitivity is not None:
            aad["endOfSpeechSensitivity"] = end_sensitivity
        aad["silenceDurationMs"] = SEMANTIC_SILENCE_MS[eagerness]
    return {
        "automaticActivityDetection": aad,
        "activityHandling": (
            "START_OF_ACTIVITY_INTERRUPTS" if vad.interrupt_response else "NO_INTERRUPTION"
        ),
    }


def unsupported_settings(config: SessionConfig) -> tuple[Unsupported, ...]:
    """The settings of `config` Gemini Live cannot honour (see the module docstring).

    `create_response=False` only counts with automatic VAD: with manual turns the client
    decides when to ask for an answer on every provider.
    """
    vad = config.vad
    out: list[Unsupported] = []
    if vad.threshold is not None:
        out.append(
            Unsupported(
                "Vad.threshold",
                "Gemini has no raw threshold, only two-level start/end sensitivities; it is "
                "not sent (set Vad.sensitivity to choose them)",
            )
        )
    if vad.idle_timeout_ms is not None:
        out.append(
            Unsupported(
                "Vad.idle_timeout_ms",
                "Gemini has no idle timeout; it is not sent and a silent user is never prompted",
            )
        )
    if not vad.create_response and vad.mode != "manual":
        out.append(
            Unsupported(
                "Vad.create_response=False",
                "with automatic activity detection Gemini always answers at the end of "
                "speech; use Vad(mode='manual') to decide when it answers",
            )
        )
    return tuple(out)


# --- what the settings mean to the kit's own detector (emulator, VAD notebook) ----------------

_START: Final[Mapping[str, tuple[float, int]]] = MappingProxyType(
    {"HIGH": (0.3, 40), "LOW": (0.7, 160)}
)
_END_SILENCE_MS: Final[Mapping[str, int]] = MappingProxyType({"HIGH": 400, "LOW": 1000})


def _enum(value: str | None, prefix: str) -> str:
    """Normalise ``START_SENSITIVITY_LOW`` / ``low`` / None to ``LOW``; default HIGH."""
    if value is None:
        return "HIGH"
    if not isinstance(value, str):
        raise ValueError(f"{prefix.lower()}sensitivity must be a string, got {value!r}")
    key = value.upper()
    key = key.removeprefix(prefix)
    if key == "UNSPECIFIED":
        return "HIGH"
    if key not in ("HIGH", "LOW"):
        choices = ", ".join(f"{prefix}{k}" for k in ("HIGH", "LOW", "UNSPECIFIED"))
        raise ValueError(f"unknown {prefix}* value {value!r}; choose one of {choices}")
    return key


def vad_params(
    start_sensitivity: str | None = None,
    end_sensitivity: str | None = None,
    prefix_padding_ms: int | None = None,
    silence_duration_ms: int | None = None,
) -> VadParams:
    """Translate Gemini ``automaticActivityDetection`` into :class:`VadParams`.

    ==========================  =========  ==============  ==================
    Gemini setting              threshold  min_speech_ms   silence_duration_ms
    ==========================  =========  ==============  ==================
    START_SENSITIVITY_HIGH (*)  0.3        40
    START_SENSITIVITY_LOW       0.7        160
    END_SENSITIVITY_HIGH (*)                               400
    END_SENSITIVITY_LOW                                    1000
    prefixPaddingMs = n                    n
    silenceDurationMs = n                                  n
    ==========================  =========  ==============  ==================

    (*) the Gemini API defaults (Vertex defaults to LOW); ``*_UNSPECIFIED`` means default.
    Enum values are case-insensitive, with or without the ``START_SENSITIVITY_`` /
    ``END_SENSITIVITY_`` prefix. Explicit durations override what the sensitivity implies.

    ``prefixPaddingMs`` follows the API reference: "the required duration of detected speech
    before start-of-speech is committed" — our ``min_speech_ms``. (The Live capabilities guide
    instead calls it look-back audio; Gemini reports no audio positions, so the look-back
    ``prefix_padding_ms`` keeps its 300 ms default and only shapes which audio the emulator
    treats as the user's turn.) The numbers are ours: Google does not publish its thresholds.
    """
    start = _enum(start_sensitivity, "START_SENSITIVITY_")
    end = _enum(end_sensitivity, "END_SENSITIVITY_")
    threshold, min_speech = _START[start]
    silence = _END_SILENCE_MS[end]
    if prefix_padding_ms is not None:
        check_ms("prefix_padding_ms", prefix_padding_ms)
        min_speech = prefix_padding_ms
    if silence_duration_ms is not None:
        check_ms("silence_duration_ms", silence_duration_ms)
        silence = silence_duration_ms
    return VadParams(threshold=threshold, silence_duration_ms=silence, min_speech_ms=min_speech)


VAD_PRESETS: Final[Mapping[str, VadParams]] = MappingProxyType(
    {
        "Gemini HIGH start / HIGH end": vad_params(
            "START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"
        ),
        "Gemini LOW start / LOW end": vad_params("START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"),
        "Gemini HIGH start / LOW end": vad_params("START_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"),
    }
)
"""Gemini's sensitivity combinations through `vad_params`, for the VAD notebook's presets."""
