"""The provider-neutral heart of an emulated session: ears, turn-taking, thinking and a paced voice.

Both dialects (OpenAI Realtime, Gemini Live) translate their wire frames into calls on this
module and translate its results back into frames. Nothing here knows any provider's JSON:

* `InputAudio` buffers the user's PCM16 at the session's input rate, runs the streaming VAD with
  the session's parameters, and cuts the buffer into `TurnAudio` when speech stops (server VAD),
  when the client commits (push-to-talk), or when the idle timer fires.
* `Conversation` is an ordered, id-addressed list of neutral `Item`s (insert after an id, delete,
  replace) — the brain's view of history.
* `Engine` hears a turn (audio → text, blocking work in a thread), asks the brain for a `Reply`,
  synthesises it at the output rate, and hands back a `PacedStream`.
* `PacedStream` releases transcript pieces and 20–100 ms audio chunks when the emulated model
  has generated them: after a first-audio latency, faster than real time (`timing.py`); it can
  be cancelled mid-stream and reports how much audio it actually released, which is what
  truncation bounds and usage need.
* `count_usage` is the one token rule both dialects report from.

The brain, voice, hearing and VAD are reached through small Protocols and injected as
`Components`, so unit tests can use fakes and the real ones load lazily.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from realtimelab.emulator.model import Item, Reply, SessionFacts, ToolSpec
from realtimelab.emulator.pacing import Clock, MonotonicClock, Pacer
from realtimelab.emulator.timing import GenerationTiming

# ------------------------------------------------------------------------------------------
# Components (Protocols over brain.py, voice.py, hearing.py, vad.py)
# ------------------------------------------------------------------------------------------


class BrainLike(Protocol):
    def respond(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply: ...


class VoiceLike(Protocol):
    def synthesize_segments(
        self, text: str, *, voice: str = "alloy", rate: int = 24000, speed: float = 1.0
    ) -> list[tuple[str, bytes]]: ...


class TranscriptLike(Protocol):
    text: str
    recognised: bool
    confidence: float


class HearingLike(Protocol):
    def transcribe(self, pcm: bytes, rate: int) -> Any: ...


class UtteranceLike(Protocol):
    """A turn being heard while it is spoken (`hearing.Utterance`).

    `finish_async(pcm)` returns exactly what `transcribe(pcm)` would, whatever was fed: audio
    fed so far only saves time when it is the start of `pcm`.
    """

    hearing: Any

    @property
    def fed_bytes(self) -> int: ...
    def feed(self, pcm: bytes) -> None: ...
    async def finish_async(self, pcm: bytes | None = None) -> Any: ...
    def cancel(self) -> None: ...


class VadLike(Protocol):
    def feed(self, pcm: bytes) -> list[Any]: ...
    def update(self, params: Any) -> None: ...
    def reset(self) -> None: ...
    def arm_idle_timer(self) -> None: ...


@dataclass(frozen=True)
class Components:
    """Factories for the pluggable parts of a session (real ones by default, fakes in tests)."""

    brain: Callable[[int], BrainLike]
    voice: Callable[[], VoiceLike]
    hearing: Callable[[Sequence[ToolSpec], BrainLike], HearingLike]
    vad: Callable[[int, Any], VadLike]
    warm: Callable[[], None] | None = None  # slow one-time set-up, run in the background at start


def default_components() -> Components:
    """The real brain/voice/hearing/VAD, imported only when a session first needs them."""

    def brain(seed: int) -> BrainLike:
        from realtimelab.emulator.brain import Brain

        return Brain(seed=seed)

    def voice() -> VoiceLike:
        from realtimelab.emulator.voice import Voice

        return Voice()

    def hearing(tools: Sequence[ToolSpec], brain: BrainLike) -> HearingLike:
        from realtimelab.emulator.brain import Brain
        from realtimelab.emulator.hearing import Hearing

        # the ears listen for what the brain understands; a fake brain gets the real phrases
        return Hearing.for_session(tools, brain if isinstance(brain, Brain) else Brain())

    def vad(rate: int, params: Any) -> VadLike:
        from realtimelab.vad import StreamingVad

        return StreamingVad(rate, params)

    def warm() -> None:
        # Parse the pronunciation dictionary, start espeak and the decoding processes before the
        # first turn needs them (otherwise the first reply of a process is ~1 s late).
        from realtimelab.emulator import hearing as hearing_module
        from realtimelab.emulator import voice as voice_module

        voice_module.preload()
        hearing_module.preload()
        hearing_module.warm_workers()

    return Components(brain=brain, voice=voice, hearing=hearing, vad=vad, warm=warm)


# ------------------------------------------------------------------------------------------
# Input audio and turn-taking
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnAudio:
    """One user turn cut from the input stream; ms are positions on the session's input clock."""

    pcm: bytes
    rate: int
    start_ms: float
    end_ms: float

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / (self.rate * 2 / 1000)


