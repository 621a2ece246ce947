"""The lab as the test command runs it: `dev.py` loaded as a module, and the lab's emulator.

The browser check and the notebook mutations both run notebooks exactly as `python3 dev.py lab`
serves them, so both read `dev.py` (its settings, `notebook_env`, `start_emulator`) and share
the emulator the test command started (`REALTIMELAB_LAB_EMULATOR_URL`), or start their own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@cache
def dev() -> ModuleType:
    """The repository's `dev.py`, imported once."""
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lab_emulator_url() -> Iterator[str]:
    """Body of a `lab_emulator` fixture: the test command's emulator, else one of our own for
    as long as the fixture lives."""
    url = os.environ.get("REALTIMELAB_LAB_EMULATOR_URL")
    if url:
        yield url
        return
    proc, url = dev().start_emulator(sys.executable)
    try:
        yield url
    finally:
        dev().stop_emulator(proc)
