"""The emulator's "model": a deterministic, rule-based brain.

It decides each model turn from the conversation so far, so the emulator can answer, call tools
and fold their results into a reply without any network or neural model. The same rules apply to
spoken input (after `Hearing` transcribed it) and typed text; case and punctuation do not matter.
Given the same seed and history it always gives the same `Reply`.

=========================  ==================================================================
You say (examples)         The brain answers
=========================  ==================================================================
(nothing / not heard)      "Sorry, I didn't catch that. Could you say it again?"
                           (`understood=False`)
"what voice are you        the session's voice, from `SessionFacts.voice`
using"
"what is your turn         the session's VAD settings (`SessionFacts.vad`) in words; also
detection" / "silence      "voice activity detection" and "vad"
duration"
"which model are you" /    `SessionFacts.model` / `SessionFacts.provider`
"which provider"
a request naming a tool    one `PlannedCall` per request; the tool is found by its name words
("what is the weather in   (`get_weather` -> "weather", `get_time` -> "time"), else by words
Paris")                    of its description. Arguments come from the words, typed by the
                           tool's JSON Schema (see below). Requests joined by "and" give
                           parallel calls in one reply ("weather in Paris and time in Tokyo";
                           "weather in Paris and Tokyo" repeats the tool).
  ... a required argument  a clarifying question instead of a call ("Which city would you like
  is missing               the weather for?")
  ... instructions ask     `preamble` = "Sure, let me check the weather in Paris." when the
  for an acknowledgement   instructions contain "acknowledge", "before calling a tool",
                           "before calling tools", "before you call", "say what you are about
                           to do", "announce" or "preamble" (case-insensitive); else empty
tool results arrive        the results in words ("In Paris it is 21 degrees and sunny.");
                           `{"error": ...}` -> said honestly; `{"status": "pending"}` (also
                           "placeholder", "running", "in_progress") -> "still working on it"
"tell me a story",         a long answer (80+ words, ~25 s of speech) to practise barge-in;
"tell me about ...",       the story is a seeded choice among a few
"explain ... in detail"
"hello", "hi", "good       a friendly greeting (seeded choice)
morning"
"how are you", "thank      small talk
you", "what is your name",
"goodbye"
anything else              "Sorry, I didn't catch that..." (`understood=False`)
=========================  ==================================================================

Argument extraction, per JSON Schema type: `enum` -> the enum value named in the words
(case-insensitive); `string` -> a known vocabulary value (a city, ...) or the words after
"in/for/of/about/at/called/named"; `integer`/`number` -> digits or number words ("twenty one");
`boolean` -> yes/true/on/enable vs no/false/off/disable.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from realtimelab.emulator.model import (
    AssistantMessage,
    FunctionCall,
    FunctionResult,
    ImageInput,
    Item,
    PlannedCall,
    Reply,
    SessionFacts,
    ToolSpec,
    UserMessage,
)

NOT_CAUGHT = "Sorry, I didn't catch that. Could you say it again?"
"""Only for *audio* the ears could not make out; typed text gets `capabilities_text`."""

_CLARIFY = re.compile(r"^Which (?P<param>[\w ]+) should I use for (?P<tool>[\w.-]+)\?$")
_SEE = ("what do you see", "what can you see", "what is in the picture", "what is in the image",
        "describe the picture", "describe the image", "what is this picture",
        "what is this image")  # fmt: skip
_HELP = ("what can you do", "what do you understand", "what can i say", "what can i ask")

CITIES: tuple[str, ...] = (
    "paris", "tokyo", "london", "berlin", "madrid", "rome", "new york", "chicago", "boston",
    "seattle", "toronto", "sydney", "dublin", "amsterdam", "moscow", "cairo", "lisbon", "vienna",
)  # fmt: skip
"""Cities the emulator knows by ear; typed text may name any place."""

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}  # fmt: skip
NUMBER_WORDS: tuple[str, ...] = (*_UNITS[1:], "twenty")
"""Numbers the emulator knows by ear ("one".."twenty")."""

_ACK_TRIGGERS = (
    "acknowledge",
    "before calling a tool",
    "before calling tools",
    "before calling any tool",
    "before you call",
    "say what you are about to do",
    "announce",
    "preamble",
)
_PENDING = {"pending", "placeholder", "running", "in_progress", "in progress", "working", "queued"}
_GENERIC_NAME_WORDS = {
    "get", "set", "fetch", "lookup", "look", "find", "query", "check", "current", "read", "show",
    "list", "the", "a", "an", "of", "for", "by", "to", "info", "information", "data", "tool",
}  # fmt: skip
_STOPWORDS = _GENERIC_NAME_WORDS | {
    "and", "or", "in", "on", "at", "is", "are", "be", "it", "its", "this", "that", "with", "from",
    "returns", "return", "given", "city", "name", "value", "user", "use", "when", "asks", "ask",
    "about", "what", "which", "some", "any", "into", "your", "you", "will", "can",
}  # fmt: skip
_SYNONYMS = {
    "weather": {"forecast", "temperature", "raining", "sunny"},
    "time": {"clock", "hour"},
}
_PLACE_PARAMS = {"city", "location", "place", "town", "country", "region", "where", "destination"}
_PREPOSITIONS = ("in", "for", "of", "about", "at", "called", "named", "to")
_TRAILING_FILLER = {"please", "today", "now", "right", "currently", "tonight", "thanks"}
_CONTRACTIONS = {
    "what's": "what is", "whats": "what is", "it's": "it is", "how's": "how is",
    "who's": "who is", "i'm": "i am", "you're": "you are", "what're": "what are",
    "where's": "where is", "that's": "that is", "let's": "let us",
}  # fmt: skip

_GREETINGS = (
    "Hello! How can I help you today?",
    "Hi there! What can I do for you?",
    "Hello! It's nice to hear from you. What would you like to talk about?",
)
_STORIES = (
    "Once upon a time, in a small village by the sea, there lived an old lighthouse keeper "
    "named Tom. Every night he climbed the hundred steps of his tower and lit the great lamp, "
    "so that the fishing boats could find their way home. One stormy evening the lamp went "
    "dark. Tom searched the whole tower with a candle, and at last he found a little owl "
    "sheltering inside the glass. He carried it down, dried its feathers by the fire, and "
    "relit the lamp just in time. From that night on, the owl sat beside him, and together "
    "they watched over the harbour until morning.",
    "There was once a clockmaker who lived at the top of a crooked street. Her clocks were "
    "famous, because each one ticked to a different tune. One winter a boy knocked on her "
    "door, holding a broken pocket watch that had belonged to his grandfather. The watch was "
    "so old that nobody else would touch it. She worked on it for seven nights, cleaning every "
    "wheel and spring, and on the eighth morning it began to tick again, playing a song the "
    "boy had not heard since he was small. He smiled, and she knew it was the best clock she "
    "had ever mended.",
    "Far away, beyond the mountains, there was a garden where the flowers only opened when "
    "someone told them a joke. The gardener was a serious man, and for years the garden "
    "stayed closed and grey. Then one spring his granddaughter came to stay. She told the "
    "roses about a cat who wanted to be a dog, and the tulips about a cloud that was afraid of "
    "heights. By the end of the week every flower was wide open, and the gardener laughed so "
    "hard that the apple trees blossomed too. Visitors still come today, and each of them "
    "brings a joke.",
)


@dataclass(frozen=True)
class _ToolMatch:
    tool: ToolSpec
    by_name: bool


class Brain:
    """The deterministic model behind the emulator. See the module docstring for the rules."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    # ------------------------------------------------------------------ deciding a turn

    def respond(
        self,
        history: Sequence[Item],
        *,
        tools: Sequence[ToolSpec],
        instructions: str = "",
        facts: SessionFacts | None = None,
    ) -> Reply:
        """The next model turn for `history`.

        The turn is everything the user sent since the model last spoke (its last message or
        tool call): several user messages are read as one request (a client may send the
        question, then "." as a separate turn), tool results that arrived since are answered,
        and a request whose tool result is already in history is answered from that result
        instead of calling the tool again (pipecat re-sends a saved context as text).
        """
        if history and isinstance(history[-1], FunctionCall):
            return self._after_tools(history)
        turn = current_turn(history)
        user_turns = sum(isinstance(item, UserMessage) for item in history)
        rng = random.Random(self.seed * 1_000_003 + user_turns)
        if not turn.users:
            if turn.results:
                return self._after_tools(history)
            return Reply(text=rng.choice(_GREETINGS))
        answered = _answer_results(history, turn.results)
        text = normalise(" ".join(u.text for u in turn.users))
        reply = self._understand(text, turn, history, tools, instructions, facts, rng)
        if turn.images and not reply.tool_calls:
            seen = spoken_images(turn.images)
            if not reply.understood or not text:
                reply = Reply(text=seen)
            elif not reply.text.startswith("I see"):
                reply = Reply(text=f"{seen} {reply.text}")
        if answered:
            if reply.tool_calls:
                return reply
            if reply.understood and reply.text and reply.text not in answered:
                return Reply(text=f"{answered} {reply.text}")
            return Reply(text=answered)
        if not reply.understood and (turn.typed or not turn.spoken):
            # typed text is never "didn't catch that": say what the emulator is and can do
            return Reply(text=capabilities_text(tools), understood=False)
        return reply

    def _understand(
        self,
        text: str,
        turn: Turn,
        history: Sequence[Item],
        tools: Sequence[ToolSpec],
        instructions: str,
        facts: SessionFacts | None,
        rng: random.Random,
    ) -> Reply:
        if not text:
            return Reply(text=NOT_CAUGHT, understood=False)
        return (
            self._session_question(text, facts)
            or self._tool_request(text, tools, instructions, history)
            or self._clarified(text, tools, instructions, history)
            or _bare_value(text, tools)
            or _picture_question(text, history)
            or self._long_answer(text, rng)
            or self._small_talk(text, rng)
            or (Reply(text=capabilities_text(tools)) if _asks_for_help(text) else None)
            or Reply(text=NOT_CAUGHT, understood=False)
        )

    def _session_question(self, text: str, facts: SessionFacts | None) -> Reply | None:
        words = set(text.split())
        asks_vad = (
            "turn detection" in text
            or "silence duration" in text
            or "voice activity" in text
            or "vad" in words
        )
        if asks_vad:
            if facts is None:
                return Reply(text="I don't know how turn detection is set up in this session.")
            return Reply(text=_describe_vad(facts.vad))
        if "voice" in words and ({"what", "which", "your"} & words):
            if facts is None or not facts.voice:
                return Reply(text="I don't know which voice this session uses.")
            return Reply(text=f"I'm speaking with the {facts.voice} voice.")
        if "model" in words and ({"what", "which", "your"} & words):
            model = facts.model if facts and facts.model else "an emulated model"
            provider = f" from the {facts.provider} emulator" if facts else ""
            return Reply(text=f"I'm {model}{provider}.")
        if "provider" in words and ({"what", "which", "your"} & words):
            if facts is None:
                return Reply(text="I'm the realtimelab emulator.")
            return Reply(
                text=f"I'm the realtimelab emulator speaking the {facts.provider} protocol."
            )
        return None

    def _tool_request(
        self,
        text: str,
        tools: Sequence[ToolSpec],
        instructions: str,
        history: Sequence[Item] = (),
    ) -> Reply | None:
        if not tools:
            return None
        planned: list[tuple[ToolSpec, dict[str, Any]]] = []
        for clause in _clauses(text):
            match = _match_tool(clause, tools)
            if match is not None:
                planned.append((match.tool, _extract_arguments(clause, match.tool)))
                continue
            if not planned:
                continue
            # a clause naming no tool continues the previous request: "... and snooze on" adds
            # an argument; "weather in paris and tokyo" repeats the tool with a new value
            tool, previous_args = planned[-1]
            extra = _extract_arguments(clause, tool)
            if not extra:
                continue
            if extra.keys().isdisjoint(previous_args):
                previous_args.update(extra)
            else:
                planned.append((tool, extra))
        calls: list[PlannedCall] = []
        for tool, args in planned:
            missing = [p for p in _required(tool) if p not in args]
            if missing:
                return Reply(text=_clarify(tool, missing[0]))
            calls.append(PlannedCall(tool.name, args))
        if not calls:
            return None
        return self._calls_or_known(calls, instructions, history)

    def _calls_or_known(
        self, calls: Sequence[PlannedCall], instructions: str, history: Sequence[Item]
    ) -> Reply:
        """Call the tools, unless their results are already in history: then answer from
        them, as a real model does (no second call for the same question)."""
        known = [_known_result(history, call) for call in calls]
        found = [k for k in known if k is not None]
        if calls and len(found) == len(calls):
            return Reply(text=" ".join(_verbalise(call, result.output) for call, result in found))
        calls = [c for c, k in zip(calls, known, strict=True) if k is None]
        preamble = ""
        if wants_acknowledgement(instructions):
            preamble = "Sure, let me check " + _join([_describe_call(c) for c in calls]) + "."
        return Reply(tool_calls=tuple(calls), preamble=preamble)

    def _long_answer(self, text: str, rng: random.Random) -> Reply | None:
        if "story" in text.split() and ("tell" in text or "read" in text):
            return Reply(text=rng.choice(_STORIES))
        topic = None
        for pattern in (
            r"\btell me (?:all |more )?about (?P<t>.+)",
            r"\bexplain (?P<t>.+?)(?: in detail| in depth| to me)?$",
            r"\bdescribe (?P<t>.+)",
        ):
            m = re.search(pattern, text)
            if m:
                topic = m.group("t").strip()
                break
        if topic is None:
            return None
        topic = re.sub(r"\b(my|me)\b", "your", re.sub(r"\byourself\b", "me", topic))
        return Reply(text=_lecture(topic, rng))

    def _small_talk(self, text: str, rng: random.Random) -> Reply | None:
        words = text.split()
        if "how are you" in text or "how is it going" in text:
            return Reply(text="I'm doing well, thank you for asking. How can I help you?")
        if "thank" in text or "thanks" in words:
            return Reply(text="You're welcome! Is there anything else I can do?")
        if "your name" in text or "who are you" in text:
            return Reply(
                text="I'm the realtimelab emulator, a scripted stand-in for a realtime voice model."
            )
        if {"goodbye", "bye"} & set(words) or "see you" in text:
            return Reply(text="Goodbye! It was nice talking to you.")
        for part in ("morning", "afternoon", "evening"):
            if f"good {part}" in text:
                return Reply(text=f"Good {part}! How can I help you today?")
        if {"hello", "hi", "hey", "greetings", "howdy"} & set(words[:3]):
            return Reply(text=rng.choice(_GREETINGS))
        return None

    def _after_tools(self, history: Sequence[Item]) -> Reply:
        calls: dict[str, FunctionCall] = {}
        results: dict[str, FunctionResult] = {}
        for item in reversed(history):
            if isinstance(item, UserMessage | AssistantMessage):
                break
            # walking backwards, the first item seen for an id is the latest: keep that one
            # (a tool that streams or answers late sends several results for one call)
            if isinstance(item, FunctionCall):
                calls.setdefault(item.call_id, item)
            elif isinstance(item, FunctionResult):
                results.setdefault(item.call_id, item)
        sentences: list[str] = []
        for call in reversed(list(calls.values())):
            result = results.get(call.call_id)
            if result is None:
                sentences.append(f"I'm still waiting for {_describe_call(call)}.")
            else:
                sentences.append(_verbalise(call, result.output))
        for call_id, result in reversed(list(results.items())):
            if call_id not in calls:  # a result for a call made in an earlier turn
                earlier = next(
                    (i for i in history if isinstance(i, FunctionCall) and i.call_id == call_id),
                    FunctionCall(call_id, result.name, {}),
                )
                sentences.append(_verbalise(earlier, result.output))
        if not sentences:
            return Reply(text="I have no tool results to tell you about yet.", understood=False)
        return Reply(text=" ".join(sentences))

    def _clarified(
        self, text: str, tools: Sequence[ToolSpec], instructions: str, history: Sequence[Item]
    ) -> Reply | None:
        """The answer to the brain's own clarifying question ("Which city should I use for
        get_weather?" → "Paris"): complete the request it asked about."""
        asked = _last_model_text(history)
        m = _CLARIFY.match(asked or "")
        tool = next((t for t in tools if m and t.name == m.group("tool")), None)
        if tool is None:
            return None
        earlier = normalise(" ".join(u.text for u in _turn_before_last_model_output(history)))
        args = _extract_arguments(earlier, tool) if earlier else {}
        args.update(_extract_arguments(text, tool))
        if not args.keys() - _extract_arguments(earlier, tool).keys() and earlier:
            return None  # the new words add nothing: not an answer to the question
        missing = [p for p in _required(tool) if p not in args]
        if missing:
            return Reply(text=_clarify(tool, missing[0]))
        return self._calls_or_known([PlannedCall(tool.name, args)], instructions, history)

    # ------------------------------------------------------------------ what can be heard

    def phrases(self, tools: Sequence[ToolSpec]) -> list[str]:
        """Every phrase template the brain understands, for the hearing grammar.

        Slots (`{city}`, `{number}`, `{<tool>_<param>}`) are filled from `vocabulary(tools)`.
        Pairs of tool requests are joined with "and" so parallel calls can be spoken.
        """
        base = [
            "hello", "hello there", "hi", "hi there", "hey", "good morning", "good afternoon",
            "good evening", "how are you", "how are you today", "thank you", "thanks",
            "thank you very much", "what is your name", "goodbye", "bye",
            "see you later", "what voice are you using", "which voice are you using",
            "what is your voice", "what is your turn detection", "what is the turn detection",
            "what is your silence duration", "what is the silence duration",
            "what is your voice activity detection", "which model are you",
            "what model are you", "which provider are you", "what provider are you",
            "tell me a story", "tell me a long story", "please tell me a story",
            "tell me about yourself", "explain that in detail",
            *_HELP, "help", *_SEE,
        ]  # fmt: skip
        per_tool = [_tool_templates(tool) for tool in tools]
        out = list(base)
        # bare answers to a clarifying question ("Which city should I use for get_weather?")
        for tool in tools:
            for param, schema in _properties(tool).items():
                if "enum" in schema:
                    out.append(f"{{{_enum_slot(tool, param)}}}")
                elif _is_place(param, schema):
                    out += ["{city}", "in {city}"]
                elif _kind(schema) in ("integer", "number"):
                    out.append("{number}")
        for templates in per_tool:
            out.extend(templates)
        for i, first in enumerate(per_tool):
            for j, second in enumerate(per_tool):
                if i != j and first and second:
                    out.extend(f"{a} and {b}" for a in first[:2] for b in second[:2])
        for templates in per_tool:  # "what is the weather in paris and in tokyo"
            out.extend(f"{t} and in {{city}}" for t in templates if t.endswith("in {city}"))
        return list(dict.fromkeys(out))

    def vocabulary(self, tools: Sequence[ToolSpec]) -> dict[str, list[str]]:
        """Slot values for `phrases(tools)`: cities, numbers and the tools' enum values."""
        vocab: dict[str, list[str]] = {"city": list(CITIES), "number": list(NUMBER_WORDS)}
        for tool in tools:
            for param, schema in _properties(tool).items():
                if "enum" in schema:
                    vocab[_enum_slot(tool, param)] = [_spoken(v) for v in schema["enum"]]
        return vocab


