"""Sample tool functions and the types they use, shared by the schema tests of every module.

Module-level (not inside a test) so string annotations resolve when a `Tool` is built from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Literal, NotRequired, TypedDict

__all__ = ["Address", "Node", "Point", "Priority", "Unit", "everything", "get_weather"]


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(TypedDict):
    """A postal address."""

    street: str
    zip_code: NotRequired[str]


@dataclass
class Point:
    """A point on the map."""

    x: float
    y: float = 0.0
    labels: list[str] = field(default_factory=list)


@dataclass
class Node:
    child: Node | None = None


def get_weather(
    city: Annotated[str, "City name, e.g. Paris"],
    unit: Unit = Unit.C,
    days: int | None = None,
) -> str:
    """Get the current weather for a city.

    The model calls this when the user asks about weather.

    Args:
        city: overridden by Annotated.
        unit: Temperature unit.
        days (int): How many days
            ahead to forecast.
    """
    return f"{city}:{unit.value}:{days}"


def everything(
    name: str,
    count: int,
    ratio: float,
    flag: bool,
    mode: Literal["fast", "slow"],
    level: Literal[1, 2, 3],
    prio: Priority,
    tags: list[str],
    pair: tuple[float, float],
    mixed: tuple[str, int],
    many: tuple[int, ...],
    uniq: set[str],
    scores: dict[str, int],
    addr: Address,
    point: Point | None,
    either: int | str,
    note: str = "hi",
) -> None:
    """Exercise every supported annotation."""
