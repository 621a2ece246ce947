"""The conversation core, fed plain events: turns, barge-in at the heard position, history."""

from __future__ import annotations

import dataclasses

import pytest
from support.event_builders import tool_call

from realtimelab import events as ev
from realtimelab.conversation import Conversation, StopPlayback, Truncate, owes
from realtimelab.providers.base import (
    AssistantText,
    Capabilities,
    ToolCallRecord,
    ToolResult,
    ToolResultRecord,
    UserImage,
    UserText,
)

# Capabilities as the two real providers declare them, written out here so the core is tested
# against the flags it reads, not against a provider name.
ENDS_TURN = Capabilities(
    provider="p1",
    input_rate=24000,
    output_rate=24000,
    truncation=True,
    speech_started_events=True,
    tool_call_ends_turn=True,
)
KEEPS_TURN = Capabilities(
    provider="p2",
    input_rate=16000,
    output_rate=24000,
    truncation=False,
    speech_started_events=False,
    tool_call_ends_turn=False,
)


def chunk(t: float, ms: float, item: str = "item_a", rid: str | None = "r1") -> ev.AudioChunk:
    pcm = b"\0\0" * int(24 * ms)
    return ev.AudioChunk(provider="p", t=t, pcm=pcm, rate=24000, item_id=item, response_id=rid)


def feed(conv: Conversation, *events: ev.Event) -> list[ev.Event]:
    out: list[ev.Event] = []
    for e in events:
        out += conv.observe(e)
    return out


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def spoken_reply(conv: Conversation, *, seconds: float = 3.0, rid: str = "r1") -> None:
    """A reply fully received in 0.6 s (5x real time) with a 30-word transcript."""
    feed(conv, ev.ResponseStarted(provider="p", t=0.0, response_id=rid))
    steps = int(seconds * 10)
    for i in range(steps):
        feed(conv, chunk(0.02 * i, 100, rid=rid))
    feed(
        conv,
        ev.OutputTranscript(
            provider="p", t=0.6, text=words(30), final=True, response_id=rid, item_id="item_a"
        ),
        ev.GenerationComplete(provider="p", t=0.6, response_id=rid, usage=ev.Usage(total_tokens=5)),
        ev.TurnComplete(provider="p", t=0.6, response_id=rid),
    )


def test_barge_in_after_the_reply_was_received_cuts_at_the_heard_position() -> None:
    conv = Conversation(ENDS_TURN)
    spoken_reply(conv)
    assert not conv.generating and not conv.answering  # the server is done...
    assert conv.playout.audible(1.0)  # ...the listener is not
    out = feed(conv, ev.SpeechStarted(provider="p", t=1.0))
    kinds = [type(e).__name__ for e in out]
    assert kinds == ["SpeechStarted", "Interrupted"]
    interrupted = out[1]
    assert isinstance(interrupted, ev.Interrupted)
    assert interrupted.item_id == "item_a"
    assert interrupted.heard_ms == pytest.approx(1000)
    effects = conv.take_effects()
    assert effects == [StopPlayback(), Truncate("item_a", pytest.approx(1000))]
    [reply] = [h for h in conv.history if isinstance(h, AssistantText)]
    assert reply.interrupted and 7 <= len(reply.text.split()) <= 12  # about a third heard
    # one barge-in, one Interrupted: the server's own signals that follow add nothing
    assert feed(conv, ev.SpeechStarted(provider="p", t=1.1)) == [
        ev.SpeechStarted(provider="p", t=1.1)
    ]
    assert conv.take_effects() == []


def test_speech_while_nothing_is_audible_is_not_a_barge_in() -> None:
    conv = Conversation(ENDS_TURN)
    spoken_reply(conv)
    out = feed(conv, ev.SpeechStarted(provider="p", t=5.0))  # 3 s of audio ended at 3.0 s
    assert [type(e) for e in out] == [ev.SpeechStarted]
    assert conv.take_effects() == []
    assert not conv.history[-1].interrupted  # type: ignore[union-attr]


def test_speech_does_not_cut_when_interruption_is_off() -> None:
    conv = Conversation(ENDS_TURN, interrupt_on_speech=False)
    spoken_reply(conv)
    assert [type(e) for e in feed(conv, ev.SpeechStarted(provider="p", t=1.0))] == [
        ev.SpeechStarted
    ]


