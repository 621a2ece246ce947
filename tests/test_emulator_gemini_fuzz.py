"""Hostile clients against the Gemini dialect: seeded mutations of valid frames.

Seeds are valid client frames (recorded third-party traffic, SDK-shaped setups and messages,
and server frames sent the wrong way); `support.mutate.Mutator` changes one thing per frame
(wrong type, non-finite or huge number, missing field, deep nesting, unknown key...).

What must hold for every mutated frame, as the real service behaves:

* nothing raises inside the server: a frame is accepted, or the connection closes with 1007
  (invalid argument) or 1008 (policy: unknown model, unknown handle);
* never a 1000 and never a 1011 for malformed input (the protocol turns its own bugs into a
  logged 1011, which this test counts as an internal exception);
* every close reason fits RFC 6455's 123 bytes; every server frame passes google-genai's types;
* when a mutated setup is accepted, the session still answers a typed question with the real
  brain (a schema the brain cannot read must have been refused at setup).

Thousands of frames run through the sans-IO `LiveProtocol`; a smaller sample goes end to end
through a real socket. The figures are printed with the test output. Replay one failure with
`Mutator(SEED).mutate(seed.frame, index)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.conformance.gemini import validate_server_message
from support.emulator_fakes import GEMINI_PATH
from support.fakes import QueuedHearing, ToneVoice
from support.gemini_frames import SeedFrame, seed_frames
from support.gemini_harness import Harness
from support.mutate import RAW_HOSTILE, Mutator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtimelab.emulator.dialects.gemini import DIALECT
from realtimelab.emulator.dialects.gemini.protocol import Generate
from realtimelab.emulator.engine import Components
from realtimelab.emulator.server import Emulator, EmulatorConfig

SEED = 20261130
SANS_IO_COUNT = 3000
SOCKET_COUNT = 300
FOLLOW_UP = {"realtimeInput": {"text": "What's the weather in Paris?"}}


@dataclass
class Tally:
    """Outcomes of a fuzz run."""

    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    longest_reason: int = 0

    def close(self, code: int, reason: str, what: str) -> None:
        self.outcomes[str(code)] += 1
        size = len(reason.encode())
        self.longest_reason = max(self.longest_reason, size)
        if code not in (1007, 1008):
            self.failures.append(f"close {code} {reason!r} for {what}")
        if size > 123:
            self.failures.append(f"reason of {size} bytes for {what}")

    def summary(self, label: str) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"\n[gemini fuzz, {label}, seed {SEED}] {self.tried} frames tried -> {counts}; "
            f"failures: {len(self.failures)}; longest close reason {self.longest_reason} bytes"
        )


class _InternalErrors(logging.Handler):
    """Counts the protocol's own "internal error" logs (the 1011 safety net)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_VALID_SHAPES: set[str] = set()


def _skeleton(value: Any) -> Any:
    """A message's structure: keys kept, leaves replaced by their type, lists by one element.

    Texts are kept when short (enum values live there), so a bad enum is still a new shape.
    """
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(v) for v in value[:1]]
    if isinstance(value, str) and len(value) > 40:
        return "str"
    return value if isinstance(value, str) else type(value).__name__


def _run_sans_io(seed: SeedFrame, text: str | bytes, tally: Tally, what: str) -> None:
    h = Harness(check=False)
    h.apply(h.proto.open(0.0))
    try:
        if seed.setup is not None:
            h.raw(json.dumps(seed.setup), 0.0)
            if h.closes():
                tally.outcomes["seed-setup-refused"] += 1
                return
        h.raw(text, 0.1)
        if not h.closes():
            jobs = [a for a in h.actions if isinstance(a, Generate)]
            if seed.setup is None:  # an accepted setup: the session must still work
                jobs += [a for a in h.frame(FOLLOW_UP, 0.2) if isinstance(a, Generate)]
            for job in jobs[-1:]:
                h.drive(job, 0.3)
    except Exception as exc:  # the shell would answer a model crash with 1011
        tally.outcomes["internal-exception"] += 1
        tally.failures.append(f"{type(exc).__name__}: {exc} for {what}")
        return
    for message in h.sent:
        shape = json.dumps(_skeleton(message))
        if shape in _VALID_SHAPES:
            continue  # the same structure passed already (audio chunks differ only in bytes)
        try:
            validate_server_message(h.proto.encode(message))
            _VALID_SHAPES.add(shape)
        except (ValueError, Warning) as exc:
            tally.failures.append(f"oracle: {exc} for {what}")
    closes = h.closes()
    if closes:
        tally.close(closes[0].code, closes[0].reason, what)
    else:
        tally.outcomes["accepted"] += 1


