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
    close_code:C          the code used by the two keys above (default 1011); only a code a
                          server may send: 1000-1003, 1007-1014 or 3000-4999
    malformed_after_frames:N   send one frame that is not valid JSON after N frames
    latency_ms:X          delay every server frame by X ms (order preserved)
    jitter_ms:X           plus a random 0..X ms per frame (seeded, order preserved)
    expire_after_s:T      the provider's own session expiry message after T seconds

Every value is checked when the plan is built (`FaultPlan`, `Fault` and the query parser raise
ValueError, which the server answers with HTTP 400 at the upgrade). Why so strict: a close code
the WebSocket layer refuses to send (1005, 1006 and 1015 are reserved for reporting and never go
on the wire; 99999 or 0 are no codes at all) used to kill the session's writer while the socket
stayed open, so the session never ended; a NaN latency or a negative count silently tested
nothing. Counts are 0..10**9, seconds finite and 0..86400, latency and jitter 0..60000 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Literal

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "check_close_code",
    "is_sendable_close_code",
    "parse_fault_query",
]

FaultKind = Literal["drop", "drop_now", "close", "close_now", "malformed", "expire", "latency"]
FAULT_KINDS: frozenset[str] = frozenset(
    ("drop", "drop_now", "close", "close_now", "malformed", "expire", "latency")
)

MAX_COUNT = 10**9
MAX_SECONDS = 86400.0
MAX_DELAY_MS = 60000.0


def is_sendable_close_code(code: object) -> bool:
    """Whether a server may put `code` in a close frame (RFC 6455 §7.4 and the IANA registry).

    1000-1003 and 1007-1014 are defined codes an endpoint may send (1004 is reserved; 1005, 1006
    and 1015 only *report* a missing code, an abnormal closure and a TLS failure, and "MUST NOT
    be set as a status code in a Close control frame"); 3000-3999 are registered for libraries
    and frameworks and 4000-4999 are private use (OpenAI sends 4000). Anything else is refused.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        return False
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_close_code(code: object, what: str = "close code") -> int:
    """`code` if a server may send it, else ValueError naming the allowed ranges."""
    if not is_sendable_close_code(code):
        raise ValueError(
            f"{what} {code!r} cannot be sent by a server: use 1000-1003, 1007-1014 or "
            "3000-4999 (1005, 1006 and 1015 are reserved and never sent on the wire)"
        )
    assert isinstance(code, int)
    return code


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(
            f"{name} must be a whole number of frames in 0..{MAX_COUNT}, got {value!r}"
        )


def _check_number(name: str, value: object, limit: float, unit: str) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= limit
    ):
        raise ValueError(f"{name} must be a finite number of {unit} in 0..{limit:g}, got {value!r}")


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

    def __post_init__(self) -> None:
        for name in ("drop_after_frames", "close_after_frames", "malformed_after_frames"):
            _check_count(name, getattr(self, name))
        for name in ("drop_after_s", "close_after_s", "expire_after_s"):
            _check_number(name, getattr(self, name), MAX_SECONDS, "seconds")
        for name in ("latency_ms", "jitter_ms"):
            _check_number(name, getattr(self, name), MAX_DELAY_MS, "milliseconds")
        check_close_code(self.close_code, "close_code")

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

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        check_close_code(self.code, "fault code")
        _check_number("latency_ms", self.latency_ms, MAX_DELAY_MS, "milliseconds")
        _check_number("jitter_ms", self.jitter_ms, MAX_DELAY_MS, "milliseconds")


_INT_KEYS = {"drop_after_frames", "close_after_frames", "malformed_after_frames", "close_code"}
_FLOAT_KEYS = {f.name for f in fields(FaultPlan)} - _INT_KEYS


def parse_fault_query(values: Iterable[str]) -> FaultPlan | None:
    """Parse `rtl_fault` query values (`key:value[,key:value…]`) into a plan.

    Raises ValueError with a readable message on unknown keys, bad numbers or values out of
    range (see the module docstring), which the server turns into an HTTP 400 at the upgrade: a
    typo in a fault must not silently test nothing, and a bad close code must not reach a socket.
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
    try:
        return FaultPlan(**changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"rtl_fault: {exc}") from None
