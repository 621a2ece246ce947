"""Tool declarations: JSON Schema from Python, both wire shapes (checked by the official SDK types),
the reverse translation the emulator uses, and argument validation."""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from google.genai import types as gtypes
from openai.types.realtime.realtime_function_tool import RealtimeFunctionTool

from realtimelab.schema import (
    GEMINI_SCHEMA_KEYWORDS,
    SchemaError,
    Tool,
    coerce_arguments,
    gemini_to_json_schema,
    json_schema_from_gemini_declaration,
    to_gemini_declaration,
    to_gemini_schema,
    to_openai_tool,
    tool,
    validate_arguments,
)

# --- fixtures: module-level types so string annotations resolve -----------------------------


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


# --- JSON Schema from callables ----------------------------------------------------------------


def test_from_callable_builds_description_required_defaults_and_arg_docs() -> None:
    t = Tool.from_callable(get_weather)
    assert t.name == "get_weather"
    assert t.description == "Get the current weather for a city."
    assert t.func is get_weather
    assert t.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "Temperature unit.",
                "default": "celsius",
            },
            "days": {
                "type": ["integer", "null"],
                "description": "How many days ahead to forecast.",
            },
        },
        "required": ["city"],
    }


def test_every_supported_annotation_maps_to_expected_schema() -> None:
    p = Tool.from_callable(everything).parameters
    props = p["properties"]
    assert props["name"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["level"] == {"type": "integer", "enum": [1, 2, 3]}
    assert props["prio"] == {"type": "integer", "enum": [1, 2]}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["pair"] == {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["mixed"]["prefixItems"] == [{"type": "string"}, {"type": "integer"}]
    assert props["many"] == {"type": "array", "items": {"type": "integer"}}
    assert props["uniq"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["addr"] == {
        "type": "object",
        "description": "A postal address.",
        "properties": {"street": {"type": "string"}, "zip_code": {"type": "string"}},
        "required": ["street"],
    }
    assert props["point"] == {
        "type": ["object", "null"],
        "description": "A point on the map.",
        "properties": {
            "x": {"type": "number"},
            "y": {"type": "number", "default": 0.0},
            "labels": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["x"],
    }
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["note"] == {"type": "string", "default": "hi"}
    # Optional (point) and defaulted (note) parameters are not required; all others are.
    assert p["required"] == [k for k in props if k not in ("point", "note")]


def test_optional_literal_admits_null_in_enum_too() -> None:
    def f(mode: Literal["a", "b"] | None) -> None:
        """F."""

    schema = Tool.from_callable(f).parameters["properties"]["mode"]
    assert schema == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert validate_arguments(Tool.from_callable(f), {"mode": None}) == []


@pytest.mark.parametrize(
    "doc",
    [
        "Do it.\n\nArgs:\n    city (str): The city\n        to use.\n    n: Count.\n",
        "Do it.\n\nParameters\n----------\ncity : str\n    The city\n    to use.\nn : int\n"
        "    Count.\n\nReturns\n-------\nstr\n    Nothing.\n",
        "Do it.\n\n:param city: The city\n    to use.\n:param int n: Count.\n:returns: x\n",
    ],
    ids=["google", "numpy", "rest"],
)
def test_docstring_styles_give_argument_descriptions(doc: str) -> None:
    def f(city: str, n: int) -> None:
        pass

    f.__doc__ = doc
    t = Tool.from_callable(f)
    assert t.description == "Do it."
    assert t.parameters["properties"]["city"]["description"] == "The city to use."
    assert t.parameters["properties"]["n"]["description"] == "Count."


def test_decorator_forms_sync_and_async() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool(name="slow_lookup", timeout_s=2, behavior="non_blocking", description="Look up.")
    async def lookup(q: str) -> str:
        return q.upper()

    assert isinstance(add, Tool) and add(2, 3) == 5  # still callable
    assert add.func is not None and add.func.__name__ == "add"
    assert (lookup.name, lookup.timeout_s, lookup.behavior) == ("slow_lookup", 2, "non_blocking")
    assert lookup.description == "Look up."
    assert asyncio.run(lookup(q="x")) == "X"


def test_bound_method_skips_self() -> None:
    class Svc:
        def ping(self, host: str) -> str:
            """Ping a host."""
            return host

    t = Tool.from_callable(Svc().ping)
    assert list(t.parameters["properties"]) == ["host"]


def _any(x: Any) -> None: ...
def _obj(x: object) -> None: ...
def _cb(x: Callable[[int], int]) -> None: ...
def _bare_list(x: list) -> None: ...
def _int_keys(x: dict[int, str]) -> None: ...
def _no_hint(x) -> None: ...  # type: ignore[no-untyped-def]
def _star(*args: int) -> None: ...
def _kwargs(**kw: int) -> None: ...
def _posonly(x: int, /) -> None: ...
def _recursive(n: Node) -> None: ...
def _mixed_literal(x: Literal["a", 1]) -> None: ...


@pytest.mark.parametrize(
    ("func", "fragment"),
    [
        (_any, "parameter 'x' has unsupported type Any"),
        (_obj, "parameter 'x' has unsupported type object"),
        (_cb, "a model cannot send a function"),
        (_bare_list, "give the item type"),
        (_int_keys, "dict[str, X]"),
        (_no_hint, "has no type annotation"),
        (_star, "*args/**kwargs"),
        (_kwargs, "*args/**kwargs"),
        (_posonly, "positional-only"),
        (_recursive, "recursive types"),
        (_mixed_literal, "choices must all be"),
    ],
)
def test_unsupported_annotations_raise_typeerror_naming_the_parameter(
    func: Any, fragment: str
) -> None:
    with pytest.raises(TypeError, match="tool '_") as exc:
        Tool.from_callable(func)
    assert fragment in str(exc.value)


# --- Tool validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1abc", "has space", "dot.name", "x" * 65, "ünï"])
def test_invalid_tool_names_are_rejected(name: str) -> None:
    with pytest.raises(SchemaError, match="tool name"):
        Tool.from_schema(name, "d")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"parameters": {"type": "array"}}, "must be an object schema"),
        ({"parameters": {"type": "OBJECT"}}, "lowercase"),
        ({"parameters": []}, "a mapping"),
        ({"parameters": {"type": "object", "properties": {}, "required": ["x"]}}, "not in prop"),
        ({"parameters": {"type": "object", "default": float("nan")}}, "JSON-serializable"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": -1.0}, "timeout_s"),
        ({"behavior": "async"}, "behavior"),
    ],
)
def test_tool_validation_errors(kwargs: dict[str, Any], fragment: str) -> None:
    args: dict[str, Any] = {"name": "t", "description": "d"} | kwargs
    with pytest.raises(SchemaError, match=fragment):
        Tool.from_schema(**args)


def test_parameters_are_copied_so_caller_mutation_cannot_leak() -> None:
    params: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    t = Tool.from_schema("t", "d", params)
    params["properties"]["a"]["type"] = "integer"
    assert t.parameters["properties"]["a"]["type"] == "string"
    assert hash(t) == hash(Tool.from_schema("t", "d", t.parameters))
    assert to_openai_tool(t)["parameters"] is not t.parameters


# --- OpenAI wire shape -------------------------------------------------------------------------


@pytest.mark.parametrize("func", [get_weather, everything])
def test_openai_tool_validates_with_sdk_type(func: Any) -> None:
    t = Tool.from_callable(func)
    wire = to_openai_tool(t)
    assert set(wire) == {"type", "name", "description", "parameters"}
    model = RealtimeFunctionTool.model_validate(wire)
    assert not model.model_extra  # every key is one the SDK knows
    assert (model.type, model.name, model.parameters) == ("function", t.name, t.parameters)
    json.dumps(wire)


# --- Gemini wire shapes ------------------------------------------------------------------------


def _sdk_roundtrip(decl: dict[str, Any]) -> dict[str, Any]:
    """Validate with the SDK (extra='forbid') and dump back, proving no key was misnamed."""
    model = gtypes.FunctionDeclaration.model_validate(decl)
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def test_gemini_schema_mode_validates_with_sdk_and_uses_uppercase_types() -> None:
    t = Tool.from_callable(get_weather)
    decl = to_gemini_declaration(t)
    assert decl["parameters"]["type"] == "OBJECT"
    props = decl["parameters"]["properties"]
    assert props["city"] == {"type": "STRING", "description": "City name, e.g. Paris"}
    assert props["days"]["type"] == "INTEGER" and props["days"]["nullable"] is True
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "behavior" not in decl
    assert _sdk_roundtrip(decl) == decl


def test_gemini_json_schema_mode_and_non_blocking() -> None:
    t = Tool.from_callable(everything, behavior="non_blocking")
    decl = to_gemini_declaration(t, json_schema=True)
    assert decl["parametersJsonSchema"] == t.parameters
    assert "parameters" not in decl
    assert decl["behavior"] == "NON_BLOCKING"
    back = _sdk_roundtrip(decl)
    assert back["behavior"] == "NON_BLOCKING" and back["parametersJsonSchema"] == t.parameters


def test_gemini_no_argument_tool_omits_parameters() -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    decl = to_gemini_declaration(Tool.from_callable(ping))
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
    out = to_gemini_schema(schema, tool_name="t")
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
    decl = to_gemini_declaration(Tool.from_schema("t", "d", schema))
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
        to_gemini_declaration(t)
    msg = str(exc.value)
    assert f"tool 'lossy': JSON Schema keyword {keyword!r} at {where} " in msg
    assert "json_schema=True" in msg
    # The escape hatch carries it untouched, and the SDK accepts that.
    _sdk_roundtrip(to_gemini_declaration(t, json_schema=True))


def test_recursive_ref_cannot_be_inlined() -> None:
    schema = {
        "type": "object",
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "properties": {"head": {"$ref": "#/$defs/N"}},
    }
    with pytest.raises(SchemaError, match="recursive"):
        to_gemini_schema(schema, tool_name="t")


def test_dict_parameter_needs_json_schema_mode_on_gemini() -> None:
    def f(scores: dict[str, int]) -> None:
        """F."""

    t = Tool.from_callable(f)
    with pytest.raises(SchemaError, match="additionalProperties"):
        to_gemini_declaration(t)
    assert to_gemini_declaration(t, json_schema=True)["parametersJsonSchema"] == t.parameters


def test_gemini_rejects_parameter_names_it_cannot_accept() -> None:
    t = Tool.from_schema("t", "d", {"type": "object", "properties": {"my-arg": {"type": "string"}}})
    with pytest.raises(SchemaError, match="'my-arg'"):
        to_gemini_declaration(t)


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
    assert set(_KEYWORD_SAMPLES) == GEMINI_SCHEMA_KEYWORDS - _NO_OPS
    base = {"$defs": {"X": {"type": "string"}}}
    for kw, sample in _KEYWORD_SAMPLES.items():
        with_kw = to_gemini_schema(base | {kw: sample}, tool_name="t")
        assert with_kw != to_gemini_schema(base, tool_name="t"), kw
    assert to_gemini_schema({"type": "object", "additionalProperties": True}) == {"type": "OBJECT"}


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
    back = gemini_to_json_schema(to_gemini_schema(params, tool_name=t.name))
    assert back == params


def test_gemini_to_json_schema_accepts_snake_case_and_any_type_case() -> None:
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
    out = gemini_to_json_schema(gem)
    assert list(out["properties"]) == ["a", "b", "c", "d"]
    assert out["properties"]["b"] == {"type": ["integer", "null"], "enum": [1, 2, None]}
    assert out["properties"]["a"] == {"type": "array", "items": {"type": "string"}, "minItems": 1}
    assert out["properties"]["c"] == {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]
    }
    assert out["properties"]["d"] == {"$ref": "#/$defs/D"}
    assert out["$defs"] == {"D": {"type": "boolean"}}
    with pytest.raises(SchemaError, match="unknown keys"):
        gemini_to_json_schema({"type": "STRING", "bogus": 1})
    with pytest.raises(SchemaError, match="unknown Gemini schema type"):
        gemini_to_json_schema({"type": "DATE"})


