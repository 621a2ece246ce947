"""Server-assigned identifiers shaped like the real ones (`item_` + 21 base62 characters).

Ids are drawn from a seeded generator so a run with the same seed and the same inputs produces
the same ids, which makes recorded sessions diffable. Secrets (ephemeral keys) never come from
here: they use `secrets` so they cannot be guessed from the seed.
"""

from __future__ import annotations

import random
import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_LENGTH = 21


class IdMint:
    """Makes `prefix_XXXXXXXXXXXXXXXXXXXXX` ids from a private, seeded random stream."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng = random.Random(seed)

    def new(self, prefix: str) -> str:
        return prefix + "_" + "".join(self._rng.choice(BASE62) for _ in range(ID_LENGTH))


def secret_token(prefix: str, length: int = 32) -> str:
    """An unguessable token such as an ephemeral key `ek_…`."""
    return prefix + "_" + "".join(secrets.choice(BASE62) for _ in range(length))