# ---------------------------------------------------------------------- helpers


def normalise(text: str) -> str:
    """Lowercase words separated by single spaces; contractions expanded, punctuation gone.

    Phone keys survive next to digits ("press 0012#" keeps "0012#", "*72"): a DTMF tool's
    `digits` argument is filled from these words.
    """
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9'._ #*-]+", " ", text)
    text = re.sub(r"(?<![0-9])[._-]|[._-](?![0-9])|(?<![0-9#*])[#*](?![0-9#*])", " ", text)
    words = [_CONTRACTIONS.get(w, w) for w in text.split()]
    return " ".join(" ".join(words).replace("'", "").split())


def wants_acknowledgement(instructions: str) -> bool:
    """Whether the session instructions ask to announce tool calls before making them."""
    low = instructions.lower()
    return any(trigger in low for trigger in _ACK_TRIGGERS)


def _name_words(tool: ToolSpec) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", tool.name).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    topical = [w for w in words if w not in _GENERIC_NAME_WORDS]
    return topical or words


def _topic(tool: ToolSpec) -> str:
    return " ".join(_name_words(tool))


def _properties(tool: ToolSpec) -> dict[str, Mapping[str, Any]]:
    props = tool.parameters.get("properties", {}) if tool.parameters else {}
    return {k: v for k, v in props.items() if isinstance(v, Mapping)}