@dataclass(frozen=True)
class SpeechBegan:
    audio_start_ms: float


@dataclass(frozen=True)
class SpeechEnded:
    audio_end_ms: float
    turn: TurnAudio


@dataclass(frozen=True)
class IdleTimedOut:
    audio_start_ms: float
    audio_end_ms: float


InputEvent = SpeechBegan | SpeechEnded | IdleTimedOut


class InputAudio:
    """The user's audio buffer plus turn detection, on a clock of "ms of audio received".

    Positions are absolute for the session (they never restart), like OpenAI's `audio_start_ms`.
    `vad_params=None` means no turn detection: audio only leaves through `commit()`.
    """

    def __init__(self, rate: int, vad_factory: Callable[[int, Any], VadLike], vad_params: Any):
        self.rate = rate
        self._bytes_per_ms = rate * 2 / 1000
        self._vad_factory = vad_factory
        self._vad: VadLike | None = None
        self._vad_origin_ms = 0.0  # absolute position where the VAD's own clock reads 0
        self._buf = bytearray()
        self._buf_start_ms = 0.0  # absolute position of _buf[0]
        self._carry = b""  # an odd trailing byte waiting for its partner
        self._speech_start_ms: float | None = None
        self._idle_at_ms: float | None = None  # where a deferred idle timer gets armed
        self.configure(vad_params)

    # -- configuration ----------------------------------------------------------------------
    def configure(self, vad_params: Any) -> None:
        """Switch turn detection on/off or change its parameters without losing buffered audio."""
        if vad_params is None:
            self._vad = None
            self._speech_start_ms = None
            self._idle_at_ms = None
            return
        if self._vad is None:
            self._vad = self._vad_factory(self.rate, vad_params)
            self._vad_origin_ms = self.received_ms
        else:
            self._vad.update(vad_params)

    @property
    def vad_enabled(self) -> bool:
        return self._vad is not None

    @property
    def received_ms(self) -> float:
        return self._buf_start_ms + len(self._buf) / self._bytes_per_ms

    @property
    def buffered_ms(self) -> float:
        return len(self._buf) / self._bytes_per_ms

    @property
    def in_speech(self) -> bool:
        return self._speech_start_ms is not None

    @property
    def open_turn_start_ms(self) -> float | None:
        """Where the turn that would be cut next starts, or None when no turn is open.

        With turn detection: the start of the speech in progress (everything before it has been
        dropped). Without: the start of the buffer, which `commit()` would cut. Ears that listen
        while the user speaks key their work on this position.
        """
        if self._vad is not None:
            return self._buf_start_ms if self._speech_start_ms is not None else None
        return self._buf_start_ms if self._buf else None

    def open_turn_audio(self, skip: int = 0) -> bytes:
        """The open turn's audio after its first `skip` bytes (a copy of the tail only)."""
        return bytes(self._buf[skip:])

    # -- feeding ----------------------------------------------------------------------------
    def append(self, pcm: bytes) -> list[InputEvent]:
        """Buffer audio and run the VAD; returns turn events in stream order."""
        data = self._carry + pcm
        if len(data) % 2:
            data, self._carry = data[:-1], data[-1:]
        else:
            self._carry = b""
        if not data:
            return []
        if self._vad is None:
            self._buf += data
            return []
        out: list[InputEvent] = []
        if self._idle_at_ms is not None:
            n = round((self._idle_at_ms - self.received_ms) * self._bytes_per_ms)
            n = max(0, n - n % 2)
            if n < len(data):  # the deferred idle timer starts inside this chunk
                out += self._feed(data[:n])
                if self._idle_at_ms is not None and self._vad is not None:
                    self._idle_at_ms = None
                    self._vad.arm_idle_timer()
                data = data[n:]
        return out + self._feed(data)

    def _feed(self, data: bytes) -> list[InputEvent]:
        self._buf += data
        if self._vad is None or not data:
            return []
        out: list[InputEvent] = []
        for ev in self._vad.feed(data):
            kind = type(ev).__name__
            if kind == "SpeechStarted":
                start = self._vad_origin_ms + float(ev.audio_start_ms)
                start = max(start, self._buf_start_ms)
                self._speech_start_ms = start
                self._idle_at_ms = None  # the user is not idle
                self._drop_before(start)
                out.append(SpeechBegan(start))
            elif kind == "SpeechStopped":
                end = min(self._vad_origin_ms + float(ev.audio_end_ms), self.received_ms)
                start = self._speech_start_ms if self._speech_start_ms is not None else 0.0
                turn = self._cut(max(start, self._buf_start_ms), end)
                self._speech_start_ms = None
                out.append(SpeechEnded(end, turn))
            elif kind == "IdleTimeout":
                out.append(
                    IdleTimedOut(
                        self._vad_origin_ms + float(ev.audio_start_ms),
                        self._vad_origin_ms + float(ev.audio_end_ms),
                    )
                )
        return out

    def commit(self) -> TurnAudio:
        """Everything buffered becomes a turn (push-to-talk); the VAD starts afresh."""
        turn = self._cut(self._buf_start_ms, self.received_ms)
        self._restart_vad()
        return turn

    def clear(self) -> None:
        """Forget buffered audio (OpenAI `input_audio_buffer.clear`)."""
        self._drop_before(self.received_ms)
        self._restart_vad()

    def trim_silence(self, keep_ms: float) -> None:
        """Outside speech, forget buffered audio older than `keep_ms` (turn detection on only).

        With a VAD, audio heard outside speech can only become part of a turn through the
        VAD's look-back (prefix padding), so older silence is dead weight: without this a
        session streaming silence for an hour would buffer all of it. Positions are kept.
        """
        if self._vad is None or self._speech_start_ms is not None:
            return
        self._drop_before(self.received_ms - keep_ms)

    def arm_idle_timer(self, after_ms: float = 0.0) -> None:
        """Start the idle clock now, or once `after_ms` more input audio has arrived.

        OpenAI applies `idle_timeout_ms` "after the last model response's audio has finished
        playing, i.e. … the `response.done` time plus audio playback duration" (SDK docstring):
        since audio is generated faster than real time, the dialect defers the start by the
        reply's audio duration, measured on the input stream's clock.
        """
        if self._vad is None:
            return
        if after_ms <= 0:
            self._idle_at_ms = None
            self._vad.arm_idle_timer()
        else:
            self._idle_at_ms = self.received_ms + after_ms

    # -- internals --------------------------------------------------------------------------
    def _restart_vad(self) -> None:
        self._speech_start_ms = None
        self._idle_at_ms = None
        if self._vad is not None:
            self._vad.reset()
            self._vad_origin_ms = self.received_ms

    def _offset(self, ms: float) -> int:
        n = round((ms - self._buf_start_ms) * self._bytes_per_ms)
        n -= n % 2
        return max(0, min(n, len(self._buf)))

    def _drop_before(self, ms: float) -> None:
        n = self._offset(ms)
        del self._buf[:n]
        self._buf_start_ms += n / self._bytes_per_ms

    def _cut(self, start_ms: float, end_ms: float) -> TurnAudio:
        a, b = self._offset(start_ms), self._offset(end_ms)
        pcm = bytes(self._buf[a:b])
        real_start = self._buf_start_ms + a / self._bytes_per_ms
        self._drop_before(end_ms)
        return TurnAudio(pcm, self.rate, real_start, real_start + len(pcm) / self._bytes_per_ms)


