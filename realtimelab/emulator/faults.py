"""Faults the emulator can inject, so reconnection code can be tested against real failures.

Three ways to ask for a fault, all ending in the same `FaultPlan` applied by the session's
frame writer (server.py) — the dialect never sees transport faults, except `expire_after_s`,
which the dialect turns into its provider's own expiry message:

1. Per emulator: `EmulatorConfig(faults=FaultPlan(drop_after_frames=40))`.
2. Per session, in the WebSocket URL: `?model=gpt-realtime&rtl_fault=drop_after_frames:40`.
   Several faults are comma separated (or the parameter repeated):
   `rtl_fault=latency_ms:80,jitter_ms:20,close_after_s:1.5`.
3. While running: `emu.inject(session_id_or_None, Fault(...))` (None = every live session).
   `inject` acts synchronously, so it can be called from the emulator's `frame_tap` to hit an
   exact frame: `Fault("close_now", code=1011)` / `Fault("drop_now")` from the tap that just
   saw frame N end the connection right after frame N, whatever the writer still has queued.

Keys of the query syntax (the FaultPlan fields):

    drop_after_frames:N   abort the TCP connection (no close frame) after N server frames
    drop_after_s:T        the same, T seconds after the session starts
    close_after_frames:N  close with code 1011 after N server frames
    close_after_s:T       close with 1011 after T seconds
    close_code:C          the code used by the two keys above (default 1011)
    malformed_after_frames:N   send one frame that is not valid JSON after N frames
    latency_ms:X          delay every server frame by X ms (order preserved)
    jitter_ms:X           plus a random 0..X ms per frame (seeded, order preserved)
    expire_after_s:T      the provider's own session expiry message after T seconds
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Literal

FaultKind = Literal["drop", "drop_now", "close", "close_now", "malformed", "expire", "latency"]


@dataclass(frozen=True)
class FaultPlan:
    """Standing faults for a session (all None/0 = a healthy session)."""

    drop_after_frames: int | None = None
    drop_after_s: float | None = None
    close_after_frames: int | None = None
    close_after_s: float | None = None
    close_code: int = 1011
    malformed_after_frames: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    expire_after_s: float | None = None

    def merged(self, other: FaultPlan | None) -> FaultPlan:
        """`other`'s explicitly set fields win over ours (session query over emulator config)."""
        if other is None:
            return self
        default = FaultPlan()
        changes = {
            f.name: getattr(other, f.name)
            for f in fields(other)
            if getattr(other, f.name) != getattr(default, f.name)
        }
        return replace(self, **changes)

    @property
    def is_healthy(self) -> bool:
        return self == FaultPlan()


@dataclass(frozen=True)
class Fault:
    """A one-shot fault injected into a live session by `Emulator.inject`.

    `drop`: abort the connection now, without a close frame (a network failure; client sees
    1006). `drop_now`: the same, named for symmetry with `close_now` (an abort never waited).
    `close`: close with `code` *after* the frames already queued (a server that finishes
    what it was saying, then hangs up). `close_now`: write the close frame with `code` at once,
    jumping the queue; frames still scheduled are never sent (a server that dies mid-reply).
    `malformed`: send one non-JSON frame. `expire`: the provider's expiry error, then close.
    `latency`: from now on delay frames by `latency_ms` (+ `jitter_ms`).
    """

    kind: FaultKind
    code: int = 1011
    latency_ms: float = 0.0
    jitter_ms: float = 0.0


_INT_KEYS = {"drop_after_frames", "close_after_frames", "malformed_after_frames", "close_code"}
_FLOAT_KEYS = {f.name for f in fields(FaultPlan)} - _INT_KEYS


def parse_fault_query(values: Iterable[str]) -> FaultPlan | None:
    """Parse `rtl_fault` query values (`key:value[,key:value…]`) into a plan.

    Raises ValueError with a readable message on unknown keys or bad numbers, which the server
    turns into an HTTP 400 at the upgrade: a typo in a fault must not silently test nothing.
    """
    changes: dict[str, float | int] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, raw = part.partition(":")
            if not sep:
                raise ValueError(f"rtl_fault entry {part!r} is not key:value")
            try:
                if key in _INT_KEYS:
                    changes[key] = int(raw)
                elif key in _FLOAT_KEYS:
                    changes[key] = float(raw)
                else:
                    known = ", ".join(sorted(_INT_KEYS | _FLOAT_KEYS))
                    raise ValueError(f"unknown rtl_fault key {key!r}; known: {known}")
            except ValueError as exc:
                if "unknown" in str(exc):
                    raise
                raise ValueError(f"rtl_fault {key!r} needs a number, got {raw!r}") from exc
    if not changes:
        return None
    return FaultPlan(**changes)  # type: ignore[arg-type]
