"""`ConversationStore`: sqlite persistence of the client-owned history, and device handoff.

The handoff test writes a conversation from a *separate Python process* (as a crashed app or
another device would), then continues it here with the same `conversation_id`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
from support.fakes import RecordingBrain, recording_components

from realtimelab import events as ev
from realtimelab.config import SessionConfig
from realtimelab.providers.base import (
    AssistantText,
    ToolCallRecord,
    ToolResultRecord,
    UserImage,
    UserText,
)
from realtimelab.resilience import ResilientSession, RotationPolicy
from realtimelab.store import ConversationStore, StoreError

HISTORY = (
    UserText("weather in Paris?"),
    ToolCallRecord("call_1", "get_weather", '{"city": "Paris"}'),
    ToolResultRecord("call_1", "get_weather", '{"temp_c": 21}'),
    AssistantText("It is 21 degrees.", interrupted=True),
    UserText("thanks", spoken=True),
)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        store.save("conv", HISTORY, provider="openai")
        assert store.load("conv") == HISTORY
        [info] = store.list()
        assert (info.id, info.provider, info.item_count) == ("conv", "openai", len(HISTORY))


def test_a_picture_is_stored_as_its_type_and_size(tmp_path: Path) -> None:
    history = (UserImage("image/jpeg", 48_213), UserText("what is this?"))
    with ConversationStore(tmp_path / "c.db") as store:
        store.save("conv", history)
        assert store.load("conv") == history  # never the bytes: see UserImage


def test_save_is_an_idempotent_upsert_by_ordinal(tmp_path: Path) -> None:
    ticks = iter(range(100, 200))
    with ConversationStore(tmp_path / "c.db", clock=lambda: float(next(ticks))) as store:
        assert store.save("conv", HISTORY[:3]) == 3
        assert store.save("conv", HISTORY[:3]) == 0  # nothing changed, nothing written
        assert store.save("conv", HISTORY) == 2  # appended two
        rewritten = (*HISTORY[:3], AssistantText("It is 21."), HISTORY[4])
        assert store.save("conv", rewritten) == 1  # one ordinal overwritten in place
        assert store.load("conv") == rewritten
        assert store.save("conv", rewritten[:2]) == 3  # shorter: the tail is deleted
        assert store.load("conv") == rewritten[:2]
    db = sqlite3.connect(tmp_path / "c.db")
    created = [r[0] for r in db.execute("SELECT created_at FROM items ORDER BY ordinal")]
    assert created == [100.0, 100.0]  # unchanged rows keep their first timestamp
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_and_empty_conversations(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        with pytest.raises(KeyError):
            store.load("nope")
        assert "nope" not in store
        store.save("empty", ())
        assert "empty" in store and store.load("empty") == ()
        with pytest.raises(ValueError):
            store.save("", HISTORY)
        assert store.delete("empty") and not store.delete("empty")


def test_list_is_newest_first_and_shared_between_connections(tmp_path: Path) -> None:
    ticks = iter([1.0, 2.0, 3.0])
    path = tmp_path / "c.db"
    with ConversationStore(path, clock=lambda: next(ticks)) as a, ConversationStore(path) as b:
        a.save("old", HISTORY[:1])
        a.save("new", HISTORY[:2])
        a.save("old", HISTORY[:1])  # touching it again makes it the newest
        assert [c.id for c in b.list()] == ["old", "new"]
        assert b.load("new") == HISTORY[:2]


def test_a_row_of_unknown_kind_is_an_error_not_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with ConversationStore(path) as store:
        store.save("conv", HISTORY[:2])
    db = sqlite3.connect(path)
    db.execute("UPDATE items SET kind = 'video' WHERE ordinal = 1")
    db.commit()
    with ConversationStore(path) as store, pytest.raises(ValueError, match="unknown kind"):
        store.load("conv")


# ---------------------------------------------------------------------------------------------
# ResilientSession + store: saved after every turn, handed off to a new process
# ---------------------------------------------------------------------------------------------


FIRST_DEVICE = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from support.fakes import fake_components_value
    from realtimelab import events as ev
    from realtimelab.config import SessionConfig
    from realtimelab.emulator.server import Emulator, EmulatorConfig
    from realtimelab.resilience import ResilientSession
    from realtimelab.store import ConversationStore

    async def main() -> None:
        store = ConversationStore({db!r})
        async with Emulator(EmulatorConfig(speed=50), components=fake_components_value()) as emu:
            async with ResilientSession({provider!r}, SessionConfig(output={output!r}),
                                        url=emu.url, store=store,
                                        conversation_id="trip") as session:
                for text in ("hello there", "my name is Ada"):
                    await session.send_text(text)
                    async for event in session:
                        if isinstance(event, ev.TurnComplete):
                            break
                print(len(store.load("trip")))
        sys.stdout.flush()
        import os; os._exit(0)  # a hard exit: nothing but the per-turn saves survives

    asyncio.run(main())
""")


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_device_handoff_replays_the_stored_conversation_in_a_new_process(
    tmp_path: Path, make_emulator: Any, provider: str
) -> None:
    db = str(tmp_path / "conversations.db")
    output: Literal["text", "audio"] = "text" if provider == "openai" else "audio"
    script = FIRST_DEVICE.format(
        tests=str(Path(__file__).parent), db=db, provider=provider, output=output
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "4"  # saved after each TurnComplete, before the hard exit

    emu = await make_emulator(components=recording_components())
    with ConversationStore(db) as store:
        stored = store.load("trip")
        assert [h.kind for h in stored] == ["user", "assistant", "user", "assistant"]
        async with ResilientSession(
            provider,
            SessionConfig(output=output),
            url=emu.url,
            store=store,
            conversation_id="trip",
            rotation=RotationPolicy(enabled=False),
        ) as session:
            assert session.history == stored  # replayed before the first new turn
            await session.send_text("what is my name")
            async for event in session:
                if isinstance(event, ev.TurnComplete):
                    break
        # the new server session answered with the old conversation in its context
        assert RecordingBrain.seen() == [["hello there", "my name is Ada", "what is my name"]]
        assert store.load("trip") == session.history
        assert len(session.history) == 6


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    path.write_bytes(b"this is not sqlite " * 500)
    with pytest.raises(StoreError, match=r"conversations\.db") as info:
        ConversationStore(path)
    assert info.value.path == str(path) and "move the file aside" in str(info.value)


def test_a_damaged_page_is_found_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    with ConversationStore(path) as store:
        for i in range(40):  # several pages of rows
            store.save(f"c{i}", (UserText("hello " * 200), AssistantText("hi " * 200)))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the page size, from the file header
    last = len(data) // page - 1
    data[last * page] = 0xFF  # the last page's b-tree page type: no such type
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"conversations\.db"), ConversationStore(path) as store:
        store.load("c1")
        store.save("c1", (UserText("again"),))