# ------------------------------------------------------------------------------------------
# Conversation
# ------------------------------------------------------------------------------------------


class Conversation:
    """An ordered list of neutral items addressed by id (a linked list, as OpenAI exposes it)."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._items: dict[str, Item] = {}

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __len__(self) -> int:
        return len(self._order)

    @property
    def last_id(self) -> str | None:
        return self._order[-1] if self._order else None

    def previous_id(self, item_id: str) -> str | None:
        i = self._order.index(item_id)
        return self._order[i - 1] if i > 0 else None

    def add(self, item_id: str, item: Item, *, after: str | None = None) -> str | None:
        """Insert after `after` ("root" = at the start, None = at the end); returns the previous id.

        Raises KeyError when `after` names an unknown item.
        """
        if after is None:
            self._order.append(item_id)
        elif after == "root":
            self._order.insert(0, item_id)
        elif after in self._items:
            self._order.insert(self._order.index(after) + 1, item_id)
        else:
            raise KeyError(after)
        self._items[item_id] = item
        return self.previous_id(item_id)

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def replace(self, item_id: str, item: Item) -> None:
        if item_id not in self._items:
            raise KeyError(item_id)
        self._items[item_id] = item

    def delete(self, item_id: str) -> None:
        del self._items[item_id]
        self._order.remove(item_id)

    def ids(self) -> list[str]:
        return list(self._order)

    def items(self) -> list[Item]:
        return [self._items[i] for i in self._order]


# ------------------------------------------------------------------------------------------
# Paced output
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputPiece:
    """One piece of a reply: a transcript/text delta, or a chunk of audio.

    `at_ms` is the media position where the piece starts (for text, model time); the stream's
    `Pacer` decides when that position has been generated.
    """

    kind: Literal["transcript", "audio", "text"]
    at_ms: float
    text: str = ""
    audio: bytes = b""
    audio_ms: float = 0.0


TEXT_MS_PER_DELTA = 25.0  # text-mode pacing: one word-ish delta every 25 ms of "model time"


class AudioPieces:
    """Turns (phrase, audio) pairs into `OutputPiece`s one phrase at a time.

    Each phrase's words are spread over its audio in proportion to their length, so a client
    that stops playback at `t` ms has seen (roughly) the words spoken up to `t` — the same rule
    truncation uses to decide which words the user heard. Phrases concatenate to the reply
    text. Incremental so that a reply can start while its later phrases are still synthesised.
    """

    def __init__(self, rate: int, chunk_ms: float = 40.0) -> None:
        self._bytes_per_ms = rate * 2 / 1000
        self._chunk = max(2, int(chunk_ms * self._bytes_per_ms) // 2 * 2)
        self.pos_ms = 0.0  # media position where the next phrase starts

    def add(self, phrase: str, pcm: bytes) -> list[OutputPiece]:
        bytes_per_ms, chunk, pos = self._bytes_per_ms, self._chunk, self.pos_ms
        seg_ms = len(pcm) / bytes_per_ms
        words = re.findall(r"\s*\S+\s*", phrase) or [phrase]
        total = sum(len(w) for w in words) or 1
        words_at: list[OutputPiece] = []
        done = 0
        for word in words:
            words_at.append(OutputPiece("transcript", pos + seg_ms * done / total, text=word))
            done += len(word)
        audio: list[OutputPiece] = []
        for off in range(0, len(pcm), chunk):
            part = pcm[off : off + chunk]
            audio.append(
                OutputPiece(
                    "audio", pos + off / bytes_per_ms, audio=part, audio_ms=len(part) / bytes_per_ms
                )
            )
        self.pos_ms = pos + seg_ms
        # stable merge: a word is released just before the chunk that starts speaking it
        return sorted(words_at + audio, key=lambda p: (p.at_ms, p.kind == "audio"))


def audio_pieces(
    segments: Sequence[tuple[str, bytes]], rate: int, chunk_ms: float = 40.0
) -> list[OutputPiece]:
    """All of a reply's pieces at once (see `AudioPieces`)."""
    builder = AudioPieces(rate, chunk_ms)
    return [piece for phrase, pcm in segments for piece in builder.add(phrase, pcm)]


