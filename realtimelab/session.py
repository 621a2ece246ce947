"""`RealtimeSession`: one asyncio shell over any provider codec.

Talk to OpenAI Realtime or Gemini Live by changing one word::

    import asyncio
    from realtimelab import AudioChunk, OutputTranscript, SessionConfig, TurnComplete, connect

    async def main(provider: str) -> str:
        config = SessionConfig(instructions="You are a friendly tutor. Be brief.")
        async with connect(provider, config) as session:
            await session.send_text("Hello! Who are you?")
            words, audio = [], bytearray()
            async for event in session:
                if isinstance(event, AudioChunk):
                    audio += event.pcm  # PCM16 at event.rate (24 kHz): ready to play
                elif isinstance(event, OutputTranscript) and event.final:
                    words.append(event.text)
                elif isinstance(event, TurnComplete):
                    return " ".join(words)
        return ""

    print(asyncio.run(main("gemini")))  # or "openai"

Where it connects: `url=` if given; otherwise the real provider when its key is in the
environment (`OPENAI_API_KEY`; `GEMINI_API_KEY` or `GOOGLE_API_KEY`) or passed as `api_key=`;
otherwise the local emulator: `REALTIMELAB_EMULATOR_URL` if set, else an in-process `Emulator`
started for the duration of the `async with` block. So the example above runs offline. Keys
from the environment are never sent to a loopback URL: the emulator accepts any key.

How a frame travels: a verb (`send_text`) asks the codec for frames, which go out under a send
lock (multi-frame verbs never interleave) and through the frame tap. One reader task receives
every frame (so websockets keeps answering pings while you are busy), decodes it with the codec
into unified events, updates the client-owned `history`, and queues the events for
`async for event in session`. The reader never blocks on you: the queue is unbounded, so iterate
promptly in long sessions.

Socket settings, and why: no compression (audio does not compress, and it costs latency),
16 MiB frames (OpenAI allows 15 MiB appends), a ping every 20 s with a 60 s timeout (Gemini's
pongs can take 8-30 s; websockets' default 20 s timeout kills healthy sessions), no proxy for
loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from realtimelab import events as ev
from realtimelab.audio import RateGuard, StreamResampler
from realtimelab.auth import EphemeralToken, Secret, api_key_from_env
from realtimelab.config import SessionConfig
from realtimelab.errors import RealtimeLabError
from realtimelab.providers import make_codec
from realtimelab.providers.base import (
    AssistantText,
    Capabilities,
    Codec,
    Frame,
    HistoryItem,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserText,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "EMULATOR_ENV",
    "ConnectError",
    "FrameTap",
    "HandshakeRefused",
    "RealtimeSession",
    "SessionClosedError",
    "SessionRefused",
    "SetupTimeout",
    "Unreachable",
    "connect",
]

EMULATOR_ENV = "REALTIMELAB_EMULATOR_URL"
#: The key sent to the emulator (it accepts any non-empty key).
EMULATOR_KEY = "realtimelab-emulator-key"
MAX_FRAME_BYTES = 16 * 2**20
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 60.0
#: How long a refused setup waits for the server's close after its fatal error frame.
SETUP_CLOSE_GRACE_S = 1.0
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

Direction = Literal["send", "recv"]
FrameTap = Callable[[Direction, dict[str, Any], float], None]
"""`frame_tap(direction, frame, t)`: sees every wire frame, parsed, for teaching and logging."""


class SessionClosedError(RealtimeLabError, ConnectionError):
    """A verb was used after the session closed."""


# ---------------------------------------------------------------------------------------------
# why connect() failed, as data: code deciding whether to try again reads attributes, not text
# ---------------------------------------------------------------------------------------------

#: HTTP statuses at the upgrade that mean "not now" rather than "not you".
RETRYABLE_HTTP_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ConnectError(RealtimeLabError, ConnectionError):
    """`connect()` could not open a session. Still a `ConnectionError`, so old handlers work.

    `retryable`: whether the same request could succeed later (a network blip, an overloaded
    server) or would be refused again (a bad key, an invalid setup). `label` is a short stable
    name for logs and metrics (`http_401`, `1007`, `invalid_api_key`, `connect_failed`...).
    Messages never hold a credential: response bodies and close reasons are scrubbed.
    """

    def __init__(self, message: str, *, retryable: bool, label: str) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.label = label

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only constructors: copy/pickle would otherwise call cls(message) and fail
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[ConnectError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = ConnectionError.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class Unreachable(ConnectError):
    """No WebSocket at all: DNS, a refused or reset TCP connection, TLS, an upgrade timeout.
    Always retryable: the network, not the request, is at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, label="connect_failed")