def test_json_schema_from_gemini_declaration_all_forms() -> None:
    t = Tool.from_callable(get_weather)
    schema_mode = to_gemini_declaration(t)
    assert json_schema_from_gemini_declaration(schema_mode)["properties"]["days"] == {
        "type": ["integer", "null"],
        "description": "How many days ahead to forecast.",
    }
    js = {"type": "object", "properties": {"tz": {"type": "string"}}}
    assert json_schema_from_gemini_declaration({"name": "x", "parametersJsonSchema": js}) == js
    assert json_schema_from_gemini_declaration({"name": "x", "parameters_json_schema": js}) == js
    assert json_schema_from_gemini_declaration({"name": "x"}) == {
        "type": "object",
        "properties": {},
    }
    # What the SDK itself emits (snake_case inside) is readable too.
    sdk = gtypes.FunctionDeclaration.model_validate(schema_mode).model_dump(exclude_none=True)
    assert json_schema_from_gemini_declaration(sdk)["required"] == ["city"]
    with pytest.raises(SchemaError, match="mutually exclusive"):
        json_schema_from_gemini_declaration(
            {"name": "x", "parameters": {"type": "OBJECT"}, "parametersJsonSchema": js}
        )


# --- argument validation -----------------------------------------------------------------------


GOOD_EVERYTHING: dict[str, Any] = {
    "name": "n",
    "count": 2.0,
    "ratio": 1,
    "flag": False,
    "mode": "fast",
    "level": 2,
    "prio": 1,
    "tags": ["a"],
    "pair": [1.0, 2.5],
    "mixed": ["a", 1],
    "many": [],
    "uniq": ["a", "b"],
    "scores": {"x": 1},
    "addr": {"street": "Main"},
    "point": None,
    "either": "s",
}


