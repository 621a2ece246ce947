"""The per-emulator store behind Gemini session resumption handles.

Why a store and not a token that encodes state: a real handle is opaque and the server keeps the
conversation; the client reconnects with `sessionResumption.handle` and gets the conversation
back, including after a `goAway`. Each `sessionResumptionUpdate` mints a new handle pointing at a
frozen snapshot taken at an idle point (never mid-generation or with tool calls pending, which is
exactly when the update says `resumable: false`).

Handles are valid for `validity_s` (2 h is the commonly cited figure, unverified) and the store
keeps at most `max_entries` snapshots, dropping the oldest, so a long-running emulator cannot
grow without bound.

The store also knows which connection *holds* each session (`claim` / `release`): the real
service refuses to resume a session while an earlier connection of it is still open (1011,
reported against the live API; see `protocol.RESUME_WHILE_OPEN`). A holder is represented by a
callable saying whether its socket is still open, so a connection that closed without the
store hearing about it yet (its handler still cleaning up) never blocks a resumption.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from realtimelab.emulator.model import Item

__all__ = ["ResumptionStore", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """What survives a reconnect: the conversation and the session-wide counters."""

    model: str
    history: tuple[Item, ...]
    session_audio_ms: float  # audio used by the session so far (the 15-min limit spans handles)
    last_client_index: int  # index of the last client message consumed at snapshot time
    session_video_frames: int = 0  # video frames so far (the 2-min audio+video limit)
    token_name: str | None = None
    session_key: str = ""  # the logical session the handle resumes (shared by its handles)
    created_at: float = 0.0


class ResumptionStore:
    """Handle → Snapshot with expiry; thread-safe (EmulatorThread serves from another thread)."""

    def __init__(
        self,
        *,
        validity_s: float = 7200.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.validity_s = validity_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, Snapshot] = OrderedDict()
        self._holders: dict[str, Callable[[], bool]] = {}
        self._lock = threading.Lock()

    def put(self, snapshot: Snapshot) -> str:
        """Store a snapshot under a fresh unguessable handle and return the handle."""
        handle = secrets.token_urlsafe(24)
        with self._lock:
            self._entries[handle] = replace(snapshot, created_at=self._clock())
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return handle

    def get(self, handle: str) -> Snapshot | None:
        with self._lock:
            snap = self._entries.get(handle)
            if snap is None:
                return None
            if self._clock() - snap.created_at > self.validity_s:
                del self._entries[handle]
                return None
            return snap

    def claim(self, session_key: str, alive: Callable[[], bool]) -> bool:
        """Make `alive`'s connection the session's holder; False while another holder is open."""
        with self._lock:
            holder = self._holders.get(session_key)
            if holder is not None and holder is not alive and holder():
                return False
            self._holders[session_key] = alive
            return True

    def held(self, session_key: str) -> bool:
        """Whether an open connection holds the session."""
        with self._lock:
            holder = self._holders.get(session_key)
            return holder is not None and holder()

    def release(self, session_key: str, alive: Callable[[], bool]) -> None:
        """The holder's connection ended (no-op if another connection took over)."""
        with self._lock:
            if self._holders.get(session_key) is alive:
                del self._holders[session_key]

    def __len__(self) -> int:
        return len(self._entries)
