"""A `Tool` as a Gemini Live function declaration, and Gemini's `Schema` back to JSON Schema.

A `Tool` stores plain JSON Schema. Gemini takes either an OpenAPI-3.0 subset called `Schema`
(UPPERCASE types, `nullable`, no `additionalProperties` on the Developer API) in `parameters`,
or plain JSON Schema in `parametersJsonSchema`. `to_declaration` translates into `Schema` and
refuses loudly (`SchemaError` naming the keyword, the tool and the path) when a keyword cannot
be carried over: a silently dropped constraint is a bug that only shows up when the model calls
the tool with arguments the schema was meant to forbid. `wire_tool`, what the codec sends, uses
`Schema` when the translation is lossless and `parametersJsonSchema` otherwise.

`to_json_schema` / `json_schema_from_declaration` read declarations the other way, accepting the
camelCase and snake_case spellings the REST API and the SDK use.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from realtimelab.schema import SchemaError, Tool

__all__ = [
    "SCHEMA_KEYWORDS",
    "json_schema_from_declaration",
    "to_declaration",
    "to_json_schema",
    "to_schema",
    "wire_tool",
]

# Gemini's rule for parameter (property) names of a function declaration.
_PARAM_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


def wire_tool(tool: Tool) -> dict[str, Any]:
    """The declaration the codec sends: Gemini's `Schema` when `tool` translates losslessly,
    else the JSON Schema untouched as `parametersJsonSchema` (which carries everything)."""
    try:
        return to_declaration(tool)
    except SchemaError:
        return to_declaration(tool, json_schema=True)


def to_declaration(tool: Tool, *, json_schema: bool = False) -> dict[str, Any]:
    """A camelCase Gemini `functionDeclarations[]` entry.

    `json_schema=False` (default) translates into Gemini's `Schema` (UPPERCASE types) and raises
    `SchemaError` for any keyword it cannot carry. `json_schema=True` sends the JSON Schema
    untouched as `parametersJsonSchema`, which accepts everything JSON Schema does.
    A tool without arguments omits `parameters` (Gemini rejects an OBJECT with no properties).
    """
    decl: dict[str, Any] = {"name": tool.name, "description": tool.description}
    params = dict(tool.parameters)
    if json_schema:
        decl["parametersJsonSchema"] = copy.deepcopy(params)
    else:
        for pname in params.get("properties", {}):
            if not _PARAM_RE.match(pname):
                raise SchemaError(
                    f"tool {tool.name!r}: parameter name {pname!r} is not allowed by Gemini "
                    "(letters, digits and '_' only, starting with a letter or '_', max 64); "
                    "rename it"
                )
        if params.get("properties") or set(params) - {"type", "properties", "required"}:
            decl["parameters"] = to_schema(params, tool_name=tool.name)
    if tool.behavior == "non_blocking":
        decl["behavior"] = "NON_BLOCKING"
    return decl


# Keywords translated 1:1 (JSON Schema name -> Gemini Schema camelCase name).
_PASSTHROUGH = {
    "description": "description",
    "title": "title",
    "format": "format",
    "pattern": "pattern",
    "default": "default",
    "example": "example",
    "minimum": "minimum",
    "maximum": "maximum",
    "minItems": "minItems",
    "maxItems": "maxItems",
    "minLength": "minLength",
    "maxLength": "maxLength",
    "minProperties": "minProperties",
    "maxProperties": "maxProperties",
    "propertyOrdering": "propertyOrdering",
    "nullable": "nullable",
}
# Keywords with no meaning for the model that are safe to leave out of the translation.
_IGNORED = frozenset({"$schema", "$comment"})
_HANDLED = frozenset(
    {"type", "enum", "const", "items", "properties", "required", "anyOf", "allOf", "$ref"}
    | {"$defs", "definitions", "additionalProperties"}
)
#: Every JSON Schema keyword `to_schema` understands; anything else raises SchemaError.
SCHEMA_KEYWORDS: frozenset[str] = frozenset(_PASSTHROUGH) | _HANDLED | _IGNORED

_JSON_TO_GEMINI_TYPE = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}


def to_schema(schema: Mapping[str, Any], *, tool_name: str = "?") -> dict[str, Any]:
    """Translate plain JSON Schema into Gemini's OpenAPI-subset `Schema` (camelCase, UPPERCASE).

    Lossless only: `["string","null"]` and `anyOf` with null become `nullable: true`, local
    `$ref`s into `$defs` are inlined (recursive ones cannot be), a string `const` becomes a
    one-value `enum`, integer enums become string enums with `format: "enum"` (Gemini's
    documented form). Everything else without a Gemini equivalent raises `SchemaError`.
    """
    root = dict(schema)
    defs = root.get("$defs", root.get("definitions", {}))
    return _Translator(tool_name, defs if isinstance(defs, Mapping) else {}).node(root, "#", True)


class _Translator:
    def __init__(self, tool_name: str, defs: Mapping[str, Any]) -> None:
        self.tool_name = tool_name
        self.defs = defs
        self.ref_stack: list[str] = []

    def lossy(self, kw: str, path: str, why: str = "") -> SchemaError:
        extra = f" ({why})" if why else ""
        return SchemaError(
            f"tool {self.tool_name!r}: JSON Schema keyword {kw!r} at {path} cannot be expressed "
            f"in Gemini's Schema{extra}; use json_schema=True (parametersJsonSchema) or remove it"
        )

    def resolve(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        """Inline `$ref` (and single-element `allOf`, pydantic's way to describe a ref)."""
        node = dict(node)
        if "allOf" in node:
            all_of = node.pop("allOf")
            if not isinstance(all_of, list) or len(all_of) != 1:
                raise self.lossy("allOf", path, "only a single-schema allOf can be inlined")
            node = {**self.resolve(all_of[0], f"{path}/allOf/0"), **node}
        if "$ref" in node:
            ref = node.pop("$ref")
            m = re.fullmatch(r"#/(\$defs|definitions)/(.+)", str(ref))
            if not m or m.group(2) not in self.defs:
                raise self.lossy("$ref", path, f"only local refs into $defs can be inlined: {ref}")
            if ref in self.ref_stack:
                raise self.lossy("$ref", path, f"{ref} is recursive")
            # Stays on the stack until the node that used it is translated (see `node`),
            # so a ref reached again inside its own definition is caught as recursion.
            self.ref_stack.append(ref)
            target = self.resolve(self.defs[m.group(2)], f"{path}/$ref")
            node = {**target, **node}  # sibling keywords (description, default) win
        return node

    def node(self, raw: Mapping[str, Any], path: str, is_root: bool = False) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise SchemaError(f"tool {self.tool_name!r}: schema at {path} must be an object")
        depth = len(self.ref_stack)
        try:
            return self._node(self.resolve(raw, path), path, is_root)
        finally:
            del self.ref_stack[depth:]

    def _node(self, src: dict[str, Any], path: str, is_root: bool) -> dict[str, Any]:
        for kw in src:
            if kw not in SCHEMA_KEYWORDS:
                raise self.lossy(kw, path)
        if not is_root and ("$defs" in src or "definitions" in src):
            raise self.lossy("$defs", path, "definitions are only resolved at the root")
        out: dict[str, Any] = {}
        for kw, gem in _PASSTHROUGH.items():
            if kw in src:
                out[gem] = copy.deepcopy(src[kw])
        nullable = bool(src.get("nullable", False))

        t = src.get("type")
        if isinstance(t, list):
            kinds = [x for x in t if x != "null"]
            nullable = nullable or len(kinds) != len(t)
            if len(kinds) == 1:
                out["type"] = self.type_name(kinds[0], path)
            elif kinds:
                out["anyOf"] = [{"type": self.type_name(k, path)} for k in kinds]
        elif t is not None:
            out["type"] = self.type_name(t, path)

        if "anyOf" in src:
            branches = src["anyOf"]
            if not isinstance(branches, list):
                raise SchemaError(f"tool {self.tool_name!r}: anyOf at {path} must be a list")
            subs = [
                self.node(b, f"{path}/anyOf/{i}")
                for i, b in enumerate(branches)
                if not _is_null_schema(b)
            ]
            nullable = nullable or len(subs) != len(branches)
            if len(subs) == 1 and not set(subs[0]) & set(out):
                out.update(subs[0])  # `X | None` is just a nullable X
            elif subs:
                out["anyOf"] = subs

        if "const" in src:
            if not isinstance(src["const"], str):
                raise self.lossy("const", path, "only a string const maps onto a one-value enum")
            out["enum"] = [src["const"]]
        if "enum" in src:
            out.update(self.enum(src["enum"], out.get("type"), path))
            if None in src["enum"]:
                nullable = True
        if nullable:
            out["nullable"] = True

        if "items" in src:
            if not isinstance(src["items"], Mapping):
                raise self.lossy("items", path, "tuple-form items (a list) is not supported")
            out["items"] = self.node(src["items"], f"{path}/items")
        if "properties" in src:
            out["properties"] = {
                k: self.node(v, f"{path}/properties/{k}") for k, v in src["properties"].items()
            }
        if "required" in src:
            out["required"] = list(src["required"])
        ap = src.get("additionalProperties", True)
        if ap is not True:  # `true` is JSON Schema's default, so leaving it out loses nothing
            raise self.lossy(
                "additionalProperties", path, "Gemini's Developer API rejects it in Schema mode"
            )
        return out

    def type_name(self, t: Any, path: str) -> str:
        if t not in _JSON_TO_GEMINI_TYPE:
            raise SchemaError(
                f"tool {self.tool_name!r}: unknown JSON Schema type {t!r} at {path}; "
                f"expected one of {sorted(_JSON_TO_GEMINI_TYPE)}"
            )
        return _JSON_TO_GEMINI_TYPE[t]

    def enum(self, values: Any, gem_type: Any, path: str) -> dict[str, Any]:
        if not isinstance(values, list):
            raise SchemaError(f"tool {self.tool_name!r}: enum at {path} must be a list")
        values = [v for v in values if v is not None]
        if all(isinstance(v, str) for v in values):
            return {"enum": values}
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric and gem_type in ("INTEGER", "NUMBER"):
            return {"enum": [_num_str(v) for v in values], "format": "enum"}
        raise self.lossy(
            "enum", path, "Gemini enums hold strings (or numbers on an INTEGER/NUMBER type)"
        )


def _is_null_schema(node: Any) -> bool:
    return isinstance(node, Mapping) and dict(node) == {"type": "null"}


def _num_str(v: int | float) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


# --------------------------------------------------------------------------------------------
# Gemini -> JSON Schema (reading declarations back: the emulator, round-trip tests)
# --------------------------------------------------------------------------------------------

_SNAKE_TO_CAMEL = {
    "any_of": "anyOf",
    "min_items": "minItems",
    "max_items": "maxItems",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_properties": "minProperties",
    "max_properties": "maxProperties",
    "property_ordering": "propertyOrdering",
    "additional_properties": "additionalProperties",
}
_PLAIN = frozenset(
    {"description", "title", "format", "pattern", "default", "minimum", "maximum", "required"}
    | {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a Gemini `Schema` (camelCase or snake_case keys, any type case) to JSON Schema.

    `nullable` becomes a `null` type, `format: "enum"` numeric enums become numbers again,
    `propertyOrdering` reorders `properties`, `defs`/`ref` become `$defs`/`$ref`.
    """
    return _from_gemini(schema, "#")


def _from_gemini(raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"Gemini schema at {path} must be an object, got {type(raw).__name__}")
    src = {_SNAKE_TO_CAMEL.get(k, k): v for k, v in raw.items() if v is not None}
    out: dict[str, Any] = {}
    t = src.pop("type", None)
    jtype: str | None = None
    if t is not None:
        jtype = str(getattr(t, "value", t)).lower()
        if jtype == "type_unspecified":
            jtype = None
        elif jtype not in _JSON_TO_GEMINI_TYPE:
            raise SchemaError(f"unknown Gemini schema type {t!r} at {path}")
    nullable = bool(src.pop("nullable", False))
    fmt = src.pop("format", None)
    for kw in list(src):
        if kw in _PLAIN:
            out[kw] = copy.deepcopy(src.pop(kw))
    if fmt is not None and fmt != "enum":
        out["format"] = fmt
    if "enum" in src:
        values = list(src.pop("enum"))
        if jtype in ("integer", "number"):
            values = [_parse_num(v, jtype, path) for v in values]
        out["enum"] = values + ([None] if nullable else [])
    if "example" in src:
        out["examples"] = [src.pop("example")]
    if "items" in src:
        out["items"] = _from_gemini(src.pop("items"), f"{path}/items")
    if "properties" in src:
        props = {
            k: _from_gemini(v, f"{path}/properties/{k}") for k, v in src.pop("properties").items()
        }
        order = src.pop("propertyOrdering", None) or []
        ordered = {k: props[k] for k in order if k in props}
        ordered.update({k: v for k, v in props.items() if k not in ordered})
        out["properties"] = ordered
    src.pop("propertyOrdering", None)
    if "additionalProperties" in src:
        ap = src.pop("additionalProperties")
        out["additionalProperties"] = (
            _from_gemini(ap, f"{path}/additionalProperties") if isinstance(ap, Mapping) else ap
        )
    if "defs" in src:
        out["$defs"] = {k: _from_gemini(v, f"{path}/defs/{k}") for k, v in src.pop("defs").items()}
    if "ref" in src:
        out["$ref"] = re.sub(r"^#/defs/", "#/$defs/", str(src.pop("ref")))
    if "anyOf" in src:
        branches = src.pop("anyOf")
        out["anyOf"] = [_from_gemini(b, f"{path}/anyOf/{i}") for i, b in enumerate(branches)]
        if nullable and jtype is None:
            out["anyOf"].append({"type": "null"})
            nullable = False
    if src:
        raise SchemaError(f"Gemini schema at {path} has unknown keys {sorted(src)}")
    if jtype is not None:
        out["type"] = [jtype, "null"] if nullable and jtype != "null" else jtype
    elif nullable and "anyOf" not in out:
        out = {"anyOf": [out, {"type": "null"}]} if out else {"type": "null"}
    return out


def _parse_num(v: Any, jtype: str, path: str) -> Any:
    if not isinstance(v, str):
        return v
    try:
        return int(v) if jtype == "integer" else float(v)
    except ValueError as exc:
        raise SchemaError(f"enum value {v!r} at {path} is not a {jtype}") from exc


def json_schema_from_declaration(decl: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a Gemini function declaration's parameters, whichever form it used.

    Accepts camelCase (`parametersJsonSchema`) or snake_case (`parameters_json_schema`) keys;
    a declaration without parameters takes none (an empty object schema).
    """
    js = decl.get("parametersJsonSchema", decl.get("parameters_json_schema"))
    params = decl.get("parameters")
    if js is not None and params is not None:
        raise SchemaError(
            f"function declaration {decl.get('name')!r} sets both parameters and "
            "parametersJsonSchema; they are mutually exclusive"
        )
    if js is not None:
        if not isinstance(js, Mapping):
            raise SchemaError(f"{decl.get('name')!r}: parametersJsonSchema must be an object")
        return copy.deepcopy(dict(js))
    if params is not None:
        return to_json_schema(params)
    return {"type": "object", "properties": {}}
