"""The session writer the server gives each dialect: ordered, delayed, fault-injected, tapped,
bounded.

Why one writer per socket: a slow client never blocks the protocol logic, frames can never
interleave, and every transport fault (`faults.py`) is applied in one place, so dialects never
see them — except `expire`, which the dialect turns into its provider's own expiry message
through the `on_expire` callback.

Why bounded: `send` never blocks the dialect, so whatever the client does not read piles up
here. A client that never reads once grew the emulator by 922 MB in 100 s and kept it after it
left. So the backlog (frames sent by the dialect but not yet handed to the socket) is capped by
`ChannelLimits` (default 4 MiB or 4096 frames: about a minute of 24 kHz audio, far more than a
client that reads ever leaves behind), and a writer that has waited `stall_timeout_s` for the
socket to drain gives up too. Either way the session is closed with **1008** (policy
violation): the cause is the client's behaviour, so a retry would only repeat it, and 1008 is
among the codes clients treat as fatal (the kit's `FATAL_CLOSE_CODES`; the openai SDK does not
reconnect on it), whereas 1013 "try again later" announces a temporary *server* condition and
invites the immediate reconnect that would hit the same wall. A real service behind a proxy
(Google's front end, Cloudflare) also drops a consumer that stops reading rather than buffer
without limit.

Why the close cannot simply be `await ws.close()`: websockets writes the close frame and then
waits for the socket's buffer to drain before its close timeout even starts, and a client that
does not read never drains it, so that close (and the keepalive ping) would wait for ever. Here
the close frame is written without waiting, and the TCP connection is aborted when the closing
handshake has not finished `close_timeout_s` later, so every session ends in bounded time.

Every close goes through one place, so the wire stays legal whatever a dialect passes: the
reason is clamped to 123 UTF-8 bytes (`contract.clamp_close_reason`), a code a server may not
send becomes 1011 "Internal error encountered." (logged), and an exception anywhere in the
writer ends the session the same way.

Fast path: with no frame tap and no latency fault, a frame sent while nothing is queued and the
socket is not backed up is written at once, in the dialect's call, without waking the writer
task (one task switch less per frame). Frames are otherwise queued in order for the writer.

`ChannelWriter` implements `contract.SessionChannel`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from realtimelab.emulator.contract import (
    INTERNAL_ERROR_REASON,
    ChannelStats,
    FrameTap,
    SessionInfo,
    clamp_close_reason,
)
from realtimelab.emulator.faults import Fault, FaultPlan, is_sendable_close_code
from realtimelab.emulator.pacing import Clock, MonotonicClock

__all__ = ["MALFORMED_FRAME", "SLOW_READER_CODE", "ChannelLimits", "ChannelWriter"]

log = logging.getLogger("realtimelab.emulator")

#: The close code for a client that does not read (see the module docstring for why 1008).
SLOW_READER_CODE = 1008

# One encoder for every JSON frame: `json.dumps(..., separators=...)` builds a new encoder on
# each call, which costs more than encoding a small event.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode

# Frames sent in one turn of the event loop are written together up to this many bytes.
_COALESCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ChannelLimits:
    """How much a session may leave unsent, and how long closing may take.

    `max_bytes` / `max_frames` cap the backlog (sent by the dialect, not yet handed to the
    socket; a single frame is always accepted); `stall_timeout_s` is how long the writer waits
    for a backed-up socket to drain; `close_timeout_s` how long a closing handshake may take
    before the TCP connection is aborted. The two timeouts run on the channel's transport timer
    (real time in the server; a test may inject a `ManualClock`).
    """

    max_bytes: int = 4 * 2**20
    max_frames: int = 4096
    stall_timeout_s: float = 60.0
    close_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_frames < 1:
            raise ValueError("max_bytes and max_frames must be >= 1")
        if not self.stall_timeout_s > 0 or not self.close_timeout_s > 0:
            raise ValueError("stall_timeout_s and close_timeout_s must be > 0")


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


_STOP = object()  # the dialect is done: flush what is queued, then end the writer


class ChannelWriter:
    """The send side of one session: ordered, delayed, fault-injected, tapped, bounded.

    Dialects call `send(frame)` (non-blocking) and `close(code, reason)` (after everything
    queued so far). A frame "sent" here has been handed to the socket.
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
        limits: ChannelLimits | None = None,
        timer: Clock | None = None,
        on_count: Callable[[str], None] | None = None,
    ) -> None:
        self.ws = ws
        self.info = info
        self.plan = plan
        self.limits = limits or ChannelLimits()
        self._tap = tap
        self._clock = clock
        self._timer: Clock = timer or MonotonicClock()
        self._rng = random.Random(f"{seed}:{info.session_id}")
        self.on_expire = on_expire
        # told "slow_reader_closes" / "internal_errors" as they happen (the server's counters)
        self.on_count = on_count
        # (due on the emulator's clock, frame or control item, size in bytes)
        self._queue: collections.deque[tuple[float, object, int]] = collections.deque()
        self._queued_bytes = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._last_due = 0.0
        self._pending_bytes = 0
        self._flush_soon = False
        self._malformed_sent = False
        self._failed = False
        self._ending = False  # a close or abort has begun: nothing more is sent
        self._aborted = False
        self._direct = False
        self._update_direct()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.socket_writes = 0
        self.peak_queued_bytes = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.slow_reader = False
        self.closed = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.info.session_id

    def stats(self) -> ChannelStats:
        """A snapshot of this session's send side (see `contract.ChannelStats`)."""
        transport = self.ws.transport
        buffered = (
            0
            if transport is None or transport.is_closing()
            else (transport.get_write_buffer_size())
        )
        return ChannelStats(
            session_id=self.session_id,
            dialect=self.info.dialect,
            frames_sent=self.frames_sent,
            bytes_sent=self.bytes_sent,
            socket_writes=self.socket_writes,
            queued_frames=len(self._queue),
            queued_bytes=self._queued_bytes,
            peak_queued_bytes=self.peak_queued_bytes,
            socket_buffered_bytes=buffered,
            close_code=self.close_code,
            close_reason=self.close_reason,
            slow_reader=self.slow_reader,
            closed=self.closed.is_set(),
        )

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
        """The dialect is done: send what is queued, then end; bounded by `close_timeout_s`.

        If the queue cannot be flushed in that time (the client does not read), the session is
        closed as a slow reader; either way the socket is closed or aborted when this returns
        (or is about to be, by the closing task this awaits).
        """
        for t in self._timers:
            t.cancel()
        writer = self._writer
        if writer is not None and not writer.done():
            self._enqueue(_STOP, 0, self._last_due)
            done, _ = await asyncio.wait({writer}, timeout=self.limits.close_timeout_s)
            if not done:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
                if self.ws.protocol.state is State.OPEN:
                    if self._failed:
                        self._begin_close(1011, INTERNAL_ERROR_REASON)
                    elif self.ws.paused:
                        waited = self.limits.close_timeout_s
                        self._slow(f"slow reader: frames still unsent after {waited:g} s")
                    else:
                        self._begin_close(1000, "")
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        self._release()
        self.closed.set()

    def fail(self) -> None:
        """An exception escaped the session: it ends with 1011 "Internal error encountered.",
        whatever close the dialect had queued (a Gemini session queues 1000 on its way out)."""
        self._failed = True
        if self._ending:
            return
        failure = _Close(1011, INTERNAL_ERROR_REASON)
        for i, (due, item, size) in enumerate(self._queue):
            if isinstance(item, _Close):
                self._queue[i] = (due, failure, size)
                return
        self._enqueue(failure, 0, self._last_due)

    async def _after(self, delay: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(delay)
        action()

    # -- sending ----------------------------------------------------------------------------
    def send(self, frame: str | bytes) -> None:
        """Send `frame` after everything before it; never blocks the dialect.

        Written at once on the fast path, queued otherwise; a queue over the limits closes the
        session as a slow reader (and drops what it held). Dropped once closing has begun.
        """
        if self._ending:
            return
        size = len(frame)
        if self._direct and not self._queue and not self.ws.paused:
            if self._write(frame, size, defer=True):
                self._after_frame()
            return
        delay = self.plan.latency_ms
        if self.plan.jitter_ms:
            delay += self._rng.uniform(0, self.plan.jitter_ms)
        due = max(self._last_due, self._clock.now() + delay / 1000)
        self._last_due = due
        self._enqueue(frame, size, due)
        limits = self.limits
        if len(self._queue) > 1 and (
            self._queued_bytes > limits.max_bytes or len(self._queue) > limits.max_frames
        ):
            self._slow(
                f"slow reader: over {limits.max_bytes} bytes or {limits.max_frames} frames unsent"
            )

    def send_json(self, payload: Mapping[str, Any], *, binary: bool = False) -> None:
        text = _encode_json(payload)
        self.send(text.encode() if binary else text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after everything queued so far has been sent."""
        self._enqueue(_Close(code, reason), 0, self._last_due)

    def abort(self) -> None:
        """Drop the TCP connection now, without a close frame (a network failure)."""
        log.info("session %s: dropping connection (fault)", self.session_id)
        self._ending = self._aborted = True
        self.closed.set()
        self._release()
        if self._flush_soon:  # frames already sent this turn go first, as they always did
            self._flush()
        self.ws.transport.abort()

    def close_now(self, code: int, reason: str = "fault injected") -> None:
        """Write a close frame *now*, ahead of everything queued (the `close_now` fault).

        Synchronous, so a frame tap can end the session right after the frame it just saw;
        queued frames are dropped and never sent.
        """
        log.info("session %s: closing now with %d (fault)", self.session_id, code)
        self._begin_close(code, reason, drop_queue=True)

    def inject(self, fault: Fault) -> None:
        if fault.kind in ("drop", "drop_now"):
            self.abort()
        elif fault.kind == "close_now":
            self.close_now(fault.code)
        elif fault.kind == "close":
            self._enqueue(_Close(fault.code, "fault injected"), 0, 0.0)
        elif fault.kind == "malformed":
            self._malformed_sent = False
            self.send(MALFORMED_FRAME)
        elif fault.kind == "expire":
            self._expire()
        elif fault.kind == "latency":
            self.plan = replace(self.plan, latency_ms=fault.latency_ms, jitter_ms=fault.jitter_ms)
            self._update_direct()

    def tap_in(self, frame: str | bytes) -> None:
        """Dialects report received frames here so recorders see both directions."""
        if self._tap is not None:
            self._tap(self.info, "in", frame)

    def _expire(self) -> None:
        if self.on_expire is not None:
            self.on_expire()
        else:
            self.close(1000, "session expired")

    def _update_direct(self) -> None:
        """Frames may skip the writer task when nothing needs to see or delay them there."""
        p = self.plan
        self._direct = self._tap is None and not p.latency_ms and not p.jitter_ms

    # -- the queue --------------------------------------------------------------------------
    def _enqueue(self, item: object, size: int, due: float) -> None:
        self._queue.append((due, item, size))
        if size:
            self._queued_bytes += size
            if self._queued_bytes > self.peak_queued_bytes:
                self.peak_queued_bytes = self._queued_bytes
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _release(self) -> None:
        """Free everything queued (the session is over or its backlog is abandoned)."""
        self._queue.clear()
        self._queued_bytes = 0

    async def _write_loop(self) -> None:
        try:
            while not self._ending:
                if self.ws.paused:  # the client is behind: wait (boundedly) before writing more
                    await self._drain()
                    continue
                if not self._queue:
                    self._wakeup = asyncio.get_running_loop().create_future()
                    await self._wakeup
                    continue
                due, item, size = self._queue[0]
                wait = due - self._clock.now()
                if wait > 0:
                    await self._clock.sleep(wait)
                    continue
                self._queue.popleft()
                self._queued_bytes -= size
                if item is _STOP:
                    return
                if isinstance(item, _Close):
                    await self._terminate(item.code, item.reason)
                    return
                assert isinstance(item, str | bytes)
                if not self._write(item, size) or self._after_frame():
                    return
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %s: the writer failed; closing with 1011", self.session_id)
            self._fail_now()
            if self._closer is not None:
                await asyncio.gather(self._closer, return_exceptions=True)
        finally:
            self._release()
            self.closed.set()

    def _write(self, frame: str | bytes, size: int, *, defer: bool = False) -> bool:
        """Hand one frame to the socket (never waits); False when the socket is gone.

        `defer` (the direct path) leaves the frame in the WebSocket protocol's buffer and
        writes everything sent during this turn of the event loop with one `write` at its end:
        on loopback each write is a system call that also wakes the reader, which cost the
        emulator more than building the frame. A burst over `_COALESCE_BYTES` is written at
        once, so the socket's back-pressure (and the backlog limit behind it) still applies.
        """
        ws = self.ws
        protocol = ws.protocol
        if protocol.state is not State.OPEN:
            self._ending = True
            return False
        if isinstance(frame, str):
            protocol.send_text(frame.encode())
        else:
            protocol.send_binary(frame)
        self.frames_sent += 1
        self.bytes_sent += size
        if defer:
            self._pending_bytes += size
            if self._pending_bytes > _COALESCE_BYTES:
                self._flush()
            elif not self._flush_soon:
                self._flush_soon = True
                asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._flush()
        if self._tap is not None:
            self._tap(self.info, "out", frame)
        return True

    def _flush(self) -> None:
        """Write what the protocol holds in one `transport.write` (what `send_data` does one
        frame at a time); wake the writer to watch the drain when the socket is backed up."""
        self._flush_soon = False
        self._pending_bytes = 0
        ws = self.ws
        chunks = ws.protocol.data_to_send()
        if not chunks:
            return
        transport = ws.transport
        data = [c for c in chunks if c]
        if data and not transport.is_closing():
            transport.write(data[0] if len(data) == 1 else b"".join(data))
            self.socket_writes += 1
        if len(data) != len(chunks):  # the protocol asks for end-of-stream (after a close)
            if transport.can_write_eof():
                with contextlib.suppress(Exception):
                    transport.write_eof()
            else:
                transport.close()
        if ws.paused:
            self._wake()  # the writer watches the drain (and its stall timeout)

    async def _drain(self) -> None:
        """Wait for a backed-up socket to drain, at most `stall_timeout_s`, else give up."""
        drained = asyncio.ensure_future(self.ws.drain())
        stalled = asyncio.ensure_future(self._timer.sleep(self.limits.stall_timeout_s))
        try:
            await asyncio.wait({drained, stalled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stalled.cancel()
            drained.cancel()
        if drained.done() and not drained.cancelled():
            if drained.exception() is not None:  # the connection was lost meanwhile
                self._ending = True
            return
        self._slow(f"slow reader: not reading for {self.limits.stall_timeout_s:g} s")

    def _after_frame(self) -> bool:
        """Apply frame-count faults; True when the connection is gone."""
        p, n = self.plan, self.frames_sent
        if (
            p.malformed_after_frames is not None
            and n == p.malformed_after_frames
            and not self._malformed_sent
        ):
            self._malformed_sent = True
            self._enqueue(MALFORMED_FRAME, len(MALFORMED_FRAME), 0.0)
        if p.drop_after_frames is not None and n >= p.drop_after_frames:
            self.abort()
            return True
        if p.close_after_frames is not None and n >= p.close_after_frames:
            self._enqueue(_Close(p.close_code, "fault injected"), 0, 0.0)
        return False

    # -- closing ----------------------------------------------------------------------------
    def _slow(self, reason: str) -> None:
        """Give up on a client that does not read: drop its backlog, close with 1008."""
        if self._ending:
            return
        log.warning(
            "session %s: %s (%d frames, %d bytes unsent); closing with %d",
            self.session_id,
            reason,
            len(self._queue),
            self._queued_bytes,
            SLOW_READER_CODE,
        )
        self.slow_reader = True
        self._begin_close(SLOW_READER_CODE, reason, drop_queue=True)
        self._count("slow_reader_closes")

    def _count(self, name: str) -> None:
        if self.on_count is not None:
            self.on_count(name)

    def _fail_now(self) -> None:
        self._count("internal_errors")
        self._failed = True
        self._begin_close(1011, INTERNAL_ERROR_REASON, drop_queue=True)

    async def _terminate(self, code: int, reason: str) -> None:
        """The writer reached a queued close: write it and wait for the connection to end."""
        if self._failed:
            code, reason = 1011, INTERNAL_ERROR_REASON
        self._begin_close(code, reason)
        if self._closer is not None:
            await asyncio.shield(self._closer)

    def _begin_close(self, code: int, reason: str, *, drop_queue: bool = False) -> None:
        """Write the close frame now (never waiting for the socket) and make sure the TCP
        connection ends within `close_timeout_s`. Idempotent: the first close wins."""
        if self._closer is not None or self._aborted:
            return
        self._ending = True
        self.closed.set()  # send() drops from now on
        if drop_queue:
            self._release()
        if not is_sendable_close_code(code):
            log.error(
                "session %s: close code %r cannot be sent; closing with 1011 instead",
                self.session_id,
                code,
            )
            code, reason = 1011, INTERNAL_ERROR_REASON
            self._count("internal_errors")
        reason = clamp_close_reason(reason)
        self.close_code, self.close_reason = code, reason
        ws = self.ws
        try:
            if ws.protocol.state is State.OPEN:
                ws.protocol.send_close(code, reason)
                self._flush()
        except Exception:
            log.exception("session %s: writing the close frame failed; aborting", self.session_id)
            ws.transport.abort()
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task() and not writer.done():
            writer.cancel()  # it may be waiting for a socket that will never drain
        self._closer = asyncio.get_running_loop().create_task(
            self._reap(), name=f"closer:{self.session_id}"
        )

    async def _reap(self) -> None:
        """Abort the TCP connection if the closing handshake has not ended it in time."""
        ws = self.ws
        gone = asyncio.ensure_future(ws.wait_closed())
        timer = asyncio.ensure_future(self._timer.sleep(self.limits.close_timeout_s))
        finished = False
        try:
            done, _ = await asyncio.wait({gone, timer}, return_when=asyncio.FIRST_COMPLETED)
            finished = gone in done
        finally:
            gone.cancel()
            timer.cancel()
            if not finished and ws.protocol.state is not State.CLOSED:
                log.info(
                    "session %s: closing handshake unfinished after %g s; aborting",
                    self.session_id,
                    self.limits.close_timeout_s,
                )
                ws.transport.abort()


MALFORMED_FRAME = '{"type": "response.output_audio.delta", "delta": '  # truncated JSON
