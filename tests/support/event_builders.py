"""Builders for the unified events tests feed by hand, for the constructors that need more
than a line: each fills what the test does not care about."""

from __future__ import annotations

import json
from typing import Any

from realtimelab import events as ev

__all__ = ["tool_call"]


def tool_call(
    call_id: str,
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    t: float = 0.0,
    provider: str = "p",
    **fields: Any,
) -> ev.ToolCall:
    """A `ToolCall` whose `arguments_json` is `arguments` (default `{}`) as JSON; `fields` set
    the rest (`response_id`, `item_id`, ...)."""
    args = {} if arguments is None else arguments
    return ev.ToolCall(
        provider=provider,
        t=t,
        call_id=call_id,
        name=name,
        arguments=args,
        arguments_json=json.dumps(args),
        **fields,
    )
