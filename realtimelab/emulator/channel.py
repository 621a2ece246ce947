"""The session writer the server gives each dialect: ordered, delayed, fault-injected, tapped.

Why one writer task per socket: a slow client never blocks the protocol logic, frames can never
interleave, and every transport fault (`faults.py`) is applied in one place, so dialects never
see them — except `expire`, which the dialect turns into its provider's own expiry message
through the `on_expire` callback.

`ChannelWriter` implements `contract.SessionChannel`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from realtimelab.emulator.contract import FrameTap, SessionInfo
from realtimelab.emulator.faults import Fault, FaultPlan
from realtimelab.emulator.pacing import Clock

__all__ = ["MALFORMED_FRAME", "ChannelWriter"]

log = logging.getLogger("realtimelab.emulator")

_CLOSE = object()


class ChannelWriter:
    """The send side of one session: ordered, delayed, fault-injected, tapped.

    Dialects call `send(frame)` (non-blocking; the frame is queued) and `close(code, reason)`.
    Keeping one writer task per socket means a slow client never blocks the protocol logic and
    frames can never interleave. A frame "sent" here has been handed to the socket.
    """

    def __init__(
        self,
        ws: ServerConnection,
        info: SessionInfo,
        plan: FaultPlan,
        *,
        tap: FrameTap | None,
        clock: Clock,
        seed: int = 0,
        on_expire: Callable[[], None] | None = None,
    ) -> None:
        self.ws = ws
        self.info = info
        self.plan = plan
        self._tap = tap
        self._clock = clock
        self._rng = random.Random(f"{seed}:{info.session_id}")
        self.on_expire = on_expire
        self._queue: asyncio.Queue[tuple[float, object]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._last_due = 0.0
        self._malformed_sent = False
        self.frames_sent = 0
        self.closed = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.info.session_id

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer:{self.session_id}")
        p = self.plan
        for delay, action in (
            (p.drop_after_s, self.abort),
            (p.close_after_s, lambda: self.close(p.close_code, "fault injected")),
            (p.expire_after_s, self._expire),
        ):
            if delay is not None:
                self._timers.append(asyncio.create_task(self._after(delay, action)))

    async def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        if self._writer is not None and not self._writer.done():
            self._queue.put_nowait((0.0, _CLOSE))
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=5)
            except (TimeoutError, ConnectionClosed):
                self._writer.cancel()
        self.closed.set()

    async def _after(self, delay: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(delay)
        action()

    # -- sending ----------------------------------------------------------------------------
    def send(self, frame: str | bytes) -> None:
        if self.closed.is_set():
            return
        delay = self.plan.latency_ms
        if self.plan.jitter_ms:
            delay += self._rng.uniform(0, self.plan.jitter_ms)
        due = max(self._last_due, self._clock.now() + delay / 1000)
        self._last_due = due
        self._queue.put_nowait((due, frame))

    def send_json(self, payload: Mapping[str, Any], *, binary: bool = False) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        self.send(text.encode() if binary else text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after everything queued so far has been sent."""
        self._queue.put_nowait((self._last_due, ("close", code, reason)))

    def abort(self) -> None:
        """Drop the TCP connection now, without a close frame (a network failure)."""
        log.info("session %s: dropping connection (fault)", self.session_id)
        self.closed.set()
        self.ws.transport.abort()

    def close_now(self, code: int, reason: str = "fault injected") -> None:
        """Write a close frame *now*, ahead of everything queued (the `close_now` fault).

        Synchronous, so a frame tap can end the session right after the frame it just saw;
        the writer's next send then fails and it stops, so queued frames are never sent.
        """
        log.info("session %s: closing now with %d (fault)", self.session_id, code)
        self.closed.set()  # send() drops from now on
        if self.ws.protocol.state is State.OPEN:
            self.ws.protocol.send_close(code, reason)
            self.ws.send_data()

    def inject(self, fault: Fault) -> None:
        if fault.kind in ("drop", "drop_now"):
            self.abort()
        elif fault.kind == "close_now":
            self.close_now(fault.code)
        elif fault.kind == "close":
            self._queue.put_nowait((0.0, ("close", fault.code, "fault injected")))
        elif fault.kind == "malformed":
            self._malformed_sent = False
            self.send(MALFORMED_FRAME)
        elif fault.kind == "expire":
            self._expire()
        elif fault.kind == "latency":
            self.plan = replace(self.plan, latency_ms=fault.latency_ms, jitter_ms=fault.jitter_ms)

    def tap_in(self, frame: str | bytes) -> None:
        """Dialects report received frames here so recorders see both directions."""
        if self._tap is not None:
            self._tap(self.info, "in", frame)

    def _expire(self) -> None:
        if self.on_expire is not None:
            self.on_expire()
        else:
            self.close(1000, "session expired")

    async def _write_loop(self) -> None:
        try:
            while True:
                due, frame = await self._queue.get()
                if frame is _CLOSE:
                    return
                wait = due - self._clock.now()
                if wait > 0:
                    await self._clock.sleep(wait)
                if isinstance(frame, tuple):
                    _, code, reason = frame
                    await self.ws.close(code, reason)
                    return
                assert isinstance(frame, str | bytes)
                await self.ws.send(frame)
                self.frames_sent += 1
                if self._tap is not None:
                    self._tap(self.info, "out", frame)
                if self._after_frame():
                    return
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _after_frame(self) -> bool:
        """Apply frame-count faults; True when the connection is gone."""
        p, n = self.plan, self.frames_sent
        if (
            p.malformed_after_frames is not None
            and n == p.malformed_after_frames
            and not self._malformed_sent
        ):
            self._malformed_sent = True
            self._queue.put_nowait((0.0, MALFORMED_FRAME))
        if p.drop_after_frames is not None and n >= p.drop_after_frames:
            self.abort()
            return True
        if p.close_after_frames is not None and n >= p.close_after_frames:
            self._queue.put_nowait((0.0, ("close", p.close_code, "fault injected")))
        return False


MALFORMED_FRAME = '{"type": "response.output_audio.delta", "delta": '  # truncated JSON