def _required(tool: ToolSpec) -> list[str]:
    req = tool.parameters.get("required", []) if tool.parameters else []
    return [r for r in req if isinstance(r, str)]


def _enum_slot(tool: ToolSpec, param: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"{tool.name}_{param}".lower())


def _spoken(value: Any) -> str:
    return re.sub(r"[_\-]+", " ", str(value)).lower().strip()


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in re.split(r"\band\b|\balso\b|\bthen\b", text) if c.strip()]


def _match_tool(clause: str, tools: Sequence[ToolSpec]) -> _ToolMatch | None:
    words = set(clause.split())
    stems = words | {w[:-1] for w in words if w.endswith("s")}
    best: tuple[int, int] | None = None
    chosen: _ToolMatch | None = None
    for index, tool in enumerate(tools):
        name_words = set(_name_words(tool))
        keys = name_words | {s for w in name_words for s in _SYNONYMS.get(w, ())}
        name_hits = len(keys & stems)
        desc = {w for w in re.findall(r"[a-z]+", tool.description.lower()) if len(w) > 3}
        desc_hits = len((desc - _STOPWORDS) & stems)
        score = name_hits * 10 + desc_hits
        if score == 0 or (name_hits == 0 and desc_hits < 1):
            continue
        if best is None or (score, -index) > best:
            best = (score, -index)
            chosen = _ToolMatch(tool, by_name=name_hits > 0)
    return chosen


