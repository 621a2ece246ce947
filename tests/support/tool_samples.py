"""Sample tool functions and the types they use, shared by the schema tests of every module,
and the city tools (`get_weather`, `get_time`) most other tests declare.

Module-level (not inside a test) so string annotations resolve when a `Tool` is built from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Literal, NotRequired, TypedDict

from realtimelab.emulator.model import ToolSpec
from realtimelab.schema import Tool

__all__ = [
    "CITY",
    "CITY_SPECS",
    "Address",
    "Node",
    "Point",
    "Priority",
    "Unit",
    "city_tool",
    "everything",
    "get_weather",
]

#: The parameters of a tool that takes one required `city`.
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
#: `get_weather` and `get_time` as the emulator's brain is handed them.
CITY_SPECS = [
    ToolSpec("get_weather", "Get the current weather for a city.", CITY),
    ToolSpec("get_time", "Get the local time in a city.", CITY),
]


def city_tool(name: str, description: str) -> Tool:
    """A declared tool (no implementation) that takes one required `city`."""
    return Tool.from_schema(name, description, CITY)


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
