"""Gemini Live's server decisions without sockets: `LiveProtocol` fed frames at chosen times.

`support.gemini_harness.Harness` plays the shell's part: it feeds frames with an explicit
`now`, and for each `Generate` it reports hearing, thinking and the generated pieces at the
times a test chooses.
Timing here is real time (speed 1): the model generates at 3× after 250 ms, so a 1 s reply is
generated in ~333 ms and its assumed playback ends 1 s after the first audio was sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.emulator_fakes import MODEL, silence, tone
from support.gemini_harness import Harness, timers

from realtimelab.emulator.dialects.gemini import wire
from realtimelab.emulator.dialects.gemini.protocol import (
    RESUME_WHILE_OPEN,
    CancelTimer,
    Close,
    Generate,
    Send,
    Speak,
    Stop,
    TurnState,
)
from realtimelab.emulator.ids import IdSpace
from realtimelab.emulator.model import AssistantMessage, PlannedCall, Reply

# ------------------------------------------------------------------------------------------
# generation faster than real time: generationComplete, then turnComplete at playback end
# ------------------------------------------------------------------------------------------


def speaking(said: str, reply: str, **config: Any) -> tuple[Harness, Generate, Speak]:
    """A session (turns ended by 200 ms of silence; `config` adds to `realtimeInputConfig`)
    where the user typed `said` and the model has begun speaking `reply`."""
    h = Harness()
    h.setup(
        realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}, **config}
    )
    job = h.text(said, now=0.0)
    speak = h.reply(job, Reply(text=reply), now=0.1)
    assert speak is not None
    return h, job, speak


def test_generation_complete_then_turn_complete_when_the_assumed_playback_ends() -> None:
    h = Harness()
    h.setup(outputAudioTranscription={})
    job = h.text("hello", now=1.0)
    speak = h.reply(job, Reply(text="one two three four"), now=1.1)  # 4 words = 1 s of audio
    assert speak is not None and speak.start == pytest.approx(1.0) and speak.cold
    last = h.stream(speak)
    # first audio at 1.0 + 0.25; generated at 3x: the last 50 ms chunk starts at 950/3 ms later
    assert last == pytest.approx(1.25 + 0.950 / 3)
    done = h.apply(h.proto.spoken(job.job, now=last))
    assert h.sent[-1] == {"serverContent": {"generationComplete": True}}
    assert timers(done) == {"turn_complete": pytest.approx(1.25 + 1.0)}  # first audio + 1 s
    assert h.proto.turn is TurnState.PLAYING
    # the last outputTranscription of the turn came before (or with) generationComplete
    done_at = next(
        i for i, m in enumerate(h.sent) if "generationComplete" in m.get("serverContent", {})
    )
    said_at = [
        i for i, m in enumerate(h.sent) if "outputTranscription" in m.get("serverContent", {})
    ]
    assert said_at and max(said_at) <= done_at
    h.apply(h.proto.timer("turn_complete", now=2.25))
    assert h.sent[-1]["serverContent"] == {"turnComplete": True}
    assert h.sent[-1]["usageMetadata"]["responseTokenCount"] == 32  # 1 s of audio, 32 tokens/s
    assert h.proto.turn is TurnState.IDLE
    assert h.proto.history[-1] == AssistantMessage("one two three four")


def test_a_reply_without_audio_completes_at_once() -> None:
    h = Harness()
    h.setup()
    job = h.text("hello", now=0.0)
    h.reply(job, Reply(text=""), now=0.1)
    assert h.types()[-2:] == ["generationComplete", "turnComplete"]


def test_barge_in_while_generating_stops_the_job_and_keeps_what_was_heard() -> None:
    h, job, speak = speaking("tell me", "alpha beta gamma delta")
    h.stream(speak, until_s=0.25 + 0.200)  # 600 ms generated, first audio at 0.25
    actions = h.audio(silence(100) + tone(400), now=0.25 + 0.600)  # heard 600 ms so far
    assert Stop(job.job) in actions
    kinds = h.types()
    assert kinds[-2:] == ["interrupted", "turnComplete"]
    assert "generationComplete" not in kinds
    # 600 ms heard at 250 ms/word: "alpha beta gamma" (gamma started at 500 ms)
    assert h.proto.history[-1] == AssistantMessage("alpha beta gamma", interrupted=True)
    assert h.apply(h.proto.spoken(job.job, now=1.0)) == []  # late reports are ignored


def test_speech_after_generation_complete_interrupts_the_assumed_playback() -> None:
    h, job, speak = speaking("tell me", "alpha beta gamma delta")
    last = h.stream(speak)
    h.apply(h.proto.spoken(job.job, now=last))
    assert h.proto.history[-1] == AssistantMessage("alpha beta gamma delta")
    assert h.proto.turn is TurnState.PLAYING
    # 0.4 s after the first audio the listener has heard 400 ms: "alpha beta"
    actions = h.audio(tone(400), now=0.25 + 0.4)
    assert CancelTimer("turn_complete") in actions
    assert h.types()[-3:] == ["generationComplete", "interrupted", "turnComplete"]
    assert h.proto.history[-1] == AssistantMessage("alpha beta", interrupted=True)
    assert h.apply(h.proto.timer("turn_complete", now=1.25)) == []  # cancelled


def test_after_turn_complete_speech_is_just_a_new_turn() -> None:
    h, job, speak = speaking("hi", "one")
    h.apply(h.proto.spoken(job.job, now=h.stream(speak)))
    h.apply(h.proto.timer("turn_complete", now=0.25 + 0.25))
    n = len(h.sent)
    h.audio(tone(400) + silence(400), now=1.0)
    assert "interrupted" not in h.types()[n:]
    assert any(isinstance(a, Generate) for a in h.actions[-3:])


def test_no_interruption_holds_a_spoken_turn_until_turn_complete() -> None:
    h, job, speak = speaking("hi", "one two", activityHandling="NO_INTERRUPTION")
    h.apply(h.proto.spoken(job.job, now=h.stream(speak)))
    actions = h.audio(tone(400) + silence(400), now=0.3)
    assert not any(isinstance(a, Generate | Stop) for a in actions)
    assert "interrupted" not in h.types()
    after = h.apply(h.proto.timer("turn_complete", now=0.75))
    assert h.types()[-1] == "turnComplete"
    assert any(isinstance(a, Generate) and a.turn is not None for a in after)


def test_blocking_calls_hold_the_turn_and_a_barge_in_cancels_them() -> None:
    h = Harness()
    tools = [{"functionDeclarations": [{"name": "get_weather", "behavior": "BLOCKING"}]}]
    h.setup(tools=tools)
    job = h.text("weather", now=0.0)
    assert (
        h.reply(job, Reply(tool_calls=(PlannedCall("get_weather", {"city": "Paris"}),)), now=0.1)
        is None
    )
    call = h.sent[-1]["toolCall"]["functionCalls"][0]
    assert call["id"].startswith("function-call-")
    assert h.proto.turn is TurnState.AWAITING_TOOLS
    (cont,) = [
        a
        for a in h.frame(
            {
                "toolResponse": {
                    "functionResponses": [{"id": call["id"], "response": {"output": "sunny"}}]
                }
            },
            now=0.5,
        )
        if isinstance(a, Generate)
    ]
    speak = h.reply(cont, Reply(text="it is sunny"), now=0.6)
    assert speak is not None and speak.start == pytest.approx(0.5) and speak.cold
    h.apply(h.proto.spoken(cont.job, now=h.stream(speak)))
    h.apply(h.proto.timer("turn_complete", now=5.0))
    # a second call, then the user talks over it: the call is cancelled first
    job = h.text("weather again", now=6.0)
    h.reply(job, Reply(tool_calls=(PlannedCall("get_weather", {"city": "Rome"}),)), now=6.1)
    pending = h.sent[-1]["toolCall"]["functionCalls"][0]["id"]
    h.text("never mind", now=6.2)
    assert h.sent[-3:-1] == [
        {"toolCallCancellation": {"ids": [pending]}},
        {"serverContent": {"interrupted": True}},
    ]


def answering_while_a_call_runs() -> tuple[Harness, str, Generate, Speak]:
    """A NON_BLOCKING `get_weather` call is pending (its id is returned) while the model has
    begun speaking its answer to the next text, "one two"."""
    h = Harness()
    tools = [{"functionDeclarations": [{"name": "get_weather", "behavior": "NON_BLOCKING"}]}]
    h.setup(tools=tools)
    job = h.text("weather", now=0.0)
    h.reply(job, Reply(tool_calls=(PlannedCall("get_weather", {}),)), now=0.1)
    call_id = h.sent[-3]["toolCall"]["functionCalls"][0]["id"]  # then generation/turn complete
    job = h.text("something else", now=0.2)
    speak = h.reply(job, Reply(text="one two"), now=0.3)
    assert speak is not None
    return h, call_id, job, speak


def test_when_idle_results_wait_for_the_assumed_playback() -> None:
    h, call_id, job, speak = answering_while_a_call_runs()
    h.apply(h.proto.spoken(job.job, now=h.stream(speak)))
    assert h.proto.turn is TurnState.PLAYING
    actions = h.frame(
        {
            "toolResponse": {
                "functionResponses": [
                    {"id": call_id, "response": {"output": "sunny"}, "scheduling": "WHEN_IDLE"}
                ]
            }
        },
        now=0.6,
    )
    assert not any(isinstance(a, Generate) for a in actions)
    after = h.apply(h.proto.timer("turn_complete", now=1.0))
    assert any(isinstance(a, Generate) for a in after)


def test_a_result_that_arrives_while_the_answer_is_generated_follows_it_in_history() -> None:
    h, call_id, job, speak = answering_while_a_call_runs()
    assert h.proto.turn is TurnState.GENERATING
    result = {"id": call_id, "response": {"output": "sunny"}, "scheduling": "WHEN_IDLE"}
    h.frame({"toolResponse": {"functionResponses": [result]}}, now=0.35)
    h.apply(h.proto.spoken(job.job, now=h.stream(speak)))
    after = h.apply(h.proto.timer("turn_complete", now=1.0))
    (followup,) = [a for a in after if isinstance(a, Generate)]
    request = h.proto.context(followup.job)
    assert request is not None
    kinds = [type(item).__name__ for item in request.history[-2:]]
    assert kinds == ["AssistantMessage", "FunctionResult"]  # the result is what is new


def test_tool_call_ids_are_unique_per_emulator_and_deterministic_per_seed() -> None:
    def ids_for(space: IdSpace, connections: int) -> list[str]:
        out = []
        for _ in range(connections):
            h = Harness(ids=space)
            tools = [{"functionDeclarations": [{"name": "f", "behavior": "BLOCKING"}]}]
            h.setup(tools=tools)
            job = h.text("go", now=0.0)
            h.reply(job, Reply(tool_calls=(PlannedCall("f", {}),) * 2), now=0.1)
            out += [c["id"] for c in h.sent[-1]["toolCall"]["functionCalls"]]
        return out

    first = ids_for(IdSpace(7, instance=1), 3)
    assert len(set(first)) == 6  # two connections never share an id (the Paris/Tokyo bug)
    assert ids_for(IdSpace(7, instance=1), 3) == first  # same seed, same order: same ids
    assert set(ids_for(IdSpace(7, instance=2), 3)).isdisjoint(first)  # another emulator


# ------------------------------------------------------------------------------------------
# lifecycle
# ------------------------------------------------------------------------------------------


def test_go_away_then_1011_deadline_expired() -> None:
    h = Harness()
    opened = h.proto.open(0.0)
    assert timers(opened) == {"go_away": 540.0}  # 600 s lifetime, 60 s ahead
    h.frame({"setup": {"model": MODEL}}, 0.0)
    actions = h.apply(h.proto.timer("go_away", 540.0))
    assert h.sent[-1] == {"goAway": {"timeLeft": "60s"}}
    assert timers(actions) == {"lifetime_end": 600.0}
    assert h.proto.timer("lifetime_end", 600.0)[-1] == Close(1011, wire.DEADLINE_EXPIRED)
    assert h.proto.receive(json.dumps({"realtimeInput": {"text": "x"}}), 601.0) == []


def test_expire_fault_is_the_same_go_away_sooner() -> None:
    h = Harness()
    h.setup()
    actions = h.apply(h.proto.expire(10.0))
    assert CancelTimer("go_away") in actions
    assert h.sent[-1] == {"goAway": {"timeLeft": "1s"}}
    assert timers(actions) == {"lifetime_end": 11.0}


def resume_frames(h: Harness) -> str:
    h.setup(sessionResumption={})
    handle = h.sent[-1]["sessionResumptionUpdate"]["newHandle"]
    assert handle
    return str(handle)


def test_resuming_a_session_another_open_connection_holds_is_refused() -> None:
    old = Harness()
    handle = resume_frames(old)
    new = Harness(handles=old.handles, ids=old.ids)
    actions = new.setup(sessionResumption={"handle": handle})
    assert actions[-1] == Close(*RESUME_WHILE_OPEN)
    assert RESUME_WHILE_OPEN == (1011, wire.INTERNAL_ERROR)
    old.open_socket = False  # the client closed the old socket (the handler may lag behind)
    again = Harness(handles=old.handles, ids=old.ids)
    assert again.setup(sessionResumption={"handle": handle})[0] == Send({"setupComplete": {}})
    # and now the resumed connection holds it: the old one's late clean-up changes nothing
    old.proto.closed()
    third = Harness(handles=old.handles, ids=old.ids)
    assert third.setup(sessionResumption={"handle": handle})[-1] == Close(*RESUME_WHILE_OPEN)


def test_retired_and_unknown_models_close_1008_with_googles_wording() -> None:
    for model in (
        "models/gemini-2.0-flash-live-001",
        "models/gemini-live-2.5-flash-preview",
        "models/gemini-9",
    ):
        h = Harness()
        actions = h.frame({"setup": {"model": model}}, 0.0)
        assert actions[-1] == Close(1008, wire.model_not_found(model, "v1beta"))
