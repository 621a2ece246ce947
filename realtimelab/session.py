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
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from realtimelab import events as ev
from realtimelab.audio import RateGuard, StreamResampler
from realtimelab.auth import (
    EphemeralToken,
    QuietText,
    Secret,
    SecretHeaders,
    api_key_from_env,
)
from realtimelab.client_vad import ClientSpeech
from realtimelab.config import SessionConfig
from realtimelab.contract import (
    BaseSession,
    EventStream,
    ItemNotFound,
    OutOfBandRequest,
    Player,
    ReportingPlayer,
    TraceListener,
    check_config,
)
from realtimelab.conversation import Conversation, StopPlayback, Truncate, result_record
from realtimelab.errors import FrameError, RealtimeLabError, SessionClosedError
from realtimelab.g711 import G711Codec
from realtimelab.providers import make_codec
from realtimelab.providers.base import (
    Capabilities,
    Codec,
    CodecExtras,
    ConnectRequest,
    Frame,
    HistoryItem,
    ToolResult,
)
from realtimelab.redact import redact_text
from realtimelab.wire_audio import InputAudio, OutputAudio, output_law, wire_input_format

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "EMULATOR_ENV",
    "ConnectError",
    "FrameError",
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


class RealtimeSession(BaseSession):
    """A live conversation over one connection. Create it with `connect(...)`.

    Verbs (`send_audio`, `send_text`, `send_tool_response(s)`, `commit`, `create_response`,
    `interrupt`, `update`, `close`...) are coroutines that return once the frames are written;
    after the session closed they raise `SessionClosedError`. Events arrive through
    `async for event in session`; iteration ends after `Closed`.

    The conversation's state — history, whether the model is generating or still answering,
    pending tool calls, what the listener has heard — lives in `conversation` (a sans-IO
    `Conversation`, shared with a `ResilientSession` across its connections). Attach a player
    (`attach_player`, or `connect(..., player=...)`) and it receives the assistant's audio as
    it is decoded and is flushed on barge-in; without one, the playout clock assumes each
    chunk plays when it arrives, at real time.
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
        conversation: Conversation | None = None,
        player: Player | None = None,
        local_barge_in: bool | None = None,
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
        # user audio -> the wire's input format; the codec's audio -> the output format
        self._input = InputAudio(wire_input_format(config, codec.capabilities))
        law = output_law(config)
        self._output = OutputAudio(law) if law is not None else None
        self.rate_guard = RateGuard(self._input.rate, clock)
        self._out_resamplers: dict[int, StreamResampler] = {}
        self._conv = conversation or Conversation(
            codec.capabilities,
            interrupt_on_speech=config.vad.interrupt_response,
            answers=config.mode != "transcription",
        )
        self._retrievals: dict[str, list[asyncio.Future[ev.ItemRetrieved]]] = {}
        self._player: Player | None = None
        self._traces: list[TraceListener] = []
        # the client's own VAD: barge-in where the server reports no speech, and end-of-speech
        # marks for the metrics (run only while someone needs it: it costs on the send path)
        if local_barge_in is None:
            local_barge_in = not codec.capabilities.speech_started_events
        self._local_barge_in = local_barge_in and config.vad.interrupt_response
        self._speech = ClientSpeech()
        self._events = EventStream()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._closed = False
        self._ready = asyncio.Event()
        self._started = False  # the provider confirmed the session (SessionStarted)
        # what ended the setup, if it failed: the first error, and the close
        self._setup_error: ev.Error | None = None
        self._setup_closed: ev.Closed | None = None
        self._reader: asyncio.Task[None] | None = None
        self.resumption_handle: str | None = None
        if player is not None:
            self.attach_player(player)

    # ------------------------------------------------------------------ properties

    @property
    def provider(self) -> str:
        return self._codec.provider

    @property
    def capabilities(self) -> Capabilities:
        return self._codec.capabilities

    @property
    def model(self) -> str:
        return self._codec.model

    @property
    def closed(self) -> bool:
        return self._closed or self._closing

    def now(self) -> float:
        """The session's clock (the one event timestamps `t` come from)."""
        return self._clock()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"RealtimeSession(provider={self.provider!r}, model={self.model!r}, "
            f"url={self.url!r}, {state})"
        )

    # ------------------------------------------------------------------ players and traces

    def attach_player(self, player: Player | None, *, report: bool = True) -> None:
        """Play the assistant's audio through `player` from now on (None detaches).

        The player gets every chunk as it is decoded (before `async for` sees it: the
        lowest latency) at the rate of `connect(player_rate=...)` if set, and is flushed on
        barge-in. A player with `on_played` drives the playout clock with what it really
        played; otherwise the clock assumes real-time playback from each chunk's arrival.
        `report=False`: someone else (a `ResilientSession`) already wired its reports.
        """
        self._player = player
        if report and player is not None and isinstance(player, ReportingPlayer):
            self.playout.attach(self._clock())
            player.on_played(self._player_report)

    def _player_report(self, played_ms: float, *_: object) -> None:
        """A player's report, stamped with the session's clock (a player may pass its own
        time as well: the session's clock is the one the playout timeline uses)."""
        self.playout.report(played_ms, self._clock())

    def on_trace(self, listener: TraceListener) -> None:
        """Call `listener(kind, t, fields)` at the session's trace points (the httpcore
        `_trace` idea: timing facts from where they happen, not re-parsed from frames):

        * `user_end` (`how`: text | commit): the user's input ended by a verb;
        * `speech_start` / `speech_end` (`source`: client_vad): where the client's own VAD
          heard the user's speech start and end (back-dated to the audio);
        * `flush` (`item_id`, `heard_ms`, `reason`): playback stopped for a barge-in;
        * `audio_sent` (`ms`): input audio written (only while a listener is attached).
        """
        self._traces.append(listener)

    def _trace(self, kind: str, t: float, **fields: Any) -> None:
        for listener in list(self._traces):
            try:
                listener(kind, t, fields)
            except Exception as e:  # a broken logger must not break the conversation
                self._traces.remove(listener)
                self._report_error(
                    t,
                    "trace_listener_failed",
                    f"trace listener raised {type(e).__name__}; it was removed",
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

    # ------------------------------------------------------------------ sending

    async def _send(self, frames: Sequence[Frame]) -> None:
        """Write frames in order; a verb's frames are never interleaved with another's.

        One frame while nobody holds the lock (every audio chunk) skips it: the frame is
        written before the socket's send can yield, so it cannot split anyone's sequence,
        and the lock's acquire/release was a quarter of the send path's own cost.
        """
        if not frames:
            return
        if self._closed or self._closing:
            raise self._closed_error()
        if len(frames) == 1 and not self._send_lock.locked():
            await self._write(frames[0])
            return
        async with self._send_lock:
            for frame in frames:
                await self._write(frame)

    async def _write(self, frame: Frame) -> None:
        t = self._clock()
        try:
            data = _JSON.encode(frame)
        except ValueError as e:  # NaN/Infinity: not JSON, and a server would choke
            raise FrameError(f"a {self.provider} frame is not valid JSON: {e}") from None
        if len(data) > MAX_FRAME_BYTES:
            raise FrameError(
                f"a {self.provider} frame of {len(data):,} bytes is over the "
                f"{MAX_FRAME_BYTES:,}-byte limit; nothing was sent (send big inputs in parts)"
            )
        self.frames.append(("send", frame, t))
        if self._tap is not None:
            self._record_tap("send", frame, t)
        try:
            await self._ws.send(data)
        except ConnectionClosed as e:
            code, reason = e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else ""
            raise SessionClosedError(
                f"the {self.provider} connection closed (code {code}): {reason}"
            ) from None

    def _report_error(self, t: float, code: str, message: str, *, fatal: bool = False) -> None:
        """A failure on the client's side, straight to the user's events as an `Error`."""
        self._events.put(
            ev.Error(provider=self.provider, t=t, message=message, code=code, fatal=fatal)
        )

    def _record(self, direction: Direction, frame: dict[str, Any], t: float) -> None:
        self.frames.append((direction, frame, t))
        if self._tap is not None:
            self._record_tap(direction, frame, t)

    def _record_tap(self, direction: Direction, frame: dict[str, Any], t: float) -> None:
        if self._tap is not None:
            try:
                self._tap(direction, frame, t)
            except Exception as e:  # a broken logger must not break the conversation
                self._tap = None
                self._report_error(
                    t, "frame_tap_failed", f"frame_tap raised {type(e).__name__}: {e}; tap disabled"
                )

    async def _send_audio(self, data: bytes, rate: int) -> None:
        """With `connect(..., resample=False)` a wrong rate raises `SampleRateError` naming
        both rates instead of resampling: nothing is sent at the wrong speed."""
        if not self._resample:
            self.rate_guard.check(rate, where=f"{self.provider} send_audio")
        audio = self._input
        tail = audio.prepare(rate)  # a new rate: the old stream's tail goes first
        if self._resample and rate != self.rate_guard.expected:
            self.rate_guard.check(
                rate, resampler=audio.resampler, where=f"{self.provider} send_audio"
            )
        out = tail + audio.process(data) if tail else audio.process(data)
        if out:
            self._conv.user_audio()
            frames = self._codec.encode_audio(out)
            if len(frames) == 1 and not self._send_lock.locked() and not self.closed:
                await self._write(frames[0])  # `_send`'s one-frame path, one call shorter
            else:
                await self._send(frames)
            self._listen(out)
            if self._conv.has_effects:  # a local barge-in stops the player now, not at the
                await self._apply_effects()  # next server frame (which may never come)

    async def _send_g711(self, data: bytes, law: G711Codec) -> None:
        await self.send_wire_audio(self._input.g711(data, law))

    async def send_wire_audio(self, data: bytes) -> None:
        """Audio already in the wire's input format (`wire_audio.wire_input_format`): what
        `send_audio` and `send_g711` produce, and what a `ResilientSession` (which converts
        once, across connections) hands each connection."""
        if not data:
            return
        self._conv.user_audio()
        await self._send(self._codec.encode_audio(data))
        self._listen(data)
        if self._conv.has_effects:
            await self._apply_effects()

    def _listen(self, wire: bytes) -> None:
        """The client's own VAD on what was just sent (see `client_vad`), run only while it
        can matter: a listener wants speech marks, or audio is audible for a local barge-in."""
        speech = self._speech
        if not (self._traces or self._local_barge_in or speech.sent_ms):
            return  # nothing can need it (the usual OpenAI case): not even the clock is read
        t = self._clock()
        barge = self._local_barge_in and self.playout.audible(t)
        if not (self._traces or barge or self._speech.in_speech):
            if self._speech.sent_ms:
                self._speech.reset()
            return
        pcm, rate = self._input.as_pcm(wire), self._input.rate
        if self._traces:
            self._trace("audio_sent", t, ms=len(pcm) / 2 / rate * 1000.0)
        for mark in self._speech.feed(pcm, rate, t):
            self._trace(f"speech_{mark.kind}", mark.t, source="client_vad")
            if mark.kind == "start" and barge:
                self._emit(self._conv.barge_in(t, "client_vad"))

    async def _send_text(self, text: str) -> None:
        frames = self._codec.encode_text(text)
        self._conv.user_text(text)
        self._trace("user_end", self._clock(), how="text")
        self._check_open()
        await self._send(frames)

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None:
        """Return several outcomes at once: OpenAI gets one output item each and a single
        `response.create`; Gemini one `toolResponse` holding them all.

        Contract (resilience relies on it): every result is recorded in `history` as a
        `ToolResultRecord` *before* any frame is written, so a result sent into a dying socket
        is restored from the history by a reconnect rather than lost (a lost result hangs the
        model's turn forever).
        """
        batch = self._conv.tool_results(results)
        self._emit(self._conv.take_events())
        self._check_open()
        await self._send(self._codec.encode_tool_responses(batch))

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None:
        """The real results of calls already answered by a placeholder, with ONE reply request
        (two requests in a row would overlap: OpenAI `conversation_already_has_active_response`).

        Not tool responses: the server considers the calls answered. OpenAI gets another
        `function_call_output` item per call and one `response.create`; Gemini one
        `clientContent` user turn of `functionResponse` parts with `turnComplete: true`. While
        a reply is in progress the codec holds the frames until it ends (a reply request
        mid-reply is refused on OpenAI and cuts the reply on Gemini). Recorded in `history`
        before anything is sent, after the reply in progress, where the server puts them too.
        """
        batch = self._conv.tool_results(results, late=True)
        self._check_open()
        await self._send(self._codec.encode_late_tool_results(batch))

    async def commit(self) -> None:
        """End the user's audio turn by hand (push-to-talk): flushes the input resampler, then
        OpenAI `input_audio_buffer.commit` / Gemini `activityEnd` (or `audioStreamEnd`)."""
        self._check_open()
        caps = self.capabilities
        if not (caps.manual_commit or caps.manual_activity):
            raise NotImplementedError(
                f"{self.provider} has no way for the client to end a turn (neither "
                "capabilities.manual_commit nor manual_activity)"
            )
        tail = self._input.flush()
        if tail:
            await self._send(self._codec.encode_audio(tail))
        self._trace("user_end", self._clock(), how="commit")
        await self._send(self._codec.encode_commit())

    async def _create_response(self) -> None:
        self._check_open()
        self._conv.request_reply()
        await self._send(self._codec.encode_create_response())

    def _extras(self) -> CodecExtras:
        """The codec's optional verbs (call only after `_require` checked the flag)."""
        return cast(CodecExtras, self._codec)

    async def _send_image(self, data: bytes, mime: str) -> None:
        frames = self._extras().encode_image(data, mime)
        self._conv.user_image(mime, len(data))
        self._check_open()
        await self._send(frames)

    async def _create_out_of_band_response(self, request: OutOfBandRequest) -> None:
        frames = self._extras().encode_out_of_band_response(
            instructions=request.instructions,
            input=request.input,
            metadata=request.metadata,
            output=request.output,
        )
        self._check_open()
        await self._send(frames)

    async def _clear_input_audio(self) -> None:
        self._input.clear()
        await self._send(self._extras().encode_clear_input())

    async def _delete_item(self, item_id: str) -> None:
        """History follows on `ItemDeleted`, when the server confirms."""
        self._check_open()
        await self._send(self._extras().encode_delete_item(item_id))

    async def _retrieve_item(self, item_id: str, timeout: float) -> ev.ItemRetrieved:
        self._check_open()
        future: asyncio.Future[ev.ItemRetrieved] = asyncio.get_running_loop().create_future()
        waiting = self._retrievals.setdefault(item_id, [])
        waiting.append(future)
        try:
            await self._send(self._extras().encode_retrieve_item(item_id))
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._retrievals.pop(item_id, None)

    def _answer_retrievals(self, event: ev.ItemRetrieved | ev.Error) -> None:
        """Resolve `retrieve_item` calls waiting on the item an event answers."""
        item_id = event.item_id
        if item_id is None:
            return
        for future in self._retrievals.pop(item_id, []):
            if future.done():
                continue
            if isinstance(event, ev.ItemRetrieved):
                future.set_result(event)
            else:
                future.set_exception(ItemNotFound(event.message, item_id))

    def _fail_retrievals(self) -> None:
        for item_id, futures in list(self._retrievals.items()):
            for future in futures:
                if not future.done():
                    future.set_exception(
                        ItemNotFound(
                            f"the connection ended before {self.provider} returned {item_id!r}",
                            item_id,
                        )
                    )
        self._retrievals.clear()

    async def interrupt(self, heard_ms: float | None = None) -> None:
        """Stop the assistant now, as a barge-in would (e.g. a "stop" button).

        Playback stops (the attached player is flushed) and, where the provider needs it
        (`capabilities.truncation`), the reply being generated is cancelled and the item being
        heard is truncated at what the listener heard: `heard_ms` if you measured it yourself,
        else the playout clock's position. `Interrupted` is emitted as for any barge-in; when
        nothing is audible any more, only a reply still being generated is cancelled.
        """
        self._check_open()
        events = self._conv.barge_in(self._clock(), "client", heard_ms=heard_ms)
        self._emit(events)
        if not events and self._conv.generating and self.capabilities.client_cancel:
            # nothing audible to cut, but the model is still generating: stop it
            await self._send(self._codec.encode_cancel())
        await self._apply_effects()

    async def _update(self, config: SessionConfig) -> None:
        """Needs capabilities.session_update: Gemini raises NotImplementedError, it needs a new
        connection (`ResilientSession.update` does that)."""
        frames = self._codec.update_frames(config)
        await self._send(frames)
        self.config = config
        self._conv.interrupt_on_speech = config.vad.interrupt_response
        wire = wire_input_format(config, self.capabilities)
        if wire != self._input.wire:  # a new input format: a new stream (its tail was sent)
            self._input = InputAudio(wire)
            self.rate_guard = RateGuard(self._input.rate, self._clock)
        law = output_law(config)
        if law != (self._output.law if self._output is not None else None):
            self._output = OutputAudio(law) if law is not None else None

    async def send_history(self, items: Sequence[HistoryItem]) -> None:
        """Replay conversation records (e.g. after a reconnect) without triggering a reply."""
        frames = self._codec.encode_history(items)
        self._conv.replayed(items)
        self._check_open()
        await self._send(frames)

    async def replay(self, items: Sequence[HistoryItem]) -> None:
        """Send records that are already in `conversation` (a restore after a reconnect), as
        context, without recording them again and without asking for a reply."""
        self._check_open()
        await self._send(self._codec.encode_history(items))

    async def send_foreign_results(self, results: Iterable[ToolResult]) -> None:
        """Results for calls that an *earlier* connection issued (a `ResilientSession` after a
        switch): this server never issued them, so they cannot be tool responses. They go in
        as history items, then a reply is requested if the model owes one."""
        batch = self._conv.tool_results(results)
        self._emit(self._conv.take_events())
        records = [result_record(r) for r in batch]
        frames = self._codec.encode_history(records)
        if self._conv.owes() == "reply":
            self._conv.request_reply()
            frames += self._codec.encode_create_response()
        self._check_open()
        await self._send(frames)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        # the codec, conversation and clock are fixed for the connection: looked up once
        clock, codec, conv, dispatch = self._clock, self._codec, self._conv, self._dispatch
        audio = ev.AudioChunk
        try:
            async for message in self._ws:
                t = clock()
                frame = _parsed(message)
                self._record("recv", frame if frame is not None else _unparsed(message), t)
                # parsed once: the codec takes the dict, or the raw text to report it malformed
                for event in codec.decode(message if frame is None else frame, t):
                    if type(event) is audio and self._started and self._output is None:
                        if conv.observe_audio(event):  # the hot path: most frames
                            self._emit_audio(event)
                    else:
                        dispatch(event)
                if conv.has_effects:
                    await self._apply_effects()
                outgoing = codec.take_outgoing()
                if outgoing and not self._closing:
                    with contextlib.suppress(SessionClosedError):  # Closed follows
                        await self._send(outgoing)
        except ConnectionClosed:
            pass
        except Exception as e:  # a bug must surface as an event, never kill the loop silently
            # straight to the queue: the part that failed may be the one that would route it
            self._report_error(
                self._clock(), "client_error", f"reader failed: {type(e).__name__}: {e}", fatal=True
            )
            # the conversation cannot go on without its reader: the socket must not outlive it
            with contextlib.suppress(Exception):
                await self._ws.close(1011, "client reader failed")
        finally:
            code, reason = self._ws.close_code, self._ws.close_reason or ""
            t = self._clock()
            for event in self._codec.decode_close(code, reason, t, self._closing):
                try:
                    if isinstance(event, ev.Closed) and not self._closing:
                        self._emit(self._conv.connection_lost(t))
                    self._dispatch(event)
                except Exception:  # the end of the stream must always be delivered
                    self._events.put(event)
            self._closed = True
            self._ready.set()
            self._fail_retrievals()
            self._events.close()

    def _dispatch(self, event: ev.Event) -> None:
        if type(event) is ev.AudioChunk and self._started:  # the hot path: most frames
            if self._output is not None:  # telephone output: 8 kHz with its G.711 bytes
                chunk = self._output.chunk(event)
                if chunk is None:
                    return
                event = chunk
            if self._conv.observe_audio(event):
                self._emit_audio(event)
            return
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
        if isinstance(event, ev.ResumptionUpdate) and event.handle:
            self.resumption_handle = event.handle
        elif isinstance(event, ev.ItemRetrieved | ev.Error) and self._retrievals:
            self._answer_retrievals(event)
        elif isinstance(event, ev.GenerationComplete | ev.TurnComplete) and self._output:
            for tail in self._output.flush(event.t):  # the reply's last few ms, before its end
                self._emit(self._conv.observe(tail))
        self._emit(self._conv.observe(event))

    def _emit(self, events: Iterable[ev.Event]) -> None:
        """Queue events for the user; audio also goes to the player, at the player's rate."""
        for event in events:
            if isinstance(event, ev.AudioChunk):
                self._emit_audio(event)
                continue
            if isinstance(event, ev.Interrupted):
                self._trace(
                    "flush",
                    event.t,
                    item_id=event.item_id,
                    heard_ms=event.heard_ms,
                    reason=event.reason,
                )
            elif isinstance(event, ev.TurnComplete) and self._player_rate:
                for tail in self._flush_resamplers(event):
                    self._emit([tail])
            self._events.put(event)

    def _emit_audio(self, event: ev.AudioChunk) -> None:
        """An audio chunk to the user, and to the player at the player's rate."""
        if self._player_rate:
            event = self._to_player_rate(event)
            if not event.pcm:
                return
        if self._player is not None:
            self._play(event)
        self._events.put(event)

    def _play(self, chunk: ev.AudioChunk) -> None:
        assert self._player is not None
        try:
            self._player.play(chunk.pcm, chunk.rate, item_id=chunk.item_id)
        except Exception as e:  # a broken player must not break the conversation
            self._player = None
            self._report_error(
                chunk.t,
                "player_failed",
                f"player failed ({type(e).__name__}: {e}); it was detached",
            )

    async def _apply_effects(self) -> None:
        """Carry out what the conversation core decided: stop the player, and tell the server
        what was heard (OpenAI: `response.cancel` if still generating, then truncate)."""
        for effect in self._conv.take_effects():
            if isinstance(effect, StopPlayback):
                for resampler in self._out_resamplers.values():
                    resampler.flush()  # the tail was never heard
                if self._output is not None:
                    self._output.reset()
                if self._player is not None:
                    with contextlib.suppress(Exception):
                        self._player.flush()
            elif isinstance(effect, Truncate) and not self._closing:
                frames = self._codec.encode_interrupt(effect.item_id, effect.heard_ms)
                with contextlib.suppress(SessionClosedError):
                    await self._send(frames)

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

    def _flush_resamplers(self, done: ev.TurnComplete) -> list[ev.AudioChunk]:
        out: list[ev.AudioChunk] = []
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


#: one encoder for every frame: `json.dumps` with a non-default argument builds a new
#: `JSONEncoder` per call, which cost more than encoding a 20 ms audio frame
_JSON = json.JSONEncoder(allow_nan=False)


def _parsed(message: str | bytes) -> dict[str, Any] | None:
    """The frame as a JSON object, or None when it is not one."""
    try:
        frame = json.loads(message)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    player: Player | None = None,
    conversation: Conversation | None = None,
    local_barge_in: bool | None = None,
) -> AsyncIterator[RealtimeSession]:
    """Open a session; yields a `RealtimeSession` once the provider confirmed it.

    `url` is a base URL (`ws://127.0.0.1:PORT`) replacing the provider's host. `token` is an
    ephemeral token (`realtimelab.auth`). `player_rate` resamples output audio for your player.
    `resample=False` makes `send_audio` refuse audio at the wrong rate instead of converting.
    `resume` is a Gemini resumption handle. `player` plays the assistant's audio as it
    arrives and drives the playout clock (see `RealtimeSession.attach_player`); `conversation`
    continues an existing `Conversation` (a `ResilientSession` passes its own);
    `local_barge_in` runs the client's VAD on sent audio to stop playback when the user talks
    over it (default: only where the provider reports no speech events). `query` adds URL
    parameters, e.g. the emulator's per-session faults `{"rtl_fault": "drop_after_frames:40"}`;
    it can never replace a credential or the codec's own parameters (ValueError). See the
    module docstring for where it connects.

    Failures raise a `ConnectError` (a `ConnectionError`) saying whether a retry can help:
    `Unreachable` (no socket), `HandshakeRefused` (HTTP status at the upgrade),
    `SessionRefused` (closed or fatal error before the session was confirmed), `SetupTimeout`.
    """
    config = config or SessionConfig()
    codec = make_codec(provider, model or config.model)
    check_config(config, codec.capabilities)  # a setting the provider lacks: before any socket
    # Keys from the environment never go to a loopback URL (the emulator needs none).
    use_env = url is None or not _is_loopback(url)
    credential, is_token = _credential(codec.provider, api_key, token, use_env=use_env)
    # from here on only the Secret holds the credential: tracebacks with locals show this
    # frame, and a `str` parameter would show the key in clear
    del api_key, token
    async with contextlib.AsyncExitStack() as stack:
        if url is None and credential is None:
            url = os.environ.get(EMULATOR_ENV) or await _start_emulator(stack)
        if credential is None:
            credential = Secret(EMULATOR_KEY)  # a local/emulator URL without a key
        request = _request(
            codec, credential, is_token, url, query, transcription=config.mode == "transcription"
        )
        url = redact_text(url) if url else url  # a key in the caller's `?key=` stays out of here
        ws = await _open_socket(
            codec.provider,
            QuietText(request.url),
            SecretHeaders(request.headers),
            request.subprotocols,
            credential,
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
            player=player,
            conversation=conversation,
            local_barge_in=local_barge_in,
        )
        session._start()
        stack.push_async_callback(session.close)
        with contextlib.suppress(SessionClosedError):  # the reason is reported just below
            await session._send(codec.initial_frames(config, resume=resume))
        await session._wait_ready(ready_timeout, scrub=credential.scrub)
        yield session


