"""Gemini Live: `protocol.py` decides, `shell.py` executes, the rest reads the wire format."""

from __future__ import annotations

from realtimelab.emulator.dialects.gemini.shell import DIALECT, GeminiDialect

__all__ = ["DIALECT", "GeminiDialect"]
