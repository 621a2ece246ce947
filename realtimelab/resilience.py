"""Sessions that survive: reconnect after drops, rotate before limits, persist the conversation.

Realtime sockets die in ordinary ways: a network blip (close 1006, no close frame), a server
hiccup (1011), OpenAI's 60-minute cap (`session_expired`, no resume) and Gemini's ~10-minute
connections (`goAway`, then close; resumable with a handle). `ResilientSession` wraps
`RealtimeSession` with the same verbs and the same `async for event in session`, and keeps the
conversation going across all of them:

* **One conversation across connections**: a single `Conversation` (history, the answer in
  progress, pending tool calls, the playout clock) is handed to every connection, so audio
  received before a switch keeps playing and a barge-in after it still truncates correctly.
* **Reconnect** on an abnormal close: back off (`ReconnectPolicy`, seeded jitter, injectable
  `sleep`/`clock`), reopen, restore, and report `Reconnected(state_restored, gap_ms, attempts)`.
  Restore means *resume* when the codec's `Capabilities.resumption` is set and the latest
  `ResumptionUpdate` was resumable (the server keeps the conversation; only what the client
  sent after that handle is re-sent), otherwise *replay* the client-owned history as items.
  If the model owed a reply (the last item is the user's or a tool result) it is asked again.
* **Fatal closes are not retried**: a refused handshake (HTTP 401/403), 1007 (invalid argument
  or context exhausted), 1008, OpenAI 4000 `beta_api_shape_disabled`, `invalid_api_key` ...
  surface as `Error(fatal=True)` and end the iteration. `session_expired` is not fatal here: it
  means "rotate now". The verdicts come from the codecs (`Error.fatal`, after the close table
  in `providers/base.py`) and from `connect()`'s `ConnectError.retryable`; nothing here reads
  close codes or error messages to decide.
* **Rotate proactively**: on a timer `rotate_before_s` before `Capabilities.max_connection_s`
  when the provider gives no warning (OpenAI), or on `SessionExpiring` (Gemini `goAway`).
  Where the conversation lives on the server (`Capabilities.resumption`: Gemini) the rotation
  is *break-before-make*: Gemini refuses to resume a session whose connection is still open,
  so at an idle point with a fresh handle the old socket is closed, then the session resumes
  on a new one. Elsewhere (OpenAI) it is *make-before-break*: the new socket opens while the
  old one finishes the current reply, and the switch happens under the send lock. Either way
  every input frame goes to exactly one socket, in order, and the gap is measured
  (`Reconnected.gap_ms`, `stats.rotation_gaps_ms`).
* **Input audio during a gap** is buffered (bounded by `buffer_ms`) and flushed to the new
  socket; what does not fit is dropped oldest-first and reported with `InputDropped`.
* **Persistence**: with `store=ConversationStore(path)` the history is saved after every
  `TurnComplete`; opening with an existing `conversation_id` (even in a new process) replays it.

State machine (`ResilientSession.state`)::

    IDLE --open--> OPEN --timer/goAway--> ROTATING --switched--> OPEN
                    |  \\                     |
                    |   `--abnormal close--> RECONNECTING --restored--> OPEN
                    `--fatal / close / gave up ------------------------> CLOSED

Nothing here branches on a provider name: only on `Capabilities` (`resumption`, `go_away`,
`max_connection_s`, `speech_started_events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from realtimelab import events as ev
from realtimelab.auth import api_key_from_env
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
from realtimelab.conversation import Conversation, StopPlayback, owes
from realtimelab.errors import SessionClosedError
from realtimelab.g711 import G711Codec
from realtimelab.providers import base, make_codec
from realtimelab.providers.base import AssistantText, Capabilities, HistoryItem, ToolResult
from realtimelab.session import (
    EMULATOR_ENV,
    ConnectError,
    FrameTap,
    RealtimeSession,
    SessionRefused,
    connect,
)
from realtimelab.wire_audio import InputAudio, wire_input_format

if TYPE_CHECKING:
    from realtimelab.store import ConversationStore

__all__ = [
    "FATAL_CLOSE_CODES",
    "RETRYABLE_CLOSE_CODES",
    "ROTATE_ERROR_CODES",
    "AudioBuffer",
    "Connector",
    "ConversationState",
    "EndKind",
    "ReconnectPolicy",
    "ResilienceStats",
    "ResilientSession",
    "RotationPolicy",
    "State",
    "classify_close",
    "classify_connect_error",
    "conversation_state",
]

log = logging.getLogger("realtimelab.resilience")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Connector = Callable[[str | None, Conversation], AbstractAsyncContextManager[RealtimeSession]]
"""`connector(resume_handle, conversation)` opens one connection (an async context manager
yielding a ready `RealtimeSession` that continues `conversation`: pass it to
`connect(..., conversation=conversation)`). The default calls `realtimelab.session.connect`;
tests inject their own."""

# ---------------------------------------------------------------------------------------------
# policies
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconnectPolicy:
    """How hard to try after an abnormal close.

    `delays()` gives the wait before each of `max_attempts` attempts: exponential from
    `base_delay_s` by `multiplier`, capped at `max_delay_s`, each scaled by a random factor in
    `[1 - jitter, 1 + jitter]` drawn from `random.Random(seed)`, so a fleet of clients does not
    reconnect in lockstep while a test still sees the same numbers every run. The first wait is
    `first_delay_s` (0 by default: most drops are transient, the first retry should be quick).
    `max_reconnects` bounds unplanned recoveries over the session's life, so a server that
    accepts and then drops every connection cannot keep a client looping forever.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    seed: int | None = 0
    max_reconnects: int = 50
    first_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.first_delay_s < 0:
            raise ValueError("delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")
        if self.max_reconnects < 0:
            raise ValueError("max_reconnects must be >= 0")

    def delays(self) -> tuple[float, ...]:
        """Seconds to wait before attempt 1, 2, ... `max_attempts` (deterministic per seed)."""
        rng = random.Random(self.seed)
        out = [self.first_delay_s]
        for i in range(self.max_attempts - 1):
            base = min(self.max_delay_s, self.base_delay_s * self.multiplier**i)
            factor = 1.0 + rng.uniform(-self.jitter, self.jitter) if self.jitter else 1.0
            out.append(min(self.max_delay_s, base * factor))
        return tuple(out)


