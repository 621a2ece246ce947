"""Helpers shared by the test modules: fakes, recorders and the SDK-based conformance oracles.

Test modules import from here (`from support.fakes import FakeBrain`), never from `conftest`
or from each other: pytest puts `tests/` on `sys.path`, so this package is importable as
`support` without being installed.
"""