def test_audio_still_in_flight_for_a_cut_reply_never_reaches_the_speaker() -> None:
    conv = Conversation(ENDS_TURN)
    feed(conv, ev.ResponseStarted(provider="p", t=0.0, response_id="r1"), chunk(0.0, 500))
    out = feed(conv, ev.SpeechStarted(provider="p", t=0.1))
    assert any(isinstance(e, ev.Interrupted) for e in out)
    assert feed(conv, chunk(0.12, 100)) == []  # sent before the server saw the speech
    cancelled = feed(
        conv,
        ev.GenerationComplete(provider="p", t=0.2, response_id="r1", status="cancelled"),
        ev.TurnComplete(
            provider="p", t=0.2, response_id="r1", status="cancelled", reason="turn_detected"
        ),
    )
    assert [type(e) for e in cancelled] == [ev.GenerationComplete, ev.TurnComplete]
    assert cancelled[1].status == "cancelled"  # type: ignore[attr-defined]


def test_explicit_interrupt_uses_the_callers_heard_position() -> None:
    conv = Conversation(ENDS_TURN)
    spoken_reply(conv)
    [interrupted] = conv.barge_in(1.0, "client", heard_ms=250)
    assert isinstance(interrupted, ev.Interrupted) and interrupted.heard_ms == 250
    assert conv.take_effects()[-1] == Truncate("item_a", 250)


def test_a_provider_that_cuts_its_own_reply_gets_no_truncate() -> None:
    conv = Conversation(KEEPS_TURN)
    feed(conv, ev.ResponseStarted(provider="p", t=0.0), chunk(0.0, 800, item="turn-1", rid=None))
    out = feed(conv, ev.Interrupted(provider="p", t=0.2, reason="turn_detected"))
    assert [type(e) for e in out] == [ev.Interrupted]
    assert out[0].heard_ms == pytest.approx(200)  # type: ignore[attr-defined]
    assert conv.take_effects() == [StopPlayback()]
    assert feed(conv, chunk(0.25, 100, item="turn-1", rid=None)) == []


def test_a_tool_round_trip_is_one_turn_when_tool_calls_end_responses() -> None:
    conv = Conversation(ENDS_TURN)
    call = tool_call("c1", "get_weather", {"city": "Paris"}, t=0.1, response_id="r1")
    out = feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        call,
        ev.GenerationComplete(
            provider="p",
            t=0.2,
            response_id="r1",
            reason="tool_calls",
            usage=ev.Usage(total_tokens=10),
        ),
        ev.TurnComplete(provider="p", t=0.2, response_id="r1", reason="tool_calls"),
    )
    assert not any(isinstance(e, ev.TurnComplete) for e in out)
    assert conv.answering and conv.pending_calls == {"c1": "get_weather"}
    assert owes(conv.history) == "tool_results"
    [sent] = conv.tool_results([ToolResult("c1", {"temp": 21})])
    assert sent.name == "get_weather"  # filled in from the history
    assert conv.reply_requested and owes(conv.history) == "reply"
    out = feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.5, response_id="r2"),
        chunk(0.5, 300, item="item_b", rid="r2"),
        ev.GenerationComplete(
            provider="p", t=0.6, response_id="r2", usage=ev.Usage(total_tokens=7)
        ),
        ev.TurnComplete(provider="p", t=0.6, response_id="r2"),
    )
    [done] = [e for e in out if isinstance(e, ev.TurnComplete)]
    assert done.usage is not None and done.usage.total_tokens == 17
    assert conv.idle()


def test_results_sent_before_the_tool_response_ends_still_wait_for_the_answer() -> None:
    conv = Conversation(ENDS_TURN)
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        tool_call("c1", "f", t=0.1, response_id="r1"),
    )
    conv.tool_results([ToolResult("c1", "ok")])  # a fast tool
    out = feed(
        conv,
        ev.GenerationComplete(provider="p", t=0.2, response_id="r1"),
        ev.TurnComplete(provider="p", t=0.2, response_id="r1", reason="tool_calls"),
    )
    assert not any(isinstance(e, ev.TurnComplete) for e in out)
    out = feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.3, response_id="r2"),
        ev.TurnComplete(provider="p", t=0.4, response_id="r2"),
    )
    assert [type(e) for e in out] == [ev.ResponseStarted, ev.TurnComplete]


def test_silent_results_close_a_paused_turn() -> None:
    conv = Conversation(ENDS_TURN)
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        tool_call("c1", "f", t=0.1, response_id="r1"),
        ev.TurnComplete(provider="p", t=0.2, response_id="r1", reason="tool_calls"),
    )
    conv.tool_results([ToolResult("c1", "noted", scheduling="SILENT")])
    [done] = conv.take_events()
    assert isinstance(done, ev.TurnComplete) and done.status == "completed"
    assert conv.idle()