class HandshakeRefused(ConnectError):
    """The server answered the upgrade with an HTTP error (401 bad key, 403, 404 unknown path
    or model, 429 rate limited, 5xx). Retryable only for `RETRYABLE_HTTP_STATUSES`."""

    def __init__(self, message: str, *, status: int, body_summary: str) -> None:
        super().__init__(
            message, retryable=status in RETRYABLE_HTTP_STATUSES, label=f"http_{status}"
        )
        self.status = status
        self.body_summary = body_summary
        """The start of the response body, scrubbed of the credential that was sent."""


class SessionRefused(ConnectError):
    """The socket opened, but the provider closed it (or sent a fatal error) before confirming
    the session: Gemini 1007 (invalid setup) / 1008 (unknown model, stale resumption handle),
    OpenAI `error` + close 4000 `beta_api_shape_disabled`, a 1011 hiccup...

    `code` is the close code (None when none was seen), `reason` the close reason (or the error
    message), `error_code` the provider's code from an error frame, if one came. `retryable`
    is the codec's verdict (`Error.fatal`, see the close table in `providers/base.py`).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        reason: str,
        error_code: str | None,
        retryable: bool,
    ) -> None:
        super().__init__(message, retryable=retryable, label=error_code or str(code))
        self.code = code
        self.reason = reason
        self.error_code = error_code


class SetupTimeout(ConnectError):
    """The socket opened but the provider never confirmed the session in time (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, label="setup_timeout")


