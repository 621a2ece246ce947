"""Gemini Live behaviours the emulator gained for real clients, sans-IO (no sockets).

Each test drives `LiveProtocol` through `support.gemini_harness.Harness` with explicit times and,
where a reply matters, the real rule-based brain. Every server message passes google-genai's
types (the harness checks each one).

* start signals and history: `historyConfig.initialHistoryInClientContent` seeds without a reply;
  a whitespace-only `realtimeInput.text` starts a turn and never barges in; user parts
  accumulate until the model speaks; a second input before the first reply replaces it;
* pictures: camera frames decoded (size, colour), carried on the next user message, billed
  as IMAGE / VIDEO tokens, and the 2-minute audio+video limit;
* per model: 3.x bundles audio with its transcription and sends one final input
  transcription, 2.5 sends one field per message and input partials;
* `contextWindowCompression.slidingWindow` trims to `targetTokens`;
* `googleSearch` answered from the local corpus with `groundingMetadata`; tools Live does not
  run are refused;
* usage per modality, thinking tokens; close reasons within 123 bytes; the token store purges.
"""

from __future__ import annotations

import base64
import json

import pytest
from support.emulator_fakes import silence, tone
from support.gemini_harness import MODEL, MODEL_25, Harness
from support.media import png

from realtimelab.emulator import vision
from realtimelab.emulator.dialects.gemini import usage, wire
from realtimelab.emulator.dialects.gemini.frames import GeminiFrames
from realtimelab.emulator.dialects.gemini.protocol import Close, Generate, Stop, TurnState
from realtimelab.emulator.dialects.gemini.setup import UNSUPPORTED_TOOLS
from realtimelab.emulator.dialects.gemini.tokens import TokenStore
from realtimelab.emulator.grounding import DOMAIN, search_corpus
from realtimelab.emulator.model import AssistantMessage, Reply, UserMessage

WEATHER = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "description": "Get the current weather for a city.",
                "behavior": "BLOCKING",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
            }
        ]
    }
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prompt_details(h: Harness) -> dict[str, int]:
    """The last `usageMetadata.promptTokensDetails` as {modality: tokens}."""
    return {
        d["modality"]: d["tokenCount"] for d in h.sent[-1]["usageMetadata"]["promptTokensDetails"]
    }


def jpeg(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    pil = pytest.importorskip("PIL.Image")
    import io

    out = io.BytesIO()
    pil.new("RGB", (width, height), rgb).save(out, "JPEG")
    return out.getvalue()


# ------------------------------------------------------------------------------------------
# start signals, seeded history and accumulated turns (third-party clients)
# ------------------------------------------------------------------------------------------


def test_initial_history_seeds_without_a_reply_and_a_space_starts_the_turn() -> None:
    """pipecat: historyConfig + clientContent(turnComplete) + realtimeInput.text " "."""
    h = Harness()
    h.setup(tools=WEATHER, historyConfig={"initialHistoryInClientContent": True})
    seeded = h.frame(
        {
            "client_content": {
                "turns": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}],
                "turnComplete": True,
            }
        },
        now=0.01,
    )
    assert seeded == [] and h.proto.turn is TurnState.IDLE  # no model call
    start = h.frame({"realtime_input": {"text": " "}}, now=0.02)
    (job,) = [a for a in start if isinstance(a, Generate)]
    assert not any(isinstance(a, Stop) for a in start)
    assert h.proto.history == [UserMessage("What's the weather in Paris?")]  # " " is no utterance
    h.drive(job, now=0.1)
    (call,) = h.sent[-1]["toolCall"]["functionCalls"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    actions = h.frame(
        {
            "tool_response": {
                "functionResponses": [
                    {"id": call["id"], "name": "get_weather", "response": {"output": "21 C, sunny"}}
                ]
            }
        },
        now=0.2,
    )
    (cont,) = [a for a in actions if isinstance(a, Generate)]
    h.drive(cont, now=0.3)
    assert "toolCallCancellation" not in h.types() and "interrupted" not in h.types()
    assert isinstance(h.proto.history[-1], AssistantMessage)
    assert "sunny" in h.proto.history[-1].text


def test_without_history_config_client_content_asks_for_a_reply() -> None:
    h = Harness()
    h.setup()
    actions = h.frame(
        {"clientContent": {"turns": [{"parts": [{"text": "hello"}]}], "turnComplete": True}}, 0.0
    )
    assert any(isinstance(a, Generate) for a in actions)


def test_seeding_ends_at_the_first_realtime_input() -> None:
    h = Harness()
    h.setup(historyConfig={"initialHistoryInClientContent": True})
    h.frame({"clientContent": {"turns": [{"parts": [{"text": "a"}]}], "turnComplete": False}}, 0)
    h.text("hello", now=0.1)  # realtime input: the conversation has started
    h.drive(next(a for a in h.actions if isinstance(a, Generate)), now=0.2)
    h.finish_turn(now=5.0)
    later = h.frame(
        {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}], "turnComplete": True}}, 6.0
    )
    assert any(isinstance(a, Generate) for a in later)  # no longer seeding