def test_mutated_frames_through_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = seed_frames()
    errors = _InternalErrors()
    logger = logging.getLogger("realtimelab.emulator.gemini")
    logger.addHandler(errors)
    tally = Tally()
    started = time.perf_counter()
    try:
        mutator = Mutator(SEED)
        for i in range(SANS_IO_COUNT):
            seed = seeds[i % len(seeds)]
            mutation = mutator.mutate(seed.frame, i)
            tally.tried += 1
            what = f"#{i} {seed.origin}: {mutation.description}"
            _run_sans_io(seed, mutation.text, tally, what)
        for j, raw in enumerate(RAW_HOSTILE):
            for seed in (seeds[0], seeds[1]):  # as the first frame, and after a valid setup
                tally.tried += 1
                _run_sans_io(seed, raw, tally, f"raw #{j} after {seed.origin}")
    finally:
        logger.removeHandler(errors)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(tally.summary(f"sans-IO, {elapsed:.1f} s"))
    assert not errors.records, [r.getMessage() for r in errors.records[:5]]
    assert tally.failures == [], tally.failures[:10]
    assert tally.outcomes["1007"] > SANS_IO_COUNT // 10  # the mutations do reach the readers
    assert tally.outcomes["accepted"] > SANS_IO_COUNT // 10


# ------------------------------------------------------------------------------------------
# end to end: a sample through a real socket
# ------------------------------------------------------------------------------------------


def _components() -> Components:
    from realtimelab.emulator.brain import Brain
    from realtimelab.vad import StreamingVad

    ears = QueuedHearing(default="what is the weather in paris")
    return Components(
        brain=lambda seed: Brain(seed=seed),
        voice=ToneVoice,
        hearing=lambda tools, brain: ears,
        vad=lambda rate, params: StreamingVad(rate, params),
    )


def _answered(raw: bytes | str) -> bool:
    """A reply's end: a tool call, or a turn that completed."""
    message = json.loads(raw)
    return "toolCall" in message or bool(message.get("serverContent", {}).get("turnComplete"))


async def _one_socket(emu: Emulator, seed: SeedFrame, text: str, tally: Tally, what: str) -> None:
    url = emu.url + GEMINI_PATH.format(v="v1beta") + "?key=k"
    async with connect(url, max_size=2**22, open_timeout=5) as ws:
        frames: list[bytes | str] = []
        try:
            if seed.setup is not None:
                await ws.send(json.dumps(seed.setup))
                frames.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(text)
            await ws.send(json.dumps(FOLLOW_UP))
            async with asyncio.timeout(2.0):
                while not _answered(frames[-1] if frames else b"{}"):
                    frames.append(await ws.recv())
            tally.outcomes["accepted"] += 1  # the session went on and answered
        except TimeoutError:
            tally.outcomes["accepted-silent"] += 1
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                tally.failures.append(f"closed without a close frame for {what}")
            else:
                tally.close(exc.rcvd.code, exc.rcvd.reason, what)
        for raw in frames:
            try:
                validate_server_message(raw)
            except (ValueError, Warning) as exc:
                tally.failures.append(f"oracle: {exc} for {what}")


async def test_mutated_frames_through_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = seed_frames()
    tally = Tally()
    mutator = Mutator(SEED + 1)
    config = EmulatorConfig(speed=50.0, gemini_first_audio_ms=0.0)
    started = time.perf_counter()
    async with Emulator(config, dialects=[DIALECT], components=_components()) as emu:
        for i in range(SOCKET_COUNT):
            seed = seeds[(i * 7) % len(seeds)]
            mutation = mutator.mutate(seed.frame, i)
            tally.tried += 1
            await _one_socket(
                emu, seed, mutation.text, tally, f"#{i} {seed.origin}: {mutation.description}"
            )
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(tally.summary(f"socket, {elapsed:.1f} s"))
    assert tally.failures == [], tally.failures[:10]
    assert tally.outcomes["1007"] > 0 and tally.outcomes["accepted"] > 0
