"""The conversation core: one sans-IO state machine for history, turns, tools and playout.

Every session class, the tool dispatcher and the metrics need the same facts: *is the model
generating? is its answer complete? which tool calls still wait for a result? what has the
listener heard?* Tracked separately, each place drifts (five copies of "a reply is in
progress" did). `Conversation` owns them once. It is fed the codec's events (`observe`) and
the user's verbs (`user_text`, `tool_results`, `barge_in`...), touches no socket and no clock
(every call carries `t`), and answers with the events the user should see plus *effects* the
asyncio shell must carry out (`StopPlayback`, `Truncate`) — the h11 / python-websockets
pattern, so the whole conversation logic is tested with plain values.

What it decides:

* **Answer-level turns.** `TurnComplete` means one thing on every provider: the model's answer
  to the last input is complete and no tool call of it waits for a result. OpenAI ends a reply
  that calls tools (`response.done`) and answers in a new one after the results
  (`capabilities.tool_call_ends_turn`); Gemini keeps one turn across the round trip. The codec
  reports the provider's own ends (`GenerationComplete`, and its `TurnComplete`); the core
  holds back a `TurnComplete` that is only a pause for tools, and sums usage over the turn.
* **Barge-in from the listener's point of view.** User speech while assistant audio is still
  audible stops playback, whatever the server's response state (both services generate faster
  than real time, so the reply is usually fully received long before it has been heard): one
  `Interrupted` carrying the item and the heard position, a `StopPlayback` effect, and a
  `Truncate` effect where the provider must be told (`capabilities.truncation`). Nothing
  happens when nothing is audible. Audio that still arrives for a cut reply is dropped.
* **History** the client owns, in server order: a user's spoken transcript arrives after the
  model started answering, yet belongs before the answer; late tool results sent during a
  reply belong after it; an interrupted reply keeps only the heard share of its transcript.
* **Who owes the next move** (`owes()`), which reconnection uses to decide whether to ask for
  the reply again. A transcription-only session (`answers=False`) never owes a reply.
* **Which server item each record came from**, where the provider names items (OpenAI): ids
  arrive with spoken transcripts, reply audio and text, tool calls, and `ItemAdded` for what
  the client created (matched by content, oldest first, as the server echoes in order). On
  `ItemDeleted` the records of that item leave the history, so a replay after a reconnect
  does not bring back what the user deleted. Ids belong to one connection:
  `forget_item_ids()` when a new one starts.
* **Pictures** (`user_image`) are history records without their bytes (`UserImage`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from realtimelab import events as ev
from realtimelab.playout import Cut, Playout
from realtimelab.providers.base import (
    AssistantText,
    Capabilities,
    HistoryItem,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserImage,
    UserText,
    image_placeholder,
)

__all__ = [
    "Conversation",
    "Effect",
    "Owes",
    "StopPlayback",
    "Truncate",
    "owes",
    "result_record",
]

Owes = Literal["idle", "reply", "tool_results"]
BargeSource = Literal["turn_detected", "client_vad", "server", "client"]


@dataclass(frozen=True)
class StopPlayback:
    """Silence the player now: drop everything it has queued."""


@dataclass(frozen=True)
class Truncate:
    """Tell the server the listener heard only `heard_ms` of `item_id` (OpenAI
    `conversation.item.truncate`, with a `response.cancel` first if it is still generating)."""

    item_id: str
    heard_ms: float


Effect = StopPlayback | Truncate


@dataclass(eq=False)
class _Entry:
    """A history slot. Mutable so that later facts (a transcript, a cut) update it in place
    while its position stays put; `record` is the frozen value users see, `item_ids` the
    server items it came from (where the provider names them)."""

    record: HistoryItem
    item_ids: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Reply:
    """One response the model is producing (or produced): its history slot and its audio."""

    key: str
    entry: _Entry
    response_id: str | None = None
    parts: list[str] = field(default_factory=list)
    final: str | None = None
    items: dict[str, float] = field(default_factory=dict)  # audio item -> ms received
    heard_fraction: float | None = None
    had_calls: bool = False
    cut: bool = False
    paused_for_tools: bool = False  # text after a tool call starts a new history entry
    segmented: bool = False  # the reply spans several entries (a final transcript is ignored)

    @property
    def text(self) -> str:
        full = self.final if self.final is not None else "".join(self.parts)
        if self.heard_fraction is None:
            return full
        return _cut(full, self.heard_fraction)


@dataclass(eq=False)
class _Turn:
    """The model's answer to one input, across responses and tool round trips."""

    usage: ev.Usage | None = None
    calls: dict[str, str] = field(default_factory=dict)  # call_id -> name, still unanswered
    followup: bool = False  # results went back asking for a reply: the answer continues
    paused: bool = False  # the provider ended a response to wait for tool results
    last_response: str | None = None
    last_t: float = 0.0


