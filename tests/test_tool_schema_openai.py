"""OpenAI's tool declarations (`realtimelab.providers.openai.tools`), checked by the SDK's type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.realtime.realtime_function_tool import RealtimeFunctionTool
from support.tool_samples import everything, get_weather

from realtimelab.providers.openai.tools import wire_tool
from realtimelab.schema import Tool

# --- OpenAI wire shape -------------------------------------------------------------------------


@pytest.mark.parametrize("func", [get_weather, everything])
def test_openai_tool_validates_with_sdk_type(func: Any) -> None:
    t = Tool.from_callable(func)
    wire = wire_tool(t)
    assert set(wire) == {"type", "name", "description", "parameters"}
    model = RealtimeFunctionTool.model_validate(wire)
    assert not model.model_extra  # every key is one the SDK knows
    assert (model.type, model.name, model.parameters) == ("function", t.name, t.parameters)
    json.dumps(wire)
