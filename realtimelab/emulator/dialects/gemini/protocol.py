"""Gemini Live's server decisions, sans-IO: client frames in, actions out.

`LiveProtocol` decides everything the real server decides for one connection — setup and
resumption, barge-in, turn taking, tool scheduling (BLOCKING / NON_BLOCKING with SILENT,
WHEN_IDLE, INTERRUPT), when `generationComplete` and `turnComplete` go out, resumption
snapshots, the connection lifetime and the session audio limit — and touches no socket, no
task and no real clock: every method takes `now` (clock seconds). The asyncio shell
(`shell.py`) executes the actions in order:

* `Send(message)`            a server message (the shell encodes it as a binary frame),
* `Close(code, reason)`      close the WebSocket after what was queued,
* `Generate(job, turn)`      run the model for a job: hear `turn` (if any) and report back with
                             `heard`, then think over `context(job)` and report with `replied`,
* `Speak(job, text, …)`      synthesise and stream `text`; report each piece with `piece`, then
                             the end with `spoken` (which may return another `Speak`),
* `Stop(job)`                cancel that job's work (barge-in),
* `StartTimer(name, at)` / `CancelTimer(name)`   call `timer(name, now)` at clock time `at`.

Turn state machine (one model turn at a time):

    IDLE ──user turn──► GENERATING ──blocking calls──► AWAITING_TOOLS ──all answered──┐
      ▲                     │ ◄───────────────────────────────────────────────────────┘
      │                     └──generation ends: generationComplete──► PLAYING
      └──────────── turnComplete (when the assumed playback ends) ◄─────┘
    GENERATING / AWAITING_TOOLS / PLAYING ──barge-in──► interrupted, turnComplete ──► IDLE

The model generates faster than real time (`timing.GenerationTiming`); the server assumes the
client plays each chunk as it arrives, at real time (`timing.Playout`). So `generationComplete`
marks the end of generation and `turnComplete` comes when that playback ends — as google-genai
documents. Speech during PLAYING still interrupts (the assumed playback is cut), and after an
interruption the history keeps only what the server assumes was heard by then.

What the user sends accumulates: every user part since the model last spoke (typed text,
`clientContent` turns with `turnComplete: false`, a spoken turn, camera frames) sits in the
history as its own `UserMessage`, and the next model turn answers all of them (google-genai,
`LiveClientContent.turn_complete`: generation starts "with the currently accumulated prompt").
Camera frames wait for the next user message and ride on it as `images`.

Start signals: with `historyConfig.initialHistoryInClientContent`, `clientContent` sent before
the first realtime input only seeds the history ("This initial history will not trigger a model
call", HistoryConfig docstring); a whitespace-only `realtimeInput.text` is a start signal, not an
utterance: it starts a model turn when the model is idle and is ignored otherwise (no barge-in).

Model differences come from the catalogue: 3.x models bundle parts in one `serverContent` (an
audio chunk with its `outputTranscription`; the last words with `generationComplete`) and send
the user's transcription as one final piece, 2.5 models send one field per message and stream
input-transcription partials. With `googleSearch` declared, questions the local corpus
(`realtimelab.emulator.grounding`) knows are answered from it, with `groundingMetadata`.

Limits: 15 min of audio, or 2 min once video frames are part of the session, without
`contextWindowCompression` (close 1011); with it, the sliding window trims the oldest turns
(`usage.sliding_window_cut`) before each generation. No client frame, however malformed,
raises out of `receive`: a bug becomes a logged 1011, every close reason fits 123 bytes.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realtimelab.emulator.dialects.gemini import usage, wire
from realtimelab.emulator.dialects.gemini.frames import (
    ActivityEnd,
    ActivityStart,
    AudioIn,
    AudioStreamEnd,
    Close,
    ContextUpdate,
    GeminiFrames,
    Input,
    Phase,
    SetupReceived,
    TextIn,
    ToolResponses,
    TurnsIn,
    UsageCounts,
    VideoIn,
    grounding_metadata,
)
from realtimelab.emulator.dialects.gemini.resumption import ResumptionStore, Snapshot
from realtimelab.emulator.dialects.gemini.setup import GeminiSetup
from realtimelab.emulator.dialects.gemini.tokens import TokenError, TokenStore
from realtimelab.emulator.engine import (
    Heard,
    InputAudio,
    OutputPiece,
    SpeechBegan,
    SpeechEnded,
    TurnAudio,
    VadLike,
)
from realtimelab.emulator.grounding import Grounding, search_corpus
from realtimelab.emulator.ids import IdSpace
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.timing import GenerationTiming, Playout

__all__ = [
    "INPUT_RATE",
    "RESUME_WHILE_OPEN",
    "Action",
    "CancelTimer",
    "Close",
    "Generate",
    "LiveProtocol",
    "Send",
    "Speak",
    "StartTimer",
    "Stop",
    "ThinkRequest",
    "TurnState",
    "go_away_lead_s",
]

log = logging.getLogger("realtimelab.emulator.gemini")

INPUT_RATE = 16_000
#: Input audio kept outside speech (the VAD's look-back needs far less than this).
KEEP_SILENCE_MS = 5_000.0
#: Camera frames kept waiting for the next user message (oldest dropped beyond this): a client
#: streaming video without ever speaking must not grow the session without bound.
MAX_PENDING_IMAGES = 256
#: The audio+video session limit without compression ("audio-video sessions are limited to 2
#: minutes", Live API session management). Each frame counts as one second of video (Live asks
#: for at most one frame per second), so the limit is reached after 120 frames, or 120 s of
#: audio once the session has video.
SESSION_VIDEO_S = 120.0
#: The close for a resumption while another connection still holds the session. The code comes
#: from one third-party report against the live API (aicc2025/sip-to-ai PR#14, 2026-09: "Gemini
#: rejects a resume with 1011 while an earlier socket of the same session is still open"); its
#: reason text was not recorded, so the emulator uses Google's generic 1011 reason. Stricter
#: side: a client that resumes on `goAway` before closing the old socket is refused.
RESUME_WHILE_OPEN = (1011, wire.INTERNAL_ERROR)


def go_away_lead_s(lifetime_s: float) -> float:
    """How long before the close `goAway` is sent: min(60 s, 20 % of the lifetime)."""
    return min(60.0, 0.2 * lifetime_s)


# --- actions (what the shell must do) ---------------------------------------------------------


@dataclass(frozen=True)
class Send:
    message: dict[str, Any]


@dataclass(frozen=True)
class Generate:
    """Run the model for `job`: hear `turn` first when given (then call `heard`)."""

    job: int
    turn: TurnAudio | None


@dataclass(frozen=True)
class Speak:
    """Synthesise `text` and stream it; `start` is when the model began the reply (clock
    seconds) and `cold` whether the first-audio latency still applies."""

    job: int
    text: str
    voice: str
    modality: str  # "audio" | "text"
    start: float
    cold: bool = True


@dataclass(frozen=True)
class Stop:
    job: int


@dataclass(frozen=True)
class StartTimer:
    name: str
    at: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


Action = Send | Close | Generate | Speak | Stop | StartTimer | CancelTimer


@dataclass(frozen=True)
class ThinkRequest:
    """What the brain needs for a job."""

    history: tuple[Item, ...]
    tools: tuple[ToolSpec, ...]
    instructions: str
    facts: SessionFacts


class TurnState(enum.Enum):
    IDLE = "idle"
    GENERATING = "generating"
    AWAITING_TOOLS = "awaiting_tools"
    PLAYING = "playing"  # generation complete; the server assumes the client is still playing


@dataclass
class _Job:
    id: int
    turn: TurnAudio | None
    started: float | None = None  # when the model began generating (after hearing)
    calls: tuple[FunctionCall, ...] = ()  # to announce once the spoken preamble is out
    final: bool = False  # the utterance being spoken is the answer (kept in history)
    spoke: bool = False  # an utterance of this job already paid the first-audio latency
    grounding: Grounding | None = None  # the answer came from the search corpus


@dataclass
class _Utterance:
    base_ms: float  # turn audio position where it starts
    words: list[tuple[float, str]]  # (turn audio position, text); -1 = heard at once (text)
    history_index: int | None = None


# --- the protocol -----------------------------------------------------------------------------


class LiveProtocol:
    """One Gemini Live connection's server-side decisions. See the module docstring.

    Dependencies are plain objects: the per-emulator `handles` (resumption snapshots and which
    connection holds each session) and `tokens` (ephemeral tokens) stores, the id space, the VAD
    factory, the generation timing, and `alive` — whether *this* connection's socket is still
    open (another connection's resumption is refused while it is).
    """

    def __init__(
        self,
        *,
        handles: ResumptionStore,
        ids: IdSpace,
        vad_factory: Callable[[int, Any], VadLike],
        timing: GenerationTiming,
        alive: Callable[[], bool],
        frames: GeminiFrames | None = None,
        tokens: TokenStore | None = None,
        token_name: str | None = None,
        lifetime_s: float = 600.0,
        session_audio_s: float = 900.0,
        session_video_s: float = SESSION_VIDEO_S,
    ) -> None:
        self.frames = frames or GeminiFrames()
        self.handles = handles
        self.ids = ids
        self.tokens = tokens
        self.token_name = token_name
        self._vad_factory = vad_factory
        self.timing = timing
        self._alive = alive
        self.lifetime_s = lifetime_s
        self.audio_limit_ms = 1000.0 * session_audio_s
        self.video_limit_ms = 1000.0 * session_video_s
        self.setup: GeminiSetup | None = None
        self.input: InputAudio | None = None
        self.history: list[Item] = []
        self.instructions = ""
        self.tools: tuple[ToolSpec, ...] = ()
        self.session_audio_ms = 0.0
        self.session_video_frames = 0  # video frames the session has seen (limit and usage)
        self.google_search = False
        self.trimmed_items = 0  # history items the sliding window dropped so far
        self.session_key: str | None = None
        self.turn = TurnState.IDLE
        self.closing = False
        self._job: _Job | None = None
        self._jobs = 0
        self._playout = Playout(timing.speed)
        self._turn_output = ""
        self._turn_audio_ms = 0.0
        self._said: list[_Utterance] = []  # utterances of the open turn
        self._speaking: _Utterance | None = None
        self._followups = 0  # WHEN_IDLE results waiting for the current turn to end
        # non-blocking results that arrived while an answer was being generated: they join the
        # history after that answer (which is recorded when its generation ends), so the turn
        # they start reads "answer, result" and is about the result
        self._held: list[FunctionResult] = []
        self._queued: list[TurnAudio] = []  # spoken turns held back under NO_INTERRUPTION
        self._last_turn_end_ms = 0.0
        self._resamplers: dict[int, Any] = {}
        self._timers: set[str] = set()
        self._seeding = False  # historyConfig: clientContent only seeds until realtime input
        self._in_activity = False  # between activityStart and activityEnd (manual VAD)
        self._images: list[ImageInput] = []  # camera frames waiting for the next user message
        self._pending_words = ""  # 3.x: transcript waiting for the audio chunk that speaks it
        self._turn_thoughts = 0
        self._turn_tool_use = 0

    # -- connection ----------------------------------------------------------------------------
    def open(self, now: float) -> list[Action]:
        """The connection is up: schedule its `goAway`."""
        lead = go_away_lead_s(self.lifetime_s)
        return [self._start_timer("go_away", now + max(0.0, self.lifetime_s - lead))]

    def closed(self) -> None:
        """The socket is gone: the session is free to be resumed elsewhere."""
        self.closing = True
        self.frames.close()
        if self.session_key is not None:
            self.handles.release(self.session_key, self._alive)

    def encode(self, message: Mapping[str, Any]) -> bytes:
        return self.frames.encode(message)

    # -- frames in -----------------------------------------------------------------------------
    def receive(self, frame: str | bytes, now: float) -> list[Action]:
        """Handle one client frame.

        Never raises: malformed input is answered by the frame and setup readers (1007/1008),
        and anything else that goes wrong is an emulator bug, logged and answered as the real
        service answers its internal errors (1011 "Internal error encountered.").
        """
        if self.closing:
            return []
        try:
            return self._receive(frame, now)
        except Exception:
            log.exception("gemini: internal error on a client frame")
            return self._close(1011, wire.INTERNAL_ERROR)

    def _receive(self, frame: str | bytes, now: float) -> list[Action]:
        actions: list[Action] = []
        if self.token_name and self.frames.phase is Phase.ACTIVE:
            assert self.tokens is not None
            try:
                self.tokens.check_live(self.token_name)
            except TokenError as exc:
                return self._close(1008, str(exc))
        for event in self.frames.receive(frame):
            actions += self._on(event, now)
            if self.closing:
                break
        return actions

    def _on(self, event: Input, now: float) -> list[Action]:
        if isinstance(event, Close):
            log.info("gemini: closing %s %s (%s)", event.code, event.reason, event.detail)
            return self._close(event.code, event.reason)
        if isinstance(event, SetupReceived):
            return self._start(event.setup)
        setup, audio = self.setup, self.input
        assert setup is not None and audio is not None
        if isinstance(event, AudioIn | VideoIn | TextIn | ActivityStart | ActivityEnd):
            self._seeding = False  # realtime input starts the conversation
        if isinstance(event, AudioStreamEnd):
            self._seeding = False
        if isinstance(event, AudioIn):
            return self._on_audio(event, now)
        if isinstance(event, VideoIn):
            return self._on_video(event)
        if isinstance(event, TextIn):
            if not event.text.strip():
                return self._start_signal(now)
            actions = self._interrupt(now)
            self.history.append(UserMessage(event.text, images=self._take_images()))
            return actions + self._start_turn(None, now)
        if isinstance(event, ActivityStart):
            self._in_activity = True
            actions = self._interrupt(now) if setup.barge_in else []
            if setup.turn_coverage != "TURN_INCLUDES_ALL_INPUT":
                audio.clear()  # the turn's audio is the activity's only
            return actions
        if isinstance(event, ActivityEnd):
            self._in_activity = False
        if isinstance(event, ActivityEnd | AudioStreamEnd):
            if isinstance(event, AudioStreamEnd) and not audio.in_speech:
                return []
            turn = audio.commit()
            return self._user_turn(turn, now) if turn.pcm else []
        if isinstance(event, TurnsIn):
            if self._seeding:
                # historyConfig.initialHistoryInClientContent: history, not a request
                self.history.extend(event.items)
                self._seeding = not event.turn_complete
                return []
            actions = self._interrupt(now)
            self.history.extend(event.items)
            if not event.turn_complete:
                return actions
            images = self._take_images()
            if images:
                self.history.append(UserMessage("", images=images))
            return actions + self._start_turn(None, now)
        if isinstance(event, ToolResponses):
            return self._on_tool_responses(event, now)
        if isinstance(event, ContextUpdate):
            if event.instructions is not None:
                self.instructions = event.instructions
            if event.tools is not None:
                self.tools = event.tools
            if event.google_search is not None:
                self.google_search = event.google_search
            return []
        raise AssertionError(f"unhandled input {event!r}")  # pragma: no cover

    def _start(self, setup: GeminiSetup) -> list[Action]:
        """Setup parsed: check the handle (or spend a token use), then `setupComplete`."""
        if setup.resume_handle is not None:
            snap = self.handles.get(setup.resume_handle)
            if snap is None:
                return self._close(1008, wire.SESSION_NOT_FOUND)
            if snap.model != setup.model:
                return self._close(1007, wire.INVALID_ARGUMENT)
            if not self.handles.claim(snap.session_key, self._alive):
                return self._close(*RESUME_WHILE_OPEN)
            self.session_key = snap.session_key
            self.history = list(snap.history)
            self.session_audio_ms = snap.session_audio_ms
            self.session_video_frames = snap.session_video_frames
        else:
            if self.token_name is not None:
                assert self.tokens is not None
                try:
                    self.tokens.start_session(self.token_name)
                except TokenError as exc:
                    return self._close(exc.code, str(exc))
            self.session_key = "session-" + secrets.token_hex(8)
            self.handles.claim(self.session_key, self._alive)
        self.setup = setup
        self.instructions = setup.instructions
        self.tools = setup.tools
        self.google_search = setup.google_search
        self._seeding = setup.initial_history
        self.input = InputAudio(INPUT_RATE, self._vad_factory, setup.vad.params())
        actions: list[Action] = [Send(self.frames.accept_setup())]
        if setup.resumption:
            actions.append(self._resumption_update())
        return actions

    def _on_audio(self, event: AudioIn, now: float) -> list[Action]:
        setup, audio = self.setup, self.input
        assert setup is not None and audio is not None
        pcm = event.pcm
        if event.rate != INPUT_RATE:
            resampler = self._resamplers.get(event.rate)
            if resampler is None:
                from realtimelab.audio import StreamResampler

                resampler = self._resamplers[event.rate] = StreamResampler(event.rate, INPUT_RATE)
            pcm = resampler.process(pcm)
        self.session_audio_ms += len(event.pcm) / (event.rate * 2 / 1000)
        if self._over_session_limit():
            return self._close(1011, wire.DEADLINE_EXPIRED)
        actions: list[Action] = []
        events = audio.append(pcm)
        if audio.vad_enabled and not audio.in_speech:
            audio.trim_silence(KEEP_SILENCE_MS)  # a mic streaming silence must not pile up
        for ev in events:
            if isinstance(ev, SpeechBegan):
                if setup.barge_in:
                    actions += self._interrupt(now)
            elif isinstance(ev, SpeechEnded) and ev.turn.pcm:
                actions += self._user_turn(ev.turn, now)
        return actions

    def _over_session_limit(self) -> bool:
        """15 min of audio, or 2 min of audio+video, without contextWindowCompression.

        The limits are documented; the close is not: 1011 with the wording Google uses for
        deadlines. Video is counted as one second per frame.
        """
        assert self.setup is not None
        if self.setup.compression:
            return False
        if self.session_video_frames:
            media_ms = max(self.session_audio_ms, 1000.0 * self.session_video_frames)
            return media_ms > self.video_limit_ms
        return self.session_audio_ms > self.audio_limit_ms

    def _on_video(self, event: VideoIn) -> list[Action]:
        """A camera frame: it joins the next user message (and the session's video time).

        Under TURN_INCLUDES_ONLY_ACTIVITY (the 2.5 default) only frames sent while the user is
        active (speaking, or between activityStart and activityEnd) are part of a turn; the
        other coverages (the 3.x default included) take every frame.
        """
        assert self.setup is not None and self.input is not None
        self.session_video_frames += 1
        if self._over_session_limit():
            return self._close(1011, wire.DEADLINE_EXPIRED)
        active = self.input.in_speech or self._in_activity
        if self.setup.turn_coverage == "TURN_INCLUDES_ONLY_ACTIVITY" and not active:
            return []
        self._images.append(event.image)
        del self._images[:-MAX_PENDING_IMAGES]
        return []

    def _take_images(self) -> tuple[ImageInput, ...]:
        images, self._images = tuple(self._images), []
        return images

    def _start_signal(self, now: float) -> list[Action]:
        """Whitespace-only text: start a model turn if the model is idle, never barge in.

        pipecat sends `" "` to make the model answer the history it seeded; a client sending it
        while the model speaks has said nothing that could interrupt.
        """
        if self.turn is not TurnState.IDLE or self._queued:
            return []
        images = self._take_images()
        if images:
            self.history.append(UserMessage("", images=images))
        return self._start_turn(None, now)

    def _on_tool_responses(self, event: ToolResponses, now: float) -> list[Action]:
        """Fold results into history and schedule generation as each response asks.

        An INTERRUPT result cuts the current answer *before* it is added, so the history reads
        "(interrupted answer), result" and the next turn is about the result. WHEN_IDLE waits
        for the open turn to end (including its assumed playback); SILENT only folds.
        """
        known = [r for r in event.responses if r.known]
        for r in event.responses:
            if not r.known:
                log.info("gemini: ignoring response for unknown call %s", r.call_id)
        actions: list[Action] = []
        if any(r.non_blocking and r.scheduling == "INTERRUPT" for r in known):
            actions += self._interrupt(now, cancel_calls=False)
        run_now = False
        for r in known:
            result = FunctionResult(r.call_id, r.name, r.output)
            if r.non_blocking and self.turn is TurnState.GENERATING:
                self._held.append(result)
            else:
                self.history.append(result)
            if not r.non_blocking or r.scheduling == "SILENT":
                continue
            if self.turn is not TurnState.IDLE:
                self._followups += 1
            else:
                run_now = True
        blocking_done = any(not r.non_blocking for r in known)
        if (
            blocking_done
            and self.turn is TurnState.AWAITING_TOOLS
            and not self.frames.blocking_pending
        ):
            actions += self._continue_turn(now)  # every blocking call is answered
        elif run_now:
            self._followups = 0
            actions += self._start_turn(None, now)
        return actions

    # -- turns ---------------------------------------------------------------------------------
    def _user_turn(self, turn: TurnAudio, now: float) -> list[Action]:
        """A spoken turn ended. Under NO_INTERRUPTION it waits for the model's turn to end."""
        assert self.setup is not None
        if not self.setup.barge_in and self.turn is not TurnState.IDLE:
            self._queued.append(turn)
            return []
        return self._interrupt(now) + self._start_turn(turn, now)

    def _new_job(self, turn: TurnAudio | None, started: float | None) -> _Job:
        self._jobs += 1
        self._job = _Job(self._jobs, turn, started)
        return self._job

    def _start_turn(self, turn: TurnAudio | None, now: float) -> list[Action]:
        """Open a model turn: resumption pauses, the model runs."""
        assert self.setup is not None
        self.turn = TurnState.GENERATING
        self._playout = Playout(self.timing.speed)
        self._turn_output, self._turn_audio_ms = "", 0.0
        self._said, self._speaking = [], None
        self._pending_words = ""
        self._turn_thoughts = self._turn_tool_use = 0
        job = self._new_job(turn, None if turn is not None else now)
        actions: list[Action] = []
        if self.setup.resumption:
            actions.append(Send(self.frames.resumption_frame(None)))
        return [*actions, Generate(job.id, turn)]

    def _continue_turn(self, now: float) -> list[Action]:
        """Every blocking call is answered: the model generates again in the same turn."""
        self.turn = TurnState.GENERATING
        job = self._new_job(None, now)
        return [Generate(job.id, None)]

    def _current(self, job_id: int) -> _Job | None:
        """The job, unless it was stopped (then its late reports are ignored)."""
        job = self._job
        return job if job is not None and job.id == job_id and not self.closing else None

    # -- reports from the shell's model run ----------------------------------------------------
    def heard(self, job_id: int, heard: Heard, now: float) -> list[Action]:
        """The ears finished the job's turn: the user message joins the history."""
        job = self._current(job_id)
        if job is None or job.turn is None:
            return []
        assert self.setup is not None
        job.started = now
        actions: list[Action] = []
        if self.setup.input_transcription and heard.text:
            # 2.5 models stream partials, 3.x models send one final transcription
            partials = not self.setup.bundles
            for frame in self.frames.input_transcription_frames(heard.text, partials=partials):
                actions.append(Send(frame))
        turn = job.turn
        if self.setup.turn_coverage == "TURN_INCLUDES_ALL_INPUT":
            audio_ms = max(turn.duration_ms, turn.end_ms - self._last_turn_end_ms)
        else:
            audio_ms = turn.duration_ms
        self._last_turn_end_ms = turn.end_ms
        self.history.append(UserMessage(heard.text, audio_ms=audio_ms, images=self._take_images()))
        return actions

    def context(self, job_id: int) -> ThinkRequest | None:
        """What to think about for the job (None: the job was stopped).

        This is where a turn "runs", so the sliding window trims the context here first.
        """
        if self._current(job_id) is None:
            return None
        setup = self.setup
        assert setup is not None
        if setup.compression:
            self._trim()
        facts = SessionFacts(
            provider="gemini",
            voice=setup.voice,
            modality=setup.modality,
            model=setup.model,
            vad={} if setup.vad.disabled else {"type": "automatic_activity_detection"},
        )
        return ThinkRequest(tuple(self.history), self.tools, self.instructions, facts)

    def replied(self, job_id: int, reply: Reply, now: float) -> list[Action]:
        """The brain answered: speak the preamble or the answer, or announce the calls.

        With `googleSearch` declared and no function to call, a question the local corpus
        answers is answered from it (its `groundingMetadata` goes out with the answer).
        """
        job = self._current(job_id)
        if job is None:
            return []
        assert self.setup is not None
        if job.started is None:
            job.started = now
        self._turn_thoughts += usage.thoughts_tokens(
            reasoning=self.setup.reasoning,
            generation=self.setup.generation,
            level=self.setup.thinking_level,
            budget=self.setup.thinking_budget,
        )
        if self.google_search and not reply.tool_calls:
            hit = search_corpus(self._unanswered_text())
            if hit is not None:
                job.grounding = hit
                pages = " ".join(f"{s.title} {s.uri}" for s in hit.sources)
                self._turn_tool_use += usage.text_tokens(f"{hit.query} {pages} {hit.answer}")
                return [self._speak(job, hit.answer, final=True)]
        if reply.tool_calls:
            job.calls = tuple(
                FunctionCall(self.ids.gemini_call_id(), c.name, dict(c.arguments))
                for c in reply.tool_calls
            )
            if reply.preamble:
                return [self._speak(job, reply.preamble, final=False)]
            return self._announce_calls(job, now)
        if reply.text:
            return [self._speak(job, reply.text, final=True)]
        return self._generation_done(now)

    def _speak(self, job: _Job, text: str, *, final: bool) -> Speak:
        assert self.setup is not None and job.started is not None
        job.final = final
        self._speaking = _Utterance(self._playout.total_ms, [])
        cold = not job.spoke
        job.spoke = True
        return Speak(job.id, text, self.setup.voice, self.setup.modality, job.started, cold)

    def piece(self, job_id: int, piece: OutputPiece, now: float) -> list[Action]:
        """One generated piece went out (audio, its transcript, or text)."""
        job, setup, said = self._current(job_id), self.setup, self._speaking
        if job is None or said is None:
            return []
        assert setup is not None
        if piece.kind == "audio":
            self._playout.add(now, piece.audio_ms)
            self._turn_audio_ms += piece.audio_ms
            self.session_audio_ms += piece.audio_ms
            words, self._pending_words = self._pending_words, ""
            return [Send(self.frames.audio_frame(piece.audio, words))]
        # A second utterance in the same turn (the answer after a spoken acknowledgement) must
        # not glue its first word to the last one: real Gemini fragments carry their spacing.
        sep = (
            " "
            if not said.words and self._turn_output and not self._turn_output[-1].isspace()
            else ""
        )
        text = sep + piece.text
        self._turn_output += text
        if piece.kind == "text":
            said.words.append((-1.0, text))
            return [Send(self.frames.text_frame(text))]
        said.words.append((said.base_ms + piece.at_ms, text))
        if not setup.output_transcription:
            return []
        if setup.bundles:  # 3.x: the words travel with the audio chunk that speaks them
            self._pending_words += text
            return []
        return [Send(self.frames.output_transcription_frame(text))]

    def spoken(self, job_id: int, now: float) -> list[Action]:
        """The utterance is fully generated: announce pending calls or end the generation."""
        job, said = self._current(job_id), self._speaking
        if job is None:
            return []
        self._speaking = None
        text = ""
        if said is not None:
            if job.final:
                text = "".join(t for _, t in said.words).strip()
                if text:
                    self.history.append(AssistantMessage(text))
                    said.history_index = len(self.history) - 1
            self._said.append(said)
        self._release_held()
        if job.calls:
            return self._announce_calls(job, now)
        found = job.grounding if job.final else None
        return self._generation_done(now, found, text)

    def failed(self, job_id: int) -> list[Action]:
        """The model run crashed: close 1011, as the real service does on an internal error."""
        if self._current(job_id) is None:
            return []
        return self._close(1011, wire.INTERNAL_ERROR)

    def _announce_calls(self, job: _Job, now: float) -> list[Action]:
        calls, job.calls = job.calls, ()
        self.history.extend(calls)
        actions: list[Action] = []
        words, self._pending_words = self._pending_words, ""
        if words:  # the preamble's last words go out before the call
            actions.append(Send(self.frames.output_transcription_frame(words)))
        actions.append(Send(self.frames.tool_call_frame(calls, self.tools)))
        if self.frames.blocking_pending:
            self.turn = TurnState.AWAITING_TOOLS  # the turn stays open for the results
            self._job = None
            return actions
        return actions + self._generation_done(now)

    def _generation_done(
        self, now: float, found: Grounding | None = None, answer: str = ""
    ) -> list[Action]:
        """`generationComplete` now; `turnComplete` once the assumed playback is over.

        A search-grounded answer's `groundingMetadata` comes just before (2.5) or with (3.x)
        `generationComplete`, as do the turn's last transcribed words on 3.x.
        """
        assert self.setup is not None
        self.turn = TurnState.PLAYING
        self._job = None
        words, self._pending_words = self._pending_words, ""
        actions: list[Action] = []
        metadata = grounding_metadata(found, answer) if found is not None else None
        if self.setup.bundles:
            actions.append(Send(self.frames.generation_complete_frame(words, metadata)))
        else:
            if words:
                actions.append(Send(self.frames.output_transcription_frame(words)))
            if metadata is not None:
                actions.append(Send({"serverContent": {"groundingMetadata": metadata}}))
            actions.append(Send(self.frames.generation_complete_frame()))
        end = self._playout.end
        if end is None or end <= now:
            return actions + self._turn_complete(now)
        return [*actions, self._start_timer("turn_complete", end)]

    def _turn_complete(self, now: float) -> list[Action]:
        self.turn = TurnState.IDLE
        actions: list[Action] = [Send(self.frames.turn_complete_frame(self._usage()))]
        return actions + self._after_turn(now)

    def _interrupt(self, now: float, *, cancel_calls: bool = True) -> list[Action]:
        """Barge-in / new input: stop generating, cut the assumed playback, close the turn.

        The history keeps what the server assumes the listener heard by `now`: words spoken
        before the playback position (all of a text reply, which needs no playback).
        """
        if self.turn is TurnState.IDLE:
            return []
        actions: list[Action] = []
        self._pending_words = ""  # their audio never went out
        if self._job is not None:
            actions.append(Stop(self._job.id))
            self._job = None
        if "turn_complete" in self._timers:
            actions.append(self._cancel_timer("turn_complete"))
        heard_ms = self._playout.heard_ms(now)
        if self._speaking is not None:
            self._said.append(self._speaking)
            self._speaking = None
        drop: list[int] = []
        for said in self._said:
            kept = "".join(t for at, t in said.words if at < heard_ms).strip()
            if said.history_index is None:
                if kept:
                    self.history.append(AssistantMessage(kept, interrupted=True))
            elif kept:
                self.history[said.history_index] = AssistantMessage(kept, interrupted=True)
            else:
                drop.append(said.history_index)
        for index in sorted(drop, reverse=True):
            del self.history[index]
        self._said = []
        self._release_held()
        if cancel_calls:
            cancel = self.frames.cancel_blocking_calls()
            if cancel is not None:
                actions.append(Send(cancel))
        self.turn = TurnState.IDLE
        actions.append(Send(self.frames.interrupted_frame()))
        actions.append(Send(self.frames.turn_complete_frame(self._usage())))
        # the input that interrupted starts the next turn itself
        return actions + self._after_turn(now, start_next=False)

    def _release_held(self) -> None:
        """Results held while an answer was generated follow it into the history."""
        if self._held:
            self.history.extend(self._held)
            self._held = []

    def _after_turn(self, now: float, *, start_next: bool = True) -> list[Action]:
        """Turn closed: publish a resumption handle, then run a queued turn or a follow-up."""
        assert self.setup is not None
        actions: list[Action] = []
        if self.setup.resumption:
            actions.append(self._resumption_update())
        if not start_next:
            return actions
        if self._queued:
            return actions + self._start_turn(self._queued.pop(0), now)
        if self._followups:
            self._followups = 0
            return actions + self._start_turn(None, now)
        return actions

    # -- timers and lifetime -------------------------------------------------------------------
    def timer(self, name: str, now: float) -> list[Action]:
        """A timer set by `StartTimer` fired."""
        if name not in self._timers or self.closing:
            return []
        self._timers.discard(name)
        if name == "turn_complete":
            return self._turn_complete(now) if self.turn is TurnState.PLAYING else []
        if name == "go_away":
            lead = go_away_lead_s(self.lifetime_s)
            return [
                Send(self.frames.go_away_frame(lead)),
                self._start_timer("lifetime_end", now + lead),
            ]
        if name == "lifetime_end":
            # The close seen after `goAway` in the wild (one captured log): 1011, not 1000.
            return self._close(1011, wire.DEADLINE_EXPIRED)
        raise AssertionError(f"unknown timer {name}")  # pragma: no cover

    def expire(self, now: float) -> list[Action]:
        """The `expire` fault: the same goAway → close as the lifetime, starting now."""
        if self.closing:
            return []
        actions = [self._cancel_timer(n) for n in ("go_away", "lifetime_end") if n in self._timers]
        lead = min(1.0, go_away_lead_s(self.lifetime_s))
        return [
            *actions,
            Send(self.frames.go_away_frame(lead)),
            self._start_timer("lifetime_end", now + lead),
        ]

    def _start_timer(self, name: str, at: float) -> StartTimer:
        self._timers.add(name)
        return StartTimer(name, at)

    def _cancel_timer(self, name: str) -> CancelTimer:
        self._timers.discard(name)
        return CancelTimer(name)

    def _close(self, code: int, reason: str) -> list[Action]:
        """Close the connection; the reason is cut to RFC 6455's 123 bytes (UTF-8 safe)."""
        if self.closing:
            return []
        reason = wire.close_reason(reason)
        log.info("gemini: closing %d %s", code, reason)
        self.closing = True
        self.frames.close()
        actions: list[Action] = [self._cancel_timer(n) for n in sorted(self._timers)]
        if self._job is not None:
            actions.append(Stop(self._job.id))
            self._job = None
        return [*actions, Close(code, reason)]

    # -- resumption and usage ------------------------------------------------------------------
    @property
    def resumable(self) -> bool:
        return self.turn is TurnState.IDLE and not self.frames.pending

    def _resumption_update(self) -> Send:
        """`sessionResumptionUpdate`: a fresh handle at an idle point, else `resumable: false`."""
        assert self.setup is not None and self.session_key is not None
        if not self.resumable:
            return Send(self.frames.resumption_frame(None))
        handle = self.handles.put(
            Snapshot(
                model=self.setup.model,
                history=tuple(self.history),
                session_audio_ms=self.session_audio_ms,
                session_video_frames=self.session_video_frames,
                last_client_index=self.frames.client_index,
                token_name=self.token_name,
                session_key=self.session_key,
            )
        )
        return Send(self.frames.resumption_frame(handle))

    def _usage(self) -> UsageCounts:
        """The turn's `usageMetadata`: the whole context is the prompt, per modality (text at
        4 characters per token, audio at 32 tokens/s, pictures per `usage.image_tokens`); the
        turn's output is the response; thinking and search are counted apart."""
        setup = self.setup
        assert setup is not None
        prompt = usage.context_tokens(self.instructions, self.history, setup.media_resolution)
        text_out = usage.text_tokens(self._turn_output) if setup.modality == "text" else 0
        audio_out = usage.audio_tokens(self._turn_audio_ms)
        return UsageCounts(
            prompt_text=prompt.get("TEXT", 0),
            prompt_audio=prompt.get("AUDIO", 0),
            prompt_image=prompt.get("IMAGE", 0),
            prompt_video=prompt.get("VIDEO", 0),
            response_text=text_out,
            response_audio=audio_out,
            thoughts=self._turn_thoughts,
            tool_use_prompt=self._turn_tool_use,
        )

    def _unanswered_text(self) -> str:
        """The user's words since the model last spoke (what a search would look up)."""
        texts: list[str] = []
        for item in reversed(self.history):
            if not isinstance(item, UserMessage):
                break
            texts.append(item.text)
        return " ".join(reversed(texts))

    def _trim(self) -> None:
        """contextWindowCompression: drop the oldest whole turns (see `usage`)."""
        setup = self.setup
        assert setup is not None
        cut = usage.sliding_window_cut(
            self.instructions,
            self.history,
            trigger=setup.trigger_tokens,
            target=setup.target_tokens,
            resolution=setup.media_resolution,
        )
        if not cut:
            return
        del self.history[:cut]
        self.trimmed_items += cut
        for said in self._said:
            if said.history_index is not None:
                said.history_index = said.history_index - cut if said.history_index >= cut else None
        log.info("gemini: sliding window dropped %d items", cut)
