"""The emulator's own reading of a Gemini function declaration's parameters, as JSON Schema.

Why the emulator does not borrow the client's converter (`realtimelab.schema`): the client
*writes* Gemini schemas and the emulator *reads* them. If both used the same mapping, a mistake
in it would be confirmed by the emulator instead of caught. This module reads the wire the way
Google documents the `Schema` object (ai.google.dev, `Schema` reference; the fields match
google-genai's `types.Schema`) and rejects what the server would reject.

Reading rules:

* `parameters` (a Gemini `Schema`) and `parametersJsonSchema` (plain JSON Schema, passed through)
  are mutually exclusive; a declaration with neither takes no arguments. A JSON Schema is
  passed through only when its structure is sound (`check_json_schema`: `properties` an object
  of schemas, `required` a list of names, `type` a JSON type...): the server validates the
  schema it is given, and the brain must never be handed `properties: []`.
* `type` is an enum name (`STRING`, `NUMBER`, `INTEGER`, `BOOLEAN`, `ARRAY`, `OBJECT`, `NULL`;
  the REST examples in Google's docs write them in lower case, so case is ignored);
  `TYPE_UNSPECIFIED` means "no type".
* `nullable: true` adds `null` to the type; `format: "enum"` is Gemini's marker for enums and
  disappears; other formats are kept.
* int64 fields (`minItems`, `maxLength`, …) arrive as JSON strings in proto3 JSON, or as
  numbers: both read as integers.
* `propertyOrdering` orders `properties`; `defs`/`ref` become `$defs`/`$ref`; `example` becomes
  `examples: [example]`.
* Any other key is an unknown proto field: the real server answers 1007, so this raises.

Keys arrive camelCased (`wire.camelize` ran at the edge); property names are user data and are
never rewritten.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaRejected", "check_json_schema", "declaration_parameters", "to_json_schema"]

#: `Type` enum names → JSON Schema types.
TYPES: Mapping[str, str | None] = {
    "TYPE_UNSPECIFIED": None,
    "STRING": "string",
    "NUMBER": "number",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "ARRAY": "array",
    "OBJECT": "object",
    "NULL": "null",
}
_COPIED = frozenset({"title", "description", "pattern", "default"})
_INT64 = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)
_NUMBERS = frozenset({"minimum", "maximum"})
_STRUCTURE = frozenset(
    {
        "type",
        "format",
        "nullable",
        "enum",
        "required",
        "properties",
        "propertyOrdering",
        "items",
        "anyOf",
        "additionalProperties",
        "defs",
        "ref",
        "example",
    }
)
KNOWN_KEYS: frozenset[str] = _COPIED | _INT64 | _NUMBERS | _STRUCTURE


class SchemaRejected(ValueError):
    """The declaration's schema is not a valid Gemini `Schema` (the server closes 1007)."""


