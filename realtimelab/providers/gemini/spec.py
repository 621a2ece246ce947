"""Gemini Live's `ProviderSpec`: the index of this folder for the provider registry."""

from __future__ import annotations

from realtimelab.catalogue import default_model
from realtimelab.providers.gemini.auth import ENV_KEYS, mint_token
from realtimelab.providers.gemini.codec import CAPABILITIES, TITLE, GeminiCodec
from realtimelab.providers.gemini.describe import GeminiFrames
from realtimelab.providers.gemini.session_config import VAD_PRESETS, unsupported_settings
from realtimelab.providers.gemini.tools import wire_tool
from realtimelab.providers.gemini.voices import VOICE_SET
from realtimelab.providers.registry import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    name="gemini",
    title=TITLE,
    codec=GeminiCodec,
    default_model=default_model("gemini").name,
    capabilities=CAPABILITIES,
    env_keys=ENV_KEYS,
    voices=VOICE_SET,
    wire_tool=wire_tool,
    unsupported=unsupported_settings,
    describer=GeminiFrames,
    extra_target="the `setup` message",
    vad_presets=VAD_PRESETS,
    mint_token=mint_token,
)
