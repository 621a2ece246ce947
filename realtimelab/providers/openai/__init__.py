"""OpenAI Realtime (GA), all of it: the codec and everything the kit asks about.

- `codec.py`: the sans-IO codec: verbs → `session.update` / … frames, frames → events.
- `session_config.py`: `Vad` → `turn_detection`, sensitivity thresholds, unsupported settings,
  and the kit's energy-detector reading of `semantic_vad` (`semantic_vad_params`).
- `tools.py`: a `Tool` as a `session.tools[]` entry.
- `voices.py`: voice names, picks for the neutral names, naming rules, `voice_wire`.
- `auth.py`: `OPENAI_API_KEY`, minting `ek_…` client secrets.
- `describe.py`: how the event log names, summarises and elides OpenAI frames.
- `spec.py`: the `ProviderSpec` that registers all of the above as `"openai"`.
"""

from __future__ import annotations

from realtimelab.providers.openai.codec import CAPABILITIES, OpenAICodec
from realtimelab.providers.openai.spec import SPEC

__all__ = ["CAPABILITIES", "SPEC", "OpenAICodec"]