def test_validate_arguments_reports_model_actionable_problems() -> None:
    t = Tool.from_callable(everything)
    good = GOOD_EVERYTHING
    assert validate_arguments(t, good) == []
    bad = good | {
        "count": True,
        "mode": "medium",
        "pair": [1.0],
        "mixed": [1, "a"],
        "uniq": ["a", "a"],
        "scores": {"x": "1"},
        "addr": {},
        "point": {"x": "1"},
        "either": 1.5,
        "extra": 1,
    }
    del bad["name"]
    problems = validate_arguments(t, bad)
    assert problems == [
        "missing required argument 'name'",
        "argument 'count': expected integer, got boolean true",
        "argument 'mode': string \"medium\" is not one of ['fast', 'slow']",
        "argument 'pair': needs at least 2 items, got 1",
        "argument 'mixed[0]': expected string, got integer 1",
        "argument 'mixed[1]': expected integer, got string \"a\"",
        "argument 'uniq': items must be unique",
        "argument 'scores.x': expected integer, got string \"1\"",
        "missing required argument 'addr.street'",
        "argument 'point.x': expected number, got string \"1\"",
        "argument 'either': number 1.5 does not match any of the allowed shapes",
        "unexpected argument 'extra' (allowed: name, count, ratio, flag, mode, level, prio, tags, "
        "pair, mixed, many, uniq, scores, addr, point, either, note)",
    ]
    assert validate_arguments(t, [1]) == ["arguments must be a JSON object, got array"]


