"""Shared fixtures: an in-process emulator on an ephemeral loopback port, plus simple fakes.

Use `emulator` for a default instance (fast pacing), or `make_emulator(**config_fields)` for a
custom one — every emulator made here is stopped at the end of the test:

    async def test_something(make_emulator):
        emu = await make_emulator(openai_max_session_s=2, frame_tap=recorder)
        async with websockets.connect(emu.openai_ws_base + "/realtime?model=x", ...) as ws: ...

`fake_components` swaps the brain/voice/hearing for tiny deterministic fakes (the VAD stays
real) when a test is about the protocol rather than about the emulator's intelligence. The
fakes themselves live in `support/fakes.py` (tests import helpers from `support`, never from
this file or from each other).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from typing import Any

import pytest
from support.fakes import fake_components_value

from realtimelab.emulator.engine import Components
from realtimelab.emulator.server import Emulator, EmulatorConfig

FAST_SPEED = 20.0


# ----------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def fake_components() -> Components:
    return fake_components_value()


MakeEmulator = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def make_emulator() -> AsyncIterator[MakeEmulator]:
    """Factory: `await make_emulator(speed=30, frame_tap=..., components=..., **config)`."""
    started: list[Emulator] = []
    config_fields = {f.name for f in fields(EmulatorConfig)}

    async def make(**kwargs: Any) -> Emulator:
        config_kwargs = {k: v for k, v in kwargs.items() if k in config_fields}
        other = {k: v for k, v in kwargs.items() if k not in config_fields}
        config_kwargs.setdefault("speed", FAST_SPEED)
        emu = Emulator(EmulatorConfig(**config_kwargs), **other)
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        await emu.stop()


@pytest.fixture
async def emulator(make_emulator: MakeEmulator) -> Emulator:
    return await make_emulator()
