"""`ConversationStore`: the client-owned history on disk, so a conversation outlives a process.

Why the client keeps the conversation at all: neither provider lets you fetch it back. OpenAI
sessions cannot be resumed (a new socket starts empty) and Gemini resumption handles expire, so
the only durable copy is the one the client records. Persisting it after every turn makes a
crash, a laptop lid or a move to another device ("device handoff") cost at most the turn in
flight: open a `ResilientSession` with the same `conversation_id` in a new process and the
stored items are replayed into the new session.

Storage is stdlib `sqlite3` in WAL mode (readers never block the writer; a crash mid-write
leaves the last committed turn intact). Two tables:

* `conversations(id, provider, created_at, updated_at, item_count)`
* `items(conversation_id, ordinal, kind, role, text, spoken, interrupted, call_id, name,
  arguments, output, created_at)`, keyed by `(conversation_id, ordinal)`.

`save` is an idempotent upsert by ordinal: saving the same history twice changes nothing (and
keeps each row's `created_at`), saving a longer one appends, and an item rewritten in place
(an interrupted reply shortened to what was heard, a spoken transcript slotted in before the
reply) overwrites its row. Rows past the end of the saved history are deleted, so the stored
conversation always equals the last history saved, never a mix.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from realtimelab.errors import RealtimeLabError
from realtimelab.providers.base import (
    AssistantText,
    HistoryItem,
    ToolCallRecord,
    ToolResultRecord,
    UserImage,
    UserText,
)

__all__ = ["ConversationInfo", "ConversationStore", "StoreError"]


class StoreError(RealtimeLabError, RuntimeError):
    """The store's file cannot be used (damaged, not a database, locked, unwritable). The
    message names the file and what to do; `path` holds it."""

    def __init__(self, path: str, problem: str) -> None:
        advice = (
            "move the file aside and open a new store there (the conversations in it are not "
            f"readable as they are), or try `sqlite3 {path} .recover` to rescue what is left"
        )
        super().__init__(f"conversation store {path}: {problem}; {advice}")
        self.path = path


@contextmanager
def _guard(path: str) -> Iterator[None]:
    """sqlite's errors, re-raised as a `StoreError` naming the file (a bare
    `sqlite3.DatabaseError: file is not a database` says neither which file nor what to do)."""
    try:
        yield
    except sqlite3.DatabaseError as e:  # corruption, "not a database", disk I/O, locking
        raise StoreError(path, str(e)) from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id          TEXT PRIMARY KEY,
    provider    TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    item_count  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL,      -- user | assistant | tool_call | tool_result | user_image
    role        TEXT NOT NULL,      -- user | assistant | tool
    text        TEXT,
    spoken      INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0,
    call_id     TEXT,
    name        TEXT,
    arguments   TEXT,
    output      TEXT,
    created_at  REAL NOT NULL,
    PRIMARY KEY (conversation_id, ordinal)
);
"""

