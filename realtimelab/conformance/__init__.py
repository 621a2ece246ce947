"""Conformance oracles: the official SDKs' own types, used to prove the emulator's frames.

Submodules import their SDK (dev-only dependencies) and are imported explicitly:
`realtimelab.conformance.openai`, `realtimelab.conformance.gemini`.
"""
