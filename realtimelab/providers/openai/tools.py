"""A `Tool` as an OpenAI Realtime tool declaration.

OpenAI takes plain JSON Schema (lowercase types), which is exactly what a `Tool` stores, so the
translation is a copy in the GA shape: a flat `{"type": "function", "name", "description",
"parameters"}` entry of `session.tools`. Nothing can be lost, so nothing here raises.
"""

from __future__ import annotations

import copy
from typing import Any

from realtimelab.schema import Tool

__all__ = ["wire_tool"]


def wire_tool(tool: Tool) -> dict[str, Any]:
    """The GA Realtime `session.tools[]` entry: flat `{"type":"function","name",...}`."""
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": copy.deepcopy(dict(tool.parameters)),
    }
