"""Gemini's tool declarations (`realtimelab.providers.gemini.tools`): JSON Schema into Gemini's
`Schema` (checked by the google-genai types), the lossless-or-refuse rule, and the way back."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types as gtypes
from support.tool_samples import everything, get_weather

from realtimelab.providers.gemini.tools import (
    SCHEMA_KEYWORDS,
    json_schema_from_declaration,
    to_declaration,
    to_json_schema,
    to_schema,
    wire_tool,
)
from realtimelab.schema import SchemaError, Tool

# --- Gemini wire shapes ------------------------------------------------------------------------


def _sdk_roundtrip(decl: dict[str, Any]) -> dict[str, Any]:
    """Validate with the SDK (extra='forbid') and dump back, proving no key was misnamed."""
    model = gtypes.FunctionDeclaration.model_validate(decl)
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def test_gemini_schema_mode_validates_with_sdk_and_uses_uppercase_types() -> None:
    t = Tool.from_callable(get_weather)
    decl = to_declaration(t)
    assert decl["parameters"]["type"] == "OBJECT"
    props = decl["parameters"]["properties"]
    assert props["city"] == {"type": "STRING", "description": "City name, e.g. Paris"}
    assert props["days"]["type"] == "INTEGER" and props["days"]["nullable"] is True
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "behavior" not in decl
    assert _sdk_roundtrip(decl) == decl


def test_gemini_json_schema_mode_and_non_blocking() -> None:
    t = Tool.from_callable(everything, behavior="non_blocking")
    decl = to_declaration(t, json_schema=True)
    assert decl["parametersJsonSchema"] == t.parameters
    assert "parameters" not in decl
    assert decl["behavior"] == "NON_BLOCKING"
    back = _sdk_roundtrip(decl)
    assert back["behavior"] == "NON_BLOCKING" and back["parametersJsonSchema"] == t.parameters


def test_gemini_no_argument_tool_omits_parameters() -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    decl = to_declaration(Tool.from_callable(ping))
    assert decl == {"name": "ping", "description": "Ping."}
    _sdk_roundtrip(decl)


def test_gemini_translation_of_nullable_forms_refs_const_and_numeric_enums() -> None:
    schema = {
        "type": "object",
        "$defs": {"Pet": {"type": "object", "properties": {"kind": {"const": "dog"}}}},
        "properties": {
            "a": {"type": ["string", "null"], "minLength": 1, "maxLength": 5, "pattern": "^x"},
            "b": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "null"}]},
            "c": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "pet": {"$ref": "#/$defs/Pet", "description": "The pet"},
            "n": {"type": "integer", "enum": [1, 2]},
            "xs": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
            "t": {"type": "string", "format": "date-time", "title": "When", "default": "now"},
        },
        "required": ["a"],
        "propertyOrdering": ["a", "b", "c", "pet", "n", "xs", "t"],
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    out = to_schema(schema, tool_name="t")
    p = out["properties"]
    assert p["a"] == {
        "type": "STRING",
        "nullable": True,
        "minLength": 1,
        "maxLength": 5,
        "pattern": "^x",
    }
    assert p["b"] == {"type": "INTEGER", "nullable": True, "minimum": 0, "maximum": 9}
    assert p["c"] == {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]}
    assert p["pet"] == {
        "type": "OBJECT",
        "description": "The pet",
        "properties": {"kind": {"enum": ["dog"]}},
    }
    assert p["n"] == {"type": "INTEGER", "enum": ["1", "2"], "format": "enum"}
    assert out["propertyOrdering"] == schema["propertyOrdering"]
    assert "$defs" not in out and "$schema" not in out
    decl = to_declaration(Tool.from_schema("t", "d", schema))
    _sdk_roundtrip(decl)


@pytest.mark.parametrize(
    ("prop", "keyword", "where"),
    [
        (
            {"type": "object", "additionalProperties": False},
            "additionalProperties",
            "#/properties/x",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            "additionalProperties",
            "#/properties/x",
        ),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "oneOf", "#/properties/x"),
        ({"const": 3}, "const", "#/properties/x"),
        (
            {"type": "object", "patternProperties": {"^a": {}}},
            "patternProperties",
            "#/properties/x",
        ),
        ({"if": {}, "then": {}}, "if", "#/properties/x"),
        ({"not": {"type": "string"}}, "not", "#/properties/x"),
        (
            {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0}},
            "exclusiveMinimum",
            "#/properties/x/items",
        ),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "prefixItems", "#/properties/x"),
        ({"$ref": "#/$defs/Missing"}, "$ref", "#/properties/x"),
        ({"type": "boolean", "enum": [True]}, "enum", "#/properties/x"),
        ({"allOf": [{"type": "string"}, {"minLength": 1}]}, "allOf", "#/properties/x"),
    ],
)
def test_gemini_schema_mode_refuses_lossy_keywords(
    prop: dict[str, Any], keyword: str, where: str
) -> None:
    t = Tool.from_schema("lossy", "d", {"type": "object", "properties": {"x": prop}})
    with pytest.raises(SchemaError) as exc:
        to_declaration(t)
    msg = str(exc.value)
    assert f"tool 'lossy': JSON Schema keyword {keyword!r} at {where} " in msg
    assert "json_schema=True" in msg
    # The escape hatch carries it untouched, and the SDK accepts that.
    _sdk_roundtrip(to_declaration(t, json_schema=True))


def test_recursive_ref_cannot_be_inlined() -> None:
    schema = {
        "type": "object",
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "properties": {"head": {"$ref": "#/$defs/N"}},
    }
    with pytest.raises(SchemaError, match="recursive"):
        to_schema(schema, tool_name="t")


def test_dict_parameter_needs_json_schema_mode_on_gemini() -> None:
    def f(scores: dict[str, int]) -> None:
        """F."""

    t = Tool.from_callable(f)
    with pytest.raises(SchemaError, match="additionalProperties"):
        to_declaration(t)
    assert to_declaration(t, json_schema=True)["parametersJsonSchema"] == t.parameters


def test_gemini_rejects_parameter_names_it_cannot_accept() -> None:
    t = Tool.from_schema("t", "d", {"type": "object", "properties": {"my-arg": {"type": "string"}}})
    with pytest.raises(SchemaError, match="'my-arg'"):
        to_declaration(t)


_KEYWORD_SAMPLES: dict[str, Any] = {
    "description": "d",
    "title": "t",
    "format": "date",
    "pattern": "^a",
    "default": "x",
    "example": "x",
    "minimum": 1,
    "maximum": 2,
    "minItems": 1,
    "maxItems": 2,
    "minLength": 1,
    "maxLength": 2,
    "minProperties": 1,
    "maxProperties": 2,
    "propertyOrdering": ["a"],
    "nullable": True,
    "type": "string",
    "enum": ["a"],
    "const": "a",
    "items": {"type": "string"},
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "anyOf": [{"type": "string"}, {"type": "integer"}],
    "allOf": [{"type": "string"}],
    "$ref": "#/$defs/X",
}
# Accepted without a trace on purpose: no meaning for the model, or JSON Schema's default.
_NO_OPS = {"$schema", "$comment", "$defs", "definitions", "additionalProperties"}


def test_every_accepted_keyword_changes_the_translation() -> None:
    # A keyword listed as supported but ignored by the translator would be a silent loss.
    assert set(_KEYWORD_SAMPLES) == SCHEMA_KEYWORDS - _NO_OPS
    base = {"$defs": {"X": {"type": "string"}}}
    for kw, sample in _KEYWORD_SAMPLES.items():
        with_kw = to_schema(base | {kw: sample}, tool_name="t")
        assert with_kw != to_schema(base, tool_name="t"), kw
    assert to_schema({"type": "object", "additionalProperties": True}) == {"type": "OBJECT"}


# --- Gemini -> JSON Schema ---------------------------------------------------------------------


@pytest.mark.parametrize("func", [get_weather, everything])
def test_round_trip_json_to_gemini_and_back_for_expressible_schemas(func: Any) -> None:
    t = Tool.from_callable(func)
    params = dict(t.parameters)
    if func is everything:  # drop what Gemini's Schema cannot carry (tested above)
        params["properties"] = {
            k: v for k, v in params["properties"].items() if k not in ("scores", "mixed", "uniq")
        }
        params["required"] = [r for r in params["required"] if r in params["properties"]]
    back = to_json_schema(to_schema(params, tool_name=t.name))
    assert back == params


def test_to_json_schema_accepts_snake_case_and_any_type_case() -> None:
    gem = {
        "type": "object",
        "properties": {
            "b": {"type": "Integer", "nullable": True, "format": "enum", "enum": ["1", "2"]},
            "a": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": 1},
            "c": {"any_of": [{"type": "STRING"}, {"type": "NUMBER"}], "nullable": True},
            "d": {"ref": "#/defs/D"},
        },
        "defs": {"D": {"type": "BOOLEAN"}},
        "property_ordering": ["a", "b"],
        "required": ["a"],
    }
    out = to_json_schema(gem)
    assert list(out["properties"]) == ["a", "b", "c", "d"]
    assert out["properties"]["b"] == {"type": ["integer", "null"], "enum": [1, 2, None]}
    assert out["properties"]["a"] == {"type": "array", "items": {"type": "string"}, "minItems": 1}
    assert out["properties"]["c"] == {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]
    }
    assert out["properties"]["d"] == {"$ref": "#/$defs/D"}
    assert out["$defs"] == {"D": {"type": "boolean"}}
    with pytest.raises(SchemaError, match="unknown keys"):
        to_json_schema({"type": "STRING", "bogus": 1})
    with pytest.raises(SchemaError, match="unknown Gemini schema type"):
        to_json_schema({"type": "DATE"})


def test_json_schema_from_declaration_all_forms() -> None:
    t = Tool.from_callable(get_weather)
    schema_mode = to_declaration(t)
    assert json_schema_from_declaration(schema_mode)["properties"]["days"] == {
        "type": ["integer", "null"],
        "description": "How many days ahead to forecast.",
    }
    js = {"type": "object", "properties": {"tz": {"type": "string"}}}
    assert json_schema_from_declaration({"name": "x", "parametersJsonSchema": js}) == js
    assert json_schema_from_declaration({"name": "x", "parameters_json_schema": js}) == js
    assert json_schema_from_declaration({"name": "x"}) == {
        "type": "object",
        "properties": {},
    }
    # What the SDK itself emits (snake_case inside) is readable too.
    sdk = gtypes.FunctionDeclaration.model_validate(schema_mode).model_dump(exclude_none=True)
    assert json_schema_from_declaration(sdk)["required"] == ["city"]
    with pytest.raises(SchemaError, match="mutually exclusive"):
        json_schema_from_declaration(
            {"name": "x", "parameters": {"type": "OBJECT"}, "parametersJsonSchema": js}
        )


def test_wire_tool_falls_back_to_json_schema_only_when_schema_would_lose_something() -> None:
    t = Tool.from_callable(get_weather)
    assert wire_tool(t) == to_declaration(t)
    lossy = Tool.from_schema(
        "set_stock",
        "d",
        {
            "type": "object",
            "properties": {
                "stock": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
        },
    )
    with pytest.raises(SchemaError):
        to_declaration(lossy)
    assert wire_tool(lossy) == to_declaration(lossy, json_schema=True)