def test_validate_unknown_keys_only_when_schema_or_function_forbids_them() -> None:
    open_schema = Tool.from_schema("t", "d", {"type": "object", "properties": {}})
    assert validate_arguments(open_schema, {"x": 1}) == []  # JSON Schema allows extras
    closed = Tool.from_schema(
        "t",
        "d",
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    )
    assert validate_arguments(closed, {"x": 1}) == ["unexpected argument 'x' (allowed: a)"]


def test_validate_bounds_patterns_nullable_and_refs() -> None:
    t = Tool.from_schema(
        "t",
        "d",
        {
            "type": "object",
            "$defs": {"Age": {"type": "integer", "minimum": 0, "maximum": 150}},
            "properties": {
                "age": {"$ref": "#/$defs/Age"},
                "code": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
                "gem": {"type": "STRING", "nullable": True},
                "c": {"const": "x"},
                "one": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
            },
        },
    )
    assert validate_arguments(t, {"age": 3, "code": "ABC", "gem": None, "c": "x", "one": 1.5}) == []
    assert validate_arguments(t, {"age": -1, "code": "abcd", "gem": 1, "c": "y", "one": 1}) == [
        "argument 'age': must be >= 0, got -1",
        "argument 'code': must be at most 3 characters",
        "argument 'code': 'abcd' does not match pattern '^[A-Z]{3}$'",
        "argument 'gem': expected string, got integer 1",
        "argument 'c': must be 'x', got string \"y\"",
        "argument 'one': integer 1 does not match exactly one of the allowed shapes",
    ]


