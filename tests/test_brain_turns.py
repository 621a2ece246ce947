"""The brain's reading of a turn: everything the user sent since the model last spoke, results
already in history, lenient tool outputs, clarifications, pictures, forced calls, and the
honest fallback for typed text."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from support.tool_samples import CITY_SPECS as TOOLS

from realtimelab.emulator.brain import (
    NOT_CAUGHT,
    Brain,
    capabilities_text,
    current_turn,
    force_call,
    read_output,
)
from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    PlannedCall,
    Reply,
    ToolSpec,
    UserMessage,
)

RESULT = json.dumps({"city": "Paris", "temperature_c": 21, "conditions": "sunny"})
ANSWER = "In Paris it is 21 degrees and sunny."


def respond(history: list[Item], tools: list[ToolSpec] = TOOLS) -> Reply:
    return Brain().respond(history, tools=tools)


def test_the_turn_is_everything_since_the_model_last_spoke() -> None:
    # livekit-Gemini sends the question with turnComplete false, then "." as its own turn
    history: list[Item] = [
        UserMessage("hello"),
        AssistantMessage("Hi!"),
        UserMessage("What's the weather in Paris?"),
        UserMessage("."),
    ]
    assert respond(history).tool_calls == (PlannedCall("get_weather", {"city": "Paris"}),)
    turn = current_turn(history)
    assert [u.text for u in turn.users] == ["What's the weather in Paris?", "."]
    # system messages are context, not part of what was asked
    assert current_turn([UserMessage("[system] be brief"), UserMessage("hi")]).users == (
        UserMessage("hi"),
    )


def test_a_request_already_answered_in_history_is_not_called_again() -> None:
    # pipecat: after the tool result it re-sends the whole saved context as one user message
    dump = (
        "This is a previously saved conversation. Please treat this conversation history as a "
        "starting point.\n"
        + json.dumps(
            [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "content": RESULT, "tool_call_id": "call_1"},
            ]
        )
        + "\nThis is the end of the previously saved conversation. If the last message is a "
        "user instruction or question, act on that instruction or answer the question."
    )
    history: list[Item] = [
        UserMessage("what is the weather in paris", audio_ms=1800.0),
        FunctionCall("call_1", "get_weather", {"city": "Paris"}),
        FunctionResult("call_1", "get_weather", RESULT),
        UserMessage(dump),
    ]
    reply = respond(history)
    assert reply == Reply(text=ANSWER)
    # the same question asked again later is answered from the result too
    again: list[Item] = [*history[:3], AssistantMessage(ANSWER), UserMessage("weather in Paris?")]
    assert respond(again) == Reply(text=ANSWER)


def test_results_that_arrived_with_a_new_message_are_answered_first() -> None:
    history: list[Item] = [
        UserMessage("weather in paris"),
        FunctionCall("c1", "get_weather", {"city": "Paris"}),
        FunctionResult("c1", "get_weather", RESULT),
        UserMessage("thank you"),
    ]
    text = respond(history).text
    assert text.startswith(ANSWER) and "You're welcome" in text


def test_python_repr_tool_outputs_are_read_leniently() -> None:
    # livekit sends str(dict): single quotes, not JSON
    output = "{'city': 'Paris', 'temperature_c': 21, 'conditions': 'sunny'}"
    assert read_output(output) == {"city": "Paris", "temperature_c": 21, "conditions": "sunny"}
    history: list[Item] = [
        UserMessage("weather in paris"),
        FunctionCall("c1", "get_weather", {"city": "Paris"}),
        FunctionResult("c1", "get_weather", output),
    ]
    assert respond(history) == Reply(text=ANSWER)
    with pytest.raises(ValueError):
        read_output("Markets are calm.")


def test_a_clarifying_question_is_answered_by_the_next_turn() -> None:
    first: list[Item] = [UserMessage("what's the weather")]
    question = respond(first).text
    assert question == "Which city should I use for get_weather?"
    history: list[Item] = [*first, AssistantMessage(question), UserMessage("Paris")]
    assert respond(history).tool_calls == (PlannedCall("get_weather", {"city": "Paris"}),)
    spoken: list[Item] = [*first, AssistantMessage(question), UserMessage("in tokyo", 700.0)]
    assert respond(spoken).tool_calls == (PlannedCall("get_weather", {"city": "Tokyo"}),)
    # a bare value with no question pending: asked what it is for, not "didn't catch that"
    bare = respond([UserMessage("Paris")])
    assert bare.understood and "get_weather" in bare.text and "Paris" in bare.text


def test_a_tool_is_recognised_by_its_description_words() -> None:
    forecast = ToolSpec(
        "lookup_forecast",
        "Weather forecast for a location.",
        {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    )
    reply = respond(
        [UserMessage("will it rain tomorrow? what's the forecast for Rome")], [forecast]
    )
    assert reply.tool_calls == (PlannedCall("lookup_forecast", {"location": "Rome"}),)
    assert respond([UserMessage("what's the forecast")], [forecast]).text == (
        "Which location should I use for lookup_forecast?"
    )


def test_pictures_are_acknowledged_deterministically() -> None:
    red = ImageInput("image/png", 155, 64, 64, "red")
    reply = respond([UserMessage("", images=(red,))])
    assert reply == Reply(text="I see a 64 by 64 image, mostly red.")
    both = respond([UserMessage("hello", images=(red, ImageInput("image/webp", 5000)))])
    assert both.text.startswith("I see 2 images: a 64 by 64 image, mostly red and an image I")
    assert "How can I help" in both.text or "Hi there" in both.text or "Hello" in both.text
    later: list[Item] = [
        UserMessage("", images=(red,)),
        AssistantMessage("I see a 64 by 64 image, mostly red."),
        UserMessage("what do you see"),
    ]
    assert respond(later).text == "I see a 64 by 64 image, mostly red."
    assert "don't see any picture" in respond([UserMessage("what do you see")]).text


def test_forced_calls_take_arguments_from_the_words_or_neutral_values() -> None:
    history: list[Item] = [UserMessage("tell me about tokyo time")]
    assert force_call(history, TOOLS) == PlannedCall("get_time", {"city": "Tokyo"})
    assert force_call([UserMessage("hello")], TOOLS) == PlannedCall("get_weather", {"city": ""})


def test_capabilities_text_is_deterministic_and_names_the_tools() -> None:
    text = capabilities_text(TOOLS)
    assert text == capabilities_text(TOOLS)
    assert "get_weather and get_time" in text and text.startswith("I'm the realtimelab emulator")
    assert respond([UserMessage("What can you do?")]) == Reply(text=text)
    assert "here:" not in capabilities_text()
    # spoken and not understood stays "didn't catch that"
    assert respond([UserMessage("", audio_ms=500.0)]).text == NOT_CAUGHT


def test_new_spoken_phrases_are_in_the_grammar_and_understood() -> None:
    phrases = Brain().phrases(TOOLS)
    for phrase in ("what can you do", "what do you see", "{city}", "in {city}"):
        assert phrase in phrases
    for phrase in phrases:
        filled = phrase.replace("{city}", "paris").replace("{number}", "two")
        assert Brain().respond([UserMessage(filled, audio_ms=1000.0)], tools=TOOLS).understood, (
            phrase
        )


def test_images_decoded_by_vision_reach_the_words() -> None:
    from PIL import Image

    from realtimelab.emulator.vision import describe_image, image_tokens

    buf = io.BytesIO()
    Image.fromarray(np.tile(np.array([30, 60, 220], np.uint8), (32, 48, 1))).save(buf, "PNG")
    image = describe_image(buf.getvalue())
    assert (image.width, image.height, image.dominant_colour) == (48, 32, "blue")
    assert (
        respond([UserMessage("", images=(image,))]).text == "I see a 48 by 32 image, mostly blue."
    )
    assert image_tokens(image) == 255 and image_tokens(image, "low") == 85
    big = ImageInput("image/png", 1, 4096, 2048, "red")  # → 1536×768 → 3×2 tiles
    assert image_tokens(big) == 85 + 170 * 6