def _extract_arguments(clause: str, tool: ToolSpec) -> dict[str, Any]:
    """Arguments for `tool` found in one clause, typed by the tool's JSON Schema."""
    args: dict[str, Any] = {}
    free_text_taken = False
    props = _properties(tool)
    numeric = [
        p for p, sc in props.items() if "enum" not in sc and _kind(sc) in ("integer", "number")
    ]
    numbers = _assign_numbers(clause, numeric)
    for param, schema in props.items():
        kind = _kind(schema)
        value: Any = None
        if "enum" in schema:
            value = _find_enum(clause, schema["enum"])
        elif kind in ("integer", "number"):
            number = numbers.get(param)
            if number is not None:
                value = int(number) if kind == "integer" else number
        elif kind == "boolean":
            value = _find_boolean(clause)
        elif kind == "string":
            value = _find_place(clause) if _is_place(param, schema) else None
            if value is None and not free_text_taken:
                value = _after_preposition(clause, tool)
                free_text_taken = value is not None
            if value is not None and _is_place(param, schema):
                value = value.title()
        if value is not None:
            args[param] = value
    return args


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type", "string")
    if isinstance(kind, list):  # ["integer", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def _is_place(param: str, schema: Mapping[str, Any]) -> bool:
    words = set(re.split(r"[^a-z]+", param.lower()))
    desc = str(schema.get("description", "")).lower()
    return bool(words & _PLACE_PARAMS) or "city" in desc or "location" in desc