def test_whitespace_text_never_barges_in() -> None:
    h = Harness()
    h.setup()
    job = h.text("tell me a story", now=0.0)
    speak = h.reply(job, Reply(text="once upon a time there was"), now=0.1)
    assert speak is not None
    h.stream(speak, until_s=0.5)
    n = len(h.actions)
    assert h.frame({"realtimeInput": {"text": "  \n"}}, now=0.5) == []
    assert not any(isinstance(a, Stop) for a in h.actions[n:])
    assert h.proto.turn is TurnState.GENERATING
    assert sum(isinstance(i, UserMessage) for i in h.proto.history) == 1


def test_user_parts_accumulate_until_the_model_speaks() -> None:
    """livekit: clientContent(turnComplete false) then a "." turn with turnComplete true."""
    h = Harness()
    h.setup(tools=WEATHER)
    first = h.frame(
        {
            "client_content": {
                "turns": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}],
                "turnComplete": False,
            }
        },
        now=0.0,
    )
    assert not any(isinstance(a, Generate) for a in first)
    second = h.frame(
        {
            "client_content": {
                "turns": [{"role": "user", "parts": [{"text": "."}]}],
                "turnComplete": True,
            }
        },
        now=0.01,
    )
    (job,) = [a for a in second if isinstance(a, Generate)]
    request = h.proto.context(job.job)
    assert request is not None
    # the brain is handed every user part since the model last spoke, in order
    assert request.history[-2:] == (UserMessage("What's the weather in Paris?"), UserMessage("."))


def test_a_second_input_before_the_first_reply_replaces_it() -> None:
    """Two inputs before the first reply started: one reply, never two interleaved."""
    h = Harness()
    h.setup(outputAudioTranscription={})
    first = h.text("hello", now=0.0)
    second = h.text("good morning", now=0.001)
    assert Stop(first.job) in h.actions
    assert h.apply(h.proto.replied(first.job, Reply(text="stale"), now=0.1)) == []
    h.drive(second, now=0.1)
    assert "stale" not in h.said()
    assert len(h.content("generationComplete")) == 1
    assert [i.text for i in h.proto.history if isinstance(i, UserMessage)] == [
        "hello",
        "good morning",
    ]


# ------------------------------------------------------------------------------------------
# pictures
# ------------------------------------------------------------------------------------------


def test_the_brain_acknowledges_what_the_camera_showed() -> None:
    h = Harness()
    h.setup(outputAudioTranscription={})
    h.video(png(64, 48, (220, 20, 20)), now=0.0, mime="image/png")
    h.drive(h.text("what do you see", now=1.0), now=1.1)
    assert h.said() == "I see a 64 by 48 image, mostly red."


def test_camera_frames_ride_on_the_next_user_message_and_are_billed() -> None:
    h = Harness()
    h.setup()
    h.video(png(64, 48, (220, 20, 20)), now=0.0, mime="image/png")
    h.video(b"\x00not an image", now=0.5, mime="image/jpeg")
    job = h.text("what do you see", now=1.0)
    message = h.proto.history[-1]
    assert isinstance(message, UserMessage) and len(message.images) == 2
    red, broken = message.images
    assert (red.mime, red.width, red.height, red.dominant_colour) == ("image/png", 64, 48, "red")
    assert (broken.width, broken.height, broken.dominant_colour) == (None, None, None)
    h.drive(job, now=1.1)
    h.finish_turn(now=20.0)
    details = {
        d["modality"]: d["tokenCount"] for d in h.sent[-1]["usageMetadata"]["promptTokensDetails"]
    }
    assert details["IMAGE"] == 2 * usage.IMAGE_TOKENS  # 258 per small picture
    job = h.text("and now", now=21.0)
    assert h.proto.history[-1] == UserMessage("and now")  # frames are not attached twice