def test_a_turn_that_stays_open_across_tools_completes_once() -> None:
    conv = Conversation(KEEPS_TURN)
    out = feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0),
        tool_call("c1", "f", t=0.1),
        # some models end the turn right after the call; the answer is not complete
        ev.TurnComplete(provider="p", t=0.15, usage=ev.Usage(total_tokens=3)),
    )
    assert not any(isinstance(e, ev.TurnComplete) for e in out)
    conv.tool_results([ToolResult("c1", 1)])
    out = feed(
        conv,
        chunk(0.3, 100, item="turn-1", rid=None),
        ev.GenerationComplete(provider="p", t=0.4),
        ev.TurnComplete(provider="p", t=0.5, usage=ev.Usage(total_tokens=4)),
    )
    [done] = [e for e in out if isinstance(e, ev.TurnComplete)]
    assert done.usage is not None and done.usage.total_tokens == 7


def test_cancelled_calls_do_not_hold_the_turn() -> None:
    conv = Conversation(KEEPS_TURN)
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0),
        tool_call("c1", "f", t=0.1),
    )
    out = feed(
        conv,
        ev.ToolCallCancelled(provider="p", t=0.2, call_ids=("c1",)),
        ev.TurnComplete(provider="p", t=0.2, status="cancelled"),
    )
    assert [type(e) for e in out] == [ev.ToolCallCancelled, ev.TurnComplete]
    assert conv.pending_calls == {}


def test_a_spoken_question_goes_before_the_answer_it_started() -> None:
    conv = Conversation(ENDS_TURN)
    conv.user_audio()
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        ev.OutputTranscript(provider="p", t=0.1, text="Sunny.", final=True, response_id="r1"),
        ev.InputTranscript(provider="p", t=0.2, text="weather in Paris", final=True),
        ev.TurnComplete(provider="p", t=0.3, response_id="r1"),
    )
    assert conv.history == (UserText("weather in Paris", spoken=True), AssistantText("Sunny."))


def test_late_results_during_a_reply_follow_it() -> None:
    conv = Conversation(ENDS_TURN)
    conv.user_text("hi")
    feed(conv, ev.ResponseStarted(provider="p", t=0.0, response_id="r1"))
    conv.tool_results([ToolResult("c0", "done", name="slow")], late=True)
    feed(
        conv,
        ev.OutputTranscript(provider="p", t=0.1, text="Hello!", final=True, response_id="r1"),
        ev.TurnComplete(provider="p", t=0.2, response_id="r1"),
    )
    assert conv.history == (
        UserText("hi"),
        AssistantText("Hello!"),
        ToolResultRecord("c0", "slow", "done"),
    )
    assert owes(conv.history) == "reply"


def test_a_lost_connection_closes_the_open_answer_as_incomplete() -> None:
    conv = Conversation(ENDS_TURN)
    conv.user_text("tell me a story")
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        chunk(0.0, 200),
        ev.OutputTranscript(provider="p", t=0.0, text="Once upon", response_id="r1"),
    )
    # the reply was cut mid-generation: it is abandoned, and the model still owes the answer
    cut, done = conv.connection_lost(0.1)
    assert isinstance(cut, ev.Interrupted) and cut.reason == "connection_lost"
    assert isinstance(done, ev.TurnComplete) and done.status == "incomplete"
    assert done.reason == "connection_lost"
    assert conv.history == (UserText("tell me a story"),) and owes(conv.history) == "reply"
    assert conv.take_effects() == [StopPlayback()]  # no truncate: that connection is gone
    assert feed(conv, chunk(0.12, 100)) == []  # late audio of the abandoned reply
    assert conv.connection_lost(0.2) == []


def test_a_fully_received_reply_keeps_playing_after_a_lost_connection() -> None:
    conv = Conversation(ENDS_TURN)
    spoken_reply(conv)
    assert conv.connection_lost(0.7) == []
    assert conv.playout.audible(1.0)
    assert conv.history[-1].text  # type: ignore[union-attr]


def test_history_records_calls_and_results_in_order() -> None:
    conv = Conversation(KEEPS_TURN)
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0),
        tool_call("c1", "f", {"x": 1}, t=0.1),
    )
    conv.tool_results([ToolResult("c1", {"error": "boom"}, is_error=True)])
    assert conv.history == (
        ToolCallRecord("c1", "f", '{"x": 1}'),
        ToolResultRecord("c1", "f", '{"error": {"error": "boom"}}'),
    )


def test_unknown_events_pass_through() -> None:
    conv = Conversation(KEEPS_TURN)
    e = ev.RateLimits(provider="p", t=0.0)
    assert conv.observe(e) == [e]
    assert dataclasses.is_dataclass(e)


