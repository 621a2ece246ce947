"""The providers the emulator speaks, one package each: `openai/` and `gemini/`.

Each package has the same shape, so a learner finds a provider in one place:

* `protocol.py`: the sans-IO protocol. It owns the session's state and *decides* everything the
  real server decides; client frames in, actions out. Unit tests drive it with dicts.
* `shell.py`: the thin asyncio shell. It authenticates the upgrade, feeds frames to the
  protocol, executes its actions (send, close, run the model, set timers) and drives the
  provider-neutral engine (hearing, brain, voice, pacing).
* the provider's own reading of its wire format (`config.py` for OpenAI; `setup.py`,
  `schema.py`, `wire.py`, `frames.py` for Gemini): the emulator never borrows the client's
  mappings, so a wrong client mapping is caught instead of confirmed.

Dialects import `realtimelab.emulator.contract`, never the server.
"""

from __future__ import annotations

from realtimelab.emulator.contract import Dialect
from realtimelab.emulator.dialects.gemini import DIALECT as GEMINI
from realtimelab.emulator.dialects.openai import DIALECT as OPENAI

__all__ = ["GEMINI", "OPENAI", "builtin_dialects"]


def builtin_dialects() -> list[Dialect]:
    """The built-in dialects, OpenAI first (the server tries them in order)."""
    return [OPENAI, GEMINI]