def test_turn_coverage_decides_which_frames_join_the_turn() -> None:
    """2.5 defaults to TURN_INCLUDES_ONLY_ACTIVITY: only frames sent while the user speaks
    join the turn; 3.x defaults to TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO: every frame."""
    kept = {}
    for model in (MODEL_25, MODEL):
        h = Harness(model=model)
        h.setup(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}})
        h.video(png(8, 8, (0, 0, 255)), now=0.0, mime="image/png")  # before any speech
        h.audio(silence(100) + tone(300), now=0.1)
        assert h.proto.input is not None and h.proto.input.in_speech
        h.video(png(8, 8, (220, 20, 20)), now=0.2, mime="image/png")  # while speaking
        h.audio(tone(300) + silence(400), now=0.3)
        (job,) = [a for a in h.actions if isinstance(a, Generate)]
        h.reply(job, Reply(text="ok"), now=0.5)
        message = next(i for i in h.proto.history if isinstance(i, UserMessage))
        kept[model] = [i.dominant_colour for i in message.images]
    assert kept == {MODEL_25: ["red"], MODEL: ["blue", "red"]}


def test_image_token_rules() -> None:
    small = vision.describe_image(png(384, 384, (0, 0, 0)), "image/png")
    large = vision.describe_image(png(1000, 800, (0, 0, 0)), "image/png")
    assert usage.image_tokens(small) == 258
    assert usage.image_tokens(large) == 2 * 2 * 258  # 768-px tiles
    assert usage.image_tokens(large, "MEDIA_RESOLUTION_LOW") == 64
    clip = vision.describe_image(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    assert clip.width is None and usage.image_tokens(clip) == 263


def test_video_blobs_count_as_video() -> None:
    h = Harness()
    h.setup(generationConfig={"mediaResolution": "MEDIA_RESOLUTION_LOW"})
    h.video(b"\x00\x00\x00\x18ftypmp42", now=0.0, mime="video/mp4")
    h.video(png(8, 8, (0, 0, 255)), now=0.5, mime="image/png")
    job = h.text("hi", now=1.0)
    h.reply(job, Reply(text=""), now=1.1)
    details = {
        d["modality"]: d["tokenCount"] for d in h.sent[-1]["usageMetadata"]["promptTokensDetails"]
    }
    assert details["VIDEO"] == 263 and details["IMAGE"] == 64


def test_jpeg_frames_are_decoded() -> None:
    h = Harness()
    h.setup()
    h.video(jpeg(640, 480, (20, 20, 200)), now=0.0)
    h.text("what is this", now=0.5)
    message = h.proto.history[-1]
    assert isinstance(message, UserMessage)
    (frame,) = message.images
    assert (frame.mime, frame.width, frame.height, frame.dominant_colour) == (
        "image/jpeg",
        640,
        480,
        "blue",
    )


def test_pictures_in_client_content_are_seen_too() -> None:
    h = Harness()
    h.setup()
    picture = {"inlineData": {"mimeType": "image/png", "data": _b64(png(16, 16, (220, 20, 20)))}}
    h.frame(
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "look"}, picture]}],
                "turnComplete": True,
            }
        },
        now=0.0,
    )
    message = h.proto.history[-1]
    assert isinstance(message, UserMessage) and message.text == "look"
    assert [(i.width, i.dominant_colour) for i in message.images] == [(16, "red")]


def test_audio_and_video_sessions_end_after_two_minutes_without_compression() -> None:
    h = Harness(session_video_s=3.0)
    h.setup()
    for i in range(3):
        assert h.video(png(4, 4, (0, 0, 0)), now=i, mime="image/png") == []
    assert h.video(png(4, 4, (0, 0, 0)), now=3.0, mime="image/png")[-1] == Close(
        1011, wire.DEADLINE_EXPIRED
    )
    # audio-only sessions keep their 15 minutes; with compression video sessions go on
    audio_only = Harness(session_video_s=3.0)
    audio_only.setup()
    assert not audio_only.closes() and audio_only.audio(silence(4000), now=0.0) == []
    compressed = Harness(session_video_s=3.0)
    compressed.setup(contextWindowCompression={"slidingWindow": {}})
    for i in range(6):
        compressed.video(png(4, 4, (0, 0, 0)), now=i, mime="image/png")
    assert not compressed.closes()
    # once video is in, audio counts towards the shorter limit too
    mixed = Harness(session_video_s=3.0)
    mixed.setup()
    mixed.video(png(4, 4, (0, 0, 0)), now=0.0, mime="image/png")
    actions = mixed.audio(silence(3100), now=0.1)
    assert actions and actions[-1] == Close(1011, wire.DEADLINE_EXPIRED)


