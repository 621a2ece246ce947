"""One session contract, one conformance suite: every test here runs on `RealtimeSession` and
`ResilientSession`, on both providers, against the emulator.

Both classes implement `realtimelab.contract.BaseSession` (mypy checks it); these tests check
that they *behave* the same: every verb, the events, late tool results through the dispatcher,
the conversation core's state, players and trace points, and close semantics. A verb missing
from one class (as `send_late_tool_results` once was from `ResilientSession`) fails here.

Verbs behind a capability flag (pictures, telephone audio, out-of-band responses, item
delete / retrieve, clearing input, transcription sessions, search grounding) are tested where
the flag is True and skipped, with the flag as the reason, where it is False; one test checks
that every such verb refuses with `NotImplementedError` naming its flag where it is False.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from support.media import jpeg, phone_speech, png
from support.session_helpers import of, open_session, until
from support.tool_samples import city_tool

from realtimelab import events as ev
from realtimelab import g711
from realtimelab.config import ConfigError, SessionConfig, Vad
from realtimelab.contract import (
    MAX_IMAGE_BYTES,
    AudioInputError,
    BaseSession,
    ImageInputError,
    ItemNotFound,
    Session,
)
from realtimelab.emulator.server import Emulator
from realtimelab.errors import SessionClosedError
from realtimelab.providers import get
from realtimelab.providers.base import (
    AssistantText,
    ToolCallRecord,
    ToolResultRecord,
    UserImage,
    UserText,
)
from realtimelab.resilience import ResilientSession
from realtimelab.session import RealtimeSession
from realtimelab.tools import ToolDispatcher, ToolRegistry

pytestmark = pytest.mark.timeout(60)
PROVIDERS = ["openai", "gemini"]
KINDS = ["single", "resilient"]
SPEED = 40.0
MakeEmulator = Callable[..., Awaitable[Emulator]]
WEATHER = city_tool("get_weather", "Weather for a city.")


def config_for(provider: str, **changes: Any) -> SessionConfig:
    return SessionConfig(instructions="Be brief.", tools=(WEATHER,)).replace(**changes)


def turn_done(event: ev.Event) -> bool:
    return isinstance(event, ev.TurnComplete)


async def refused_without(
    flag: str, kind: str, provider: str, emu: Emulator, config: SessionConfig
) -> None:
    """Where the provider lacks `flag`, a session with `config` is refused naming the flag, and
    the test stops there (skipped, saying so)."""
    if not getattr(get(provider).capabilities, flag):
        with pytest.raises(ConfigError, match=rf"capabilities\.{flag}"):
            async with open_session(kind, provider, emu, config):
                pass
        pytest.skip(f"{provider}: capabilities.{flag} is False (refused)")


def flagged_verbs(s: BaseSession) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """The verbs behind a capability flag (besides telephone audio), each with its flag."""
    return [
        ("image_input", lambda: s.send_image(png(), "image/png")),
        ("clear_input", lambda: s.clear_input_audio()),
        ("delete_items", lambda: s.delete_item("item_1")),
        ("retrieve_items", lambda: s.retrieve_item("item_1")),
        ("out_of_band_responses", lambda: s.create_out_of_band_response("classify")),
    ]


def needs(provider: str, flag: str) -> None:
    """Skip a test of a feature the provider does not have, saying which flag."""
    if not getattr(get(provider).capabilities, flag):
        pytest.skip(f"{provider}: capabilities.{flag} is False")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def emu(make_emulator: MakeEmulator, fake_components: Any) -> Emulator:
    return await make_emulator(speed=SPEED, components=fake_components)


def test_both_session_classes_implement_the_contract() -> None:
    for cls in (RealtimeSession, ResilientSession):
        assert issubclass(cls, BaseSession)
        assert not getattr(cls, "__abstractmethods__", None), cls
        # the structural protocol the dispatcher and the log depend on
        missing = [
            name for name in dir(Session) if not name.startswith("_") and not hasattr(cls, name)
        ]
        assert not missing, (cls.__name__, missing)


async def test_a_text_turn_and_history(kind: str, provider: str, emu: Emulator) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        assert isinstance(s, Session)
        await s.send_text("hello there")
        events = await until(s, turn_done)
        assert [e.status for e in events if isinstance(e, ev.TurnComplete)] == ["completed"]
        assert s.history == (UserText("hello there"), AssistantText("You said: hello there"))
        assert s.conversation.idle() and s.conversation.owes() == "idle"
        assert s.capabilities.provider == provider == s.provider
        assert s.now() > 0


async def test_a_tool_round_trip_is_one_answer(kind: str, provider: str, emu: Emulator) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        await s.send_text("get_weather in Paris")
        [call] = [
            e
            for e in await until(s, lambda e: isinstance(e, ev.ToolCall))
            if isinstance(e, ev.ToolCall)
        ]
        assert s.conversation.pending_calls == {call.call_id: "get_weather"}
        await s.send_tool_response(call.call_id, {"temp_c": 21})
        events = await until(s, turn_done)
        assert len([e for e in events if isinstance(e, ev.TurnComplete)]) == 1
        kinds = [h.kind for h in s.history]
        assert kinds == ["user", "tool_call", "tool_result", "assistant"]
        assert isinstance(s.history[1], ToolCallRecord)
        assert isinstance(s.history[2], ToolResultRecord)


async def test_a_timed_out_tool_reaches_the_model_late(
    kind: str, provider: str, emu: Emulator
) -> None:
    """The dispatcher answers with a placeholder, then sends the real result with
    `send_late_tool_results`: on both session classes (the verb once missing from one)."""
    registry = ToolRegistry()
    release = asyncio.Event()

    @registry.tool(name="get_weather", timeout_s=0.05)
    async def slow_weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        await release.wait()
        return {"city": city, "temp_c": 21}

    config = config_for(provider).replace(tools=registry.tools)
    async with open_session(kind, provider, emu, config) as s:
        async with ToolDispatcher(s, registry) as tools:
            await s.send_text("get_weather in Paris")
            said: list[str] = []
            async with asyncio.timeout(30):
                async for event in tools.run():
                    if isinstance(event, ev.OutputTranscript) and event.final:
                        said.append(event.text)
                        if len(said) == 1:
                            release.set()  # the placeholder was answered: finish the tool
                        if "Paris" in event.text and "21" in event.text:
                            break
        kinds = [r.kind for r in tools.records]
        assert kinds == ["placeholder", "late_result"], kinds
        assert not tools.errors
        results = [h for h in s.history if isinstance(h, ToolResultRecord)]
        assert len(results) == 2 and "pending" in results[0].output and "21" in results[1].output


async def test_manual_turns_with_commit_and_create_response(
    kind: str, provider: str, emu: Emulator
) -> None:
    config = config_for(provider, vad=Vad(mode="manual"))
    async with open_session(kind, provider, emu, config) as s:
        pcm = b"\x10\x00" * 16000  # 1 s of a quiet constant: the fake ears hear "hello"
        await s.send_audio(pcm, 16000)
        await s.commit()
        if not s.capabilities.manual_activity:
            await s.create_response()
        events = await until(s, turn_done)
        assert any(isinstance(e, ev.AudioChunk) for e in events)


async def test_interrupt_stops_audible_audio_on_both_classes(
    kind: str, provider: str, emu: Emulator
) -> None:
    flushed: list[bool] = []

    class Player:
        def play(self, pcm: bytes, rate: int, *, item_id: str | None = None) -> None:
            pass

        def flush(self) -> None:
            flushed.append(True)

    async with open_session(kind, provider, emu, config_for(provider), player=Player()) as s:
        traces: list[str] = []
        s.on_trace(lambda kind_, t, fields: traces.append(kind_))
        await s.send_text("please say something long enough to interrupt")
        await until(s, lambda e: isinstance(e, ev.AudioChunk))
        await s.interrupt()
        events = await until(s, lambda e: isinstance(e, ev.Interrupted | ev.TurnComplete))
        # the audio had just arrived: on the wall-clock playout model it was audible
        [interrupted] = [e for e in events if isinstance(e, ev.Interrupted)]
        assert interrupted.reason == "client" and flushed == [True]
        assert "flush" in traces and "user_end" in traces


async def test_update_changes_the_configuration(kind: str, provider: str, emu: Emulator) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        new = config_for(provider, instructions="Be very brief.")
        if s.capabilities.session_update or isinstance(s, ResilientSession):
            await s.update(new)  # in place (OpenAI) or by rotating onto a resumed connection
            await s.send_text("hello again")
            await until(s, turn_done)
        else:
            with pytest.raises(NotImplementedError, match="reconnect"):
                await s.update(new)


async def test_send_history_seeds_context_without_a_reply(
    kind: str, provider: str, emu: Emulator
) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        seed = (UserText("my name is Ada"), AssistantText("Nice to meet you, Ada."))
        await s.send_history(seed)
        assert s.history[: len(seed)] == seed
        await s.send_text("hello there")
        await until(s, turn_done)
        assert s.history[-1] == AssistantText("You said: hello there")


async def test_bad_input_is_refused_before_anything_is_sent(
    kind: str, provider: str, emu: Emulator
) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        with pytest.raises(AudioInputError, match="rate"):
            await s.send_audio(b"\x00\x00" * 10, 1)
        with pytest.raises(AudioInputError, match="float"):
            import numpy as np

            await s.send_audio(np.zeros(160, dtype=np.float32), 16000)
        with pytest.raises(AudioInputError, match="odd"):
            await s.send_audio(b"\x00\x00\x00", 16000)
        with pytest.raises(ValueError, match="non-empty"):
            await s.send_text("   ")
        with pytest.raises(TypeError):
            await s.send_text(42)  # type: ignore[arg-type]
        assert s.history == ()


async def test_close_ends_iteration_and_every_verb_raises(
    kind: str, provider: str, emu: Emulator
) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        await s.send_text("hello there")
        await until(s, turn_done)
        await s.close()
        await s.close()  # idempotent
        assert s.closed
        rest = [e async for e in s]
        assert rest and isinstance(rest[-1], ev.Closed) and rest[-1].expected
        verbs: list[Callable[[], Awaitable[None]]] = [
            lambda: s.send_text("anyone?"),
            lambda: s.send_audio(b"\x00\x00" * 160, 16000),
            lambda: s.send_tool_response("c1", 1, name="get_weather"),
            lambda: s.send_late_tool_result("c1", 2, name="get_weather"),
            lambda: s.commit(),
            lambda: s.create_response(),
            lambda: s.interrupt(),
            lambda: s.send_history([UserText("x")]),
            lambda: s.update(config_for(provider)),
        ]
        for verb in verbs:
            with pytest.raises(SessionClosedError):
                await verb()
        for flag, verb in flagged_verbs(s):
            if getattr(s.capabilities, flag):
                with pytest.raises(SessionClosedError):
                    await verb()
        with pytest.raises(SessionClosedError):
            await s.send_g711(b"\xff" * 160, "pcmu")


# ------------------------------------------------------------------------------------------
# verbs behind capability flags
# ------------------------------------------------------------------------------------------


async def test_verbs_without_their_capability_raise_naming_the_flag(
    kind: str, provider: str, emu: Emulator
) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        missing = [(f, verb) for f, verb in flagged_verbs(s) if not getattr(s.capabilities, f)]
        if not missing:
            pytest.skip(f"{provider} has every optional verb")
        for flag, verb in missing:
            with pytest.raises(NotImplementedError, match=rf"capabilities\.{flag}"):
                await verb()
        assert s.history == ()


async def test_a_picture_is_seen_billed_and_kept_in_history(
    kind: str, provider: str, emu: Emulator
) -> None:
    needs(provider, "image_input")
    picture = png(64, 64, (255, 0, 0))
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        await s.send_image(picture, "image/png")
        assert s.history == (UserImage("image/png", len(picture)),)
        assert s.conversation.owes() == "idle"  # a picture asks for no reply
        await s.send_text("hello there")
        [done] = of(await until(s, turn_done), ev.TurnComplete)
        assert done.usage is not None and done.usage.input_image_tokens > 0
        assert s.history[:2] == (UserImage("image/png", len(picture)), UserText("hello there"))


async def test_bad_pictures_are_refused_before_anything_is_sent(
    kind: str, provider: str, emu: Emulator
) -> None:
    needs(provider, "image_input")
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        with pytest.raises(ImageInputError, match="empty"):
            await s.send_image(b"", "image/png")
        with pytest.raises(ImageInputError, match="image/gif"):
            await s.send_image(b"GIF89a", "image/gif")
        with pytest.raises(ImageInputError, match="look like image/png"):
            await s.send_image(png(), "image/jpeg")
        with pytest.raises(ImageInputError, match="limit"):
            await s.send_image(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES), "image/png")
        with pytest.raises(ImageInputError):
            await s.send_image("not bytes", "image/png")  # type: ignore[arg-type]
        assert s.history == ()
        await s.send_image(jpeg(), "image/jpg")  # the common misspelling is read as image/jpeg
        assert s.history == (UserImage("image/jpeg", len(jpeg())),)


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
async def test_telephone_audio_in_and_out(
    kind: str, provider: str, emu: Emulator, law: str
) -> None:
    """G.711 in with `send_g711`, G.711 out in every `AudioChunk`: natively where the wire
    speaks it, transcoded by the session elsewhere; the same events either way."""
    config = config_for(provider, vad=Vad(mode="manual"), input_format=law, output_format=law)
    async with open_session(kind, provider, emu, config) as s:
        await s.send_g711(phone_speech("hello", law, silence_ms=200))
        await s.commit()
        if not s.capabilities.manual_activity:
            await s.create_response()
        chunks = of(await until(s, turn_done), ev.AudioChunk)
        assert chunks and all(c.rate == 8000 and c.encoding == law for c in chunks)
        for c in chunks:
            assert c.g711 is not None and len(c.g711) * 2 == len(c.pcm)
            # `pcm` is the G.711 decoded (natively) or what was encoded (transcoded): within
            # one quantisation step either way
            decoded = np.frombuffer(g711.decode(c.g711, law), dtype="<i2").astype(int)
            original = np.frombuffer(c.pcm, dtype="<i2").astype(int)
            assert np.all(np.abs(decoded - original) <= np.abs(original) // 16 + 16)
        with pytest.raises(AudioInputError, match="send_audio"):
            await s.send_g711(np.zeros(160, dtype=np.int16))  # type: ignore[arg-type]
        with pytest.raises(AudioInputError, match=r"unknown G\.711"):
            await s.send_g711(b"\xff" * 160, "g722")


async def test_send_g711_needs_a_codec_when_the_input_is_pcm16(
    kind: str, provider: str, emu: Emulator
) -> None:
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        with pytest.raises(AudioInputError, match="input_format"):
            await s.send_g711(b"\xff" * 160)
        await s.send_g711(b"\xff" * 160, "pcmu")  # explicit: decoded to the wire's PCM16


async def test_an_out_of_band_response_leaves_the_conversation_alone(
    kind: str, provider: str, emu: Emulator
) -> None:
    needs(provider, "out_of_band_responses")
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        await s.send_text("hello there")
        await until(s, turn_done)
        before = s.history
        await s.create_out_of_band_response(
            "Classify the request.",
            input=["tell me about Paris"],
            metadata={"purpose": "classification"},
        )
        events = await until(s, lambda e: isinstance(e, ev.OutOfBandResponse))
        [answer] = of(events, ev.OutOfBandResponse)
        assert answer.metadata == {"purpose": "classification"} and answer.status == "completed"
        assert "Paris" in answer.text and answer.pcm == b"" and answer.usage is not None
        assert not of(events, ev.ResponseStarted | ev.TurnComplete | ev.AudioChunk)
        assert s.history == before and s.conversation.idle()
        await s.create_out_of_band_response(output="audio")  # the conversation as context
        [spoken] = of(await until(s, lambda e: isinstance(e, ev.OutOfBandResponse)), ev.Event)[-1:]
        assert isinstance(spoken, ev.OutOfBandResponse) and spoken.pcm and spoken.text
        assert s.history == before


async def test_items_are_retrieved_and_deleted_and_history_follows(
    kind: str, provider: str, emu: Emulator
) -> None:
    needs(provider, "delete_items")
    needs(provider, "retrieve_items")
    async with open_session(kind, provider, emu, config_for(provider)) as s:
        await s.send_text("hello there")
        events = await until(s, turn_done)
        [typed] = [e for e in of(events, ev.ItemAdded) if e.role == "user"]
        item = await s.retrieve_item(typed.item_id)
        assert (item.role, item.text, item.pcm) == ("user", "hello there", b"")
        reply = next(e.item_id for e in of(events, ev.OutputTranscript) if e.item_id)
        await s.delete_item(typed.item_id)
        await s.delete_item(reply)
        await until(s, lambda e: isinstance(e, ev.ItemDeleted) and e.item_id == reply)
        assert s.history == ()  # a replay would not bring them back
        with pytest.raises(ItemNotFound) as lost:
            await s.retrieve_item(typed.item_id)
        assert lost.value.item_id == typed.item_id


async def test_retrieved_user_audio_and_cleared_input(
    kind: str, provider: str, emu: Emulator
) -> None:
    needs(provider, "retrieve_items")
    needs(provider, "clear_input")
    async with open_session(kind, provider, emu, config_for(provider, vad=Vad(mode="manual"))) as s:
        await s.send_audio(b"\x10\x00" * 16000, 16000)  # 1 s
        await s.clear_input_audio()
        await until(s, lambda e: isinstance(e, ev.InputCleared))
        await s.send_audio(b"\x10\x00" * 16000, 16000)
        await s.commit()
        [committed] = of(await until(s, lambda e: isinstance(e, ev.InputCommitted)), ev.Event)[-1:]
        assert isinstance(committed, ev.InputCommitted) and committed.item_id
        item = await s.retrieve_item(committed.item_id)
        # only the second second: the first was cleared (the resampler's tail stays sent)
        assert item.rate == 24000 and 900 < len(item.pcm) / 48 < 1100


async def test_a_transcription_session_transcribes_and_never_answers(
    kind: str, provider: str, emu: Emulator
) -> None:
    config = SessionConfig(mode="transcription", vad=Vad(mode="manual"))
    await refused_without("transcription_sessions", kind, provider, emu, config)
    async with open_session(kind, provider, emu, config) as s:
        await s.send_audio(b"\x10\x00" * 16000, 16000)
        await s.commit()
        events = await until(s, lambda e: isinstance(e, ev.InputTranscript) and e.final)
        assert events[-1].text == "hello"
        assert not of(events, ev.ResponseStarted)
        assert s.history == (UserText("hello", spoken=True),)
        assert s.conversation.owes() == "idle"
        with pytest.raises(NotImplementedError, match="transcription"):
            await s.send_text("hello")
        with pytest.raises(NotImplementedError, match="transcription"):
            await s.create_response()


async def test_search_grounding(kind: str, provider: str, emu: Emulator) -> None:
    config = config_for(provider, tools=(), web_search=True)
    await refused_without("web_search", kind, provider, emu, config)
    async with open_session(kind, provider, emu, config) as s:
        await s.send_text("What is the tallest mountain in the world?")
        events = await until(s, turn_done)
        [found] = of(events, ev.Grounding)
        assert found.queries == ("highest mountain in the world",)
        assert found.sources and all(src.uri.startswith("https://") for src in found.sources)
        assert found.rendered_content and found.item_id
        # grounding comes with the reply, before its end
        assert events.index(found) < events.index(of(events, ev.GenerationComplete)[0])
        [done] = of(events, ev.TurnComplete)
        assert done.usage is not None and done.usage.tool_use_prompt_tokens > 0


async def test_update_switches_to_telephone_audio(kind: str, provider: str, emu: Emulator) -> None:
    config = config_for(provider, vad=Vad(mode="manual"))
    async with open_session(kind, provider, emu, config) as s:
        phone = config.replace(input_format="pcmu", output_format="pcmu")
        if not (s.capabilities.session_update or isinstance(s, ResilientSession)):
            pytest.skip(f"{provider}: capabilities.session_update is False on one connection")
        await s.update(phone)  # in place (OpenAI) or by rotating (Gemini, resilient)
        await s.send_g711(phone_speech("hello", "pcmu", silence_ms=200))
        await s.commit()
        if not s.capabilities.manual_activity:
            await s.create_response()
        chunks = of(await until(s, turn_done), ev.AudioChunk)
        assert chunks and all(c.rate == 8000 and c.encoding == "pcmu" and c.g711 for c in chunks)