def text_pieces(text: str) -> list[OutputPiece]:
    """Split text into word-ish deltas (each keeps its leading space, so they concatenate)."""
    parts = re.findall(r"\s*\S+", text) or ([text] if text else [])
    return [OutputPiece("text", i * TEXT_MS_PER_DELTA, text=p) for i, p in enumerate(parts)]


class PacedStream:
    """Releases pieces when they are generated; cancellable; counts the audio it let out.

    Iterate with `async for piece in stream`. `cancel()` (or simply stopping iteration) ends it;
    `sent_audio_ms` is the audio released so far — exactly what a client can have played.
    `more`, when given, yields further batches of pieces (the phrases still being synthesised):
    they are awaited only when the stream has released everything before them, so the first
    chunk leaves as soon as the first phrase exists.
    """

    def __init__(
        self,
        pieces: Iterable[OutputPiece],
        pacer: Pacer,
        more: AsyncIterator[Sequence[OutputPiece]] | None = None,
    ) -> None:
        self._pieces = list(pieces)
        self._pacer = pacer
        self._more = more
        self._cancelled = False
        self.sent_audio_ms = 0.0
        self.sent_text = ""

    @property
    def total_audio_ms(self) -> float:
        """Audio of the pieces known so far (final once the stream has been iterated)."""
        return sum(p.audio_ms for p in self._pieces)

    @property
    def full_text(self) -> str:
        """Text of the pieces known so far (final once the stream has been iterated)."""
        return "".join(p.text for p in self._pieces)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True

    async def __aiter__(self) -> AsyncIterator[OutputPiece]:
        i = 0
        try:
            while not self._cancelled:
                if i == len(self._pieces):
                    if self._more is None:
                        return
                    batch = await anext(self._more, None)
                    if batch is None:
                        self._more = None
                        return
                    self._pieces.extend(batch)
                    continue
                piece = self._pieces[i]
                i += 1
                await self._pacer.wait_until(piece.at_ms)
                if self._cancelled:
                    return
                self.sent_audio_ms += piece.audio_ms
                self.sent_text += piece.text
                yield piece
        finally:
            more, self._more = self._more, None
            aclose = getattr(more, "aclose", None)
            if aclose is not None:
                await aclose()  # stops the synthesis of phrases nobody will hear


