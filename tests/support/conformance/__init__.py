"""Conformance oracles: the official SDKs' own types, used to prove the emulator's frames.

They live with the tests, not in the `realtimelab` package, because they import the official
SDKs (dev-only dependencies) and only tests and benchmarks need them. Submodules are imported
explicitly: `support.conformance.openai`, `support.conformance.gemini` (pytest puts `tests/`
on `sys.path`; from the repository root, `tests.support.conformance` works too).
"""