def _find_enum(clause: str, values: Sequence[Any]) -> Any:
    padded = f" {clause} "
    for value in sorted(values, key=lambda v: -len(str(v))):
        if f" {_spoken(value)} " in padded:
            return value
    return None


def _find_place(clause: str) -> str | None:
    padded = f" {clause} "
    for city in sorted(CITIES, key=len, reverse=True):
        if f" {city} " in padded:
            return city
    return None


def _after_preposition(clause: str, tool: ToolSpec) -> str | None:
    words = clause.split()
    topic = set(_name_words(tool))
    for i, word in enumerate(words):
        if word not in _PREPOSITIONS or i + 1 >= len(words):
            continue
        rest = words[i + 1 :]
        if rest[0] in {"the", "a", "an"} and len(rest) > 1 and rest[1] in topic:
            continue  # "tell me about the weather in paris": skip to the next preposition
        while rest and rest[-1] in _TRAILING_FILLER:
            rest.pop()
        if rest and rest[0] in {"the", "a", "an"} and len(rest) > 1:
            rest = rest[1:]
        if rest and not (set(rest) <= topic | {"it", "me", "you", "is", "what"}):
            return " ".join(rest)
    return None


def parse_number(words: Sequence[str]) -> float | None:
    """The first number in `words`: digits ("21", "3.5") or words ("twenty one")."""
    total: int | None = None
    for word in words:
        if re.fullmatch(r"-?\d+(\.\d+)?", word):
            if total is not None:
                break
            return float(word)
        if word in _TENS:
            if total is not None:
                break
            total = _TENS[word]
        elif word in _UNITS:
            if total is not None and total % 10 == 0 and total >= 20 and _UNITS.index(word) < 10:
                return float(total + _UNITS.index(word))
            if total is not None:
                break
            total = _UNITS.index(word)
        elif word == "hundred" and total is not None:
            total *= 100
        elif total is not None:
            break
    return float(total) if total is not None else None