class RealtimeSession:
    """A live conversation with one provider. Create it with `connect(...)`.

    Verbs (`send_audio`, `send_text`, `send_tool_response(s)`, `commit`, `create_response`,
    `interrupt`, `update`, `close`) are coroutines that return once the frames are written.
    Events arrive through `async for event in session`; iteration ends after `Closed`.
    """

    def __init__(
        self,
        codec: Codec,
        ws: ClientConnection,
        config: SessionConfig,
        *,
        url: str,
        clock: Callable[[], float] = time.monotonic,
        frame_tap: FrameTap | None = None,
        player_rate: int | None = None,
        resample: bool = True,
        frames_kept: int = 512,
    ) -> None:
        self._codec = codec
        self._ws = ws
        self.config = config
        self.url = url
        """Where the socket went (never contains a credential)."""
        self._clock = clock
        self._tap = frame_tap
        self._player_rate = player_rate
        self._resample = resample
        self.frames: deque[tuple[Direction, dict[str, Any], float]] = deque(maxlen=frames_kept)
        """The last `frames_kept` wire frames, `(direction, frame, t)`, for notebooks."""
        self.rate_guard = RateGuard(codec.capabilities.input_rate, clock)
        self._in_resampler: StreamResampler | None = None
        self._out_resamplers: dict[int, StreamResampler] = {}
        self._queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._closed = False
        self._ended = False
        self._ready = asyncio.Event()
        self._started = False  # the provider confirmed the session (SessionStarted)
        # what ended the setup, if it failed: the first error, and the close
        self._setup_error: ev.Error | None = None
        self._setup_closed: ev.Closed | None = None
        self._reader: asyncio.Task[None] | None = None
        self.resumption_handle: str | None = None
        # client-owned history
        self._history: list[HistoryItem] = []
        self._user_slot: int | None = None
        self._audio_since_turn = False
        self._turn_text: list[str] = []
        self._turn_final: str | None = None
        self._turn_recorded: int | None = None  # index of this turn's AssistantText
        self._responding = False  # a reply is in progress (ResponseStarted .. TurnComplete)
        self._late_slot: int | None = None  # first late result recorded during this reply
        self._heard_fraction: float | None = None

    # ------------------------------------------------------------------ properties

    @property
    def provider(self) -> ev.Provider:
        return self._codec.provider

    @property
    def capabilities(self) -> Capabilities:
        return self._codec.capabilities

    @property
    def model(self) -> str:
        return self._codec.model

    @property
    def history(self) -> tuple[HistoryItem, ...]:
        """The conversation as the client knows it: small frozen records, in order, usable for
        replay (`send_history`) and persistence. Assistant turns hold their transcript,
        shortened to the part heard when `interrupt` was used."""
        return tuple(self._history)

    @property
    def closed(self) -> bool:
        return self._closed

    def now(self) -> float:
        """The session's clock (the one event timestamps `t` come from)."""
        return self._clock()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"RealtimeSession(provider={self.provider!r}, model={self.model!r}, "
            f"url={self.url!r}, {state})"
        )

    # ------------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(
            self._read_loop(), name=f"realtimelab-reader-{self.provider}"
        )

    async def _wait_ready(self, timeout: float, scrub: Callable[[str], str] = str) -> None:
        """Wait for the provider's confirmation; raise `SetupTimeout` or `SessionRefused`.

        A fatal error frame usually comes just before the server's close (OpenAI: `error`, then
        close 4000); the close is awaited briefly so the exception carries both.
        """
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise SetupTimeout(
                f"{self.provider}: no session confirmation within {timeout:g} s"
            ) from None
        if self._started:
            return
        if self._setup_closed is None and self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), SETUP_CLOSE_GRACE_S)
        error, closed = self._setup_error, self._setup_closed
        close_code = closed.code if closed is not None else None
        close_reason = closed.reason if closed is not None else ""
        # the error frame's own code, not the close code an Error from decode_close repeats
        error_code = error.code if error is not None and error.code != str(close_code) else None
        reason = scrub(close_reason or (error.message if error is not None else "") or "closed")
        retryable = error is None or not error.fatal
        label = error_code or close_code
        raise SessionRefused(
            f"{self.provider} refused the session (code {label}): {reason}",
            code=close_code,
            reason=reason,
            error_code=error_code,
            retryable=retryable,
        )

    async def close(self) -> None:
        """Close the socket and wait for the reader to finish. Idempotent."""
        if self._closed:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), 10)
        self._closed = True

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self

    async def __anext__(self) -> ev.Event:
        if self._ended:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._ended = True
            raise StopAsyncIteration
        return event

    # ------------------------------------------------------------------ sending

    async def _send(self, frames: Sequence[Frame]) -> None:
        if not frames:
            return
        if self._closed or self._closing:
            raise SessionClosedError(f"the {self.provider} session is closed")
        async with self._send_lock:
            for frame in frames:
                t = self._clock()
                self._record("send", frame, t)
                try:
                    await self._ws.send(json.dumps(frame))
                except ConnectionClosed as e:
                    code, reason = e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else ""
                    raise SessionClosedError(
                        f"the {self.provider} connection closed (code {code}): {reason}"
                    ) from None

    def _record(self, direction: Direction, frame: dict[str, Any], t: float) -> None:
        self.frames.append((direction, frame, t))
        if self._tap is not None:
            try:
                self._tap(direction, frame, t)
            except Exception as e:  # a broken logger must not break the conversation
                self._tap = None
                self._queue.put_nowait(
                    ev.Error(
                        provider=self.provider,
                        t=t,
                        message=f"frame_tap raised {type(e).__name__}: {e}; tap disabled",
                        code="frame_tap_failed",
                    )
                )

    async def send_audio(self, pcm: bytes | bytearray | memoryview, rate: int) -> None:
        """Stream PCM16 mono audio recorded at `rate` Hz.

        It is resampled (streaming soxr, state kept across chunks) to the provider's input
        rate. With `connect(..., resample=False)` a wrong rate raises `SampleRateError` naming
        both rates instead: nothing is sent at the wrong speed.
        """
        target = self.capabilities.input_rate
        if not self._resample:
            self.rate_guard.check(rate, where=f"{self.provider} send_audio")
        resampler = self._in_resampler
        if resampler is None or resampler.in_rate != rate:
            tail = resampler.flush() if resampler is not None else b""
            if tail:
                await self._send(self._codec.encode_audio(tail))
            resampler = self._in_resampler = StreamResampler(rate, target)
        if self._resample:
            self.rate_guard.check(rate, resampler=resampler, where=f"{self.provider} send_audio")
        data = resampler.process(pcm)
        if data:
            self._audio_since_turn = True
            await self._send(self._codec.encode_audio(data))

    async def send_text(self, text: str) -> None:
        """A typed user turn; the model answers it.

        Contract (resilience relies on it): the `UserText` is in `history` *before* any frame
        is written, so if the socket dies under this call the turn is still in the client's
        record and a reconnect replays it, instead of losing what the user typed.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("send_text needs a non-empty string")
        self._history.append(UserText(text))
        await self._send(self._codec.encode_text(text))

    async def send_tool_response(
        self,
        call_id: str,
        output: Any,
        *,
        name: str | None = None,
        is_error: bool = False,
        scheduling: Literal["SILENT", "WHEN_IDLE", "INTERRUPT"] | None = None,
        will_continue: bool | None = None,
    ) -> None:
        """Return one tool outcome (see `send_tool_responses` to answer parallel calls)."""
        await self.send_tool_responses(
            [ToolResult(call_id, output, name, is_error, scheduling, will_continue)]
        )

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None:
        """Return several outcomes at once: OpenAI gets one output item each and a single
        `response.create`; Gemini one `toolResponse` holding them all.

        Contract (resilience relies on it): every result is recorded in `history` as a
        `ToolResultRecord` *before* any frame is written, so a result sent into a dying socket
        is restored from the history by a reconnect rather than lost (a lost result hangs the
        model's turn forever).
        """
        batch = self._record_results(results)
        await self._send(self._codec.encode_tool_responses(batch))

    async def send_late_tool_result(
        self, call_id: str, output: Any, *, name: str | None = None, is_error: bool = False
    ) -> None:
        """Deliver the real result of a call that was already answered (by a placeholder such
        as `{"status": "pending"}`), and have the model tell the user once it is idle.

        Not a tool response: the server considers the call answered. OpenAI gets another
        `function_call_output` item for the call and one `response.create`; Gemini one
        `clientContent` user turn carrying a `functionResponse` part with `turnComplete: true`
        (a `toolResponse` for an answered call is ignored). On both, while a reply is in
        progress the codec holds the frames and sends them when it ends (a reply request
        mid-reply is refused on OpenAI and cuts the reply on Gemini). Recorded in `history`
        before anything is sent (see `send_tool_responses`).
        """
        await self.send_late_tool_results([ToolResult(call_id, output, name, is_error)])

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None:
        """Several late results with ONE reply request (see `send_late_tool_result`): two
        requests in a row would overlap (OpenAI `conversation_already_has_active_response`).

        Sent during a reply, the records go in `history` now but *after* that reply's
        `AssistantText` once it is written, which is where the server puts them too: so a
        replay ends on the result and a reconnect knows the model still owes its answer.
        """
        if self._responding and self._late_slot is None:
            self._late_slot = len(self._history)
        batch = self._record_results(results)
        await self._send(self._codec.encode_late_tool_results(batch))

    def _record_results(self, results: Iterable[ToolResult]) -> list[ToolResult]:
        """History first, and the call's name filled in from it (Gemini needs the name). An
        error is recorded in its wire envelope (`{"error": ...}`), so a replay still says it
        failed."""
        batch = []
        for r in results:
            value = {"error": r.output} if r.is_error else r.output
            output = value if isinstance(value, str) else json.dumps(value)
            name = r.name or next(
                (
                    h.name
                    for h in reversed(self._history)
                    if isinstance(h, ToolCallRecord) and h.call_id == r.call_id
                ),
                "",
            )
            self._history.append(ToolResultRecord(r.call_id, name, output))
            batch.append(dataclasses.replace(r, name=name) if name and not r.name else r)
        return batch

    async def commit(self) -> None:
        """End the user's audio turn by hand (push-to-talk): flushes the input resampler, then
        OpenAI `input_audio_buffer.commit` / Gemini `activityEnd` (or `audioStreamEnd`)."""
        if self._in_resampler is not None:
            tail = self._in_resampler.flush()
            if tail:
                await self._send(self._codec.encode_audio(tail))
        await self._send(self._codec.encode_commit())

    async def create_response(self) -> None:
        """Ask the model to answer now (needed after `commit` when VAD does not reply)."""
        await self._send(self._codec.encode_create_response())

    async def interrupt(self, played_ms: float) -> None:
        """The user barged in after hearing `played_ms` of the current reply.

        Stop your player first. Where the provider needs it (capabilities.truncation) the
        server is told how much was heard, clamped to the audio received, and nothing is sent
        when 0 ms were played. History keeps only the heard share of the reply's transcript
        (proportional to audio time: an approximation, as transcripts have no timestamps).
        """
        received = self._codec.received_ms(None)
        self._heard_fraction = (
            max(0.0, min(played_ms, received)) / received if received > 0 else 0.0
        )
        self._record_assistant()
        for resampler in self._out_resamplers.values():
            resampler.flush()  # discard the queued tail: it was never heard
        await self._send(self._codec.encode_interrupt(None, played_ms))

    async def update(self, config: SessionConfig) -> None:
        """Change the configuration mid-session (capabilities.session_update); Gemini raises
        NotImplementedError: it needs a new connection."""
        frames = self._codec.update_frames(config)
        await self._send(frames)
        self.config = config

    async def send_history(self, items: Sequence[HistoryItem]) -> None:
        """Replay conversation records (e.g. after a reconnect) without triggering a reply."""
        await self._send(self._codec.encode_history(items))
        self._history.extend(items)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        try:
            async for message in self._ws:
                t = self._clock()
                frame = _parsed(message)
                self._record("recv", frame if frame is not None else _unparsed(message), t)
                # parsed once: the codec takes the dict, or the raw text to report it malformed
                for event in self._codec.decode(message if frame is None else frame, t):
                    self._dispatch(event)
                outgoing = self._codec.take_outgoing()
                if outgoing and not self._closing:
                    with contextlib.suppress(SessionClosedError):  # Closed follows
                        await self._send(outgoing)
        except ConnectionClosed:
            pass
        except Exception as e:  # a bug must surface as an event, never kill the loop silently
            self._dispatch(
                ev.Error(
                    provider=self.provider,
                    t=self._clock(),
                    message=f"reader failed: {type(e).__name__}: {e}",
                    code="client_error",
                    fatal=True,
                )
            )
        finally:
            code, reason = self._ws.close_code, self._ws.close_reason or ""
            for event in self._codec.decode_close(code, reason, self._clock(), self._closing):
                self._dispatch(event)
            self._closed = True
            self._ready.set()
            self._queue.put_nowait(None)

    def _dispatch(self, event: ev.Event) -> None:
        if not self._started:
            if isinstance(event, ev.SessionStarted):
                self._started = True
                self._ready.set()
            elif isinstance(event, ev.Error):
                # the first error explains; a fatal one ends the wait (the close follows)
                if self._setup_error is None or (event.fatal and not self._setup_error.fatal):
                    self._setup_error = event
                if event.fatal:
                    self._ready.set()
            elif isinstance(event, ev.Closed):
                self._setup_closed = event
                self._ready.set()
        for out in self._observe(event):
            self._queue.put_nowait(out)

    def _observe(self, event: ev.Event) -> list[ev.Event]:
        """Keep history and playback-rate conversion in step with the event stream."""
        out: list[ev.Event] = [event]
        if isinstance(event, ev.AudioChunk):
            out = [self._to_player_rate(event)] if self._player_rate else out
            out = [e for e in out if not isinstance(e, ev.AudioChunk) or e.pcm]
        elif isinstance(event, ev.ResponseStarted):
            self._new_turn()
        elif isinstance(event, ev.InputTranscript) and event.final and event.text:
            record = UserText(event.text, spoken=True)
            if self._user_slot is not None and self._user_slot <= len(self._history):
                self._history.insert(self._user_slot, record)
                if self._turn_recorded is not None and self._turn_recorded >= self._user_slot:
                    self._turn_recorded += 1
                if self._late_slot is not None and self._late_slot >= self._user_slot:
                    self._late_slot += 1
                self._user_slot = None
            else:
                self._history.append(record)
        elif isinstance(event, ev.OutputTranscript | ev.TextDelta):
            if isinstance(event, ev.OutputTranscript) and event.final:
                self._turn_final = event.text
                self._record_assistant()
            else:
                self._turn_text.append(event.text)
        elif isinstance(event, ev.ToolCall):
            self._history.append(ToolCallRecord(event.call_id, event.name, event.arguments_json))
        elif isinstance(event, ev.Interrupted):
            for resampler in self._out_resamplers.values():
                resampler.flush()  # drop the tail of audio that will never play
        elif isinstance(event, ev.TurnComplete):
            self._record_assistant()
            self._responding = False
            self._late_slot = None
            out = [*self._flush_player(event), event]
        elif isinstance(event, ev.ResumptionUpdate) and event.handle:
            self.resumption_handle = event.handle
        return out

    def _new_turn(self) -> None:
        if self._audio_since_turn:
            self._user_slot = len(self._history)  # the user's transcript belongs before
            self._audio_since_turn = False
        self._turn_text = []
        self._turn_final = None
        self._turn_recorded = None
        self._heard_fraction = None
        self._responding = True
        self._late_slot = None

    def _record_assistant(self) -> None:
        """Write (or rewrite) this turn's AssistantText: the transcript so far, cut to the heard
        share after `interrupt`; a reply nobody heard is removed, as if never said."""
        full = self._turn_final if self._turn_final is not None else "".join(self._turn_text)
        heard = self._heard_fraction
        text = full if heard is None else _cut(full, heard)
        index = self._turn_recorded
        if not text.strip():
            if index is not None:
                del self._history[index]
                self._turn_recorded = None
                if self._late_slot is not None and self._late_slot > index:
                    self._late_slot -= 1
            return
        record = AssistantText(text, interrupted=heard is not None)
        if index is None and self._late_slot is not None:
            # late results sent during this reply come after it, as on the server
            self._turn_recorded = self._late_slot
            self._history.insert(self._late_slot, record)
            self._late_slot += 1
        elif index is None:
            self._turn_recorded = len(self._history)
            self._history.append(record)
        else:
            self._history[index] = record

    def _to_player_rate(self, chunk: ev.AudioChunk) -> ev.AudioChunk:
        assert self._player_rate is not None
        if chunk.rate == self._player_rate:
            return chunk
        resampler = self._out_resamplers.get(chunk.rate)
        if resampler is None:
            resampler = self._out_resamplers[chunk.rate] = StreamResampler(
                chunk.rate, self._player_rate
            )
        pcm = resampler.process(chunk.pcm)
        return dataclasses.replace(chunk, pcm=pcm, rate=self._player_rate)

    def _flush_player(self, done: ev.TurnComplete) -> list[ev.Event]:
        out: list[ev.Event] = []
        for resampler in self._out_resamplers.values():
            tail = resampler.flush()
            if tail:
                out.append(
                    ev.AudioChunk(
                        provider=self.provider,
                        t=done.t,
                        pcm=tail,
                        rate=resampler.out_rate,
                        response_id=done.response_id,
                    )
                )
        return out


def _cut(text: str, fraction: float) -> str:
    """The first `fraction` of `text`, ending on a word boundary."""
    if fraction >= 1.0:
        return text
    keep = text[: int(len(text) * fraction)]
    if len(keep) < len(text) and " " in keep:
        keep = keep[: keep.rfind(" ")]
    return keep.strip()


def _parsed(message: str | bytes) -> dict[str, Any] | None:
    """The frame as a JSON object, or None when it is not one."""
    try:
        frame = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    return frame if isinstance(frame, dict) else None


def _unparsed(message: str | bytes) -> dict[str, Any]:
    """What the frame tap shows for a frame that is not a JSON object."""
    return {"unparsed": message[:200] if isinstance(message, str) else repr(message[:200])}


# ---------------------------------------------------------------------------------------------
# connect()
# ---------------------------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK


@contextlib.asynccontextmanager
async def connect(
    provider: ev.Provider | str,
    config: SessionConfig | None = None,
    *,
    url: str | None = None,
    api_key: str | Secret | None = None,
    token: str | Secret | EphemeralToken | None = None,
    model: str | None = None,
    player_rate: int | None = None,
    resample: bool = True,
    clock: Callable[[], float] = time.monotonic,
    frame_tap: FrameTap | None = None,
    resume: str | None = None,
    ready_timeout: float = 15.0,
    query: Mapping[str, str] | None = None,
) -> AsyncIterator[RealtimeSession]:
    """Open a session; yields a `RealtimeSession` once the provider confirmed it.

    `url` is a base URL (`ws://127.0.0.1:PORT`) replacing the provider's host. `token` is an
    ephemeral token (`realtimelab.auth`). `player_rate` resamples output audio for your player.
    `resample=False` makes `send_audio` refuse audio at the wrong rate instead of converting.
    `resume` is a Gemini resumption handle. `query` adds URL parameters, e.g. the emulator's
    per-session faults `{"rtl_fault": "drop_after_frames:40"}`; it can never replace a
    credential or the codec's own parameters (ValueError). See the module docstring for where
    it connects.

    Failures raise a `ConnectError` (a `ConnectionError`) saying whether a retry can help:
    `Unreachable` (no socket), `HandshakeRefused` (HTTP status at the upgrade),
    `SessionRefused` (closed or fatal error before the session was confirmed), `SetupTimeout`.
    """
    config = config or SessionConfig()
    codec = make_codec(provider, model or config.model)
    # Keys from the environment never go to a loopback URL (the emulator needs none).
    use_env = url is None or not _is_loopback(url)
    credential, is_token = _credential(codec.provider, api_key, token, use_env=use_env)
    async with contextlib.AsyncExitStack() as stack:
        if url is None and credential is None:
            url = os.environ.get(EMULATOR_ENV) or await _start_emulator(stack)
        if credential is None:
            credential = Secret(EMULATOR_KEY)  # a local/emulator URL without a key
        request = codec.connect_request(
            api_key=None if is_token else credential.reveal(),
            token=credential.reveal() if is_token else None,
            base_url=url,
            query=query,
        )
        ws = await _open_socket(
            codec.provider, request.url, dict(request.headers), request.subprotocols, credential
        )
        session = RealtimeSession(
            codec,
            ws,
            config,
            url=request.url,
            clock=clock,
            frame_tap=frame_tap,
            player_rate=player_rate,
            resample=resample,
        )
        session._start()
        stack.push_async_callback(session.close)
        with contextlib.suppress(SessionClosedError):  # the reason is reported just below
            await session._send(codec.initial_frames(config, resume=resume))
        await session._wait_ready(ready_timeout, scrub=credential.scrub)
        yield session


def _credential(
    provider: ev.Provider,
    api_key: str | Secret | None,
    token: str | Secret | EphemeralToken | None,
    *,
    use_env: bool,
) -> tuple[Secret | None, bool]:
    if token is not None:
        if isinstance(token, EphemeralToken):
            if token.provider != provider:
                raise ValueError(f"a {token.provider} token cannot open a {provider} session")
            return token.value, True
        return Secret(token), True
    if api_key is not None:
        return Secret(api_key), False
    return (api_key_from_env(provider) if use_env else None), False


async def _start_emulator(stack: contextlib.AsyncExitStack) -> str:
    """An in-process emulator for this session only (imported lazily: it is big)."""
    from realtimelab.emulator.server import Emulator

    emulator = await stack.enter_async_context(Emulator())
    return emulator.url


async def _open_socket(
    provider: str,
    url: str,
    headers: dict[str, str],
    subprotocols: Sequence[str],
    credential: Secret,
) -> ClientConnection:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.typing import Subprotocol

    try:
        return await ws_connect(
            url,
            additional_headers=headers,
            subprotocols=[Subprotocol(s) for s in subprotocols] or None,
            compression=None,
            max_size=MAX_FRAME_BYTES,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            proxy=None if _is_loopback(url) else True,
            user_agent_header="realtimelab",
        )
    # `from None`: the original exception's context may hold the request and its headers.
    except InvalidStatus as e:
        status = e.response.status_code
        body = credential.scrub(e.response.body.decode("utf-8", "replace")[:300]).strip()
        raise HandshakeRefused(
            credential.scrub(f"{provider} refused the connection to {url}: HTTP {status} {body}"),
            status=status,
            body_summary=body,
        ) from None
    except (OSError, WebSocketException, TimeoutError) as e:
        message = f"could not connect to {provider} at {url}: {e}"
        raise Unreachable(credential.scrub(message)) from None