# ------------------------------------------------------------------------------------------
# per model: bundled serverContent and input transcription
# ------------------------------------------------------------------------------------------


def _spoken_turn(model: str) -> Harness:
    h = Harness(model=model, heard_text="what is the weather in paris")
    h.setup(
        inputAudioTranscription={},
        outputAudioTranscription={},
        realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}},
    )
    h.audio(silence(100) + tone(600) + silence(400), now=0.0)
    (job,) = [a for a in h.actions if isinstance(a, Generate)]
    speak = h.reply(job, Reply(text="alpha beta gamma delta"), now=1.0)
    assert speak is not None
    h.apply(h.proto.spoken(job.job, h.stream(speak)))
    return h


def test_3x_models_bundle_audio_with_its_transcription() -> None:
    h = _spoken_turn(MODEL)
    bundled = [
        m for m in h.sent if {"modelTurn", "outputTranscription"} <= set(m.get("serverContent", {}))
    ]
    assert bundled, "3.x sends audio and its words in one serverContent"
    alone = [m for m in h.sent if set(m.get("serverContent", {})) == {"outputTranscription"}]
    assert not alone
    assert h.said() == "alpha beta gamma delta"
    last = next(m for m in h.sent if "generationComplete" in m.get("serverContent", {}))
    assert last["serverContent"].get("outputTranscription", {}).get("text", "").strip() in (
        "",
        "delta",
    )
    assert h.content("inputTranscription") == [{"text": "what is the weather in paris"}]


def test_25_models_send_one_field_per_message_and_input_partials() -> None:
    h = _spoken_turn(MODEL_25)
    assert all(len(m.get("serverContent", {"x": 1})) == 1 for m in h.sent)
    assert h.said() == "alpha beta gamma delta"
    partials = [t["text"] for t in h.content("inputTranscription")]
    assert partials == ["what is", " the weather", " in paris"]
    assert "".join(partials) == "what is the weather in paris"


# ------------------------------------------------------------------------------------------
# sliding window
# ------------------------------------------------------------------------------------------


def _chat(h: Harness, turns: int) -> list[int]:
    prompts = []
    t = 0.0
    for i in range(turns):
        job = h.text(f"turn {i}: " + "please remember this sentence " * 8, now=t)
        t = h.drive(job, t + 0.01)
        h.finish_turn(now=t + 60)
        prompts.append(h.sent[-1]["usageMetadata"]["promptTokenCount"])
        t += 61
    return prompts


def test_sliding_window_trims_to_the_target() -> None:
    h = Harness()
    instructions = "You are a patient tutor."
    h.setup(
        systemInstruction={"parts": [{"text": instructions}]},
        contextWindowCompression={"triggerTokens": 300, "slidingWindow": {"targetTokens": 150}},
    )
    prompts = _chat(h, 6)
    assert max(prompts) < 300 + 150  # bounded: without trimming it grows ~+100 per turn
    assert h.proto.trimmed_items > 0
    assert isinstance(h.proto.history[0], UserMessage)  # always cut at the start of a user turn
    assert h.proto.instructions == instructions  # the system instruction stays

    plain = Harness()
    plain.setup(systemInstruction={"parts": [{"text": instructions}]})
    grown = _chat(plain, 6)
    assert grown == sorted(grown) and grown[-1] > 2 * grown[0]


def test_sliding_window_cut_rule() -> None:
    history = [
        UserMessage("a" * 400),
        AssistantMessage("b" * 400),
        UserMessage("c" * 400),
        AssistantMessage("d" * 400),
        UserMessage("e" * 40),
    ]
    assert usage.sliding_window_cut("", history, trigger=1000, target=500) == 0  # 410 tokens
    assert usage.sliding_window_cut("", history, trigger=300, target=250) == 2
    assert usage.sliding_window_cut("", history, trigger=300, target=5) == 4  # the turn stays