class Conversation:
    """The sans-IO conversation core (see the module docstring).

    `interrupt_on_speech` follows `Vad.interrupt_response`: with it off, user speech never
    stops playback (the user asked for the model not to be cut off).
    """

    def __init__(
        self,
        capabilities: Capabilities,
        *,
        interrupt_on_speech: bool = True,
        playout: Playout | None = None,
        answers: bool = True,
    ) -> None:
        self.capabilities = capabilities
        self.provider = capabilities.provider
        self.interrupt_on_speech = interrupt_on_speech
        self.answers = answers
        """False for a transcription-only session: nobody ever owes a reply."""
        self.playout = playout or Playout()
        self._entries: list[_Entry] = []
        self._effects: list[Effect] = []
        self._outbox: list[ev.Event] = []  # events a verb produced (see `take_events`)
        self._replies: dict[str, _Reply] = {}
        self._reply: _Reply | None = None  # the response being generated
        self._turn: _Turn | None = None  # the answer in progress
        self._pending: dict[str, str] = {}  # every call without a first answer: id -> name
        self._cut_items: set[str] = set()
        self._cut_responses: set[str] = set()
        self._audio_since_reply = False  # user audio since the last reply began
        self._user_slot: _Entry | None = None  # where a late spoken transcript goes
        self._late_after: _Entry | None = None  # late results sent during this reply follow it
        self._reply_requested = False
        self._responses = 0
        self._user_speaking = False

    # ------------------------------------------------------------------ state

    @property
    def history(self) -> tuple[HistoryItem, ...]:
        """The conversation as the client knows it, in server order. A reply still being
        generated shows its transcript so far; replies that said nothing are left out."""
        return tuple(e.record for e in self._entries if not _blank(e.record))

    @property
    def generating(self) -> bool:
        """A server response is in progress (between its start and its `GenerationComplete`)."""
        return self._reply is not None

    @property
    def answering(self) -> bool:
        """The model's answer to the last input is not complete yet (`TurnComplete` pending)."""
        return self._turn is not None

    @property
    def reply_requested(self) -> bool:
        """The client asked for a reply that has not started yet."""
        return self._reply_requested

    @property
    def user_speaking(self) -> bool:
        """The server said the user is talking (between its speech start and stop)."""
        return self._user_speaking

    @property
    def pending_calls(self) -> dict[str, str]:
        """Tool calls with no answer yet: `{call_id: name}`."""
        return dict(self._pending)

    def idle(self) -> bool:
        """Nothing is in flight on the model's side: a good moment to rotate a connection or
        to send a late result (which asks for a reply of its own)."""
        return not (self._reply or self._turn or self._reply_requested or self._pending)

    def owes(self) -> Owes:
        """Who must make the next move, judged from the history alone: `tool_results` when a
        call has no result, `reply` when the last item is the user's or a tool result, else
        `idle`. (A restore asks again for a reply the model still owes.) A session that
        never answers (`answers=False`) owes nothing."""
        return owes(self.history) if self.answers else "idle"

    @property
    def has_effects(self) -> bool:
        """Whether `take_effects` has anything (a cheap check for the reader's hot path)."""
        return bool(self._effects)

    def take_effects(self) -> list[Effect]:
        """Effects for the shell to carry out, in order (then forgotten)."""
        out, self._effects = self._effects, []
        return out

    def take_events(self) -> list[ev.Event]:
        """Events a verb produced (e.g. the `TurnComplete` that silent tool results close)."""
        out, self._outbox = self._outbox, []
        return out

    # ------------------------------------------------------------------ verbs

    def user_text(self, text: str) -> None:
        """A typed user turn; the model will answer it."""
        self._entries.append(_Entry(UserText(text)))
        self._reply_requested = True

    def user_audio(self) -> None:
        """User audio was sent (its transcript, if any, arrives later)."""
        self._audio_since_reply = True

    def user_image(self, mime: str, nbytes: int) -> None:
        """A picture was shown to the model (context for the next turn; no reply asked)."""
        self._entries.append(_Entry(UserImage(mime, nbytes)))

    def forget_item_ids(self) -> None:
        """A new connection started: the server items the records were tied to are gone."""
        for entry in self._entries:
            entry.item_ids.clear()

    def request_reply(self) -> None:
        self._reply_requested = True

    def replayed(self, items: Sequence[HistoryItem]) -> None:
        """Records sent to the server as context (a restore, seeded history)."""
        self._entries.extend(_Entry(item) for item in items)

    def tool_results(
        self, results: Iterable[ToolResult], *, late: bool = False
    ) -> list[ToolResult]:
        """Record results the client is sending, in history, before any frame is written (so
        a reconnect restores a result sent into a dying socket). Returns the results with
        each call's name filled in from the history (Gemini needs it). `late` results are for
        calls already answered (by a placeholder); sent during a reply they belong after it."""
        batch: list[ToolResult] = []
        anchor = self._late_after if late else None
        if late and self._reply is not None and anchor is None:
            anchor = self._late_after = self._reply.entry
        for r in results:
            name = r.name or self._call_name(r.call_id)
            entry = _Entry(result_record(r, name))
            if anchor is not None:
                self._insert_after(anchor, entry)
                anchor = self._late_after = entry
            else:
                self._entries.append(entry)
            batch.append(dataclasses.replace(r, name=name) if name and not r.name else r)
            # any answer (even a placeholder that will continue) lets the model go on
            self._pending.pop(r.call_id, None)
            if self._turn is not None:
                self._turn.calls.pop(r.call_id, None)
        wants_reply = bool(batch) and not all(r.scheduling == "SILENT" for r in batch)
        turn = self._turn
        if wants_reply:
            self._reply_requested = True
            if turn is not None and not late:
                turn.followup = True
        elif turn is not None and turn.paused and not turn.calls and self._reply is None:
            # the model paused for these results and none asks for a reply: the answer is over
            self._turn = None
            self._outbox.append(self._turn_complete(turn, t=None))
        return batch

    def barge_in(
        self,
        t: float,
        reason: BargeSource,
        *,
        heard_ms: float | None = None,
        truncate: bool = True,
    ) -> list[ev.Event]:
        """The user started talking (or `session.interrupt()` was called) at `t`.

        If assistant audio is audible, playback stops and the items being heard (and any
        queued after) are truncated at what was heard; returns the one `Interrupted` event.
        `heard_ms` overrides the playout clock for the item being heard (a caller who measured
        playback itself). Nothing is audible: nothing happens, `[]`.
        """
        if not self.playout.audible(t):
            return []
        segment = self.playout.current(t)
        cut = self.playout.flush(t)
        if cut is None or segment is None:
            return []
        heard = cut.heard_ms if heard_ms is None else max(0.0, min(heard_ms, cut.received_ms))
        self._effects.append(StopPlayback())
        reply = self._reply_of_item(cut.item_id)
        truncate = truncate and self.capabilities.truncation
        if cut.item_id is not None:
            self._cut_items.add(cut.item_id)
            if truncate:
                self._effects.append(Truncate(cut.item_id, heard))
        # items queued behind the one being heard were never heard at all
        for later in self._queued_items_after(cut):
            self._cut_items.add(later)
            if truncate:
                self._effects.append(Truncate(later, 0.0))
            other = self._reply_of_item(later)
            if other is not None:
                other.heard_fraction = 0.0
                self._refresh(other)
        if reply is not None:
            received = sum(reply.items.values()) or cut.received_ms
            before = sum(
                ms
                for item, ms in reply.items.items()
                if item != cut.item_id and item not in self._cut_items
            )
            reply.heard_fraction = min(1.0, (before + heard) / received) if received else 0.0
            reply.cut = True
            if reply.response_id:
                self._cut_responses.add(reply.response_id)
            self._refresh(reply)
        return [
            ev.Interrupted(
                provider=self.provider,
                t=t,
                reason=reason,
                response_id=reply.response_id if reply is not None else None,
                item_id=cut.item_id,
                heard_ms=heard,
            )
        ]

    def connection_lost(self, t: float, reason: str = "connection_lost") -> list[ev.Event]:
        """The socket under the conversation died (or a rotation could not wait for the
        reply). A reply still being generated is abandoned: it leaves the history (the model
        still owes the answer, and a restore asks for it again), its audio stops playing
        (`Interrupted` with this `reason`), and late audio for it is dropped. A reply that was
        fully received keeps playing. An open answer closes as `incomplete`, so code waiting
        for `TurnComplete` is not left hanging. Pending tool calls stay pending: their results
        are restored through the history."""
        out: list[ev.Event] = []
        reply = self._reply
        if reply is not None:
            segment = self.playout.current(t)
            if segment is not None and segment.item_id in reply.items:
                out += [
                    dataclasses.replace(e, reason=reason)
                    for e in self.barge_in(t, "server", truncate=False)
                    if isinstance(e, ev.Interrupted)
                ]
            self._cut_reply(reply)
            reply.parts.clear()
            reply.final = ""
            reply.heard_fraction = None
            self._finish_reply()
        if self._turn is not None:
            turn, self._turn = self._turn, None
            out.append(
                ev.TurnComplete(
                    provider=self.provider,
                    t=t,
                    status="incomplete",
                    usage=turn.usage,
                    response_id=turn.last_response,
                    reason=reason,
                )
            )
        self._reply_requested = False
        self._user_speaking = False
        return out

    # ------------------------------------------------------------------ events

    def observe(self, event: ev.Event) -> list[ev.Event]:
        """Fold one codec event into the state; return the events the user should see."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return [event]
        return handler(self, event)

    def _on_response_started(self, event: ev.ResponseStarted) -> list[ev.Event]:
        self._reply_requested = False
        if self._reply is not None:
            self._finish_reply()
        self._responses += 1
        key = event.response_id or f"reply-{self._responses}"
        entry = _Entry(AssistantText(""))
        self._entries.append(entry)
        if self._audio_since_reply:
            self._user_slot = entry  # the user's transcript, when it comes, goes before this
            self._audio_since_reply = False
        reply = _Reply(key=key, entry=entry, response_id=event.response_id)
        self._replies[key] = reply
        self._reply = reply
        self._late_after = None
        turn = self._turn_of_reply()
        turn.last_response = event.response_id
        turn.followup = False  # the reply the results asked for has begun
        turn.paused = False
        return [event]

    def _output_reply(self, event: ev.Event, response_id: str | None) -> _Reply:
        """The reply model output belongs to; a codec that reports no start of a reply (not
        every protocol has one) gets one implied by its first output."""
        reply = self._reply_for(response_id)
        if reply is None:
            self._on_response_started(
                ev.ResponseStarted(provider=event.provider, t=event.t, response_id=response_id)
            )
            reply = self._reply
            assert reply is not None
        return reply

    def observe_audio(self, event: ev.AudioChunk) -> bool:
        """`observe` for an audio chunk, the reader's hot path: True when the user gets it
        (False: it belongs to a reply that was cut). Same state changes, no list built."""
        item_id, response_id = event.item_id, event.response_id
        if self._dropped(item_id, response_id):
            return False
        reply = self._reply_for(response_id) or self._output_reply(event, response_id)
        ms = len(event.pcm) / 2 / event.rate * 1000.0
        item = item_id or reply.key
        items = reply.items
        items[item] = items.get(item, 0.0) + ms
        if item_id:
            reply.entry.item_ids.add(item_id)
        self.playout.received(item, ms, event.t)
        return True

    def _on_audio(self, event: ev.AudioChunk) -> list[ev.Event]:
        return [event] if self.observe_audio(event) else []

    def _on_text(self, event: ev.OutputTranscript | ev.TextDelta) -> list[ev.Event]:
        if self._dropped(event.item_id, event.response_id):
            return []
        reply: _Reply | None = self._output_reply(event, event.response_id)
        if reply is not None:
            final = isinstance(event, ev.OutputTranscript) and event.final
            if reply.paused_for_tools and event.text.strip() and not final:
                # the model speaks again after its tool round trip (a turn that stays open
                # across tools): those words come after the call and its result in history
                self._refresh(reply)
                reply.entry = _Entry(AssistantText(""))
                self._entries.append(reply.entry)
                reply.parts, reply.final = [], None
                reply.paused_for_tools, reply.segmented = False, True
            if final:
                if not reply.segmented:  # a whole-turn transcript cannot be split per entry
                    reply.final = event.text
            else:
                reply.parts.append(event.text)
            if event.item_id:
                reply.entry.item_ids.add(event.item_id)
            self._refresh(reply)
        return [event]

    def _on_input_transcript(self, event: ev.InputTranscript) -> list[ev.Event]:
        if event.final and event.text and event.text.strip():
            entry = _Entry(UserText(event.text, spoken=True))
            if event.item_id:
                entry.item_ids.add(event.item_id)
            slot, self._user_slot = self._user_slot, None
            if slot is not None and slot in self._entries:
                self._entries.insert(self._entries.index(slot), entry)
            else:
                self._entries.append(entry)
        return [event]

    def _on_tool_call(self, event: ev.ToolCall) -> list[ev.Event]:
        entry = _Entry(ToolCallRecord(event.call_id, event.name, event.arguments_json))
        if event.item_id:
            entry.item_ids.add(event.item_id)
        self._entries.append(entry)
        self._pending[event.call_id] = event.name
        turn = self._turn_of_reply()
        turn.calls[event.call_id] = event.name
        turn.followup = False
        if self._reply is not None:
            self._reply.had_calls = True
            self._reply.paused_for_tools = True
        return [event]

    def _on_calls_cancelled(self, event: ev.ToolCallCancelled) -> list[ev.Event]:
        for call_id in event.call_ids:
            self._pending.pop(call_id, None)
            if self._turn is not None:
                self._turn.calls.pop(call_id, None)
        return [event]

    def _on_speech_stopped(self, event: ev.SpeechStopped | ev.InputCommitted) -> list[ev.Event]:
        self._user_speaking = False
        return [event]

    def _on_speech_started(self, event: ev.SpeechStarted) -> list[ev.Event]:
        self._user_speaking = True
        out: list[ev.Event] = [event]
        if self.interrupt_on_speech:
            # the server cancels the reply it is generating (interrupt_response); what it sent
            # and is still in flight must not reach the speaker either
            if self._reply is not None and self.capabilities.speech_started_events:
                self._cut_reply(self._reply)
            out += self.barge_in(event.t, "turn_detected")
        return out

    def _on_server_interrupt(self, event: ev.Interrupted) -> list[ev.Event]:
        """The provider says it cut its own reply (Gemini `interrupted`)."""
        if self._reply is not None:
            self._cut_reply(self._reply)
        return self.barge_in(event.t, "server")

    def _on_item_added(self, event: ev.ItemAdded) -> list[ev.Event]:
        """Tie an item the server added to the record it echoes (the oldest untied record
        with that content: the server adds items in the order they were sent)."""
        for entry in self._entries:
            if not entry.item_ids and _echoes(entry.record, event):
                entry.item_ids.add(event.item_id)
                break
        return [event]

    def _on_item_deleted(self, event: ev.ItemDeleted) -> list[ev.Event]:
        """The server deleted an item: its records leave the history (a replay would
        otherwise put it back)."""
        gone = [e for e in self._entries if event.item_id in e.item_ids]
        for entry in gone:
            self._entries.remove(entry)
            if entry is self._user_slot:
                self._user_slot = None
        return [event]

    def _on_generation_complete(self, event: ev.GenerationComplete) -> list[ev.Event]:
        """One response is fully generated. Usage reported here is the response's own (a
        codec reports each usage once: here, or on its `TurnComplete`)."""
        reply = self._reply_for(event.response_id)
        if reply is not None and reply is self._reply:
            self._finish_reply()
        if event.usage is not None:
            self._turn_of_reply().usage = _add_usage(self._turn_of_reply().usage, event.usage)
        return [event]

    def _on_turn_complete(self, event: ev.TurnComplete) -> list[ev.Event]:
        """The provider's turn end. Held back while the answer only paused for tools: calls
        still unanswered, or (providers whose tool calls end a response) results already on
        their way back asking for the reply that continues the answer."""
        if self._reply is not None:
            self._finish_reply()
        turn = self._turn_of_reply()
        turn.usage = _add_usage(turn.usage, event.usage)
        turn.last_t = event.t
        if event.response_id:
            turn.last_response = event.response_id
        waiting = bool(turn.calls) or (self.capabilities.tool_call_ends_turn and turn.followup)
        if waiting and event.status == "completed":
            turn.paused = True
            return []
        self._turn = None
        self._late_after = None
        if not self.capabilities.tool_call_ends_turn:
            # one turn answers everything sent during it (results, new input): nothing more
            # was asked for than what this turn produced
            self._reply_requested = False
        return [self._turn_complete(turn, t=event.t, status=event.status, reason=event.reason)]

    def _turn_complete(
        self, turn: _Turn, *, t: float | None, status: str = "completed", reason: str | None = None
    ) -> ev.TurnComplete:
        return ev.TurnComplete(
            provider=self.provider,
            t=turn.last_t if t is None else t,
            status=status,
            usage=turn.usage,
            response_id=turn.last_response,
            reason=reason,
        )

    # ------------------------------------------------------------------ internals

    def _turn_of_reply(self) -> _Turn:
        if self._turn is None:
            self._turn = _Turn()
        return self._turn

    def _reply_for(self, response_id: str | None) -> _Reply | None:
        if response_id is not None:
            reply = self._replies.get(response_id)  # replies are keyed by their response id
            if reply is not None:
                return reply
        return self._reply

    def _reply_of_item(self, item_id: str | None) -> _Reply | None:
        if item_id is None:
            return None
        for reply in reversed(list(self._replies.values())):
            if item_id in reply.items:
                return reply
        return None

    def _queued_items_after(self, cut: Cut) -> list[str]:
        """Items whose audio was queued behind the one being heard (never heard at all)."""
        out: list[str] = []
        seen = False
        for reply in self._replies.values():
            for item in reply.items:
                if item == cut.item_id:
                    seen = True
                elif seen and item not in self._cut_items:
                    out.append(item)
        return out

    def _dropped(self, item_id: str | None, response_id: str | None) -> bool:
        if item_id is not None and item_id in self._cut_items:
            return True
        if response_id is not None and response_id in self._cut_responses:
            return True
        reply = self._reply
        return response_id is None and reply is not None and reply.cut

    def _cut_reply(self, reply: _Reply) -> None:
        reply.cut = True
        if reply.response_id:
            self._cut_responses.add(reply.response_id)
        self._cut_items.update(reply.items)

    def _finish_reply(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            self._refresh(reply)
            # keep the bookkeeping of recent replies only
            while len(self._replies) > 64:
                self._replies.pop(next(iter(self._replies)))

    def _refresh(self, reply: _Reply) -> None:
        text = reply.text
        reply.entry.record = AssistantText(text, interrupted=reply.heard_fraction is not None)

    def _insert_after(self, anchor: _Entry, entry: _Entry) -> None:
        if anchor in self._entries:
            self._entries.insert(self._entries.index(anchor) + 1, entry)
        else:
            self._entries.append(entry)

    def _call_name(self, call_id: str) -> str:
        if call_id in self._pending:
            return self._pending[call_id]
        for e in reversed(self._entries):
            if isinstance(e.record, ToolCallRecord) and e.record.call_id == call_id:
                return e.record.name
        return ""


_HANDLERS: dict[type[ev.Event], Callable[[Conversation, Any], list[ev.Event]]] = {
    ev.ResponseStarted: Conversation._on_response_started,
    ev.AudioChunk: Conversation._on_audio,
    ev.OutputTranscript: Conversation._on_text,
    ev.TextDelta: Conversation._on_text,
    ev.InputTranscript: Conversation._on_input_transcript,
    ev.ToolCall: Conversation._on_tool_call,
    ev.ToolCallCancelled: Conversation._on_calls_cancelled,
    ev.SpeechStarted: Conversation._on_speech_started,
    ev.SpeechStopped: Conversation._on_speech_stopped,
    ev.InputCommitted: Conversation._on_speech_stopped,
    ev.Interrupted: Conversation._on_server_interrupt,
    ev.GenerationComplete: Conversation._on_generation_complete,
    ev.TurnComplete: Conversation._on_turn_complete,
    ev.ItemAdded: Conversation._on_item_added,
    ev.ItemDeleted: Conversation._on_item_deleted,
}


def result_record(result: ToolResult, name: str | None = None) -> ToolResultRecord:
    """The history record of a tool result: the output as JSON text (a `str` as-is), an error
    in its wire envelope (`{"error": ...}`) so a replay still says it failed."""
    value = {"error": result.output} if result.is_error else result.output
    output = value if isinstance(value, str) else _dumps(value)
    return ToolResultRecord(result.call_id, name if name is not None else result.name or "", output)


def owes(history: Sequence[HistoryItem]) -> Owes:
    """Who owes the next move, from the history alone (see `Conversation.owes`)."""
    answered = {h.call_id for h in history if isinstance(h, ToolResultRecord)}
    if any(isinstance(h, ToolCallRecord) and h.call_id not in answered for h in history):
        return "tool_results"
    if history and isinstance(history[-1], UserText | ToolResultRecord):
        return "reply"
    return "idle"


def _echoes(record: HistoryItem, item: ev.ItemAdded) -> bool:
    """Whether `item` is the server's copy of `record` (see `Conversation._on_item_added`)."""
    if isinstance(record, ToolResultRecord):
        return item.item_type == "function_call_output" and item.call_id == record.call_id
    if isinstance(record, ToolCallRecord):
        return item.item_type == "function_call" and item.call_id == record.call_id
    if item.item_type != "message":
        return False
    if isinstance(record, UserImage):
        shown = "input_image" in item.parts or item.text == image_placeholder(record)
        return item.role == "user" and shown
    if isinstance(record, UserText):  # typed, or a spoken turn replayed as text
        typed = "input_audio" not in item.parts and "input_image" not in item.parts
        return item.role == "user" and typed and item.text == record.text
    return item.role == "assistant" and item.text == record.text


def _blank(record: HistoryItem) -> bool:
    return isinstance(record, AssistantText) and not record.text.strip()


def _cut(text: str, fraction: float) -> str:
    """The first `fraction` of `text`, ending on a word boundary (transcripts carry no
    timestamps, so the heard share of the audio is the best guess at the heard words)."""
    if fraction >= 1.0:
        return text
    keep = text[: int(len(text) * max(0.0, fraction))]
    if len(keep) < len(text) and " " in keep:
        keep = keep[: keep.rfind(" ")]
    return keep.strip()


def _dumps(value: object) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def _add_usage(a: ev.Usage | None, b: ev.Usage | None) -> ev.Usage | None:
    if a is None or b is None:
        return a if b is None else b
    return ev.Usage(
        **{f.name: getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(ev.Usage)}
    )
