"""Server-assigned identifiers shaped like the real ones (`item_` + 21 base62 characters).

Ids are drawn from seeded generators so a run with the same seed and the same inputs produces
the same ids, which makes recorded sessions diffable. Secrets (ephemeral keys, resumption
handles) never come from here: they use `secrets` so they cannot be guessed from the seed.

Why `IdSpace`: ids must also be *unique*. A client that caches tool results by call id (the
kit's dispatcher does, for idempotency) got Paris's result for Tokyo after a reconnect when
every Gemini connection restarted the same call-id sequence. So each emulator instance owns an
`IdSpace` seeded with `(seed, instance number in this process)`, every connection draws its
stream from it, and ids a connection hands out are checked against everything the instance
already issued. Same seed + same process order of emulators + same inputs → same ids.
"""

from __future__ import annotations

import itertools
import random
import secrets
import string
import threading
from collections.abc import Callable

__all__ = ["BASE62", "ID_LENGTH", "IdMint", "IdSpace", "secret_token"]

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_LENGTH = 21

_INSTANCES = itertools.count(1)  # emulator instances created in this process


class IdMint:
    """Makes `prefix_XXXXXXXXXXXXXXXXXXXXX` ids from a private, seeded random stream."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng = random.Random(seed)

    def new(self, prefix: str) -> str:
        return prefix + "_" + "".join(self._rng.choice(BASE62) for _ in range(ID_LENGTH))


class IdSpace:
    """One emulator instance's id namespace: per-connection mints and unique call ids.

    Thread-safe (an `EmulatorThread` serves from its own thread while tests read ids).
    `instance` defaults to the next number in this process, so two emulators started with the
    same seed in one process do not repeat each other's ids.
    """

    def __init__(self, seed: int = 0, *, instance: int | None = None) -> None:
        self.seed = seed
        self.instance = next(_INSTANCES) if instance is None else instance
        self._connections = itertools.count(1)
        self._lock = threading.Lock()
        self._call_rng = random.Random(f"{seed}:{self.instance}:calls")
        self._issued: set[str] = set()

    def connection(self, dialect: str) -> tuple[int, IdMint]:
        """A connection number and that connection's own seeded mint."""
        with self._lock:
            n = next(self._connections)
        return n, IdMint(f"{self.seed}:{self.instance}:{dialect}:{n}")

    def unique(self, make: Callable[[random.Random], str]) -> str:
        """Draw from the instance's shared call-id stream until an unused id comes out."""
        with self._lock:
            while True:
                value = make(self._call_rng)
                if value not in self._issued:
                    self._issued.add(value)
                    return value

    def gemini_call_id(self) -> str:
        """`function-call-<19 digits>`, the shape Google uses, unique in this instance."""
        return self.unique(lambda rng: f"function-call-{rng.randrange(10**18, 10**19)}")


def secret_token(prefix: str, length: int = 32) -> str:
    """An unguessable token such as an ephemeral key `ek_…`."""
    return prefix + "_" + "".join(secrets.choice(BASE62) for _ in range(length))