# ------------------------------------------------------------------------------------------
# Usage
# ------------------------------------------------------------------------------------------

AUDIO_TOKENS_PER_100MS = 2  # 20 audio tokens per second of audio, in and out


def text_tokens(text: str) -> int:
    """ceil(chars / 4): the usual rule of thumb for English text."""
    return math.ceil(len(text) / 4)


def audio_tokens(ms: float) -> int:
    """ceil(ms / 100) × 2, i.e. 20 tokens per second of audio."""
    return math.ceil(max(0.0, ms) / 100) * AUDIO_TOKENS_PER_100MS


@dataclass(frozen=True)
class Usage:
    """Token counts for one model turn. Both dialects report these same numbers."""

    input_text: int = 0
    input_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def input_tokens(self) -> int:
        return self.input_text + self.input_audio

    @property
    def output_tokens(self) -> int:
        return self.output_text + self.output_audio

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def count_usage(
    *, context_text: str, context_audio_ms: float, output_text: str, output_audio_ms: float
) -> Usage:
    """The whole context is input (instructions + every item); what was produced is output."""
    return Usage(
        input_text=text_tokens(context_text),
        input_audio=audio_tokens(context_audio_ms),
        output_text=text_tokens(output_text),
        output_audio=audio_tokens(output_audio_ms),
    )


