"""One session contract, one conformance suite: every test here runs on `RealtimeSession` and
`ResilientSession`, on both providers, against the emulator.

Both classes implement `realtimelab.contract.BaseSession` (mypy checks it); these tests check
that they *behave* the same: every verb, the events, late tool results through the dispatcher,
the conversation core's state, players and trace points, and close semantics. A verb missing
from one class (as `send_late_tool_results` once was from `ResilientSession`) fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from realtimelab import events as ev
from realtimelab.config import SessionConfig, Vad
from realtimelab.contract import AudioInputError, BaseSession, Session
from realtimelab.emulator.server import Emulator
from realtimelab.errors import SessionClosedError
from realtimelab.providers.base import AssistantText, ToolCallRecord, ToolResultRecord, UserText
from realtimelab.resilience import ReconnectPolicy, ResilientSession, RotationPolicy
from realtimelab.schema import Tool
from realtimelab.session import RealtimeSession, connect
from realtimelab.tools import ToolDispatcher, ToolRegistry

pytestmark = pytest.mark.timeout(60)
PROVIDERS = ["openai", "gemini"]
KINDS = ["single", "resilient"]
SPEED = 40.0
MakeEmulator = Callable[..., Awaitable[Emulator]]
WEATHER = Tool.from_schema(
    "get_weather",
    "Weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def config_for(provider: str, **changes: Any) -> SessionConfig:
    return SessionConfig(instructions="Be brief.", tools=(WEATHER,)).replace(**changes)


@contextlib.asynccontextmanager
async def open_session(
    kind: str, provider: str, emu: Emulator, config: SessionConfig, **kwargs: Any
) -> AsyncIterator[BaseSession]:
    if kind == "single":
        async with connect(provider, config, url=emu.url, **kwargs) as s:
            yield s
    else:
        session = ResilientSession(
            provider,
            config,
            url=emu.url,
            policy=ReconnectPolicy(base_delay_s=0.01, seed=1),
            rotation=RotationPolicy(enabled=False),
            **kwargs,
        )
        async with session:
            yield session


async def until(
    session: BaseSession, done: Callable[[ev.Event], bool], timeout: float = 20
) -> list[ev.Event]:
    out: list[ev.Event] = []
    async with asyncio.timeout(timeout):
        async for event in session:
            out.append(event)
            if done(event):
                return out
    raise AssertionError(f"the session ended first: {[e.kind for e in out]}")


def turn_done(event: ev.Event) -> bool:
    return isinstance(event, ev.TurnComplete)


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
