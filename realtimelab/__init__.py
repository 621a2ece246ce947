"""realtimelab: learn, compare and test realtime voice APIs.

One `RealtimeSession` over OpenAI Realtime and Gemini Live, audio utilities, tool dispatch,
resilience, observability, and a local emulator that speaks both wire protocols.
"""

from __future__ import annotations

__version__ = "0.1.0"