def _numbers(clause: str) -> list[tuple[int, float]]:
    """Every number in the clause as (word position, value); "twenty one" counts once."""
    words = clause.split()
    found: list[tuple[int, float]] = []
    i = 0
    while i < len(words):
        value = parse_number(words[i : i + 1])
        if value is None:
            i += 1
            continue
        pair = parse_number(words[i : i + 2])
        width = 2 if pair is not None and pair != value else 1
        found.append((i, pair if width == 2 and pair is not None else value))
        i += width
    return found


def _assign_numbers(clause: str, params: Sequence[str]) -> dict[str, float]:
    """Numbers for numeric parameters: first those said right after the parameter's name
    ("volume five"), then the remaining numbers in order to the remaining parameters."""
    numbers = _numbers(clause)
    words = clause.split()
    out: dict[str, float] = {}
    for param in params:
        name = re.split(r"[^a-z]+", param.lower())[-1].rstrip("s")
        for k, (pos, value) in enumerate(numbers):
            if any(w.rstrip("s") == name for w in words[max(0, pos - 2) : pos]):
                out[param] = value
                del numbers[k]
                break
    for param in params:
        if param not in out and numbers:
            out[param] = numbers.pop(0)[1]
    return out


def _find_boolean(clause: str) -> bool | None:
    words = set(clause.split())
    if words & {"yes", "true", "on", "enable", "enabled", "turn on"}:
        return True
    if words & {"no", "false", "off", "disable", "disabled", "not"}:
        return False
    return None


def _clarify(tool: ToolSpec, param: str) -> str:
    """The question for a missing required argument; `_CLARIFY` reads it back next turn."""
    what = param.replace("_", " ")
    return f"Which {what} should I use for {tool.name}?"


def _first_string_arg(arguments: Mapping[str, Any]) -> str | None:
    for value in arguments.values():
        if isinstance(value, str) and value:
            return value
    return None


def _describe_call(call: PlannedCall | FunctionCall) -> str:
    tool = ToolSpec(call.name)
    where = _first_string_arg(call.arguments)
    return f"the {_topic(tool)}" + (f" in {where}" if where else "")


def _verbalise(call: FunctionCall, output: str) -> str:
    topic = _topic(ToolSpec(call.name))
    where = _first_string_arg(call.arguments)
    try:
        data = read_output(output)
    except ValueError:
        text = " ".join(str(output).split())
        if not text:
            return f"The {topic} tool returned nothing."
        return f"The {topic} tool says: {_clip(text, 200)}"
    if isinstance(data, Mapping):
        if "error" in data:
            err = data["error"]
            if isinstance(err, Mapping):
                err = err.get("message") or err.get("code") or json.dumps(err)
            place = f" for {where}" if where else ""
            return f"Sorry, I couldn't get the {topic}{place}: {_clip(str(err), 160)}."
        status = str(data.get("status", "")).lower()
        if status in _PENDING:
            place = f" for {where}" if where else ""
            return f"I'm still working on the {topic}{place}; I'll tell you as soon as I have it."
        parts = _fields(data, call.arguments)
        if not parts:
            return f"I checked the {topic}" + (f" in {where}" if where else "") + "."
        if where:
            return f"In {where} it is {_join(parts)}."
        return f"The {topic} is {_join(parts)}."
    if isinstance(data, list):
        items = [_clip(_scalar(x), 40) for x in data[:3] if _scalar(x)]
        more = f", and {len(data) - 3} more" if len(data) > 3 else ""
        listed = f": {_join(items)}{more}" if items else ""
        return f"The {topic} returned {len(data)} items{listed}."
    return f"The {topic} is {_scalar(data)}."