def test_sliding_window_settings_are_validated() -> None:
    for bad in (
        {"triggerTokens": 100, "slidingWindow": {"targetTokens": 100}},
        {"triggerTokens": "x"},
        {"slidingWindow": {"target": 1}},
    ):
        (close,) = GeminiFrames().receive(
            json.dumps({"setup": {"model": MODEL, "contextWindowCompression": bad}})
        )
        assert isinstance(close, Close) and close.code == 1007


# ------------------------------------------------------------------------------------------
# googleSearch grounding and unsupported tools
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [MODEL, MODEL_25])
def test_google_search_answers_from_the_local_corpus(model: str) -> None:
    h = Harness(model=model)
    h.setup(tools=[{"googleSearch": {}}], outputAudioTranscription={})
    job = h.text("What is the tallest mountain in the world?", now=0.0)
    h.drive(job, now=0.1)
    (meta,) = h.content("groundingMetadata")
    hit = search_corpus("tallest mountain")
    assert hit is not None and h.said().strip() == hit.answer
    assert meta["webSearchQueries"] == [hit.query]
    assert all(c["web"]["uri"].startswith(f"https://{DOMAIN}/") for c in meta["groundingChunks"])
    support = meta["groundingSupports"][0]
    assert support["segment"]["text"] == hit.answer
    assert support["segment"]["endIndex"] == len(hit.answer.encode())
    done = next(m for m in h.sent if "generationComplete" in m.get("serverContent", {}))
    grounded = next(m for m in h.sent if "groundingMetadata" in m.get("serverContent", {}))
    assert (grounded is done) == (model == MODEL)  # 3.x bundles it with generationComplete
    h.finish_turn(now=30.0)
    assert h.sent[-1]["usageMetadata"]["toolUsePromptTokenCount"] > 0


def test_search_only_where_declared_and_known() -> None:
    h = Harness()
    h.setup(tools=[{"googleSearch": {}}])
    h.drive(h.text("hello there", now=0.0), now=0.1)
    assert not h.content("groundingMetadata")  # not in the corpus: the brain answers
    plain = Harness()
    plain.setup()
    plain.drive(plain.text("What is the tallest mountain?", now=0.0), now=0.1)
    assert not plain.content("groundingMetadata")  # no googleSearch tool: no search


@pytest.mark.parametrize("tool", ["codeExecution", "urlContext", "googleMaps", "fileSearch"])
def test_tools_live_does_not_run_are_refused(tool: str) -> None:
    h = Harness()
    actions = h.setup(tools=[{tool: {}}])
    (close,) = [a for a in actions if isinstance(a, Close)]
    assert close.code == 1007 and close.reason == UNSUPPORTED_TOOLS[tool]
    assert tool in close.reason and len(close.reason.encode()) <= 123


# ------------------------------------------------------------------------------------------
# usage, thinking
# ------------------------------------------------------------------------------------------


def test_usage_per_modality_and_thinking() -> None:
    h = Harness(model=MODEL_25)
    h.setup(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 200}})
    h.audio(silence(100) + tone(1000) + silence(400), now=0.0)
    (job,) = [a for a in h.actions if isinstance(a, Generate)]
    speak = h.reply(job, Reply(text="one two three four"), now=1.0)
    assert speak is not None
    h.apply(h.proto.spoken(job.job, h.stream(speak)))
    h.finish_turn(now=10.0)
    meta = h.sent[-1]["usageMetadata"]
    details = {d["modality"]: d["tokenCount"] for d in meta["promptTokensDetails"]}
    assert details["AUDIO"] >= 32  # a second of speech at 32 tokens/s
    assert meta["responseTokensDetails"] == [{"modality": "AUDIO", "tokenCount": 32}]
    assert meta["thoughtsTokenCount"] == usage.THOUGHT_TOKENS["MEDIUM"]  # 2.5: automatic
    assert meta["totalTokenCount"] == (
        meta["promptTokenCount"] + meta["responseTokenCount"] + meta["thoughtsTokenCount"]
    )


