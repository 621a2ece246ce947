"""The providers that ship with realtimelab, registered in this order.

This is the one module outside the provider folders that names them: everything else finds
providers through `realtimelab.providers.registry`. The registry imports this module on its
first lookup; importing it again does nothing.
"""

from __future__ import annotations

from realtimelab.providers.gemini import SPEC as GEMINI
from realtimelab.providers.openai import SPEC as OPENAI
from realtimelab.providers.registry import register

__all__ = ["BUILTIN"]

BUILTIN = (OPENAI, GEMINI)

for _spec in BUILTIN:
    register(_spec)