# (kind, role, text, spoken, interrupted, call_id, name, arguments, output)
_Row = tuple[str, str, str | None, int, int, str | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class ConversationInfo:
    """One stored conversation, as `list()` reports it (newest first)."""

    id: str
    provider: str | None
    created_at: float
    updated_at: float
    item_count: int


def _to_row(item: HistoryItem) -> _Row:
    if isinstance(item, UserText):
        return ("user", "user", item.text, int(item.spoken), 0, None, None, None, None)
    if isinstance(item, AssistantText):
        return (
            "assistant",
            "assistant",
            item.text,
            0,
            int(item.interrupted),
            None,
            None,
            None,
            None,
        )
    if isinstance(item, ToolCallRecord):
        return (
            "tool_call",
            "assistant",
            None,
            0,
            0,
            item.call_id,
            item.name,
            item.arguments_json,
            None,
        )
    if isinstance(item, ToolResultRecord):
        return ("tool_result", "tool", None, 0, 0, item.call_id, item.name, None, item.output)
    if isinstance(item, UserImage):  # the type in `name`, the size in `output` (no bytes kept)
        return ("user_image", "user", None, 0, 0, None, item.mime, None, str(item.nbytes))
    raise TypeError(f"not a history item: {item!r}")


def _from_row(row: sqlite3.Row) -> HistoryItem:
    kind = row["kind"]
    if kind == "user":
        return UserText(row["text"] or "", spoken=bool(row["spoken"]))
    if kind == "assistant":
        return AssistantText(row["text"] or "", interrupted=bool(row["interrupted"]))
    if kind == "tool_call":
        return ToolCallRecord(row["call_id"] or "", row["name"] or "", row["arguments"] or "")
    if kind == "tool_result":
        return ToolResultRecord(row["call_id"] or "", row["name"] or "", row["output"] or "")
    if kind == "user_image":
        size = row["output"] or "0"
        return UserImage(row["name"] or "image/png", int(size) if size.isdigit() else 0)
    # A row we cannot read must not vanish from a replayed conversation without a word.
    raise ValueError(f"stored item {row['ordinal']} has unknown kind {kind!r}")


class ConversationStore:
    """Conversations in one sqlite file. Safe to share between tasks and threads of a process
    (one connection behind a lock) and between processes (sqlite file locking, WAL).

    Use it as a context manager or call `close()`; `path=":memory:"` keeps it in memory.
    """

    def __init__(
        self, path: str | Path, *, clock: Callable[[], float] = time.time, timeout_s: float = 10.0
    ) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        with _guard(self.path):
            self._db = sqlite3.connect(
                self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None
            )  # explicit BEGIN/COMMIT below
            try:
                self._open()
            except BaseException:
                self._db.close()
                raise

    def _open(self) -> None:
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # a damaged page can load fine and fail at the next write: find out now
            problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("damaged: " + "; ".join(map(str, problems)))
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints
        self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _guard(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def save(
        self, conversation_id: str, history: Sequence[HistoryItem], *, provider: str | None = None
    ) -> int:
        """Make the stored conversation equal `history`; returns how many rows changed.

        Idempotent: unchanged items are not rewritten (their `created_at` stays), changed
        ordinals are overwritten, extra stored ordinals are deleted.
        """
        if not conversation_id:
            raise ValueError("conversation_id must be a non-empty string")
        now = self._clock()
        rows = [_to_row(item) for item in history]
        with self._transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, provider, created_at, updated_at, item_count) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "provider = COALESCE(excluded.provider, provider), "
                "updated_at = excluded.updated_at, item_count = excluded.item_count",
                (conversation_id, provider, now, now, len(rows)),
            )
            changed = 0
            for ordinal, row in enumerate(rows):
                cur = db.execute(
                    "INSERT INTO items (conversation_id, ordinal, kind, role, text, spoken, "
                    "interrupted, call_id, name, arguments, output, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(conversation_id, ordinal) DO UPDATE SET "
                    "kind = excluded.kind, role = excluded.role, text = excluded.text, "
                    "spoken = excluded.spoken, interrupted = excluded.interrupted, "
                    "call_id = excluded.call_id, name = excluded.name, "
                    "arguments = excluded.arguments, output = excluded.output, "
                    "created_at = excluded.created_at "
                    "WHERE (kind, role, text, spoken, interrupted, call_id, name, arguments, "
                    "output) IS NOT (excluded.kind, excluded.role, excluded.text, "
                    "excluded.spoken, excluded.interrupted, excluded.call_id, excluded.name, "
                    "excluded.arguments, excluded.output)",
                    (conversation_id, ordinal, *row, now),
                )
                changed += cur.rowcount
            cur = db.execute(
                "DELETE FROM items WHERE conversation_id = ? AND ordinal >= ?",
                (conversation_id, len(rows)),
            )
            changed += cur.rowcount
        return changed

    def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; True when it existed."""
        with self._transaction() as db:
            db.execute("DELETE FROM items WHERE conversation_id = ?", (conversation_id,))
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    # ------------------------------------------------------------------ reading

    def __contains__(self, conversation_id: object) -> bool:
        with self._lock, _guard(self.path):
            row = self._db.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        return row is not None

    def load(self, conversation_id: str) -> tuple[HistoryItem, ...]:
        """The stored history in order. Raises KeyError for an unknown conversation (an empty
        conversation that was saved loads as `()`)."""
        with self._lock, _guard(self.path):
            known = self._db.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            rows = self._db.execute(
                "SELECT * FROM items WHERE conversation_id = ? ORDER BY ordinal",
                (conversation_id,),
            ).fetchall()
        if known is None:
            raise KeyError(conversation_id)
        return tuple(_from_row(r) for r in rows)

    def list(self) -> list[ConversationInfo]:
        """Every stored conversation, most recently updated first."""
        with self._lock, _guard(self.path):
            rows = self._db.execute(
                "SELECT id, provider, created_at, updated_at, item_count FROM conversations "
                "ORDER BY updated_at DESC, id"
            ).fetchall()
        return [
            ConversationInfo(
                r["id"], r["provider"], r["created_at"], r["updated_at"], r["item_count"]
            )
            for r in rows
        ]

    def __repr__(self) -> str:
        return f"ConversationStore({self.path!r})"