@pytest.mark.parametrize(
    ("model", "thinking", "expected"),
    [
        (MODEL, None, 0),  # gemini-3.8-live does not think
        (MODEL_25, {"thinkingBudget": 0}, 0),
        (MODEL_25, {"thinkingBudget": 50}, 50),
        ("models/gemini-3.1-flash-live-preview", None, 16),  # MINIMAL by default
        ("models/gemini-3.1-flash-live-preview", {"thinkingLevel": "high"}, 256),
    ],
)
def test_thoughts_token_count(model: str, thinking: dict[str, int] | None, expected: int) -> None:
    h = Harness(model=model)
    h.setup(generationConfig={"thinkingConfig": thinking} if thinking else {})
    h.reply(h.text("hi", now=0.0), Reply(text=""), now=0.1)
    assert h.sent[-1]["usageMetadata"].get("thoughtsTokenCount", 0) == expected


# ------------------------------------------------------------------------------------------
# close reasons, the token store
# ------------------------------------------------------------------------------------------


def test_close_reasons_fit_rfc_6455() -> None:
    h = Harness(model="models/" + "x" * 45)
    (close,) = [a for a in h.setup() if isinstance(a, Close)]
    assert close.code == 1008 and len(close.reason.encode()) <= 123
    assert close.reason.startswith("models/xxxx")
    cut = wire.close_reason("é" * 100)  # 200 bytes: never split inside a character
    assert len(cut.encode()) <= 123 and cut == "é" * 61


def test_expired_tokens_are_purged_and_the_store_is_bounded() -> None:
    now = [1_000_000.0]
    store = TokenStore(clock=lambda: now[0], max_tokens=5)
    old = [store.create({"uses": 0}).name for _ in range(3)]
    now[0] += 31 * 60  # past the default 30-minute expireTime
    fresh = store.create({"uses": 0})
    assert len(store) == 1 and store.get(old[0]) is None and store.get(fresh.name)
    for _ in range(10):
        store.create({"uses": 0})
    assert len(store) == 5  # the oldest go first
    assert store.get(fresh.name) is None


# ------------------------------------------------------------------------------------------
# hostile frames that used to raise inside the server (and reached clients as 1000 "")
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup",
    [
        {
            "generationConfig": {
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": ["Kore"]}}}
            }
        },
        {"realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 1.5}}},
        {"realtimeInputConfig": {"automaticActivityDetection": {"prefixPaddingMs": 2**40}}},
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "f", "parametersJsonSchema": {"type": "object", "properties": []}}
                    ]
                }
            ]
        },
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "f", "parameters": {"type": "OBJECT", "properties": []}}
                    ]
                }
            ]
        },
        {"tools": [{"functionDeclarations": [{"name": "f", "description": ["x"]}]}]},
    ],
    ids=[
        "unhashable-voice",
        "fractional-ms",
        "int32-overflow",
        "json-schema-properties-list",
        "schema-properties-list",
        "description-list",
    ],
)
def test_hostile_setups_close_1007(setup: dict[str, object]) -> None:
    h = Harness()
    (close,) = [a for a in h.setup(**setup) if isinstance(a, Close)]
    assert (close.code, close.reason) == (1007, wire.INVALID_ARGUMENT)


@pytest.mark.parametrize(
    "frame",
    [
        '{"realtimeInput": {"text": NaN}}',
        '{"realtimeInput": {"text": Infinity}}',
        '{"a":' * 150 + "1" + "}" * 150,
        b"\xff\xfe\x00",
        "[" * 50_000,
    ],
    ids=["nan", "infinity", "too-deep", "not-utf8", "recursion-bomb"],
)
def test_hostile_frames_close_1007(frame: str | bytes) -> None:
    h = Harness()
    h.setup()
    (close,) = [a for a in h.raw(frame, 0.1) if isinstance(a, Close)]
    assert (close.code, close.reason) == (1007, wire.INVALID_ARGUMENT)


def test_a_number_too_large_for_a_double_is_refused() -> None:
    """`1e400` parses as infinity in Python: an int32 field must refuse it, not overflow."""
    h = Harness()
    h.apply(h.proto.open(0.0))
    vad = '{"automaticActivityDetection": {"silenceDurationMs": 1e400}}'
    frame = f'{{"setup": {{"model": "{h.model}", "realtimeInputConfig": {vad}}}}}'
    (close,) = [a for a in h.raw(frame, 0.0) if isinstance(a, Close)]
    assert (close.code, close.reason) == (1007, wire.INVALID_ARGUMENT)
