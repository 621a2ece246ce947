"""The one session contract: what every session offers, declared once.

`RealtimeSession` (one connection) and `ResilientSession` (a conversation across connections)
are used interchangeably by the tool dispatcher, the event log, the widgets and user code, so
their verbs must not drift: a hand-copied verb list once lacked `send_late_tool_results`, and a
tool that timed out then crashed the dispatcher with an `AttributeError` while the real result
never reached the model.

* `Session` is the Protocol code *depends on* (the dispatcher, the log, widgets): a structural
  type anyone can satisfy, e.g. a test double or a wrapper.
* `BaseSession` is the abstract base both session classes *inherit*: the primitive verbs are
  abstract (mypy and `abc` refuse a class that forgets one), and everything derivable is
  written here once — the single-result conveniences, and the validation of what users pass
  in (text, audio buffers and rates, G.711 bytes, pictures, item ids, tool results), so both
  classes refuse bad input with the same clear error before anything is sent.
* Verbs only some providers have (`send_image`, `create_out_of_band_response`,
  `delete_item`, `retrieve_item`, `clear_input_audio`) are part of the contract on every
  session; where the provider lacks the feature they raise `NotImplementedError` naming the
  capability flag (`BaseSession._require`), so code can test the flag first and a missing
  feature is never a silent no-op.

`Player` is what a session can play assistant audio through as it arrives (the in-browser
player, a sound card): `play` and `flush`, and optionally `on_played` to report the position
the playout clock uses for barge-in and truncation.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from realtimelab import events as ev
from realtimelab.errors import FrameError, RealtimeLabError, SessionClosedError
from realtimelab.g711 import G711Codec, g711_codec
from realtimelab.providers.base import Capabilities, HistoryItem, ToolResult, UserText

if TYPE_CHECKING:
    from realtimelab.config import SessionConfig
    from realtimelab.conversation import Conversation
    from realtimelab.playout import Playout

__all__ = [
    "MAX_RATE",
    "MAX_TEXT_CHARS",
    "MIN_RATE",
    "AudioInputError",
    "BaseSession",
    "EventStream",
    "Player",
    "ReportingPlayer",
    "Session",
    "TraceListener",
    "check_audio",
    "check_text",
]

#: Sample rates a session accepts for input audio. 8 kHz is telephone audio; above 192 kHz no
#: microphone records, and a typo like `rate=1` would otherwise resample 9.6 KB into 259 MB.
MIN_RATE = 8000
MAX_RATE = 192_000
#: The longest typed turn accepted (characters). Far above any spoken turn, far below the
#: 15 MiB a server accepts per frame, so a runaway string fails here with a clear error.
MAX_TEXT_CHARS = 1_000_000
#: The largest picture `send_image` accepts (bytes). Base64 makes it 13.3 MiB on the wire:
#: under OpenAI's 15 MiB per client event and the 16 MiB frame this client writes, with room
#: for the envelope. A camera frame for a realtime model is tens of kilobytes; a picture this
#: big is a mistake (an uncompressed export, the wrong file) better caught here.
MAX_IMAGE_BYTES = 10 * 2**20
#: Picture types `send_image` accepts: the two both providers document for live input.
IMAGE_MIME_TYPES = ("image/jpeg", "image/png")
_IMAGE_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}

Scheduling = Literal["SILENT", "WHEN_IDLE", "INTERRUPT"]
TraceListener = Callable[[str, float, dict[str, Any]], None]
"""`listener(kind, t, fields)`: the session's trace points (see `BaseSession.on_trace`)."""


class AudioInputError(RealtimeLabError, ValueError):
    """Audio handed to `send_audio` that cannot be PCM16 at a real sample rate; nothing was
    sent. The message says what arrived and how to convert it."""


class ImageInputError(RealtimeLabError, ValueError):
    """A picture `send_image` cannot send (empty, too big, not JPEG/PNG, or bytes that do not
    match the declared type); nothing was sent."""


class ItemNotFound(RealtimeLabError, LookupError):
    """`retrieve_item` could not get the item: the server has no item with this id (deleted,
    never existed, or created on an earlier connection: item ids do not survive a
    reconnect), or the connection ended before it answered. `item_id` names it."""

    def __init__(self, message: str, item_id: str) -> None:
        super().__init__(message)
        self.item_id = item_id