# ------------------------------------------------------------------------------------------
# Engine
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """What the emulator's ears made of a turn."""

    text: str
    recognised: bool
    confidence: float


@dataclass
class Engine:
    """One session's brain, ears and voice, plus pacing. Blocking work runs in threads.

    `timing` is the dialect's generation model (rate, first-audio latency, speed).
    """

    components: Components
    input_rate: int
    output_rate: int
    timing: GenerationTiming = field(default_factory=GenerationTiming)
    seed: int = 0
    clock: Clock = field(default_factory=MonotonicClock)
    chunk_ms: float = 40.0

    def __post_init__(self) -> None:
        self.brain = self.components.brain(self.seed)
        self._voice: VoiceLike | None = None
        self._hearing: tuple[tuple[ToolSpec, ...], HearingLike] | None = None
        self._building: list[tuple[tuple[ToolSpec, ...], asyncio.Future[HearingLike]]] = []
        # turns heard while spoken, by their start position; the last one may still be growing
        self._listening: dict[float, UtteranceLike] = {}

    def new_input(self, vad_params: Any) -> InputAudio:
        return InputAudio(self.input_rate, self.components.vad, vad_params)

    # -- ears --------------------------------------------------------------------------------
    def _build(self, key: tuple[ToolSpec, ...]) -> asyncio.Future[HearingLike]:
        """Start (or join) building the hearing for this vocabulary, in a thread.

        Keys are compared, not hashed: tool schemas hold dicts.
        """
        for known, task in self._building:
            if known == key:
                return task
        task = asyncio.ensure_future(asyncio.to_thread(self.components.hearing, key, self.brain))
        self._building.append((key, task))
        task.add_done_callback(lambda t: self._built(key, t))
        return task

    def _built(self, key: tuple[ToolSpec, ...], task: asyncio.Future[HearingLike]) -> None:
        self._building = [(k, t) for k, t in self._building if t is not task]
        if not task.cancelled() and task.exception() is None:  # a failure is hear()'s to report
            self._hearing = (key, task.result())

    async def _ears(self, key: tuple[ToolSpec, ...]) -> HearingLike:
        """The hearing for this vocabulary (the tools shape what can be heard), built once."""
        if self._hearing is not None and self._hearing[0] == key:
            return self._hearing[1]
        return await asyncio.shield(self._build(key))

    def _ears_now(self, tools: Callable[[], Sequence[ToolSpec]]) -> HearingLike | None:
        """The current hearing if it is ready for these tools; otherwise start building it."""
        key = tuple(tools())
        if self._hearing is not None and self._hearing[0] == key:
            return self._hearing[1]
        self._build(key)
        return None

    def listen(self, audio: InputAudio, tools: Callable[[], Sequence[ToolSpec]]) -> None:
        """Feed the turn being spoken to the ears as it arrives (call after each input frame).

        Decoding then keeps up with speech, so at the end of a turn only the last few blocks are
        left to decode (~5 ms instead of ~200 ms for one-shot decoding). `hear(turn)` picks the
        utterance up by the turn's start position; anything else is cancelled.
        """
        start = audio.open_turn_start_ms
        if start is None:
            return
        utterance = self._listening.get(start)
        if utterance is None:
            hearing = self._ears_now(tools)
            stream = getattr(hearing, "stream", None)  # fakes and old ears cannot listen
            if stream is None:
                return
            utterance = stream(audio.rate)
            self._listening[start] = utterance
            while len(self._listening) > 3:  # turns nobody asked to hear (cleared, re-cut)
                self._listening.pop(next(iter(self._listening))).cancel()
        tail = audio.open_turn_audio(utterance.fed_bytes)
        if tail:
            utterance.feed(tail)

    def _take_utterance(self, turn: TurnAudio) -> UtteranceLike | None:
        for start in list(self._listening):
            if abs(start - turn.start_ms) < 0.5:
                return self._listening.pop(start)
        return None

    async def hear(
        self, turn: TurnAudio, tools: Sequence[ToolSpec], *, final: bool = True
    ) -> Heard:
        """Audio → text with the session's vocabulary.

        A turn that `listen` followed is finished from where decoding got to; any other turn
        is decoded in one go in a thread. Both give the same words for the same audio.
        `final=False` hears a turn that is still going on (semantic VAD's look at a pause)
        without touching the utterance that follows it.
        """
        utterance = self._take_utterance(turn) if final else None
        try:
            hearing = await self._ears(tuple(tools))
            if not turn.pcm:
                return Heard("", False, 0.0)
            if utterance is not None and utterance.hearing is hearing:
                t, utterance = await utterance.finish_async(turn.pcm), None
            else:
                t = await asyncio.to_thread(hearing.transcribe, turn.pcm, turn.rate)
        finally:
            if utterance is not None:
                utterance.cancel()
        return Heard(str(t.text), bool(t.recognised), float(t.confidence or 0.0))

    def close(self) -> None:
        """Stop listening (the session ended): utterances nobody will hear are cancelled."""
        listening, self._listening = self._listening, {}
        for utterance in listening.values():
            utterance.cancel()
        for _, task in list(self._building):
            task.cancel()

    async def think(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply:
        return await asyncio.to_thread(
            self.brain.respond,
            list(history),
            tools=list(tools),
            instructions=instructions,
            facts=facts,
        )

    async def speak(
        self,
        text: str,
        *,
        voice: str = "alloy",
        speed: float = 1.0,
        start: float | None = None,
        cold: bool = True,
    ) -> PacedStream:
        """Synthesise `text` at the output rate and return it as a paced stream.

        `start` is when the model began this reply (clock seconds), so the first-audio latency
        counts the synthesis time; `cold=False` continues a reply without a second latency.
        Only the first phrase is synthesised before this returns (~1-2 ms instead of ~40-80 ms
        for a story); the stream asks for the next phrase when it has released the previous one,
        and a voice that cannot stream is synthesised whole.
        """
        if self._voice is None:
            self._voice = await asyncio.to_thread(self.components.voice)
        v = self._voice
        pacer = self.pacer(start=start, cold=cold)
        streaming = getattr(v, "synthesize_stream_async", None)
        if streaming is None:
            segments = await asyncio.to_thread(
                lambda: v.synthesize_segments(text, voice=voice, rate=self.output_rate, speed=speed)
            )
            return PacedStream(audio_pieces(segments, self.output_rate, self.chunk_ms), pacer)
        builder = AudioPieces(self.output_rate, self.chunk_ms)
        phrases: AsyncIterator[tuple[str, bytes]] = streaming(
            text, voice=voice, rate=self.output_rate, speed=speed
        )

        async def batches() -> AsyncIterator[list[OutputPiece]]:
            try:
                async for phrase, pcm in phrases:
                    yield builder.add(phrase, pcm)
            finally:
                aclose = getattr(phrases, "aclose", None)
                if aclose is not None:
                    await aclose()

        more = batches()
        first = await anext(more, None)
        return PacedStream(first or [], pacer, more if first is not None else None)

    def write(self, text: str, *, start: float | None = None, cold: bool = True) -> PacedStream:
        """Text-mode output: word deltas, paced like a model generating tokens."""
        return PacedStream(text_pieces(text), self.pacer(start=start, audio=False, cold=cold))

    def pacer(self, *, start: float | None = None, audio: bool = True, cold: bool = True) -> Pacer:
        return self.timing.pacer(self.clock, start=start, audio=audio, cold=cold)
