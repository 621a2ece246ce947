"""A `SessionConfig` in OpenAI Realtime's terms: turn detection, sensitivities, what is missing.

The codec (`codec.py`) builds the GA `session` object from these pieces. Everything in the
neutral `Vad` has an OpenAI field, so the mapping is direct:

* `mode="server"` → `server_vad`; `threshold` is sent as is, else `sensitivity` picks one
  from `SENSITIVITY_THRESHOLDS`; padding, silence and `idle_timeout_ms` when set.
* `mode="semantic"` → `semantic_vad` with `eagerness`.
* `mode="manual"` → `turn_detection: null` (the client commits each turn).

Settings OpenAI cannot honour are reported by `unsupported_settings` (the codec warns with
`UnsupportedSetting` for each, and the session goes on):

* `SessionConfig.temperature`: the GA session has no temperature; it is not sent.
* `SessionConfig.output_transcription=False`: OpenAI always transcribes its spoken replies;
  the transcripts keep arriving.

Nothing OpenAI-specific raises here: `tool_choice="required"` exists on OpenAI.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from realtimelab.config import SessionConfig, Unsupported, Vad
from realtimelab.vad import SEMANTIC_SILENCE_MS, VadParams

__all__ = [
    "SENSITIVITY_THRESHOLDS",
    "VAD_PRESETS",
    "semantic_vad_params",
    "turn_detection",
    "unsupported_settings",
]

SENSITIVITY_THRESHOLDS: Final[Mapping[str, float]] = MappingProxyType(
    {"low": 0.7, "medium": 0.5, "high": 0.3}
)
"""Neutral `Vad.sensitivity` → `server_vad.threshold` (read-only).

"high" hears speech most readily, so it gets the lowest threshold. 0.7 / 0.5 / 0.3 are the
values other cross-provider kits use; 0.5 is OpenAI's own default, so "medium" means "the
provider's default" here as it does on every provider.
"""


VAD_PRESETS: Final[Mapping[str, VadParams]] = MappingProxyType(
    {"OpenAI server_vad defaults": VadParams()}
)
"""`server_vad` as the server starts it, for the VAD notebook's preset menu (`VadParams`
holds OpenAI's defaults: threshold 0.5, 300 ms padding, 500 ms silence)."""


def turn_detection(vad: Vad) -> dict[str, Any] | None:
    """GA `session.audio.input.turn_detection` for `vad` (None = manual turns).

    Only fields that were set are sent, so the server's defaults stay visible as defaults.
    `threshold` wins over `sensitivity`; `sensitivity` maps through `SENSITIVITY_THRESHOLDS`.
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
            out["threshold"] = float(SENSITIVITY_THRESHOLDS[vad.sensitivity])
        for name in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
            value = getattr(vad, name)
            if value is not None:
                out[name] = value
    out["create_response"] = vad.create_response
    out["interrupt_response"] = vad.interrupt_response
    return out


def semantic_vad_params(eagerness: str = "auto") -> VadParams:
    """Approximate OpenAI ``semantic_vad`` with an energy VAD and an eagerness-based silence.

    The real semantic VAD runs a model that judges whether the user *sounds finished* ("I
    want to..." waits, "Thanks." ends at once) and only falls back to timeouts of at most
    8 s (low), 4 s (medium/auto) and 2 s (high). We cannot hear meaning, so eagerness only
    picks the silence that ends a turn (`realtimelab.vad.SEMANTIC_SILENCE_MS`): high 250 ms,
    medium/auto 700 ms, low 1500 ms, all within those maxima. Threshold and padding stay at
    the ``server_vad`` defaults.
    """
    key = eagerness.lower() if isinstance(eagerness, str) else eagerness
    if key not in SEMANTIC_SILENCE_MS:
        raise ValueError(
            f"eagerness must be one of {sorted(SEMANTIC_SILENCE_MS)}, got {eagerness!r}"
        )
    return VadParams(silence_duration_ms=SEMANTIC_SILENCE_MS[key])


def unsupported_settings(config: SessionConfig) -> tuple[Unsupported, ...]:
    """The settings of `config` OpenAI Realtime cannot honour (see the module docstring)."""
    out: list[Unsupported] = []
    if config.temperature is not None:
        out.append(
            Unsupported(
                "SessionConfig.temperature",
                "the GA session has no temperature setting; it is not sent and the model "
                "samples at its default",
            )
        )
    if not config.output_transcription and config.output == "audio":
        out.append(
            Unsupported(
                "SessionConfig.output_transcription=False",
                "OpenAI always transcribes its spoken replies; OutputTranscript events "
                "still arrive (ignore them if you do not need them)",
            )
        )
    return tuple(out)