@dataclass(frozen=True)
class RotationPolicy:
    """When and how to replace a connection before the provider ends it.

    `rotate_before_s`: for providers without a warning (`Capabilities.go_away` False), rotate
    this long before `max_connection_s` (which defaults to `Capabilities.max_connection_s`;
    set it to match a compressed emulator). Providers with a warning rotate on
    `SessionExpiring`. Of the time left, up to `finish_fraction` is spent waiting for the
    current reply (and tool calls, and the user's utterance) to finish; after that the switch
    happens anyway and the unfinished reply is asked for again on the new socket.
    """

    enabled: bool = True
    rotate_before_s: float = 300.0
    max_connection_s: float | None = None
    finish_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.rotate_before_s < 0:
            raise ValueError("rotate_before_s must be >= 0")
        if not 0 < self.finish_fraction <= 1:
            raise ValueError("finish_fraction must be within (0, 1]")


# ---------------------------------------------------------------------------------------------
# classification (pure)
# ---------------------------------------------------------------------------------------------

#: Closes worth reopening. The table lives with the codecs (`providers/base.py`), which report
#: it as `Error.fatal`; this set adds 1000, which for a *resilient* session is also worth a
#: reopen when the server (not the user) closed: the socket ended, the conversation did not.
RETRYABLE_CLOSE_CODES = base.RETRYABLE_CLOSE_CODES | {1000}
#: Closes that reopening cannot fix (plus the application range 3000-4999), from the codecs.
FATAL_CLOSE_CODES = base.FATAL_CLOSE_CODES
#: Error codes meaning "this connection is over, the conversation is not": rotate.
ROTATE_ERROR_CODES = frozenset({"session_expired"})


class EndKind(enum.Enum):
    """Why a connection's event stream ended, and so what happens next."""

    CLOSED = "closed"  # the user closed the session
    SWITCHED = "switched"  # a rotation moved to a new connection
    RETRY = "retry"  # abnormal close: reconnect and restore
    EXPIRED = "expired"  # the provider's limit: reconnect and restore (a late rotation)
    ROTATED = "rotated"  # closed on purpose to resume elsewhere (break-before-make rotation)
    FATAL = "fatal"  # do not retry


def classify_close(code: int | None) -> Literal["retry", "fatal"]:
    """A close code's verdict, as the codecs report it (`base.close_error_is_fatal`). The
    session itself does not call this: it reads `Error.fatal`. Kept for notebooks and logs."""
    return "fatal" if base.close_error_is_fatal(code) else "retry"


def classify_connect_error(exc: BaseException) -> tuple[Literal["retry", "fatal"], str]:
    """Classify a failure to open a connection: `(verdict, label)`.

    `connect()` raises a `ConnectError` whose `retryable` and `label` say it all (HTTP status
    at the upgrade, close or error code during setup, network failure, setup timeout). A
    bare `ConnectionError`/`OSError` (e.g. from a custom connector) counts as a network
    failure; a config error (`ValueError`...) would fail again the same way.
    """
    if isinstance(exc, ConnectError):
        return ("retry" if exc.retryable else "fatal"), exc.label
    if isinstance(exc, ValueError | TypeError | NotImplementedError):
        return "fatal", "invalid_config"
    return "retry", "connect_failed"


ConversationState = Literal["idle", "awaiting_reply", "awaiting_tool"]
_OWES: dict[str, ConversationState] = {
    "idle": "idle",
    "reply": "awaiting_reply",
    "tool_results": "awaiting_tool",
}


def conversation_state(history: Sequence[HistoryItem]) -> ConversationState:
    """Who owes the next move, judged from the client-owned history alone (see
    `realtimelab.conversation.owes`): "awaiting_reply" when the last item is the user's or a
    tool result (a restore asks for that reply again), "awaiting_tool" when a call has no
    result yet, "idle" otherwise."""
    return _OWES[owes(history)]


# ---------------------------------------------------------------------------------------------
# the gap buffer
# ---------------------------------------------------------------------------------------------


class AudioBuffer:
    """Input audio held while no socket is live, in the wire's format, bounded by duration.

    Mono at `rate` with `sample_width` bytes a sample: 2 for PCM16, 1 for G.711 (a telephone
    session on a provider that speaks it buffers the phone line's bytes as they are). Over the
    bound the *oldest* audio goes first (after a long outage the newest speech is what the
    model should hear) and the amount is counted in `dropped_ms`, which the session reports
    as `InputDropped`: audio is never lost silently.
    """

    def __init__(self, rate: int, max_ms: float, sample_width: int = 2) -> None:
        if max_ms < 0:
            raise ValueError("max_ms must be >= 0")
        if sample_width not in (1, 2):
            raise ValueError("sample_width must be 1 (G.711) or 2 (PCM16)")
        self.rate = rate
        self.sample_width = sample_width
        self.max_bytes = int(max_ms * rate / 1000) * sample_width
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self.dropped_bytes = 0

    def __len__(self) -> int:
        return self._size

    def ms(self, nbytes: int) -> float:
        """How long `nbytes` of this buffer's audio play."""
        return nbytes / self.sample_width / self.rate * 1000

    @property
    def buffered_ms(self) -> float:
        return self.ms(self._size)

    @property
    def dropped_ms(self) -> float:
        return self.ms(self.dropped_bytes)

    def push(self, pcm: bytes) -> None:
        if not pcm:
            return
        self._chunks.append(pcm)
        self._size += len(pcm)
        while self._size > self.max_bytes:
            excess = self._size - self.max_bytes
            head = self._chunks[0]
            if len(head) <= excess:
                self._chunks.popleft()
                cut = len(head)
            else:
                cut = excess + (-excess % self.sample_width)  # whole samples only
                self._chunks[0] = head[cut:]
            self._size -= cut
            self.dropped_bytes += cut

    def take(self) -> tuple[list[bytes], float]:
        """Everything buffered, in order, and the ms dropped since the last `take`."""
        chunks, dropped = list(self._chunks), self.dropped_ms
        self._chunks.clear()
        self._size = 0
        self.dropped_bytes = 0
        return chunks, dropped


