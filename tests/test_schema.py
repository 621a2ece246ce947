"""Tool declarations: JSON Schema from Python, the neutral `wire_tool`, argument validation and
coercion. Each provider's own tool shapes are tested next to it (test_tool_schema_<name>.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

import pytest
from support.tool_samples import Address, Node, Point, Priority, Unit, everything, get_weather

from realtimelab.errors import RealtimeLabError
from realtimelab.schema import (
    SchemaError,
    Tool,
    coerce_arguments,
    tool,
    validate_arguments,
    wire_tool,
)

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
    assert wire_tool(t, "openai")["parameters"] is not t.parameters


def test_wire_tool_asks_each_providers_folder_and_errors_share_the_root() -> None:
    from realtimelab.providers.gemini.tools import wire_tool as gemini_wire_tool
    from realtimelab.providers.openai.tools import wire_tool as openai_wire_tool

    t = Tool.from_callable(get_weather)
    assert wire_tool(t, "openai") == openai_wire_tool(t)
    assert wire_tool(t, "gemini") == gemini_wire_tool(t)
    with pytest.raises(ValueError, match="unknown provider 'azure'; registered providers: openai"):
        wire_tool(t, "azure")
    assert issubclass(SchemaError, RealtimeLabError) and issubclass(SchemaError, ValueError)


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
