"""OpenAI Realtime (GA): `protocol.py` decides, `shell.py` executes, `config.py` reads sessions."""

from __future__ import annotations

from realtimelab.emulator.dialects.openai.shell import DIALECT, OpenAIDialect

__all__ = ["DIALECT", "OpenAIDialect"]
