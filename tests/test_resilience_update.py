"""`ResilientSession.update` on a provider that cannot change a live session (Gemini): the new
configuration arrives on a new connection that resumes the conversation."""

from __future__ import annotations

import asyncio

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.emulator.server import Emulator, EmulatorConfig
from realtimelab.providers.base import UserText
from realtimelab.resilience import ResilientSession


async def ask(session: ResilientSession, text: str) -> str:
    await session.send_text(text)
    words: list[str] = []
    async with asyncio.timeout(20):
        async for event in session:
            if isinstance(event, ev.OutputTranscript) and event.final:
                words.append(event.text)
            elif isinstance(event, ev.TurnComplete) and event.status == "completed":
                return " ".join(words)
    raise AssertionError("no reply")


async def test_gemini_update_rotates_onto_the_new_configuration() -> None:
    async with Emulator(EmulatorConfig(speed=40)) as emu:
        config = SessionConfig(voice="Kore")
        async with ResilientSession("gemini", config, url=emu.url) as session:
            assert not session.capabilities.session_update
            assert "Kore" in await ask(session, "What voice are you using?")
            await session.update(config.replace(voice="Puck"))
            assert "Puck" in await ask(session, "What voice are you using?")
            asked = [i.text for i in session.history if isinstance(i, UserText)]
            assert asked == ["What voice are you using?"] * 2  # nothing lost or repeated
            assert session.stats.rotations == 1 and session.stats.connections == 2


async def test_openai_update_changes_the_live_session() -> None:
    async with Emulator(EmulatorConfig(speed=40)) as emu:
        config = SessionConfig(voice="alloy")
        async with ResilientSession("openai", config, url=emu.url) as session:
            assert session.capabilities.session_update
            await session.update(config.replace(voice="marin"))
            assert "marin" in await ask(session, "What voice are you using?")
            assert session.stats.connections == 1  # changed in place, no new connection