class Player(Protocol):
    """Something that plays assistant audio as it arrives (PCM16 mono at `rate`)."""

    def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None: ...

    def flush(self) -> object:
        """Stop at once and drop everything queued (a barge-in). Any return value is
        ignored (the device players return the ms they dropped)."""
        ...


@runtime_checkable
class ReportingPlayer(Player, Protocol):
    """A player that reports how much it has really played, several times a second."""

    def on_played(self, callback: Callable[..., None]) -> None:
        """Call `callback(played_ms, ...)` with the cumulative ms of audio actually played
        (audio dropped by `flush` is never counted); extra arguments are ignored."""
        ...


@runtime_checkable
class Session(Protocol):
    """What the dispatcher, the event log and the widgets rely on (see the module docstring)."""

    @property
    def provider(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def history(self) -> tuple[HistoryItem, ...]: ...

    @property
    def closed(self) -> bool: ...

    @property
    def conversation(self) -> Conversation: ...

    @property
    def playout(self) -> Playout: ...

    def now(self) -> float: ...

    async def send_audio(self, pcm: Any, rate: int) -> None: ...

    async def send_text(self, text: str) -> None: ...

    async def send_g711(self, data: bytes, codec: str | None = None) -> None: ...

    async def send_image(self, data: bytes, mime: str) -> None: ...

    async def send_tool_response(
        self,
        call_id: str,
        output: Any,
        *,
        name: str | None = None,
        is_error: bool = False,
        scheduling: Scheduling | None = None,
        will_continue: bool | None = None,
    ) -> None: ...

    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None: ...

    async def send_late_tool_result(
        self, call_id: str, output: Any, *, name: str | None = None, is_error: bool = False
    ) -> None: ...

    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None: ...

    async def commit(self) -> None: ...

    async def create_response(self) -> None: ...

    async def interrupt(self, heard_ms: float | None = None) -> None: ...

    async def update(self, config: SessionConfig) -> None: ...

    async def send_history(self, items: Sequence[HistoryItem]) -> None: ...

    async def close(self) -> None: ...

    def attach_player(self, player: Player | None) -> None: ...

    def on_trace(self, listener: TraceListener) -> None: ...

    def __aiter__(self) -> AsyncIterator[ev.Event]: ...


class EventStream:
    """The events a session has for whoever iterates it: in order, ended by `close()`.

    One producer (the session's reader, or a `ResilientSession`'s supervisor) puts, one
    consumer awaits. A deque and a single waiter future, not an `asyncio.Queue`: a session
    puts an event for every audio frame, and this is the cheapest way to hand them over.
    """

    __slots__ = ("_closed", "_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[ev.Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, event: ev.Event) -> None:
        self._items.append(event)
        if self._waiter is not None:  # (`_wake` inlined: this runs for every audio frame)
            self._wake()

    def close(self) -> None:
        """No more events: iteration ends once the queued ones are taken."""
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def drain(self) -> list[ev.Event]:
        """Every event queued now, without waiting."""
        out = list(self._items)
        self._items.clear()
        return out

    async def next(self) -> ev.Event:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                # shielded: a consumer cancelled while waiting (a listener task replaced by a
                # new loop) must not cancel the future the next consumer waits on
                await asyncio.shield(waiter)
            finally:
                if self._waiter is waiter and waiter.done():
                    self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(frozen=True)
class OutOfBandRequest:
    """`create_out_of_band_response`'s arguments, checked: what a session class sends."""

    instructions: str | None
    input: tuple[HistoryItem, ...] | None
    metadata: dict[str, str] | None
    output: Literal["text", "audio"]


class BaseSession(abc.ABC):
    """The shared half of every session class (see the module docstring).

    Subclasses implement the primitive verbs; the conveniences and input checks live here,
    once, so `RealtimeSession` and `ResilientSession` cannot drift apart.
    """

    config: SessionConfig
    """The session's configuration (both classes keep the one they were opened with, or the
    last `update`)."""

    # -- primitives every session implements ------------------------------------------------

    @property
    @abc.abstractmethod
    def provider(self) -> str: ...

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    #: the conversation's state (each subclass creates or is given one in `__init__`)
    _conv: Conversation

    @property
    def conversation(self) -> Conversation:
        """History, turn state, pending tool calls and the playout clock (sans-IO; a
        `ResilientSession` shares one across its connections)."""
        return self._conv

    @property
    @abc.abstractmethod
    def closed(self) -> bool: ...

    @abc.abstractmethod
    def now(self) -> float: ...

    # Verbs that take user input are written here: they check it (the same way for every
    # session class) and hand what passed to the primitive below them (`_send_text` ...).

    async def send_audio(self, pcm: Any, rate: int) -> None:
        """Stream PCM16 mono audio recorded at `rate` Hz (bytes, or an int16 numpy array),
        converted to the provider's input rate (streaming soxr, state kept across chunks).
        Floats, odd byte counts and impossible rates raise `AudioInputError` before anything
        is sent."""
        if self.closed:
            raise self._closed_error()
        await self._send_audio(check_audio(pcm, rate), rate)

    async def send_g711(self, data: bytes, codec: str | None = None) -> None:
        """Stream telephone audio: G.711 bytes at 8 kHz in `codec` ("pcmu" / "pcma"; default:
        the config's `input_format`). `send_audio` stays PCM16-only, so a buffer is never
        misread as the other encoding (one byte a sample vs two). Where the wire speaks that
        law (`capabilities.g711_native` and a matching `input_format`) the bytes go out
        untouched; otherwise they are decoded and resampled (`realtimelab.wire_audio`)."""
        self._check_open()
        raw = check_g711(data)
        await self._send_g711(raw, self._g711_law(codec))

    async def send_text(self, text: str) -> None:
        """A typed user turn; the model answers it.

        Contract (resilience relies on it): the `UserText` is in `history` *before* any frame
        is written, so if the socket dies under this call the turn is still in the client's
        record and a reconnect replays it, instead of losing what the user typed.
        """
        text = check_text(text)
        self._check_answers("send_text")
        await self._send_text(text)

    async def send_image(self, data: bytes, mime: str) -> None:
        """Show the model a picture (JPEG or PNG bytes), recorded in history as `UserImage`
        before anything is written. No reply is requested: ask about it with `send_text` (or
        speech), or call `create_response`. Needs `capabilities.image_input`. A replay after a
        reconnect says a picture was shown but cannot show it again (see `UserImage`);
        docs/capabilities.md has the per-provider notes (Gemini 2.5's turn coverage, its
        2-minute audio-video limit)."""
        self._require("image_input", "send_image")
        self._check_answers("send_image")
        await self._send_image(*check_image(data, mime))

    async def create_response(self) -> None:
        """Ask the model to answer now (needed after `commit` when VAD does not reply)."""
        self._check_answers("create_response")
        await self._create_response()

    async def create_out_of_band_response(
        self,
        instructions: str | None = None,
        *,
        input: Sequence[HistoryItem | str] | None = None,
        metadata: Mapping[str, str] | None = None,
        output: Literal["text", "audio"] = "text",
    ) -> None:
        """Ask for a response *outside* the conversation (a classification, a summary, a
        moderation check) while the conversation goes on: it is not added to the history, is
        not played, does not end or start a turn, and may run while a reply is generating.
        `instructions` replace the session's for this response only; `input` is its context
        (`None`: the conversation so far; `[]`: nothing; records or plain strings, which are
        user turns); `metadata` (str to str) comes back on the answer to tell several apart;
        `output` "text" or "audio". The answer arrives whole as one `OutOfBandResponse`
        event. Needs `capabilities.out_of_band_responses`. Not part of the history: a
        connection that drops before it is done loses it (ask again)."""
        self._require("out_of_band_responses", "create_out_of_band_response")
        self._check_answers("create_out_of_band_response")
        if instructions is not None:
            check_text(instructions)
        if output not in ("text", "audio"):
            raise ValueError(f"output must be 'text' or 'audio', got {output!r}")
        items, meta = out_of_band_input(input), check_metadata(metadata)
        await self._create_out_of_band_response(OutOfBandRequest(instructions, items, meta, output))

    async def clear_input_audio(self) -> None:
        """Drop the user's input audio the server has not committed yet (a push-to-talk
        cancel, audio that was noise): the server's buffer, and what the client's resampler
        (and a reconnecting session's gap buffer) still holds. Answered by `InputCleared`.
        Needs `capabilities.clear_input`."""
        self._require("clear_input", "clear_input_audio")
        self._check_open()
        await self._clear_input_audio()

    async def delete_item(self, item_id: str) -> None:
        """Remove an item from the server's conversation (to trim context and cost). Ids come
        from events (`ItemAdded`, `InputCommitted`, `AudioChunk.item_id`, `ToolCall.item_id`)
        and belong to the current connection. Answered by `ItemDeleted`, on which the
        history drops the records that came from that item, so a replay does not resurrect
        it. Needs `capabilities.delete_items`."""
        self._require("delete_items", "delete_item")
        await self._delete_item(check_item_id(item_id))

    async def retrieve_item(self, item_id: str, *, timeout: float = 10.0) -> ev.ItemRetrieved:
        """Fetch an item back from the server, user audio included (what VAD cut, after noise
        reduction). Returns the `ItemRetrieved` event (which the event stream also yields);
        raises `ItemNotFound` when the server has no such item (or the connection that held
        it ended), `TimeoutError` after `timeout` seconds without an answer. Needs
        `capabilities.retrieve_items`."""
        self._require("retrieve_items", "retrieve_item")
        return await self._retrieve_item(check_item_id(item_id), timeout)

    async def update(self, config: SessionConfig) -> None:
        """Change the configuration mid-session. Settings the provider lacks are refused here,
        as at connect; a session cannot switch between conversation and transcription."""
        self._check_open()
        check_config(config, self.capabilities)
        if config.mode != self.config.mode:
            raise ValueError("a session cannot switch between conversation and transcription")
        await self._update(config)

    # -- the primitives under those verbs (input already checked) -----------------------------

    @abc.abstractmethod
    async def _send_audio(self, pcm: bytes, rate: int) -> None: ...

    @abc.abstractmethod
    async def _send_g711(self, data: bytes, law: G711Codec) -> None: ...

    @abc.abstractmethod
    async def _send_text(self, text: str) -> None: ...

    @abc.abstractmethod
    async def _send_image(self, data: bytes, mime: str) -> None: ...

    @abc.abstractmethod
    async def _create_response(self) -> None: ...

    @abc.abstractmethod
    async def _create_out_of_band_response(self, request: OutOfBandRequest) -> None: ...

    @abc.abstractmethod
    async def _clear_input_audio(self) -> None: ...

    @abc.abstractmethod
    async def _delete_item(self, item_id: str) -> None: ...

    @abc.abstractmethod
    async def _retrieve_item(self, item_id: str, timeout: float) -> ev.ItemRetrieved: ...

    @abc.abstractmethod
    async def _update(self, config: SessionConfig) -> None: ...

    # -- primitives without input to check ----------------------------------------------------

    @abc.abstractmethod
    async def send_tool_responses(self, results: Iterable[ToolResult]) -> None: ...

    @abc.abstractmethod
    async def send_late_tool_results(self, results: Iterable[ToolResult]) -> None: ...

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def interrupt(self, heard_ms: float | None = None) -> None: ...

    @abc.abstractmethod
    async def send_history(self, items: Sequence[HistoryItem]) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def attach_player(self, player: Player | None) -> None: ...

    @abc.abstractmethod
    def on_trace(self, listener: TraceListener) -> None: ...

    #: the events for `async for` (each subclass creates its own in `__init__`)
    _events: EventStream

    # -- iteration, written once --------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self

    async def __anext__(self) -> ev.Event:
        return await self._events.next()

    def pending_events(self) -> list[ev.Event]:
        """The events queued right now, taken without waiting (tests, notebook cells that
        look at what a verb produced)."""
        return self._events.drain()

    # -- derived, written once ----------------------------------------------------------------

    @property
    def history(self) -> tuple[HistoryItem, ...]:
        """The conversation as the client knows it (see `Conversation.history`)."""
        return self.conversation.history

    @property
    def playout(self) -> Playout:
        """Where the listener is in the assistant's audio (see `realtimelab.playout`)."""
        return self.conversation.playout

    async def send_tool_response(
        self,
        call_id: str,
        output: Any,
        *,
        name: str | None = None,
        is_error: bool = False,
        scheduling: Scheduling | None = None,
        will_continue: bool | None = None,
    ) -> None:
        """Return one tool outcome (see `send_tool_responses` to answer parallel calls)."""
        await self.send_tool_responses(
            [ToolResult(call_id, output, name, is_error, scheduling, will_continue)]
        )

    async def send_late_tool_result(
        self, call_id: str, output: Any, *, name: str | None = None, is_error: bool = False
    ) -> None:
        """Deliver the real result of a call already answered by a placeholder, and have the
        model tell the user once it is idle (see `send_late_tool_results`)."""
        await self.send_late_tool_results([ToolResult(call_id, output, name, is_error)])

    def _closed_error(self) -> SessionClosedError:
        return SessionClosedError(f"the {self.provider} session is closed")

    def _check_open(self) -> None:
        if self.closed:
            raise self._closed_error()

    def _require(self, flag: str, verb: str) -> None:
        """Raise NotImplementedError naming `flag` when the provider lacks the feature."""
        if not getattr(self.capabilities, flag):
            raise NotImplementedError(
                f"{verb} is not available on {self.provider} (capabilities.{flag} is False); "
                "see docs/capabilities.md for what each provider offers"
            )

    def _check_answers(self, verb: str) -> None:
        """Refuse a verb that asks for an answer in a transcription-only session."""
        if self.config.mode == "transcription":
            raise NotImplementedError(
                f"{verb}: this is a transcription session (SessionConfig.mode="
                "'transcription'): it transcribes the user and never answers"
            )

    def _g711_law(self, codec: str | None) -> G711Codec:
        """The law of `send_g711` input: the argument, else the config's G.711 input."""
        if codec is None:
            fmt = self.config.input_format
            if fmt == "pcm16":
                raise AudioInputError(
                    "send_g711 needs codec='pcmu' or 'pcma' (the session's input_format is "
                    "'pcm16'; set SessionConfig(input_format='pcmu') for a phone line)"
                )
            return fmt
        return check_g711_codec(codec)


def check_text(text: object) -> str:
    """A typed turn: a non-empty `str` of at most `MAX_TEXT_CHARS` characters."""
    if not isinstance(text, str):
        raise TypeError(f"send_text needs a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("send_text needs a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise FrameError(
            f"send_text got {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,} "
            "(split long documents, or send them as history)"
        )
    return text


def check_audio(pcm: object, rate: object) -> bytes:
    """Input audio as PCM16 little-endian bytes, or `AudioInputError` saying what is wrong.

    Accepted: `bytes`, `bytearray`, `memoryview` and int16 numpy arrays (mono). Refused, with a
    hint, rather than sent as noise: float arrays (convert them with
    `realtimelab.audio.float32_to_pcm16`), other integer widths, odd byte counts (half a
    sample), anything else; and rates that are not an `int` in `MIN_RATE..MAX_RATE` Hz.
    """
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise AudioInputError(
            f"rate must be an int number of Hz (e.g. 16000), got {rate!r} ({type(rate).__name__})"
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError(
            f"rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz; is it the sample rate "
            "(samples per second) of the audio?"
        )
    if isinstance(pcm, bytes):
        data = pcm
    elif isinstance(pcm, bytearray | memoryview):
        data = bytes(pcm)
    else:
        data = _array_bytes(pcm)
    if len(data) % 2:
        raise AudioInputError(
            f"PCM16 audio has 2 bytes per sample; got {len(data)} bytes (an odd count): a "
            "frame was cut in the middle of a sample"
        )
    return data


def _array_bytes(pcm: object) -> bytes:
    dtype = getattr(pcm, "dtype", None)
    if dtype is None or not hasattr(pcm, "tobytes"):
        raise AudioInputError(
            f"audio must be PCM16 bytes or an int16 numpy array, got {type(pcm).__name__}"
        )
    kind, size = getattr(dtype, "kind", "?"), getattr(dtype, "itemsize", 0)
    if kind == "f":
        raise AudioInputError(
            f"audio is a {dtype} array (floating point); PCM16 is 16-bit integers. Convert "
            "with realtimelab.audio.float32_to_pcm16(samples) (expects -1.0..1.0)"
        )
    if kind not in "iu" or size != 2 or kind == "u":
        raise AudioInputError(f"audio arrays must be int16, got {dtype}")
    ndim = getattr(pcm, "ndim", 1)
    if ndim != 1:
        raise AudioInputError(f"audio must be mono (a 1-D array), got {ndim} dimensions")
    if getattr(dtype, "byteorder", "=") == ">":
        raise AudioInputError("audio arrays must be little-endian int16 ('<i2')")
    return bytes(pcm.tobytes())


def check_g711_codec(codec: object) -> G711Codec:
    """A G.711 law name ("pcmu", "pcma" or an alias), or `AudioInputError`."""
    if not isinstance(codec, str):
        raise AudioInputError(f"codec must be 'pcmu' or 'pcma', got {codec!r}")
    try:
        return g711_codec(codec)
    except ValueError as e:
        raise AudioInputError(str(e)) from None


def check_g711(data: object) -> bytes:
    """G.711 bytes for `send_g711`: `bytes`, `bytearray` or `memoryview` (one byte a sample,
    so any length is whole samples). A numpy array is refused: an int16 array is PCM16, which
    `send_audio` takes, and sending it as G.711 would be loud noise."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise AudioInputError(
        f"send_g711 takes G.711 bytes (one byte a sample, 8 kHz), got {type(data).__name__}; "
        "PCM16 audio goes to send_audio(pcm, rate)"
    )


def check_image(data: object, mime: object) -> tuple[bytes, str]:
    """A picture for `send_image`: non-empty bytes of at most `MAX_IMAGE_BYTES` in one of
    `IMAGE_MIME_TYPES` ("image/jpg" is read as "image/jpeg"), whose first bytes are that
    format's signature (a mismatch would be refused by the server after the upload, or worse,
    misread); else `ImageInputError` saying what is wrong."""
    if not isinstance(mime, str):
        raise ImageInputError(f"mime must be a str such as 'image/png', got {mime!r}")
    kind = mime.strip().lower()
    kind = "image/jpeg" if kind == "image/jpg" else kind
    if kind not in IMAGE_MIME_TYPES:
        raise ImageInputError(
            f"send_image takes {' or '.join(IMAGE_MIME_TYPES)}, got {mime!r}; convert other "
            "formats first (e.g. PIL: image.save(buffer, format='PNG'))"
        )
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise ImageInputError(
            f"send_image takes the encoded file's bytes, got {type(data).__name__}"
        )
    if not data:
        raise ImageInputError("send_image got no bytes: the picture is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageInputError(
            f"the picture is {len(data):,} bytes; the limit is {MAX_IMAGE_BYTES:,} (scale it "
            "down: a realtime model sees at most about 2048 pixels a side anyway)"
        )
    if not data.startswith(_IMAGE_MAGIC[kind]):
        found = next((m for m, magic in _IMAGE_MAGIC.items() if data.startswith(magic)), None)
        hint = f"they look like {found}" if found else "they are neither JPEG nor PNG"
        raise ImageInputError(f"the bytes are not {kind}: {hint}")
    return data, kind


def check_item_id(item_id: object) -> str:
    """A server item id: a non-empty `str` (ids come from events; see `delete_item`)."""
    if not isinstance(item_id, str) or not item_id.strip():
        raise ValueError(f"item_id must be a non-empty str from an event, got {item_id!r}")
    return item_id


def check_metadata(metadata: object) -> dict[str, str] | None:
    """Out-of-band metadata: a mapping of str to str (or None)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"metadata must map str to str, got {metadata!r}")
    return dict(metadata)


def out_of_band_input(items: Sequence[HistoryItem | str] | None) -> tuple[HistoryItem, ...] | None:
    """The `input` of an out-of-band response as records (a plain string is a user turn)."""
    if items is None:
        return None
    if isinstance(items, str):
        raise ValueError("input must be a sequence of records or strings, not one string")
    out: list[HistoryItem] = []
    for item in items:
        out.append(UserText(check_text(item)) if isinstance(item, str) else item)
    return tuple(out)


def check_config(config: SessionConfig, caps: Capabilities) -> None:
    """The config settings that need a capability the provider lacks, refused before a socket
    opens (a `ConfigError` naming the flag). G.711 formats need none: a provider without
    `g711_native` gets transcoded audio."""
    from realtimelab.config import ConfigError  # lazy: config imports the registry

    def missing(setting: str, flag: str, instead: str) -> ConfigError:
        return ConfigError(
            f"SessionConfig.{setting} is not available on {caps.provider} "
            f"(capabilities.{flag} is False); {instead} (docs/capabilities.md)"
        )

    if config.mode == "transcription" and not caps.transcription_sessions:
        raise missing(
            "mode='transcription'",
            "transcription_sessions",
            "the closest is a conversation with input_transcription=True, whose model still "
            "answers (ignore its replies), or a speech-to-text API",
        )
    if config.web_search and not caps.web_search:
        raise missing(
            "web_search=True", "web_search", "declare a search function tool of your own instead"
        )
