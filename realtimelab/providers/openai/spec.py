"""OpenAI Realtime's `ProviderSpec`: the index of this folder for the provider registry."""

from __future__ import annotations

from realtimelab.catalogue import default_model
from realtimelab.providers.openai.auth import ENV_KEYS, mint_client_secret
from realtimelab.providers.openai.codec import CAPABILITIES, TITLE, OpenAICodec
from realtimelab.providers.openai.describe import OpenAIFrames
from realtimelab.providers.openai.session_config import VAD_PRESETS, unsupported_settings
from realtimelab.providers.openai.tools import wire_tool
from realtimelab.providers.openai.voices import VOICE_SET
from realtimelab.providers.registry import ProviderSpec

__all__ = ["SPEC"]

SPEC = ProviderSpec(
    name="openai",
    title=TITLE,
    codec=OpenAICodec,
    default_model=default_model("openai").name,
    capabilities=CAPABILITIES,
    env_keys=ENV_KEYS,
    voices=VOICE_SET,
    wire_tool=wire_tool,
    unsupported=unsupported_settings,
    describer=OpenAIFrames,
    extra_target="the `session` object of `session.update`",
    vad_presets=VAD_PRESETS,
    mint_token=mint_client_secret,
)