def declaration_parameters(decl: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a (camelCased) function declaration's arguments."""
    name = decl.get("name")
    native, plain = decl.get("parameters"), decl.get("parametersJsonSchema")
    if native is not None and plain is not None:
        raise SchemaRejected(f"{name}: parameters and parametersJsonSchema are exclusive")
    if plain is not None:
        if not isinstance(plain, Mapping):
            raise SchemaRejected(f"{name}: parametersJsonSchema must be an object")
        check_json_schema(plain, f"{name}.parametersJsonSchema")
        return copy.deepcopy(dict(plain))
    if native is not None:
        return to_json_schema(native, f"{name}.parameters")
    return {"type": "object", "properties": {}}


_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_ONE = ("not", "if", "then", "else", "contains", "propertyNames")


def check_json_schema(schema: Any, where: str = "schema") -> None:
    """Raise `SchemaRejected` unless `schema` is a structurally sound JSON Schema.

    Only the keywords whose shape other code relies on are checked (types, properties,
    required, items, enum, combinators, definitions); unknown keywords are allowed, as JSON
    Schema allows them. Booleans are valid sub-schemas.
    """
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise SchemaRejected(f"{where} must be a JSON Schema object")
    jtype = schema.get("type")
    if jtype is not None:
        kinds = jtype if isinstance(jtype, list) else [jtype]
        if not kinds or not all(isinstance(k, str) and k in _JSON_TYPES for k in kinds):
            raise SchemaRejected(f"{where}.type: not a JSON type {jtype!r}")
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise SchemaRejected(f"{where}.required must be a list of names")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaRejected(f"{where}.enum must be a list")
    for key in ("description", "title", "format", "pattern", "$ref"):
        if key in schema and not isinstance(schema[key], str):
            raise SchemaRejected(f"{where}.{key} must be a string")
    for key in _SCHEMA_MAPS:
        if key in schema:
            members = schema[key]
            if not isinstance(members, Mapping):
                raise SchemaRejected(f"{where}.{key} must be an object of schemas")
            for name, sub in members.items():
                check_json_schema(sub, f"{where}.{key}.{name}")
    for key in _SCHEMA_LISTS:
        if key in schema:
            branches = schema[key]
            if not isinstance(branches, list) or not branches:
                raise SchemaRejected(f"{where}.{key} must be a non-empty list of schemas")
            for i, sub in enumerate(branches):
                check_json_schema(sub, f"{where}.{key}[{i}]")
    for key in ("items", "additionalProperties", *_SCHEMA_ONE):
        if key in schema:
            check_json_schema(schema[key], f"{where}.{key}")


def to_json_schema(schema: Any, where: str = "schema") -> dict[str, Any]:
    """One Gemini `Schema` object → JSON Schema (raises `SchemaRejected`)."""
    if not isinstance(schema, Mapping):
        raise SchemaRejected(f"{where} must be an object")
    unknown = sorted(set(schema) - KNOWN_KEYS)
    if unknown:
        raise SchemaRejected(f"{where}: unknown Schema field(s) {unknown}")
    out: dict[str, Any] = {}
    jtype = _type(schema.get("type"), where)
    nullable = _bool(schema.get("nullable"), f"{where}.nullable")
    for key in sorted(_COPIED & set(schema)):
        if key != "default" and not isinstance(schema[key], str):
            raise SchemaRejected(f"{where}.{key} must be a string")
        out[key] = copy.deepcopy(schema[key])
    fmt = schema.get("format")
    if fmt is not None:
        if not isinstance(fmt, str):
            raise SchemaRejected(f"{where}.format must be a string")
        if fmt != "enum":
            out["format"] = fmt
    for key in sorted(_INT64 & set(schema)):
        out[key] = _int64(schema[key], f"{where}.{key}")
    for key in sorted(_NUMBERS & set(schema)):
        value = schema[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaRejected(f"{where}.{key} must be a number")
        out[key] = value
    if "enum" in schema:
        out["enum"] = _enum(schema["enum"], jtype, where)
    if "example" in schema:
        out["examples"] = [copy.deepcopy(schema["example"])]
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaRejected(f"{where}.required must be a list of names")
        out["required"] = list(required)
    if "properties" in schema:
        out["properties"] = _properties(schema, where)
    elif "propertyOrdering" in schema:
        raise SchemaRejected(f"{where}.propertyOrdering without properties")
    if "items" in schema:
        out["items"] = to_json_schema(schema["items"], f"{where}.items")
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if not isinstance(branches, list) or not branches:
            raise SchemaRejected(f"{where}.anyOf must be a non-empty list")
        out["anyOf"] = [to_json_schema(b, f"{where}.anyOf[{i}]") for i, b in enumerate(branches)]
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        out["additionalProperties"] = (
            extra if isinstance(extra, bool) else to_json_schema(extra, f"{where}.additional")
        )
    if "defs" in schema:
        defs = schema["defs"]
        if not isinstance(defs, Mapping):
            raise SchemaRejected(f"{where}.defs must be an object")
        out["$defs"] = {str(k): to_json_schema(v, f"{where}.defs.{k}") for k, v in defs.items()}
    if "ref" in schema:
        ref = schema["ref"]
        if not isinstance(ref, str):
            raise SchemaRejected(f"{where}.ref must be a string")
        out["$ref"] = re.sub(r"^#/defs/", "#/$defs/", ref)
    if jtype is not None:
        out["type"] = [jtype, "null"] if nullable and jtype != "null" else jtype
    elif nullable:
        out = {"anyOf": [out, {"type": "null"}]} if out else {"type": "null"}
    return out


def _type(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or raw.upper() not in TYPES:
        raise SchemaRejected(f"{where}.type: unknown type {raw!r}")
    return TYPES[raw.upper()]


def _bool(raw: Any, where: str) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise SchemaRejected(f"{where} must be a boolean")
    return raw


def _int64(raw: Any, where: str) -> int:
    """proto3 JSON writes int64 as a string; numbers are accepted too."""
    if isinstance(raw, bool):
        raise SchemaRejected(f"{where} must be an integer")
    if isinstance(raw, int):
        value = raw
    elif (isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip())) or (
        isinstance(raw, float) and raw.is_integer()
    ):
        value = int(raw)
    else:
        raise SchemaRejected(f"{where} must be an integer, got {raw!r}")
    if value < 0:
        raise SchemaRejected(f"{where} must be >= 0")
    return value


def _enum(raw: Any, jtype: str | None, where: str) -> list[Any]:
    """Enum values are strings on the wire; for numeric types they are read back as numbers."""
    if not isinstance(raw, list) or not raw:
        raise SchemaRejected(f"{where}.enum must be a non-empty list")
    values: list[Any] = []
    for value in raw:
        if jtype in ("integer", "number") and isinstance(value, str):
            try:
                values.append(int(value) if jtype == "integer" else float(value))
            except ValueError:
                raise SchemaRejected(f"{where}.enum: {value!r} is not a {jtype}") from None
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            values.append(value)
        else:
            raise SchemaRejected(f"{where}.enum values must be strings")
    return values


def _properties(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    props = schema["properties"]
    if not isinstance(props, Mapping):
        raise SchemaRejected(f"{where}.properties must be an object")
    read = {str(k): to_json_schema(v, f"{where}.properties.{k}") for k, v in props.items()}
    order = schema.get("propertyOrdering") or []
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise SchemaRejected(f"{where}.propertyOrdering must be a list of names")
    ordered = {name: read[name] for name in order if name in read}
    ordered.update((name, value) for name, value in read.items() if name not in ordered)
    return ordered