def test_words_after_a_tool_round_trip_in_one_turn_come_after_the_result() -> None:
    conv = Conversation(KEEPS_TURN)
    conv.user_text("weather in Paris?")
    feed(
        conv,
        ev.ResponseStarted(provider="p", t=0.0),
        ev.OutputTranscript(provider="p", t=0.0, text="Let me check. "),
        tool_call("c1", "w", t=0.1),
    )
    conv.tool_results([ToolResult("c1", "sunny")])
    feed(
        conv,
        ev.OutputTranscript(provider="p", t=0.3, text="It is sunny."),
        # the turn's final transcript covers both parts: it must not be split wrongly
        ev.OutputTranscript(provider="p", t=0.4, text="Let me check. It is sunny.", final=True),
        ev.TurnComplete(provider="p", t=0.5),
    )
    assert [type(h).__name__ for h in conv.history] == [
        "UserText",
        "AssistantText",
        "ToolCallRecord",
        "ToolResultRecord",
        "AssistantText",
    ]
    assert [h.text.strip() for h in conv.history if isinstance(h, AssistantText)] == [
        "Let me check.",
        "It is sunny.",
    ]


# ------------------------------------------------------------------------------------------
# server items: ids learned from events, records dropped when the server deletes their item
# ------------------------------------------------------------------------------------------


def added(item_id: str, **fields: object) -> ev.ItemAdded:
    return ev.ItemAdded(provider="p", t=0.0, item_id=item_id, **fields)  # type: ignore[arg-type]


def deleted(item_id: str) -> ev.ItemDeleted:
    return ev.ItemDeleted(provider="p", t=0.0, item_id=item_id)


def test_deleted_items_leave_the_history() -> None:
    conv = Conversation(ENDS_TURN)
    conv.user_text("hello")
    conv.user_image("image/png", 100)
    conv.user_text("hello")  # the same words twice: tied in the order the server adds them
    feed(
        conv,
        added("i_user1", item_type="message", role="user", text="hello", parts=("input_text",)),
        added("i_img", item_type="message", role="user", parts=("input_image",)),
        added("i_user2", item_type="message", role="user", text="hello", parts=("input_text",)),
        ev.ResponseStarted(provider="p", t=0.0, response_id="r1"),
        ev.OutputTranscript(provider="p", t=0.0, text="Hi!", item_id="i_reply", response_id="r1"),
        ev.GenerationComplete(provider="p", t=0.0, response_id="r1"),
        ev.TurnComplete(provider="p", t=0.0, response_id="r1"),
        ev.InputTranscript(provider="p", t=0.0, text="spoken words", item_id="i_spoken"),
    )
    assert conv.history == (
        UserText("hello"),
        UserImage("image/png", 100),
        UserText("hello"),
        AssistantText("Hi!"),
        UserText("spoken words", spoken=True),
    )
    for item in ("i_user1", "i_reply", "i_spoken", "i_unknown"):
        assert feed(conv, deleted(item)) == [deleted(item)]  # the event still reaches the user
    assert conv.history == (UserImage("image/png", 100), UserText("hello"))
    feed(conv, deleted("i_img"))
    assert conv.history == (UserText("hello"),)


def test_item_ids_are_forgotten_with_their_connection() -> None:
    conv = Conversation(ENDS_TURN)
    conv.user_text("hello")
    feed(conv, added("old", item_type="message", role="user", text="hello"))
    conv.forget_item_ids()
    feed(conv, deleted("old"))  # the old server's id means nothing now
    assert conv.history == (UserText("hello"),)
    feed(conv, added("new", item_type="message", role="user", text="hello"), deleted("new"))
    assert conv.history == ()


def test_tool_records_are_tied_by_call_id() -> None:
    conv = Conversation(ENDS_TURN)
    feed(
        conv,
        tool_call("c1", "f", t=0.0, item_id="i_call"),
    )
    conv.tool_results([ToolResult("c1", {"ok": True})])
    feed(conv, added("i_out", item_type="function_call_output", call_id="c1"), deleted("i_out"))
    assert [h.kind for h in conv.history] == ["tool_call"]
    feed(conv, deleted("i_call"))
    assert conv.history == ()


def test_a_picture_is_history_but_asks_for_nothing() -> None:
    conv = Conversation(KEEPS_TURN)
    conv.user_image("image/jpeg", 5000)
    assert conv.history == (UserImage("image/jpeg", 5000),)
    assert conv.owes() == "idle" and conv.idle()


def test_a_session_that_never_answers_owes_nothing() -> None:
    conv = Conversation(ENDS_TURN, answers=False)
    feed(conv, ev.InputTranscript(provider="p", t=0.0, text="note this", item_id="i1"))
    assert conv.history == (UserText("note this", spoken=True),)
    assert conv.owes() == "idle" and owes(conv.history) == "reply"
