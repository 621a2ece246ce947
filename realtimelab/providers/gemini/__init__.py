"""Gemini Live (BidiGenerateContent), all of it: the codec and everything the kit asks about.

- `codec.py`: the sans-IO codec: verbs → `setup` / `realtimeInput` / … frames, frames → events.
- `session_config.py`: `Vad` → `realtimeInputConfig`, sensitivities, unsupported settings, and
  what Gemini's activity-detection settings mean to the kit's own detector (`vad_params`).
- `tools.py`: a `Tool` as a function declaration (Gemini's `Schema`), and back.
- `voices.py`: the 30 voice names and styles, picks for the neutral names, naming rules.
- `auth.py`: `GEMINI_API_KEY` / `GOOGLE_API_KEY`, minting `auth_tokens/…`.
- `describe.py`: how the event log names, summarises and elides Gemini frames.
- `spec.py`: the `ProviderSpec` that registers all of the above as `"gemini"`.
"""

from __future__ import annotations

from realtimelab.providers.gemini.codec import CAPABILITIES, GeminiCodec, parse_duration
from realtimelab.providers.gemini.spec import SPEC

__all__ = ["CAPABILITIES", "SPEC", "GeminiCodec", "parse_duration"]