def test_validator_agrees_with_jsonschema_on_generated_schemas() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    t = Tool.from_callable(everything)
    validator = jsonschema.Draft202012Validator(dict(t.parameters))
    overrides: list[dict[str, Any]] = [
        {},
        {"name": 1},
        {"tags": "a"},
        {"level": 4},
        {"level": True},
        {"pair": [1, 2, 3]},
        {"point": {"x": 1.0, "labels": [1]}},
        {"either": None},
        {"addr": {"street": 1}},
        {"ratio": 1},
        {"count": 1.0},
        {"flag": 0},
        {"mode": None},
    ]
    verdicts = set()
    for override in overrides:
        case = GOOD_EVERYTHING | override
        ours = validate_arguments(Tool.from_schema("t", "d", t.parameters), case)
        theirs = list(validator.iter_errors(case))
        assert bool(ours) == bool(theirs), (case, ours, [e.message for e in theirs])
        verdicts.add(bool(ours))
    assert verdicts == {True, False}  # the matrix holds both valid and invalid cases


# --- coercion to annotated Python types ----------------------------------------------------------


def plan(
    unit: Unit,
    where: Point,
    pair: tuple[float, float],
    uniq: set[str],
    prio: Priority | None = None,
    ratio: float = 1.0,
    nested: dict[str, list[Unit]] | None = None,
    addr: Address | None = None,
) -> None:
    """Plan."""


def test_coerce_arguments_builds_the_annotated_types() -> None:
    t = Tool.from_callable(plan)
    args = {
        "unit": "fahrenheit",
        "where": {"x": 1, "labels": ["a"]},
        "pair": [1, 2.5],
        "uniq": ["a", "b"],
        "prio": 2,
        "ratio": 3,
        "nested": {"k": ["celsius"]},
        "addr": {"street": "Main"},
    }
    assert validate_arguments(t, args) == []
    out = coerce_arguments(t, args)
    assert out["unit"] is Unit.F
    assert out["where"] == Point(x=1.0, labels=["a"]) and isinstance(out["where"].x, float)
    assert out["pair"] == (1.0, 2.5)
    assert out["uniq"] == {"a", "b"}
    assert out["prio"] is Priority.HIGH
    assert out["ratio"] == 3.0 and isinstance(out["ratio"], float)
    assert out["nested"] == {"k": [Unit.C]}
    assert out["addr"] == {"street": "Main"}
    assert coerce_arguments(t, {"prio": None, "unit": Unit.C}) == {"prio": None, "unit": Unit.C}
    with pytest.raises(ValueError, match="argument 'unit'"):
        coerce_arguments(t, {"unit": "kelvin"})
    # Without a Python function there is nothing to convert to.
    assert coerce_arguments(Tool.from_schema("t", "d", t.parameters), args) == args
