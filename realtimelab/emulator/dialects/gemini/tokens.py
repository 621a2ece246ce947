"""Gemini ephemeral tokens (`POST /{v1alpha,v1beta,v1}/auth_tokens`) and their enforcement.

Why the emulator mints real-looking tokens: browser and mobile clients must never hold the API
key, so the lab teaches the flow end to end — a backend mints `auth_tokens/…` with a real key,
the client connects to `…BidiGenerateContentConstrained` with it, and the server enforces what
the token says:

* `uses` (default 1, 0 = unlimited) counts *new* sessions; resuming a session is free;
* `newSessionExpireTime` (default now + 60 s) stops new sessions, `expireTime` (default now +
  30 min) stops everything; both must be < 20 h ahead;
* `bidiGenerateContentSetup` + `fieldMask` lock setup fields (see `setup.apply_constraints`).

The store is bounded: a token past its `expireTime` can never be used again, so minting
purges expired tokens, and at most `max_tokens` are kept (the oldest go first) — a long-running
emulator minting a token per page load must not grow without end.

Sans-IO: `TokenStore` takes a clock and plain dicts; the HTTP route in `shell.py` is a thin
wrapper. Token names come from `secrets`, never from the seeded id generator, so they cannot be
guessed from a seed.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from realtimelab.emulator.dialects.gemini import wire

__all__ = ["EphemeralToken", "TokenError", "TokenStore", "parse_time"]

MAX_AHEAD_S = 20 * 3600
DEFAULT_EXPIRE_S = 30 * 60
DEFAULT_NEW_SESSION_S = 60
MAX_TOKENS = 10_000


class TokenError(ValueError):
    """A token request or use is refused; `status` is the HTTP status / `code` the close code."""

    def __init__(self, message: str, *, status: int = 400, code: int = 1008) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class EphemeralToken:
    """A minted token. Times are POSIX seconds; `uses == 0` means unlimited."""

    name: str
    expire_time: float
    new_session_expire_time: float
    uses: int
    uses_left: int | None  # None = unlimited
    setup: Mapping[str, Any] | None  # camelCased bidiGenerateContentSetup, model "models/…"
    field_mask: tuple[str, ...] | None

    def public(self) -> dict[str, Any]:
        """The HTTP response body. The request fields are input-only in the API: name only."""
        return {"name": self.name}


def parse_time(value: Any, field: str) -> float:
    """RFC 3339 (`Z` or `+00:00`, as the SDK sends) → POSIX seconds; TokenError otherwise."""
    if not isinstance(value, str):
        raise TokenError(f"{field} must be an RFC 3339 timestamp string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TokenError(f"Invalid value at '{field}': {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


class TokenStore:
    """The per-emulator register of minted tokens (thread-safe: HTTP and WS share it)."""

    def __init__(
        self, clock: Callable[[], float] = time.time, *, max_tokens: int = MAX_TOKENS
    ) -> None:
        self._clock = clock
        self.max_tokens = max_tokens
        self._tokens: dict[str, EphemeralToken] = {}  # insertion order = minting order
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def purge(self) -> int:
        """Forget every token past its `expireTime`; returns how many went."""
        now = self.now()
        with self._lock:
            expired = [name for name, t in self._tokens.items() if now >= t.expire_time]
            for name in expired:
                del self._tokens[name]
        return len(expired)

    def now(self) -> float:
        return self._clock()

    def create(self, body: Mapping[str, Any]) -> EphemeralToken:
        """Mint a token from an `auth_tokens.create` body (camelCase or snake_case keys)."""
        req = wire.camelize(body)
        unknown = sorted(
            set(req)
            - {
                "expireTime",
                "newSessionExpireTime",
                "uses",
                "bidiGenerateContentSetup",
                "fieldMask",
                "name",
            }
        )
        if unknown:
            raise TokenError(f"Invalid JSON payload received. Unknown name(s): {unknown}")
        now = self.now()
        expire = (
            parse_time(req["expireTime"], "expire_time")
            if req.get("expireTime") is not None
            else now + DEFAULT_EXPIRE_S
        )
        new_session = (
            parse_time(req["newSessionExpireTime"], "new_session_expire_time")
            if req.get("newSessionExpireTime") is not None
            else now + DEFAULT_NEW_SESSION_S
        )
        for value, field in ((expire, "expire_time"), (new_session, "new_session_expire_time")):
            if value <= now:
                raise TokenError(f"{field} must be in the future")
            if value - now >= MAX_AHEAD_S:
                raise TokenError(f"{field} must be less than 20 hours in the future")
        uses = req.get("uses", 1)
        if isinstance(uses, str) and uses.isdigit():
            uses = int(uses)
        if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
            raise TokenError("uses must be a non-negative integer")
        setup = req.get("bidiGenerateContentSetup")
        if setup is not None and not isinstance(setup, Mapping):
            raise TokenError("bidiGenerateContentSetup must be an object")
        if (
            setup
            and isinstance(setup.get("model"), str)
            and not setup["model"].startswith(("models/", "tunedModels/"))
        ):
            setup = {**setup, "model": f"models/{setup['model']}"}
        mask_raw = req.get("fieldMask")
        mask: tuple[str, ...] | None
        if mask_raw is None:
            mask = None
        elif isinstance(mask_raw, str):
            mask = tuple(p.strip() for p in mask_raw.split(",") if p.strip())
        elif isinstance(mask_raw, list) and all(isinstance(p, str) for p in mask_raw):
            mask = tuple(mask_raw)
        else:
            raise TokenError("fieldMask must be a comma-separated string")
        token = EphemeralToken(
            name="auth_tokens/" + secrets.token_hex(20),
            expire_time=expire,
            new_session_expire_time=new_session,
            uses=uses,
            uses_left=None if uses == 0 else uses,
            setup=dict(setup) if setup else None,
            field_mask=mask,
        )
        self.purge()
        with self._lock:
            self._tokens[token.name] = token
            while len(self._tokens) > self.max_tokens:
                del self._tokens[next(iter(self._tokens))]
        return token

    def get(self, name: str) -> EphemeralToken | None:
        with self._lock:
            return self._tokens.get(name)

    def check_live(self, name: str) -> EphemeralToken:
        """The token for a connection or a message: it must exist and be before `expireTime`."""
        token = self.get(name)
        if token is None:
            raise TokenError("Ephemeral token not found.", status=401)
        if self.now() >= token.expire_time:
            with self._lock:
                self._tokens.pop(name, None)  # it can never be used again
            raise TokenError("Ephemeral token has expired.", status=401)
        return token

    def start_session(self, name: str) -> EphemeralToken:
        """Consume one use for a *new* session (resumption must not call this)."""
        with self._lock:
            token = self._tokens.get(name)
            if token is None:
                raise TokenError("Ephemeral token not found.", status=401)
            now = self.now()
            if now >= token.expire_time:
                raise TokenError("Ephemeral token has expired.", status=401)
            if now >= token.new_session_expire_time:
                raise TokenError("Ephemeral token can no longer start new sessions.", status=401)
            if token.uses_left is not None:
                if token.uses_left <= 0:
                    raise TokenError("Ephemeral token has no uses left.", status=401)
                token = replace(token, uses_left=token.uses_left - 1)
                self._tokens[name] = token
            return token
