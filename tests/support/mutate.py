"""A seeded mutator over valid JSON frames, for Autobahn-style fuzzing of parsers.

Start from frames a real peer sent (recorded fixtures), then change one thing at a time, the
way hostile or buggy peers do: a value of the wrong type, a number that is not finite or far
too big, a string where an object belongs, a missing or null field, deep nesting, huge text,
an unknown key. Every mutation is reproducible from `(seed, index)`, so a failure found in CI
is replayed exactly with `Mutator(seed).mutate(frame, index)`.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RAW_HOSTILE", "Mutation", "Mutator", "deep_nesting"]


def deep_nesting(depth: int = 5000) -> str:
    """JSON nested deeper than Python's recursion limit allows `json.loads` to follow."""
    return '{"a":' * depth + "1" + "}" * depth


#: Whole frames that are not valid objects at all, or are pathological as text.
RAW_HOSTILE: tuple[str | bytes, ...] = (
    "",
    "{",
    "null",
    "[]",
    '"text"',
    "1e400",
    b"\xff\xfe\x00",
    '{"type": 1}',
    deep_nesting(),
    '{"type": "' + "x" * 100_000 + '"}',
)

_ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    2**70,
    1e308,
    "Infinity",
    "",
    "x" * 2000,
    [],
    [1, "a", None],
    {},
    {"nested": {"deeper": []}},
)


@dataclass(frozen=True)
class Mutation:
    """One mutated frame: what was changed (for the failure message) and the wire text."""

    index: int
    description: str
    text: str


class Mutator:
    """Produces mutations of a frame, deterministically from `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def mutations(self, frames: Sequence[dict[str, Any]], count: int) -> Iterator[Mutation]:
        """`count` mutations spread over `frames` (round robin), each reproducible."""
        for i in range(count):
            frame = frames[i % len(frames)]
            yield self.mutate(frame, i)

    def mutate(self, frame: dict[str, Any], index: int) -> Mutation:
        rng = random.Random(f"{self.seed}:{index}")
        out = copy.deepcopy(frame)
        paths = list(_paths(out))
        kind = rng.choice(("replace", "replace", "replace", "delete", "add", "nan", "nest"))
        if not paths or kind == "add":
            key = rng.choice(("bogus", "type", "event_id", "serverContent", "id"))
            target = _pick_dict(out, rng)
            target[key] = rng.choice(_ODD_VALUES)
            return self._done(index, f"add {key}", out)
        path = rng.choice(paths)
        parent, key = _resolve(out, path)
        where = "/".join(str(p) for p in path)
        if kind == "delete" and isinstance(parent, dict):
            del parent[key]
            return self._done(index, f"delete {where}", out)
        if kind == "nan":
            parent[key] = rng.choice((float("nan"), float("inf"), -float("inf")))
            return self._done(index, f"non-finite at {where}", out, allow_nan=True)
        if kind == "nest":
            value: Any = 1
            for _ in range(rng.choice((50, 500))):
                value = [value]
            parent[key] = value
            return self._done(index, f"deep list at {where}", out)
        parent[key] = rng.choice(_ODD_VALUES)
        return self._done(index, f"replace {where}", out)

    @staticmethod
    def _done(index: int, what: str, frame: Any, *, allow_nan: bool = False) -> Mutation:
        return Mutation(index, what, json.dumps(frame, allow_nan=allow_nan))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _resolve(root: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    return parent, path[-1]


def _pick_dict(root: Any, rng: random.Random) -> dict[str, Any]:
    dicts = [root] if isinstance(root, dict) else []
    for path in _paths(root):
        parent, key = _resolve(root, path)
        if isinstance(parent[key], dict):
            dicts.append(parent[key])
    return rng.choice(dicts) if dicts else {}