def _fields(data: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    argument_values = {str(v).lower() for v in arguments.values()}
    parts: list[str] = []
    for key, value in data.items():
        k = key.lower()
        if str(value).lower() in argument_values or k in {"unit", "units", "status", "ok"}:
            continue
        words = re.sub(r"[_\-]+", " ", key).strip()
        if isinstance(value, bool):
            parts.append(f"{words} {'yes' if value else 'no'}")
        elif isinstance(value, int | float):
            if "temp" in k:
                parts.append(f"{_number(value)} degrees")
            else:
                parts.append(f"{words} {_number(value)}")
        elif isinstance(value, str) and value.strip():
            if k in {"condition", "conditions", "summary", "description", "weather", "time",
                     "local_time", "current_time", "forecast", "result"}:  # fmt: skip
                parts.append(_clip(value.strip(), 60))
            else:
                parts.append(f"{words} {_clip(value.strip(), 60)}")
        if len(parts) >= 5:
            break
    return parts


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return value.strip()
    return ""


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _describe_vad(vad: Mapping[str, Any]) -> str:
    if not vad:
        return "Turn detection is off in this session, so I wait for you to commit your turn."
    kind = _spoken(vad.get("type", "automatic")) or "automatic"
    details = []
    for key, value in vad.items():
        if key == "type" or value is None or isinstance(value, Mapping | list):
            continue
        words = re.sub(r"[_\-]+", " ", key).strip()
        if words.endswith(" ms"):
            details.append(f"{words[:-3]} {_scalar(value)} milliseconds")
        else:
            details.append(f"{words} {_scalar(value) or _spoken(value)}")
    text = f"Turn detection is {kind}"
    return text + (f", with {_join(details)}." if details else ".")


def _tool_templates(tool: ToolSpec) -> list[str]:
    topic = _topic(tool)
    props = _properties(tool)
    place = next((p for p, s in props.items() if "enum" not in s and _is_place(p, s)), None)
    enums = [p for p, s in props.items() if "enum" in s]
    numbers = [p for p, s in props.items() if s.get("type") in ("integer", "number")]
    suffixes: list[str] = []
    if place:
        suffixes.append(" in {city}")
    for p in enums[:1]:
        suffixes.append(f" {{{_enum_slot(tool, p)}}}")
    for _ in numbers[:1]:
        suffixes.append(" {number}")
    if not suffixes or place is None or place not in _required(tool):
        suffixes.append("")
    heads = [f"what is the {topic}", f"tell me the {topic}", f"check the {topic}"]
    if topic == "time":
        heads.insert(0, "what time is it")
    if topic == "weather":
        heads.insert(1, "how is the weather")
    return [head + suffix for suffix in suffixes for head in heads]


def _lecture(topic: str, rng: random.Random) -> str:
    openings = (
        f"Here is a longer explanation of {topic}.",
        f"Let me tell you about {topic} in some detail.",
    )
    body = (
        f"To begin with, {topic} is something people often ask about, and it helps to look at it "
        "step by step. First, think about where it comes from and why it matters in everyday "
        "life. Second, consider how it changes over time, because very little stays the same for "
        "long. Third, remember that different people see it in different ways, and each view "
        "teaches you something new. Finally, the best way to understand it is to ask more "
        "questions, try things out yourself, and talk about what you find. You can interrupt me "
        "at any moment if you would like me to stop or to focus on one part."
    )
    return f"{rng.choice(openings)} {body}"


# ---------------------------------------------------------------------- the turn


@dataclass(frozen=True)
class Turn:
    """What the user sent since the model last spoke (its last message or tool call)."""

    users: tuple[UserMessage, ...] = ()
    results: tuple[FunctionResult, ...] = ()
    images: tuple[ImageInput, ...] = field(default=())

    @property
    def typed(self) -> bool:
        """Some of the turn was typed (a message without audio)."""
        return any(u.audio_ms is None and u.text.strip() for u in self.users)

    @property
    def spoken(self) -> bool:
        return any(u.audio_ms is not None for u in self.users)


def current_turn(history: Sequence[Item]) -> Turn:
    """The items after the model's last output, split into user messages and tool results.

    System messages (`UserMessage("[system] ...")`) are context, not part of what was asked.
    """
    users: list[UserMessage] = []
    results: list[FunctionResult] = []
    for item in reversed(history):
        if isinstance(item, AssistantMessage | FunctionCall):
            break
        if isinstance(item, UserMessage) and not item.text.startswith("[system] "):
            users.append(item)
        elif isinstance(item, FunctionResult):
            results.append(item)
    users.reverse()
    results.reverse()
    images = tuple(img for u in users for img in u.images)
    return Turn(tuple(users), tuple(results), images)


def _turn_before_last_model_output(history: Sequence[Item]) -> list[UserMessage]:
    """The user messages of the turn the model answered last."""
    for i in range(len(history) - 1, -1, -1):
        if isinstance(history[i], AssistantMessage | FunctionCall):
            return list(current_turn(history[:i]).users)
    return []


def _last_model_text(history: Sequence[Item]) -> str | None:
    for item in reversed(history):
        if isinstance(item, FunctionCall):
            return None
        if isinstance(item, AssistantMessage):
            return item.text
    return None


def read_output(output: str) -> Any:
    """A tool result as data: JSON, or leniently a Python literal (livekit sends the repr of a
    dict: "{'city': 'Paris', ...}"). Raises ValueError when it is neither (free text)."""
    try:
        return json.loads(output)
    except (json.JSONDecodeError, TypeError, RecursionError):
        pass
    text = output.strip() if isinstance(output, str) else ""
    if not text or text[0] not in "{[(":
        raise ValueError("free text")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError("free text") from exc


def _same_arguments(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def norm(args: Mapping[str, Any]) -> dict[str, str]:
        return {str(k): str(v).strip().lower() for k, v in args.items()}

    return norm(a) == norm(b)


def _known_result(
    history: Sequence[Item], call: PlannedCall
) -> tuple[FunctionCall, FunctionResult] | None:
    """The latest result of an identical call already in history (same tool and arguments)."""
    results = {i.call_id: i for i in history if isinstance(i, FunctionResult)}
    for item in reversed(history):
        if (
            isinstance(item, FunctionCall)
            and item.name == call.name
            and _same_arguments(item.arguments, call.arguments)
            and item.call_id in results
        ):
            return item, results[item.call_id]
    return None


def force_call(history: Sequence[Item], tools: Sequence[ToolSpec]) -> PlannedCall:
    """A call the model *must* make (`tool_choice: "required"` or a forced function).

    The tool is the one the turn's words name (else the first); arguments come from the words,
    and a required argument the words do not give gets a neutral value of its schema type
    (the first enum value, "", 0, false): a real model invents one, the emulator says so by
    being plain.
    """
    text = normalise(" ".join(u.text for u in current_turn(history).users))
    match = _match_tool(text, tools) if text else None
    tool = match.tool if match is not None else tools[0]
    args = _extract_arguments(text, tool) if text else {}
    props = _properties(tool)
    for param in _required(tool):
        if param not in args:
            schema = props.get(param, {})
            if schema.get("enum"):
                args[param] = schema["enum"][0]
            else:
                args[param] = {"integer": 0, "number": 0, "boolean": False}.get(
                    _kind(schema), [] if _kind(schema) == "array" else ""
                )
    return PlannedCall(tool.name, args)


def spoken_images(images: Sequence[ImageInput]) -> str:
    """What the brain says about pictures it was shown (see `vision.spoken_description`)."""
    from realtimelab.emulator.vision import spoken_description

    return spoken_description(images)


def _answer_results(history: Sequence[Item], results: Sequence[FunctionResult]) -> str:
    """The turn's tool results in words (the latest result per call, in arrival order)."""
    latest = {r.call_id: r for r in results}
    sentences = []
    for call_id, result in latest.items():
        call = next(
            (i for i in history if isinstance(i, FunctionCall) and i.call_id == call_id),
            FunctionCall(call_id, result.name, {}),
        )
        sentences.append(_verbalise(call, result.output))
    return " ".join(sentences)


def _picture_question(text: str, history: Sequence[Item]) -> Reply | None:
    if not any(phrase in text for phrase in _SEE):
        return None
    for item in reversed(history):
        if isinstance(item, UserMessage) and item.images:
            return Reply(text=spoken_images(item.images))
    return Reply(
        text="I don't see any picture in this conversation. Send one as an image and I'll "
        "tell you its size and main colour."
    )


def _bare_value(text: str, tools: Sequence[ToolSpec]) -> Reply | None:
    """Just a value ("Paris", "in Paris", "two") with no question pending: ask what for."""
    words = set(text.split()) - {"in", "for", "the", "at", "to", "please"}
    for tool in tools:
        args = _extract_arguments(text, tool)
        spoken = {w for v in args.values() for w in normalise(_spoken(v)).split()}
        if args and words and words <= spoken:
            value = next(iter(args.values()))
            users = [t.name for t in tools if _extract_arguments(text, t)]
            return Reply(
                text=f"What would you like me to do with {_spoken_value(value)}? "
                f"I can use {_join(users)}."
            )
    return None


def _spoken_value(value: Any) -> str:
    """A number or a yes/no as `_scalar` says it; anything else as it is written."""
    return _scalar(value) if isinstance(value, int | float) else str(value)


def _asks_for_help(text: str) -> bool:
    return text.strip() in ("help", "help me") or any(p in text for p in _HELP)


def capabilities_text(tools: Sequence[ToolSpec] = ()) -> str:
    """What the emulator's model is and understands, in one deterministic paragraph.

    The brain says it when typed text matches none of its rules; notebooks can print it.
    """
    names = [t.name for t in tools]
    if names:
        tool_part = (
            "call your tools when you name them or the words of their descriptions (here: "
            + _join(names)
            + ") and fold their results into an answer"
        )
    else:
        tool_part = "call your tools when you name them and fold their results into an answer"
    return (
        "I'm the realtimelab emulator, a rule-based stand-in for a real model. I can greet you "
        "and make small talk, tell you which voice, model and turn detection this session "
        f"uses, {tool_part}, tell a story or explain a topic at length so you can interrupt "
        "me, and describe the size and main colour of a picture you show me. Ask me one of "
        "those, or connect a real provider."
    )
