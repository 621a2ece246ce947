"""The deterministic brain: each rule of its table, tools, parallel calls, results, honesty."""

from __future__ import annotations

import json

import pytest
from support.tool_samples import CITY_SPECS as TOOLS

from realtimelab.emulator.brain import (
    NOT_CAUGHT,
    Brain,
    capabilities_text,
    normalise,
    parse_number,
    wants_acknowledgement,
)
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    Item,
    PlannedCall,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)
from realtimelab.emulator.voice import estimate_duration_ms

FACTS = SessionFacts(
    provider="openai",
    voice="coral",
    vad={"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500},
    model="gpt-realtime",
)
ACK = "Be brief. Acknowledge the request before calling a tool."


def ask(
    text: str, *, tools: list[ToolSpec] = TOOLS, instructions: str = "", seed: int = 0
) -> Reply:
    history: list[Item] = [UserMessage(text)]
    return Brain(seed).respond(history, tools=tools, instructions=instructions, facts=FACTS)


def test_greetings_and_small_talk() -> None:
    for text in ("hello", "Hi!", "hello there", "Hey, there."):
        reply = ask(text)
        assert reply.understood and "?" in reply.text and not reply.tool_calls
    assert ask("Good morning").text.startswith("Good morning!")
    assert "doing well" in ask("how are you?").text
    assert "welcome" in ask("Thank you!").text
    assert "emulator" in ask("what is your name").text
    assert "Goodbye" in ask("goodbye").text


def test_questions_about_the_session_use_the_facts() -> None:
    assert ask("What voice are you using?").text == "I'm speaking with the coral voice."
    vad = ask("what is your turn detection").text
    assert "server vad" in vad and "500 milliseconds" in vad and "0.5" in vad
    assert "500 milliseconds" in ask("what is the silence duration").text
    assert "gpt-realtime" in ask("which model are you").text
    assert "openai" in ask("which provider are you").text
    unknown = Brain().respond([UserMessage("what voice are you using")], tools=[])
    assert "don't know" in unknown.text


def test_long_answers_are_long_enough_to_interrupt() -> None:
    stories = {ask("tell me a story", seed=s).text for s in range(6)}
    assert len(stories) > 1  # a seeded choice
    for text in [*stories, ask("Explain photosynthesis in detail").text,
                 ask("tell me about the ocean").text]:  # fmt: skip
        assert len(text.split()) >= 70
        assert estimate_duration_ms(text) >= 20_000
    assert "photosynthesis" in ask("Explain photosynthesis in detail").text


def test_tool_call_with_argument_from_the_words() -> None:
    reply = ask("What's the weather in Paris?")
    assert reply == Reply(tool_calls=(PlannedCall("get_weather", {"city": "Paris"}),))
    assert ask("what time is it in new york").tool_calls == (
        PlannedCall("get_time", {"city": "New York"}),
    )
    # a place the emulator cannot hear is still understood when typed
    assert ask("weather for Reykjavik please").tool_calls[0].arguments == {"city": "Reykjavik"}


def test_two_requests_joined_by_and_are_parallel_calls() -> None:
    reply = ask("what's the weather in Paris and what time is it in Tokyo")
    assert reply.tool_calls == (
        PlannedCall("get_weather", {"city": "Paris"}),
        PlannedCall("get_time", {"city": "Tokyo"}),
    )
    assert reply.text == "" and reply.preamble == ""
    repeated = ask("what is the weather in paris and in tokyo")
    assert [c.arguments["city"] for c in repeated.tool_calls] == ["Paris", "Tokyo"]


def test_acknowledgement_only_when_the_instructions_ask() -> None:
    reply = ask("what is the weather in paris", instructions=ACK)
    assert reply.preamble == "Sure, let me check the weather in Paris."
    both = ask("weather in paris and time in tokyo", instructions="SAY WHAT YOU ARE ABOUT TO DO.")
    assert both.preamble == "Sure, let me check the weather in Paris and the time in Tokyo."
    assert wants_acknowledgement("Before calling a tool, tell the user.")
    assert not wants_acknowledgement("You are a helpful assistant.")


def test_missing_required_argument_asks_instead_of_calling() -> None:
    reply = ask("what's the weather")
    assert reply.tool_calls == ()
    # names the tool, so a learner sees which declaration needs the value (and the brain can
    # read its own question back when the answer comes)
    assert reply.text == "Which city should I use for get_weather?"


def test_arguments_are_typed_by_the_schema() -> None:
    tool = ToolSpec(
        "set_alarm",
        "Set an alarm.",
        {
            "type": "object",
            "properties": {
                "hour": {"type": "integer"},
                "volume": {"type": "number"},
                "snooze": {"type": "boolean"},
                "sound": {"type": "string", "enum": ["Bird_Song", "bell"]},
            },
            "required": ["hour"],
        },
    )
    reply = ask("set an alarm at twenty one with bird song and snooze on", tools=[tool])
    assert reply.tool_calls == (
        PlannedCall("set_alarm", {"hour": 21, "snooze": True, "sound": "Bird_Song"}),
    )
    named = ask("volume 5.5, alarm at 7, snooze off", tools=[tool]).tool_calls[0].arguments
    assert named == {"hour": 7, "volume": 5.5, "snooze": False}
    assert isinstance(named["hour"], int) and isinstance(named["volume"], float)
    assert "hour" in ask("set an alarm", tools=[tool]).text


def test_tool_found_by_description_when_the_name_says_nothing() -> None:
    tool = ToolSpec("lookup", "Find the exchange rate between currencies.", {})
    assert ask("what is the exchange rate", tools=[tool]).tool_calls == (PlannedCall("lookup", {}),)


def _with_results(*outputs: tuple[str, str, dict[str, str]]) -> list[Item]:
    history: list[Item] = [UserMessage("...")]
    history += [FunctionCall(f"c{i}", n, a) for i, (n, _, a) in enumerate(outputs)]
    history += [FunctionResult(f"c{i}", n, o) for i, (n, o, _) in enumerate(outputs)]
    return history


def test_results_are_folded_into_the_answer() -> None:
    history = _with_results(
        ("get_weather", json.dumps({"city": "Paris", "temperature_c": 21, "condition": "sunny"}),
         {"city": "Paris"}),
        ("get_time", json.dumps({"time": "9 PM"}), {"city": "Tokyo"}),
    )  # fmt: skip
    reply = Brain().respond(history, tools=TOOLS)
    assert reply == Reply(text="In Paris it is 21 degrees and sunny. In Tokyo it is 9 PM.")


def test_errors_pending_and_free_text_results_are_said_honestly() -> None:
    history = _with_results(
        ("get_weather", '{"error": {"message": "service unavailable"}}', {"city": "Paris"}),
        ("get_time", '{"status": "pending"}', {"city": "Tokyo"}),
        ("get_news", "Markets are calm.", {}),
        ("get_items", "[1, 2, 3, 4]", {}),
    )
    text = Brain().respond(history, tools=TOOLS).text
    assert "couldn't get the weather for Paris: service unavailable" in text
    assert "still working on the time for Tokyo" in text
    assert "The news tool says: Markets are calm." in text
    assert "returned 4 items: 1, 2 and 3, and 1 more" in text


def test_a_call_without_its_result_is_reported_as_waiting() -> None:
    history: list[Item] = [UserMessage("x"), FunctionCall("c1", "get_weather", {"city": "Rome"})]
    assert "still waiting for the weather in Rome" in Brain().respond(history, tools=TOOLS).text


def test_unrecognised_audio_is_not_caught_but_typed_text_gets_the_capabilities() -> None:
    # "didn't catch that" is only for audio the ears could not make out; typed text is never
    # "not caught": the emulator says what it is and what it understands instead
    for text in ("", "purple monkey dishwasher"):
        spoken: list[Item] = [UserMessage(text, audio_ms=900.0)]
        assert Brain().respond(spoken, tools=TOOLS) == Reply(text=NOT_CAUGHT, understood=False)
    for text in ("   ", "?!", "purple monkey dishwasher"):
        reply = ask(text)
        assert reply == Reply(text=capabilities_text(TOOLS), understood=False)
        assert "rule-based stand-in" in reply.text and "get_weather" in reply.text


def test_no_user_turn_yet_gives_a_greeting() -> None:
    assert Brain().respond([], tools=TOOLS).understood
    history: list[Item] = [UserMessage("hi"), AssistantMessage("Hello!")]
    assert Brain().respond(history, tools=TOOLS).text


def test_deterministic_for_a_seed_and_history() -> None:
    history: list[Item] = [UserMessage("hello")]
    replies = {Brain(7).respond(history, tools=TOOLS) for _ in range(5)}
    assert len(replies) == 1
    assert len({Brain(s).respond(history, tools=TOOLS).text for s in range(10)}) > 1


def test_normalise_and_numbers() -> None:
    assert normalise("  What's   the WEATHER, in Paris?! ") == "what is the weather in paris"
    assert normalise("temperature 21.5 please") == "temperature 21.5 please"
    assert parse_number(["set", "it", "to", "twenty", "one"]) == 21
    assert parse_number(["about", "3.5", "degrees"]) == 3.5
    assert parse_number(["no", "numbers", "here"]) is None


def test_phone_keys_next_to_digits_fill_a_string_argument() -> None:
    assert normalise("Press 0012# now") == "press 0012# now"
    assert normalise("*really* good, *72") == "really good *72"
    dtmf = ToolSpec("send_dtmf", "Press keys on the phone keypad.", {"type": "object",
        "properties": {"digits": {"type": "string"}}, "required": ["digits"]})  # fmt: skip
    reply = Brain().respond([UserMessage("press the keys for 0012#")], tools=[dtmf])
    assert [c.arguments for c in reply.tool_calls] == [{"digits": "0012#"}]


def test_phrases_and_vocabulary_cover_tools_and_pairs() -> None:
    brain = Brain()
    enum_tool = ToolSpec("set_mode", "", {"type": "object", "properties": {
        "mode": {"type": "string", "enum": ["eco_mode", "turbo"]}}})  # fmt: skip
    phrases = brain.phrases([*TOOLS, enum_tool])
    assert "what is the weather in {city}" in phrases
    assert "what time is it in {city} and what is the weather in {city}" in phrases
    assert "what is the mode {set_mode_mode}" in phrases
    assert len(phrases) == len(set(phrases))
    vocab = brain.vocabulary([*TOOLS, enum_tool])
    assert vocab["set_mode_mode"] == ["eco mode", "turbo"]
    assert {"paris", "tokyo", "new york"} <= set(vocab["city"])
    assert vocab["number"][:3] == ["one", "two", "three"]
    # every spoken phrase the grammar offers is one the brain understands
    for phrase in phrases:
        filled = phrase.replace("{city}", "paris").replace("{set_mode_mode}", "turbo")
        filled = filled.replace("{number}", "two")
        assert ask(filled, tools=[*TOOLS, enum_tool]).understood, phrase


@pytest.mark.parametrize(
    "text", ["WHAT IS THE WEATHER IN PARIS", "what is the weather in paris..."]
)
def test_typed_text_is_robust_to_case_and_punctuation(text: str) -> None:
    assert ask(text).tool_calls == (PlannedCall("get_weather", {"city": "Paris"}),)
