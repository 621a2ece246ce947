"""Drive Gemini's sans-IO `LiveProtocol` the way the asyncio shell does, with explicit times.

`Harness` feeds frames with a chosen `now`; for each `Generate` a test either reports hearing,
thinking and the generated pieces itself (`reply`, `stream`) or lets `drive` run the whole job
with a brain (the real rule-based one by default): hear → think → speak → spoken, synchronously.
Every message the protocol sends is checked against google-genai's types (the oracle), unless
`check=False` (the fuzz test counts oracle failures itself).

Timing is real time (speed 1): the model generates at 3× after 250 ms, so a 1 s reply is
generated in ~333 ms and its assumed playback ends 1 s after the first audio was sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtimelab.emulator.dialects.gemini.protocol import (
    Action,
    Close,
    Generate,
    LiveProtocol,
    Send,
    Speak,
    StartTimer,
)
from realtimelab.emulator.dialects.gemini.resumption import ResumptionStore
from realtimelab.emulator.engine import BrainLike, Heard, OutputPiece, audio_pieces, text_pieces
from realtimelab.emulator.ids import IdSpace
from realtimelab.emulator.model import Reply
from realtimelab.emulator.timing import GenerationTiming
from realtimelab.vad import StreamingVad
from support.conformance.gemini import validate_server_message

__all__ = [
    "MODEL",
    "MODEL_25",
    "RATE",
    "TIMING",
    "Harness",
    "timers",
    "words_audio",
]

MODEL = "models/gemini-3.8-live"
MODEL_25 = "models/gemini-2.5-flash-native-audio-preview-12-2025"
TIMING = GenerationTiming(rate=3.0, first_audio_ms=250.0, speed=1.0)
RATE = 24000


def words_audio(text: str, ms_per_word: float = 250.0) -> list[OutputPiece]:
    """The pieces the engine would stream: each word, then its audio in 50 ms chunks."""
    n = int(RATE * ms_per_word / 1000) * max(1, len(text.split()))
    return audio_pieces([(text, bytes(2 * n))], RATE, chunk_ms=50)


class _Clock:
    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited here
        pass


def _real_brain() -> BrainLike:
    from realtimelab.emulator.brain import Brain

    return Brain(seed=0)


@dataclass
class Harness:
    """One `LiveProtocol` and everything it sent; see the module docstring."""

    model: str = MODEL
    handles: ResumptionStore = field(default_factory=ResumptionStore)
    ids: IdSpace = field(default_factory=lambda: IdSpace(0, instance=1))
    open_socket: bool = True
    session_audio_s: float = 900.0
    session_video_s: float = 120.0
    check: bool = True
    brain_factory: Callable[[], BrainLike] = _real_brain
    heard_text: str = "user words"
    proto: LiveProtocol = field(init=False)
    sent: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proto = LiveProtocol(
            handles=self.handles,
            ids=self.ids,
            vad_factory=lambda rate, params: StreamingVad(rate, params),
            timing=TIMING,
            alive=lambda: self.open_socket,
            lifetime_s=600.0,
            session_audio_s=self.session_audio_s,
            session_video_s=self.session_video_s,
        )
        self._brain: BrainLike | None = None

    # -- feeding -----------------------------------------------------------------------------
    def apply(self, actions: list[Action]) -> list[Action]:
        """Record actions; every sent message must pass the SDK oracle (unless `check=False`)."""
        for action in actions:
            if isinstance(action, Send):
                if self.check:
                    validate_server_message(self.proto.encode(action.message))
                self.sent.append(action.message)
        self.actions += actions
        return actions

    def raw(self, frame: str | bytes, now: float) -> list[Action]:
        return self.apply(self.proto.receive(frame, now))

    def frame(self, body: dict[str, Any], now: float) -> list[Action]:
        return self.raw(json.dumps(body), now)

    def setup(self, now: float = 0.0, **extra: Any) -> list[Action]:
        self.apply(self.proto.open(now))
        return self.frame({"setup": {"model": self.model, **extra}}, now)

    def text(self, text: str, now: float) -> Generate:
        actions = self.frame({"realtimeInput": {"text": text}}, now)
        (job,) = [a for a in actions if isinstance(a, Generate)]
        return job

    def audio(self, pcm: bytes, now: float, mime: str = "audio/pcm;rate=16000") -> list[Action]:
        b64 = base64.b64encode(pcm).decode()
        return self.frame({"realtimeInput": {"audio": {"data": b64, "mimeType": mime}}}, now)

    def video(self, data: bytes, now: float, mime: str = "image/jpeg") -> list[Action]:
        b64 = base64.b64encode(data).decode()
        return self.frame({"realtimeInput": {"video": {"data": b64, "mimeType": mime}}}, now)

    # -- playing the shell's part --------------------------------------------------------------
    def reply(self, job: Generate, reply: Reply, now: float) -> Speak | None:
        if job.turn is not None:
            self.apply(self.proto.heard(job.job, Heard(self.heard_text, True, 1.0), now))
        assert self.proto.context(job.job) is not None
        actions = self.apply(self.proto.replied(job.job, reply, now))
        return next((a for a in actions if isinstance(a, Speak)), None)

    def stream(self, speak: Speak, until_s: float | None = None) -> float:
        """Stream the utterance's pieces at their generation times (stop at `until_s`)."""
        pacer = TIMING.pacer(_Clock(), start=speak.start, cold=speak.cold)
        t = speak.start
        pieces = words_audio(speak.text) if speak.modality == "audio" else text_pieces(speak.text)
        for piece in pieces:
            t = pacer.due(piece.at_ms)
            if until_s is not None and t > until_s:
                return t
            self.apply(self.proto.piece(speak.job, piece, t))
        return t

    def drive(self, job: Generate, now: float) -> float:
        """Run a whole job with the brain (hear → think → speak every utterance → spoken)."""
        if self._brain is None:
            self._brain = self.brain_factory()
        if job.turn is not None:
            self.apply(self.proto.heard(job.job, Heard(self.heard_text, True, 1.0), now))
        request = self.proto.context(job.job)
        if request is None:
            return now
        reply = self._brain.respond(
            list(request.history),
            tools=list(request.tools),
            instructions=request.instructions,
            facts=request.facts,
        )
        actions = self.apply(self.proto.replied(job.job, reply, now))
        speak = next((a for a in actions if isinstance(a, Speak)), None)
        t = now
        while speak is not None:
            t = self.stream(speak)
            actions = self.apply(self.proto.spoken(job.job, t))
            speak = next((a for a in actions if isinstance(a, Speak)), None)
        return t

    def finish_turn(self, now: float) -> list[Action]:
        """Fire the pending `turn_complete` timer (the assumed playback ended)."""
        return self.apply(self.proto.timer("turn_complete", now))

    # -- reading what was sent -----------------------------------------------------------------
    def types(self) -> list[str]:
        """One name per sent message (a `serverContent`'s first field)."""
        out = []
        for m in self.sent:
            key = next(k for k in m if k != "usageMetadata")
            body = m[key]
            if key == "serverContent":
                key = next(k for k in body)
            out.append(key)
        return out

    def content(self, field_name: str) -> list[Any]:
        """Every value of `serverContent.<field_name>` sent so far, in order."""
        return [
            m["serverContent"][field_name]
            for m in self.sent
            if field_name in m.get("serverContent", {})
        ]

    def said(self) -> str:
        return "".join(t["text"] for t in self.content("outputTranscription"))

    def closes(self) -> list[Close]:
        return [a for a in self.actions if isinstance(a, Close)]


def timers(actions: list[Action]) -> dict[str, float]:
    return {a.name: a.at for a in actions if isinstance(a, StartTimer)}