def _request(
    codec: Codec,
    credential: Secret,
    is_token: bool,
    url: str | None,
    query: Mapping[str, str] | None,
    *,
    transcription: bool = False,
) -> ConnectRequest:
    """The codec's connect request. A refusal (a bad `query`) is re-raised as a fresh
    `ValueError` outside the handler: the codec's frame, whose locals hold the credential,
    must not travel with it. `transcription` is passed only when asked for (only codecs with
    `capabilities.transcription_sessions` take it, see `Codec.connect_request`)."""
    problem: ValueError | None = None
    options: dict[str, Any] = {"transcription": True} if transcription else {}
    try:
        return codec.connect_request(
            api_key=None if is_token else credential.reveal(),
            token=credential.reveal() if is_token else None,
            base_url=url,
            query=query,
            **options,
        )
    except ValueError as e:
        problem = ValueError(_clean(credential, str(e)))
    raise problem


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
    headers: SecretHeaders,
    subprotocols: Sequence[str],
    credential: Secret,
) -> ClientConnection:
    """Open the WebSocket. The headers travel as `SecretHeaders` (a traceback with locals
    shows them redacted); websockets logs through a logger that scrubs the credential (at
    DEBUG it prints every request header); errors are raised *outside* the `except` blocks,
    so they carry no `__context__` whose frames hold the headers."""
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.typing import Subprotocol

    error: ConnectError
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
            logger=_ScrubbingLogger(credential),
        )
    except InvalidStatus as e:
        status = e.response.status_code
        body = _clean(credential, e.response.body.decode("utf-8", "replace")[:300]).strip()
        error = HandshakeRefused(
            _clean(credential, f"{provider} refused the connection to {url}: HTTP {status} {body}"),
            status=status,
            body_summary=body,
        )
    except (OSError, WebSocketException, TimeoutError) as e:
        error = Unreachable(_clean(credential, f"could not connect to {provider} at {url}: {e}"))
    raise error


def _clean(credential: Secret, text: str) -> str:
    """`text` without the credential, nor any other key or token shape (a URL can carry one
    in its query: `?key=...`)."""
    return redact_text(credential.scrub(text))


class _ScrubbingLogger(logging.LoggerAdapter):
    """websockets' client logger, with the credential scrubbed from every record: at DEBUG,
    websockets prints each request header, `Authorization` included."""

    def __init__(self, credential: Secret) -> None:
        super().__init__(logging.getLogger("websockets.client"), {})
        self._credential = credential

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(map(str, (msg, *args)))
        kwargs.pop("exc_info", None)  # a traceback could hold the headers: never logged
        self.logger.log(level, _clean(self._credential, text), **kwargs)