# ---------------------------------------------------------------------------------------------
# the session
# ---------------------------------------------------------------------------------------------


class State(enum.Enum):
    """Where a `ResilientSession` is (see the module docstring's diagram)."""

    IDLE = "idle"
    OPEN = "open"
    ROTATING = "rotating"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.OPEN, State.CLOSED}),
    State.OPEN: frozenset({State.ROTATING, State.RECONNECTING, State.CLOSED}),
    State.ROTATING: frozenset({State.OPEN, State.RECONNECTING, State.CLOSED}),
    State.RECONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.CLOSED: frozenset(),
}


@dataclass(frozen=True)
class ResilienceStats:
    """What recovery cost so far (for notebooks and tests). `gaps_ms` holds every switch:
    rotations and reconnects, in order; `rotation_gaps_ms` the planned ones only."""

    connections: int
    reconnects: int
    rotations: int
    gaps_ms: tuple[float, ...]
    input_dropped_ms: float
    rotation_gaps_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class _Handle:
    """A resumption handle and how many history items the server had when it was minted."""

    value: str
    covers: int


@dataclass(frozen=True)
class _Switch:
    """What a finished make-before-break rotation reports through the old connection's pump."""

    state_restored: str
    gap_ms: float
    cut_reply: bool


@dataclass(frozen=True)
class _End:
    kind: EndKind
    error: ev.Error | None = None
    code: int | None = None
    reason: str = ""


class _ConnectFailed(Exception):
    def __init__(
        self,
        verdict: Literal["retry", "fatal"],
        code: str,
        message: str,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.verdict = verdict
        self.code = code
        self.original = original


@dataclass(eq=False)
class _Conn:
    """One live connection and the per-connection facts the supervisor tracks."""

    session: RealtimeSession
    stack: AsyncExitStack
    number: int
    opened_at: float
    server_has: int  # history items the server held at setup (resumed prefix, else 0)
    resumed: bool
    call_ids: set[str] = field(default_factory=set)
    rotation: asyncio.Task[None] | None = None
    timer: asyncio.Task[None] | None = None
    switched: _Switch | None = None
    planned_close: bool = False  # closed by a break-before-make rotation, not by a fault
    cut_reply: bool = False
    closer: asyncio.Task[None] | None = None


class ResilientSession(BaseSession):
    """A session that reconnects, rotates and persists. Same verbs, same iteration as
    `RealtimeSession` (both implement `realtimelab.contract.BaseSession`).

        async with ResilientSession("gemini", config, url=emu.url) as session:
            await session.send_text("hello")
            async for event in session:
                ...  # plus SessionExpiring / Reconnected / InputDropped as they happen

    One `Conversation` spans every connection: history, the answer in progress, pending tool
    calls and the playout clock survive a switch (audio received before a rotation keeps
    playing after it). Verbs never raise because a socket dropped: while reconnecting, audio
    is buffered and other verbs wait for the new connection (text and tool results sent into
    a dying socket are already in the history and are restored from it). They raise
    `SessionClosedError` once the session has ended.
    """

    def __init__(
        self,
        provider: ev.Provider | str,
        config: SessionConfig | None = None,
        *,
        url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        policy: ReconnectPolicy | None = None,
        rotation: RotationPolicy | None = None,
        buffer_ms: float = 5000.0,
        store: ConversationStore | None = None,
        conversation_id: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        connector: Connector | None = None,
        frame_tap: FrameTap | None = None,
        player: Player | None = None,
        **connect_kwargs: Any,
    ) -> None:
        self.config = config or SessionConfig()
        self._probe = make_codec(provider, model or self.config.model)
        self._provider: str = self._probe.provider
        self.policy = policy or ReconnectPolicy()
        self.rotation = rotation or RotationPolicy()
        self.store = store
        self.conversation_id = conversation_id or (uuid.uuid4().hex if store else None)
        self._url = url
        self._api_key = api_key
        self._model = model
        self._clock = clock
        self._sleep = sleep
        self._connector = connector
        self._frame_tap = frame_tap
        self._connect_kwargs = connect_kwargs
        caps = self._probe.capabilities
        check_config(self.config, caps)  # a setting the provider lacks fails here, not later
        self._conv = Conversation(
            caps,
            interrupt_on_speech=self.config.vad.interrupt_response,
            answers=self.config.mode != "transcription",
        )
        self._player: Player | None = None
        self._traces: list[TraceListener] = []
        # user audio is converted to the wire's format once, here, across connections
        self._input = InputAudio(wire_input_format(self.config, caps))
        self._buffer_ms = buffer_ms
        self._buffer = AudioBuffer(
            self._input.rate, buffer_ms, sample_width=self._input.wire.sample_width
        )
        self._state = State.IDLE
        self._conn: _Conn | None = None
        self._handle: _Handle | None = None
        self._idle_len = 0
        self._events = EventStream()
        self._send_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._emulator_stack = AsyncExitStack()
        self._connections = 0
        self._reconnects = 0
        self._rotations = 0
        self._gaps: list[float] = []
        self._rotation_gaps: list[float] = []
        self._dropped_ms = 0.0
        self._lost_at: float | None = None
        if player is not None:
            self.attach_player(player)

    # ------------------------------------------------------------------ properties

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def state(self) -> State:
        return self._state

    @property
    def capabilities(self) -> Capabilities:
        return self._probe.capabilities

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED or self._closing

    def now(self) -> float:
        return self._clock()

    @property
    def session(self) -> RealtimeSession | None:
        """The live connection (None while reconnecting)."""
        return self._conn.session if self._conn is not None else None

    @property
    def stats(self) -> ResilienceStats:
        return ResilienceStats(
            self._connections,
            self._reconnects,
            self._rotations,
            tuple(self._gaps),
            self._dropped_ms,
            tuple(self._rotation_gaps),
        )

    def __repr__(self) -> str:
        return (
            f"ResilientSession(provider={self.provider!r}, state={self._state.value}, "
            f"connections={self._connections})"
        )

    def _set_state(self, new: State) -> None:
        if new is self._state:
            return
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"illegal transition {self._state.value} -> {new.value}")
        log.debug("%s: %s -> %s", self.provider, self._state.value, new.value)
        self._state = new
        self._changed.set()

    # ------------------------------------------------------------------ players and traces

    def attach_player(self, player: Player | None) -> None:
        """Play the assistant's audio through `player`, on every connection (see
        `RealtimeSession.attach_player`); the playout clock spans connections."""
        self._player = player
        if player is not None and isinstance(player, ReportingPlayer):
            self.playout.attach(self._clock())
            player.on_played(lambda ms, *_: self.playout.report(ms, self._clock()))
        if self._conn is not None:
            self._conn.session.attach_player(player, report=False)

    def on_trace(self, listener: TraceListener) -> None:
        """Trace points of every connection (see `RealtimeSession.on_trace`)."""
        self._traces.append(listener)
        if self._conn is not None:
            self._conn.session.on_trace(listener)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ResilientSession:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the first connection (raising at once if that fails, the `ConnectError` from
        `connect()` when there is one: a first failure is usually configuration, not weather)
        and replay a stored conversation."""
        if self._state is not State.IDLE:
            raise RuntimeError("open() twice")
        if self._connector is None and self._url is None and self._needs_emulator():
            from realtimelab.emulator.server import Emulator

            emulator = await self._emulator_stack.enter_async_context(Emulator())
            self._url = emulator.url
        stored: tuple[HistoryItem, ...] = ()
        if self.store is not None and self.conversation_id in self.store:
            assert self.conversation_id is not None
            stored = self.store.load(self.conversation_id)
            self._conv.replayed(stored)
        try:
            conn = await self._open_conn(None)
        except _ConnectFailed as e:
            await self._emulator_stack.aclose()
            if isinstance(e.original, ConnectError):
                raise e.original from None  # structured: the caller can read `retryable`
            raise ConnectionError(str(e)) from None
        await self._restore(conn)
        self._set_state(State.OPEN)
        self._connected.set()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"realtimelab-resilient-{self.provider}"
        )

    def _needs_emulator(self) -> bool:
        if self._api_key is not None or self._connect_kwargs.get("token") is not None:
            return False
        return not os.environ.get(EMULATOR_ENV) and api_key_from_env(self.provider) is None

    async def close(self) -> None:
        """End the session: close the socket, stop recovering, save the history. Idempotent."""
        if self._closing:
            if self._supervisor is not None:
                with contextlib.suppress(BaseException):
                    await self._supervisor
            return
        self._closing = True
        conn = self._conn
        if conn is not None:
            for task in (conn.rotation, conn.timer):
                if task is not None:
                    task.cancel()
        supervisor = self._supervisor
        if supervisor is not None and self._state is not State.OPEN:
            supervisor.cancel()
        elif conn is not None:
            await conn.stack.aclose()
        if supervisor is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(supervisor, 10)
        self._save()
        await self._emulator_stack.aclose()
        if self._state is not State.CLOSED:
            self._set_state(State.CLOSED)
        self._connected.set()  # wake waiting verbs so they see CLOSED

    def _emit(self, event: ev.Event) -> None:
        self._events.put(event)

    # ------------------------------------------------------------------ verbs

    async def _on_conn(self, action: Callable[[_Conn], Awaitable[None]]) -> None:
        """Run `action` on the live connection under the send lock, waiting while reconnecting.

        A socket that dies under the action is not an error for the caller: whatever the verb
        recorded in the (shared) history is restored from it by the reconnect.
        """
        while True:
            self._check_open()
            async with self._send_lock:
                conn = self._conn
                if conn is not None:
                    with contextlib.suppress(SessionClosedError):
                        await action(conn)
                    self._changed.set()
                    return
            await self._connected.wait()

    async def _send_audio(self, pcm: bytes, rate: int) -> None:
        """Converted here, once, to the wire's input format (one resampler across
        connections, so a switch cuts no filter state); buffered while no socket is live, and
        delivered to the next one exactly once."""
        await self._deliver(self._input.pcm(pcm, rate))

    async def _send_g711(self, data: bytes, law: G711Codec) -> None:
        """Converted once, buffered during a gap in the wire's own format (G.711 stays G.711
        where the wire speaks it)."""
        await self._deliver(self._input.g711(data, law))

    async def _deliver(self, wire: bytes) -> None:
        """Input audio in the wire's format to the live socket, or to the gap buffer."""
        if not wire:
            return
        async with self._send_lock:
            conn = self._conn
            if conn is None:
                self._buffer.push(wire)
                return
            try:
                await conn.session.send_wire_audio(wire)
            except SessionClosedError:
                self._buffer.push(wire)  # not written: it goes to the next socket instead

    async def _send_image(self, data: bytes, mime: str) -> None:
        """A reconnect replays it as a placeholder (see `UserImage`), not as the picture."""

        async def act(conn: _Conn) -> None:
            await conn.session.send_image(data, mime)

        await self._on_conn(act)

    async def _create_out_of_band_response(self, request: OutOfBandRequest) -> None:
        """On the live connection."""

        async def act(conn: _Conn) -> None:
            await conn.session._create_out_of_band_response(request)

        await self._on_conn(act)

    async def _clear_input_audio(self) -> None:
        self._input.clear()
        self._buffer.take()  # never sent, and now never to be

        async def act(conn: _Conn) -> None:
            await conn.session.clear_input_audio()

        await self._on_conn(act)

    async def _delete_item(self, item_id: str) -> None:
        """On the live connection: ids of an earlier connection are gone already."""

        async def act(conn: _Conn) -> None:
            await conn.session.delete_item(item_id)

        await self._on_conn(act)

    async def _retrieve_item(self, item_id: str, timeout: float) -> ev.ItemRetrieved:
        """The wait is not under the send lock (other verbs go on); a connection that ends
        first raises `ItemNotFound`: its items went with it."""
        while True:
            self._check_open()
            conn = self._conn
            if conn is not None:
                break
            await self._connected.wait()
        try:
            return await conn.session.retrieve_item(item_id, timeout=timeout)
        except SessionClosedError:
            raise ItemNotFound(
                f"the connection that held {item_id!r} ended; items do not survive a reconnect",
                item_id,
            ) from None

    async def _send_text(self, text: str) -> None:
        async def act(conn: _Conn) -> None:
            await conn.session.send_text(text)

        await self._on_conn(act)

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None:
        """Return tool outcomes. A result for a call made on an *earlier* connection cannot be
        sent as a tool response (the new server never issued that call; Gemini would ignore
        it): it goes in as a history item, then a reply is requested."""
        batch = list(results)

        async def act(conn: _Conn) -> None:
            own = [r for r in batch if r.call_id in conn.call_ids]
            foreign = [r for r in batch if r.call_id not in conn.call_ids]
            if foreign:
                await conn.session.send_foreign_results(foreign)
            if own:
                await conn.session.send_tool_responses(own)

        await self._on_conn(act)

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None:
        """The real results of calls answered by placeholders (see
        `RealtimeSession.send_late_tool_results`); on whichever connection is live."""
        batch = list(results)

        async def act(conn: _Conn) -> None:
            await conn.session.send_late_tool_results(batch)

        await self._on_conn(act)

    async def commit(self) -> None:
        """End the user's turn by hand: the resampler's tail first (it is converted here, not
        by the connection), then the connection's commit."""
        self._check_open()
        await self._deliver(self._input.flush())

        async def act(conn: _Conn) -> None:
            await conn.session.commit()

        await self._on_conn(act)

    async def _create_response(self) -> None:
        async def act(conn: _Conn) -> None:
            await conn.session.create_response()

        await self._on_conn(act)

    async def interrupt(self, heard_ms: float | None = None) -> None:
        """Stop the assistant now (see `RealtimeSession.interrupt`). Between connections the
        player is still flushed and the history cut at what was heard; the server learns it
        from the restored history."""
        self._check_open()
        async with self._send_lock:
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(SessionClosedError):
                    await conn.session.interrupt(heard_ms)
                return
            for event in self._conv.barge_in(self._clock(), "client", heard_ms=heard_ms):
                self._emit(event)
            for effect in self._conv.take_effects():
                if isinstance(effect, StopPlayback) and self._player is not None:
                    with contextlib.suppress(Exception):
                        self._player.flush()

    async def _update(self, config: SessionConfig) -> None:
        """Later connections use the new configuration too. Where the provider cannot change a
        live session (`capabilities.session_update` is False: Gemini), the change is applied
        the way Google documents it: a new connection with the new setup, resuming the
        conversation (a proactive rotation, so no input is lost).
        """
        if not self.capabilities.session_update:
            if config.model not in (None, self.config.model):
                raise ValueError("the model cannot change during a session; open a new one")
            self.config = config
            self._conv.interrupt_on_speech = config.vad.interrupt_response
            self._reformat(config)
            if not await self.rotate():
                raise RuntimeError(
                    f"could not apply the new configuration: {self.provider} needs a new "
                    "connection for it and the rotation did not happen (is the session open?)"
                )
            return

        async def act(conn: _Conn) -> None:
            await conn.session.update(config)
            self._reformat(config)  # under the send lock: no audio between the two

        await self._on_conn(act)
        self.config = config

    def _report_dropped(self, ms: float, reason: str) -> None:
        """Input audio that will never be sent: counted, and told to the user."""
        if ms > 0:
            self._dropped_ms += ms
            self._emit(
                ev.InputDropped(
                    provider=self.provider, t=self._clock(), duration_ms=ms, reason=reason
                )
            )

    def _reformat(self, config: SessionConfig) -> None:
        """A new input format on the wire: audio is converted anew from here on. Audio still
        in the gap buffer is in the old format and cannot be sent: it is reported dropped."""
        wire = wire_input_format(config, self.capabilities)
        if wire == self._input.wire:
            return
        self._input = InputAudio(wire)
        chunks, dropped = self._buffer.take()
        dropped += self._buffer.ms(sum(len(c) for c in chunks))
        self._buffer = AudioBuffer(wire.rate, self._buffer_ms, sample_width=wire.sample_width)
        self._report_dropped(dropped, "input_format_changed")

    async def send_history(self, items: Sequence[HistoryItem]) -> None:
        batch = list(items)

        async def act(conn: _Conn) -> None:
            await conn.session.send_history(batch)

        await self._on_conn(act)

    # ------------------------------------------------------------------ connections

    def _connect(self, resume: str | None) -> AbstractAsyncContextManager[RealtimeSession]:
        if self._connector is not None:
            return self._connector(resume, self._conv)
        return connect(
            self.provider,
            self.config,
            url=self._url,
            api_key=self._api_key,
            model=self._model,
            clock=self._clock,
            frame_tap=self._frame_tap,
            resume=resume,
            conversation=self._conv,
            **self._connect_kwargs,
        )

    async def _open_conn(self, handle: _Handle | None) -> _Conn:
        """One connection attempt; with a handle that the server refuses, fall back at once to a
        fresh connection (a stale handle must not cost a backoff round)."""
        stack = AsyncExitStack()
        try:
            try:
                session = await stack.enter_async_context(
                    self._connect(handle.value if handle else None)
                )
            except (ConnectionError, OSError, ValueError, TypeError, NotImplementedError) as e:
                verdict, code = classify_connect_error(e)
                # only a session refused at setup can be the handle's fault
                if handle is None or not isinstance(e, SessionRefused):
                    raise _ConnectFailed(verdict, code, str(e), e) from None
                log.info("%s: resumption refused (%s); opening a fresh session", self.provider, e)
                self._handle = handle = None
                session = await stack.enter_async_context(self._connect(None))
        except _ConnectFailed:
            await stack.aclose()
            raise
        except (ConnectionError, OSError, ValueError, TypeError, NotImplementedError) as e:
            await stack.aclose()
            verdict, code = classify_connect_error(e)
            raise _ConnectFailed(verdict, code, str(e), e) from None
        except BaseException:
            await stack.aclose()
            raise
        if session.conversation is not self._conv:
            await stack.aclose()
            raise _ConnectFailed(
                "fatal",
                "client_error",
                "the connector opened a session without the ResilientSession's conversation "
                "(pass the `conversation` it is given to connect())",
            )
        self._connections += 1
        session.attach_player(self._player, report=False)
        for listener in self._traces:
            session.on_trace(listener)
        return _Conn(
            session=session,
            stack=stack,
            number=self._connections,
            opened_at=self._clock(),
            server_has=handle.covers if handle else 0,
            resumed=handle is not None,
        )

    async def _restore(self, conn: _Conn) -> str:
        """Bring `conn` up to the conversation and make it the live connection.

        The server already holds the first `conn.server_has` history items (resumed); the rest
        is replayed as items; a reply the model owed is requested. Returns `state_restored`.
        The caller holds the send lock, so the switch of `_conn` is atomic for every verb.
        A transcription session has no conversation on the server: nothing is replayed (its
        history is the transcripts so far, kept on the client).
        """
        history = self.history
        covered = conn.server_has if conn.resumed else 0
        delta = history[covered:]
        if not conn.resumed:
            self._conv.forget_item_ids()  # the old server's items are gone with it
        if not self.capabilities.assistant_history_text:
            # the provider cannot take the model's past words as context: replay the rest
            delta = tuple(h for h in delta if not isinstance(h, AssistantText))
        if self.config.mode == "transcription":
            delta = ()
        if delta:
            await conn.session.replay(delta)
        if self._conv.owes() == "reply":
            await conn.session.create_response()
        self._conn = conn
        if conn.resumed:
            return "resumed"
        return "replayed" if history else "none"

    # ------------------------------------------------------------------ the supervisor

    async def _supervise(self) -> None:
        """Pump the live connection's events; on its end, switch, recover or finish."""
        try:
            while True:
                conn = self._conn
                assert conn is not None
                end = await self._pump(conn)
                if end.kind is EndKind.SWITCHED:
                    assert conn.switched is not None
                    self._report_switch(conn.switched)
                    continue
                if end.kind is EndKind.CLOSED or self._closing:
                    break
                if end.kind is EndKind.FATAL:
                    self._emit(self._fatal(end))
                    break
                if not await self._recover(conn, end):
                    break
        except asyncio.CancelledError:
            pass
        except Exception as e:  # a bug must surface as an event, never end the stream silently
            log.exception("resilience supervisor failed")
            self._emit(
                self._error(
                    f"resilience failed: {type(e).__name__}: {e}", "client_error", fatal=True
                )
            )
        finally:
            await self._finish()

    async def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.stack.aclose()
        chunks, dropped = self._buffer.take()
        dropped += self._buffer.ms(sum(len(c) for c in chunks))
        self._report_dropped(dropped, "session_closed")
        self._save()
        if self._state is not State.CLOSED:
            self._set_state(State.CLOSED)
        self._connected.set()
        self._emit(
            ev.Closed(
                provider=self.provider,
                t=self._clock(),
                code=1000,
                reason="closed" if self._closing else "ended",
                expected=self._closing,
            )
        )
        self._events.close()

    async def _pump(self, conn: _Conn) -> _End:
        caps = self.capabilities
        max_s = self.rotation.max_connection_s or caps.max_connection_s
        if self.rotation.enabled and not caps.go_away and max_s:
            delay = max(0.0, conn.opened_at + max_s - self.rotation.rotate_before_s - self._clock())
            conn.timer = asyncio.get_running_loop().create_task(self._rotation_timer(conn, delay))
        held: ev.Error | None = None  # a recoverable error that may describe the close
        close_error: ev.Error | None = None  # the codec's account of the close, if any
        fatal: ev.Error | None = None
        expired = False
        closed: ev.Closed | None = None
        try:
            async for event in conn.session:
                if held is not None:
                    if isinstance(event, ev.Closed) and held.code == str(event.code):
                        close_error = held  # told by the reconnect notice, not twice
                    else:
                        self._emit(held)  # an ordinary error that came late
                    held = None
                if isinstance(event, ev.Closed):
                    closed = event
                    continue
                if isinstance(event, ev.Error):
                    if event.fatal and event.code in ROTATE_ERROR_CODES:
                        expired = True
                        event = dataclasses.replace(event, fatal=False)
                    elif event.fatal:  # the codec's verdict: an error frame or a fatal close
                        fatal = fatal or event
                        if conn.closer is None and not conn.session.closed:
                            conn.closer = asyncio.get_running_loop().create_task(
                                conn.session.close()
                            )
                        continue
                    elif conn.session.closed and not conn.planned_close:
                        # The reader is done, so everything left is queued: a recoverable
                        # error now is normally the close's own `Error` (it comes right before
                        # `Closed`); holding it back costs no time.
                        held = event
                        continue
                if (
                    isinstance(event, ev.TurnComplete)
                    and event.reason == "connection_lost"
                    and conn.planned_close
                ):
                    continue  # a planned switch is not a lost connection (reported below)
                self._track(conn, event)
                self._emit(event)
                if isinstance(event, ev.TurnComplete):
                    self._save()
                elif isinstance(event, ev.SessionExpiring):
                    expired = True  # the close that follows a warning is the limit, not a fault
                    if caps.go_away:
                        self._start_rotation(conn, event.time_left_s)
            if held is not None:
                self._emit(held)
        finally:
            if conn.timer is not None and conn.timer is not conn.rotation:
                conn.timer.cancel()
        if conn.switched is not None:
            if conn.rotation is not None:
                with contextlib.suppress(BaseException):
                    await conn.rotation  # it is closing this connection; let it finish
            return _End(EndKind.SWITCHED)
        if conn.planned_close and not self._closing:
            return _End(EndKind.ROTATED)
        for task in (conn.rotation, conn.timer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if conn.switched is not None:  # the rotation completed while being cancelled
            return _End(EndKind.SWITCHED)
        code = closed.code if closed else None
        reason = closed.reason if closed else ""
        if self._closing or (closed is not None and closed.expected and fatal is None):
            return _End(EndKind.CLOSED, code=code, reason=reason)
        if fatal is not None:
            return _End(EndKind.FATAL, fatal, code, reason)
        # Not fatal by the codec's verdict: a retryable close, or a server-side 1000.
        if expired:
            return _End(EndKind.EXPIRED, close_error, code, reason)
        return _End(EndKind.RETRY, close_error, code, reason)

    def _track(self, conn: _Conn, event: ev.Event) -> None:
        """Keep the per-connection facts rotation and restore depend on in step."""
        if isinstance(event, ev.SessionStarted):
            self._idle_len = conn.server_has
        elif isinstance(event, ev.TurnComplete):
            self._idle_len = len(self.history)
        elif isinstance(event, ev.ToolCall):
            conn.call_ids.add(event.call_id)
        elif isinstance(event, ev.ResumptionUpdate):
            # A non-resumable update means the server is mid-turn: do not resume into it.
            self._handle = (
                _Handle(event.handle, self._idle_len) if event.resumable and event.handle else None
            )
        self._changed.set()

    # ------------------------------------------------------------------ recovery

    async def _recover(self, old: _Conn, end: _End) -> bool:
        """Reopen after the connection ended: a fault (backoff, retries), the provider's limit,
        or a planned break-before-make rotation. Returns False when the session is over."""
        planned = end.kind is EndKind.ROTATED
        if end.kind is EndKind.RETRY:
            self._reconnects += 1
        async with self._send_lock:
            if not planned:
                self._set_state(State.RECONNECTING)
                self._lost_at = self._clock()
            self._connected.clear()
            self._conn = None
        with contextlib.suppress(Exception):
            await old.stack.aclose()
        if planned:
            if old.cut_reply:
                self._emit_cut("rotation")
        else:
            what = "session expired" if end.kind is EndKind.EXPIRED else "connection lost"
            detail = end.error.message if end.error else (end.reason or "no close frame")
            self._emit(
                self._error(
                    f"{what} (code {end.code}: {detail}); reconnecting",
                    end.error.code if end.error else str(end.code),
                    fatal=False,
                )
            )
        if self._reconnects > self.policy.max_reconnects:
            self._emit(
                self._error(
                    f"gave up: more than {self.policy.max_reconnects} reconnects",
                    "max_reconnects",
                    fatal=True,
                )
            )
            return False
        last: _ConnectFailed | None = None
        delays = (0.0, *self.policy.delays()[1:]) if planned else self.policy.delays()
        for attempt, delay in enumerate(delays, 1):
            if delay > 0:
                await self._sleep(delay)
            if self._closing:
                return False
            handle = self._handle if self.capabilities.resumption else None
            try:
                conn = await self._open_conn(handle)
            except _ConnectFailed as e:
                if e.verdict == "fatal":
                    self._emit(self._error(f"reconnect refused: {e}", e.code, fatal=True))
                    return False
                last = e
                log.info("%s: reconnect attempt %d failed: %s", self.provider, attempt, e)
                continue
            try:
                async with self._send_lock:
                    restored = await self._restore(conn)
                    chunks, dropped = self._buffer.take()
                    for chunk in chunks:
                        await conn.session.send_wire_audio(chunk)
                    if self._state is not State.OPEN:
                        self._set_state(State.OPEN)
                    self._connected.set()
                    gap_ms = (self._clock() - (self._lost_at or self._clock())) * 1000
            except SessionClosedError as e:  # the new socket died during the restore
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.stack.aclose()
                last = _ConnectFailed("retry", "restore_failed", str(e))
                continue
            self._gaps.append(gap_ms)
            if planned:
                self._rotations += 1
                self._rotation_gaps.append(gap_ms)
            self._report_dropped(dropped, "reconnect_buffer_full")
            self._emit(
                ev.Reconnected(
                    provider=self.provider,
                    t=self._clock(),
                    state_restored=restored,
                    gap_ms=gap_ms,
                    attempts=attempt,
                )
            )
            return True
        self._emit(
            self._error(
                f"gave up after {len(delays)} attempts: {last}",
                last.code if last else "reconnect_failed",
                fatal=True,
            )
        )
        return False

    # ------------------------------------------------------------------ rotation

    async def rotate(self, within_s: float = 10.0) -> bool:
        """Replace the connection now, exactly as a proactive rotation would (waiting up to
        `finish_fraction * within_s` for the current reply). Useful before a planned network
        change, and to watch a rotation happen. Returns True when the switch happened."""
        conn = self._conn
        if conn is None or self._state is not State.OPEN:
            return False
        self._start_rotation(conn, within_s, force=True)
        if conn.rotation is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(conn.rotation)
        if conn.switched is not None:
            return True
        if conn.planned_close:  # break-before-make: wait for the new connection
            await self._wait_until(
                lambda: (
                    (self._conn is not None and self._conn is not conn)
                    or self._state is State.CLOSED
                ),
                self._clock() + max(30.0, within_s),
            )
            return self._conn is not None and self._conn is not conn
        return False

    async def _rotation_timer(self, conn: _Conn, delay: float) -> None:
        await self._sleep(delay)
        if conn is not self._conn or self._closing:
            return
        max_s = self.rotation.max_connection_s or self.capabilities.max_connection_s or 0.0
        left = max(0.0, conn.opened_at + max_s - self._clock())
        self._emit(ev.SessionExpiring(provider=self.provider, t=self._clock(), time_left_s=left))
        conn.rotation = conn.timer
        await self._rotate(conn, left)

    def _start_rotation(
        self, conn: _Conn, time_left_s: float | None, *, force: bool = False
    ) -> None:
        if conn.rotation is not None or self._closing:
            return
        if not (self.rotation.enabled or force):
            return
        left = time_left_s if time_left_s is not None else self.rotation.rotate_before_s
        conn.rotation = asyncio.get_running_loop().create_task(self._rotate(conn, left))

    def _idle(self) -> bool:
        return self._conv.idle() and not self._conv.user_speaking and self._conv.owes() == "idle"

    async def _wait_until(self, predicate: Callable[[], bool], deadline: float) -> bool:
        while not predicate():
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def _rotate(self, old: _Conn, time_left_s: float) -> None:
        """Replace `old` before the provider ends it, losing no input frame.

        Resumption (Gemini): the server refuses to resume a session whose connection is still
        open, so this is **break-before-make**: wait for an idle point and its handle, close
        the old socket, and let the supervisor reopen with the handle; input meanwhile is
        buffered and delivered once. Replay (OpenAI): **make-before-break**: the new socket is
        opened in parallel with the reply finishing on the old one, and the switch (replay the
        history, move the send target) runs under the send lock, so a frame is written to the
        old socket before it, or to the new after.
        """
        if self._state is not State.OPEN:
            return
        self._set_state(State.ROTATING)
        start = self._clock()
        deadline = start + max(0.0, time_left_s) * self.rotation.finish_fraction
        if self.capabilities.resumption:
            await self._break_before_make(old, deadline)
            return
        loop = asyncio.get_running_loop()
        opening: asyncio.Task[_Conn] | None = loop.create_task(self._open_conn(None))
        new: _Conn | None = None
        try:
            await self._wait_until(self._idle, deadline)
            assert opening is not None
            new = await opening
            async with self._send_lock:
                t0 = self._clock()
                cut = not self._idle()
                if cut:
                    self._cut_for_switch()
                restored = await self._restore(new)
                # No await between the switch of `_conn` and this mark: a cancellation sees
                # either the old connection still live or the switch fully recorded.
                gap_ms = (self._clock() - t0) * 1000
                old.switched = _Switch(restored, gap_ms, cut)
                self._set_state(State.OPEN)
            self._rotations += 1
            self._gaps.append(gap_ms)
            self._rotation_gaps.append(gap_ms)
            await old.stack.aclose()
        except asyncio.CancelledError:
            await self._abandon(opening, new, old)
            raise
        except (_ConnectFailed, SessionClosedError) as e:
            await self._abandon(opening, new, old)
            log.warning("%s: rotation failed: %s", self.provider, e)
            self._emit(
                self._error(
                    f"rotation failed ({e}); the connection will be replaced when it ends",
                    "rotation_failed",
                    fatal=False,
                )
            )

    async def _break_before_make(self, old: _Conn, deadline: float) -> None:
        """Close, then resume (see `_rotate`). The supervisor's recovery reopens."""
        await self._wait_until(self._idle, deadline)
        await self._wait_until(
            lambda: self._handle is not None and self._handle.covers == len(self.history),
            deadline,
        )
        async with self._send_lock:
            if old is not self._conn or self._closing:
                return
            old.planned_close = True
            old.cut_reply = not self._idle()
            if old.cut_reply:
                self._cut_for_switch()
            self._lost_at = self._clock()
            # from here on, verbs wait and audio is buffered until the new connection is up
            self._conn = None
            self._connected.clear()
        await old.session.close()

    def _cut_for_switch(self) -> None:
        """A switch that could not wait for the reply: the reply ends here (its received audio
        keeps playing), and the model is asked again on the new connection if it still owes
        the answer."""
        for event in self._conv.connection_lost(self._clock(), "rotation"):
            self._emit(event)

    async def _abandon(
        self, opening: asyncio.Task[_Conn] | None, new: _Conn | None, old: _Conn
    ) -> None:
        if old.switched is not None:
            return
        if opening is not None and not opening.done():
            opening.cancel()
        if opening is not None:
            with contextlib.suppress(BaseException):
                new = new or await opening
        if new is not None and new is not self._conn:
            with contextlib.suppress(Exception):
                await new.stack.aclose()
        if self._state is State.ROTATING:
            self._set_state(State.OPEN)

    def _report_switch(self, switch: _Switch) -> None:
        self._emit(
            ev.Reconnected(
                provider=self.provider,
                t=self._clock(),
                state_restored=switch.state_restored,
                gap_ms=switch.gap_ms,
                attempts=1,
            )
        )

    # ------------------------------------------------------------------ helpers

    def _emit_cut(self, reason: str) -> None:
        """A reply that lost its socket in a planned switch: close the turn so code waiting
        for `TurnComplete` is not left hanging (the conversation core reports it)."""
        for event in self._conv.connection_lost(self._clock(), reason):
            self._emit(event)

    def _error(self, message: str, code: str | None, *, fatal: bool) -> ev.Error:
        return ev.Error(
            provider=self.provider, t=self._clock(), message=message, code=code, fatal=fatal
        )

    def _fatal(self, end: _End) -> ev.Error:
        if end.error is not None:
            return dataclasses.replace(end.error, fatal=True)
        return self._error(
            end.reason or f"connection closed ({end.code})", str(end.code), fatal=True
        )

    def _save(self) -> None:
        if self.store is None or self.conversation_id is None:
            return
        try:
            self.store.save(self.conversation_id, self.history, provider=self.provider)
        except Exception as e:  # persistence trouble must be visible, not fatal to the call
            log.exception("saving conversation %s failed", self.conversation_id)
            self._emit(
                self._error(f"could not save the conversation: {e}", "store_error", fatal=False)
            )
