"""Tool declarations: one `Tool` value, JSON Schema from Python signatures, argument checks.

Why this module exists: every provider takes "a function the model may call", and the kit wants
one way to declare it. A `Tool` always stores plain JSON Schema (lowercase types), built from a
Python signature (`Tool.from_callable`, `@tool`) or written by hand (`Tool.from_schema`), and
checked when it is declared, so a broken schema fails where it is written.

Each provider spells the schema its own way on the wire (OpenAI takes JSON Schema as is; Gemini
prefers its own OpenAPI-subset `Schema`); those translations live in the provider folders
(`realtimelab/providers/<name>/tools.py`), which refuse loudly (`SchemaError`) rather than drop
a constraint. `wire_tool(tool, provider)` shows any provider's shape without naming its module.

`validate_arguments` checks the model's arguments against the same schema (a small validator
for the subset this module generates), so the dispatcher can hand precise, model-visible
errors back instead of letting the call crash.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Callable as CallableABC
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from realtimelab.errors import RealtimeLabError

__all__ = [
    "SchemaError",
    "Tool",
    "ToolBehavior",
    "coerce_arguments",
    "json_schema_for_callable",
    "tool",
    "validate_arguments",
    "wire_tool",
]

ToolBehavior = Literal["blocking", "non_blocking"]

# OpenAI allows ^[a-zA-Z0-9_-]{1,64}$, Gemini must start with a letter or underscore and allows up
# to 128 chars (plus . and :). The intersection, so one name works on both wires.
_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$")


class SchemaError(RealtimeLabError, ValueError):
    """A tool declaration or schema cannot be built or translated as asked."""


# --------------------------------------------------------------------------------------------
# The Tool value
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A function the model may call: name, description, JSON Schema parameters, and (optionally)
    the Python callable that implements it.

    `parameters` is plain JSON Schema with lowercase types describing an object whose
    properties are the arguments. It is deep-copied on construction, so mutating the dict you
    passed in cannot change a tool already registered in a session; treat it as read-only.

    `timeout_s` and `behavior` are for the dispatcher and the Gemini codec: `non_blocking`
    becomes Gemini's `NON_BLOCKING` (the model keeps talking while the tool runs); OpenAI has no
    wire equivalent, so there the dispatcher simply runs the call in the background.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    func: Callable[..., Any] | None = field(default=None, repr=False)
    timeout_s: float | None = None
    behavior: ToolBehavior = "blocking"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise SchemaError(
                f"tool name {self.name!r} is invalid: it must start with a letter or underscore, "
                "contain only letters, digits, '_' or '-', and be at most 64 characters "
                "(the rule both OpenAI and Gemini accept)"
            )
        if not isinstance(self.description, str):
            raise SchemaError(
                f"tool {self.name!r}: description must be a str, got {type(self.description)}"
            )
        if self.func is not None and not callable(self.func):
            raise SchemaError(f"tool {self.name!r}: func must be callable, got {self.func!r}")
        if self.timeout_s is not None and (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or not self.timeout_s > 0
            or math.isinf(self.timeout_s)
        ):
            raise SchemaError(
                f"tool {self.name!r}: timeout_s must be a positive number of seconds or None, "
                f"got {self.timeout_s!r}"
            )
        if self.behavior not in ("blocking", "non_blocking"):
            raise SchemaError(
                f"tool {self.name!r}: behavior must be 'blocking' or 'non_blocking', "
                f"got {self.behavior!r}"
            )
        object.__setattr__(self, "parameters", _checked_parameters(self.name, self.parameters))

    def __hash__(self) -> int:
        # The generated hash would fail on the dict; equal tools still hash equal with this.
        return hash((self.name, self.description, self.behavior, self.timeout_s))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the implementation, so `@tool` keeps the decorated function usable directly."""
        if self.func is None:
            raise TypeError(f"tool {self.name!r} has no implementation (func is None)")
        return self.func(*args, **kwargs)

    @classmethod
    def from_callable(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        behavior: ToolBehavior = "blocking",
    ) -> Tool:
        """Build a tool from a (sync or async) function's signature, type hints and docstring.

        The first docstring paragraph becomes the description unless `description` is given;
        per-argument descriptions come from `Annotated[X, "text"]` or an `Args:` (Google),
        `Parameters` (NumPy) or `:param x:` (reST) docstring section.
        """
        if isinstance(func, Tool):
            raise TypeError(f"{func.name!r} is already a Tool; pass it directly")
        tool_name = name if name is not None else getattr(func, "__name__", None)
        if not isinstance(tool_name, str):
            raise TypeError(f"cannot infer a tool name from {func!r}; pass name=...")
        summary, _ = _parse_docstring(inspect.getdoc(func))
        parameters = json_schema_for_callable(func, tool_name=tool_name)
        return cls(
            name=tool_name,
            description=summary if description is None else description,
            parameters=parameters,
            func=func,
            timeout_s=timeout_s,
            behavior=behavior,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        func: Callable[..., Any] | None = None,
        timeout_s: float | None = None,
        behavior: ToolBehavior = "blocking",
    ) -> Tool:
        """Build a tool from a hand-written JSON Schema (None means "no arguments")."""
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        return cls(
            name=name,
            description=description,
            parameters=parameters,
            func=func,
            timeout_s=timeout_s,
            behavior=behavior,
        )


def _checked_parameters(name: str, parameters: Any) -> dict[str, Any]:
    """Copy `parameters` and check it describes an object, so wire errors surface at definition."""
    if not isinstance(parameters, Mapping):
        raise SchemaError(
            f"tool {name!r}: parameters must be a JSON Schema object (a mapping), "
            f"got {type(parameters).__name__}"
        )
    try:
        copied: dict[str, Any] = json.loads(json.dumps(parameters, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"tool {name!r}: parameters must be JSON-serializable: {exc}") from exc
    if copied.get("type") != "object":
        raise SchemaError(
            f'tool {name!r}: parameters must be an object schema with "type": "object" '
            f"(lowercase JSON Schema), got type {copied.get('type')!r}"
        )
    props = copied.get("properties", {})
    if not isinstance(props, dict):
        raise SchemaError(f"tool {name!r}: parameters.properties must be a mapping")
    required = copied.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError(f"tool {name!r}: parameters.required must be a list of names")
    unknown = [r for r in required if r not in props]
    if unknown and "properties" in copied:
        raise SchemaError(
            f"tool {name!r}: required names {unknown} are not in properties "
            f"{sorted(props)}; fix the typo or add the property"
        )
    return copied


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    behavior: ToolBehavior = "blocking",
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    behavior: ToolBehavior = "blocking",
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator: `@tool` or `@tool(timeout_s=2, behavior="non_blocking")` turns a function into
    a `Tool` (still callable; `.func` is the original sync or async function)."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool.from_callable(
            f, name=name, description=description, timeout_s=timeout_s, behavior=behavior
        )

    return wrap if func is None else wrap(func)


# --------------------------------------------------------------------------------------------
# JSON Schema from Python type hints
# --------------------------------------------------------------------------------------------


def json_schema_for_callable(func: Callable[..., Any], *, tool_name: str | None = None) -> dict:
    """The JSON Schema object describing `func`'s keyword arguments.

    Every parameter needs a supported annotation: guessing a type for an unannotated parameter
    would give the model a schema that promises nothing, so that is an error too.
    """
    label = str(tool_name or getattr(func, "__name__", repr(func)))
    try:
        sig = inspect.signature(func, eval_str=True)
    except NameError as exc:
        raise TypeError(
            f"tool {label!r}: could not resolve a type annotation ({exc}); define the types "
            "at module level so they can be resolved from string annotations"
        ) from exc
    _, arg_docs = _parse_docstring(inspect.getdoc(func))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"tool {label!r}: parameter {pname!r} is *args/**kwargs, which a JSON Schema "
                "cannot describe; list the arguments explicitly"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(
                f"tool {label!r}: parameter {pname!r} is positional-only, but tools are "
                "called with keyword arguments; remove the '/' from the signature"
            )
        if param.annotation is inspect.Parameter.empty:
            raise TypeError(
                f"tool {label!r}: parameter {pname!r} has no type annotation; annotate it "
                f"(e.g. {pname}: str) so the model knows what to send"
            )
        builder = _SchemaBuilder(label)
        schema, optional = builder.build(param.annotation, pname)
        if pname in arg_docs and "description" not in schema:
            schema["description"] = arg_docs[pname]
        has_default = param.default is not inspect.Parameter.empty
        if has_default:
            default = _json_default(param.default)
            if default is not None:
                schema["default"] = default
        if not has_default and not optional:
            required.append(pname)
        properties[pname] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result


def _json_default(value: Any) -> Any:
    """A parameter default as JSON, or None when it has no faithful JSON form (then omitted)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return None


class _SchemaBuilder:
    """Translates one annotation into JSON Schema, tracking nested types to refuse recursion."""

    def __init__(self, tool_name: str) -> None:
        self.tool_name = tool_name
        self.stack: list[type] = []

    def fail(self, where: str, tp: Any, why: str) -> TypeError:
        return TypeError(
            f"tool {self.tool_name!r}: parameter {where!r} has unsupported type "
            f"{_type_name(tp)}: {why}"
        )

    def build(self, tp: Any, where: str) -> tuple[dict[str, Any], bool]:
        """Return (schema, optional); optional is True when the annotation admits None."""
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            base, *meta = typing.get_args(tp)
            schema, optional = self.build(base, where)
            for m in meta:
                if isinstance(m, str):
                    schema["description"] = m
                elif isinstance(m, Mapping):
                    schema.update(copy.deepcopy(dict(m)))
            return schema, optional
        if origin in (typing.Union, types.UnionType):
            args = typing.get_args(tp)
            non_null = [a for a in args if a is not type(None)]
            optional = len(non_null) != len(args)
            if len(non_null) == 1:
                schema, inner_optional = self.build(non_null[0], where)
            else:
                built = [self.build(a, where) for a in non_null]
                inner_optional = any(o for _, o in built)
                schema = {"anyOf": [s for s, _ in built]}
            if optional:
                schema = _make_nullable(schema)
            return schema, optional or inner_optional
        if origin is Literal:
            return self._literal(tp, where)
        if tp is Any or tp is object:
            raise self.fail(where, tp, "give a concrete type such as str, int or a TypedDict")
        if tp is type(None) or tp is None:
            raise self.fail(where, tp, "None alone is not a useful argument; use X | None")
        if tp is bool:
            return {"type": "boolean"}, False
        if tp is int:
            return {"type": "integer"}, False
        if tp is float:
            return {"type": "number"}, False
        if tp is str:
            return {"type": "string"}, False
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._enum(tp, where), False
        if origin in (list, set, frozenset, Sequence, typing.Sequence) or tp in (list, tuple, set):
            args = typing.get_args(tp)
            if not args:
                raise self.fail(where, tp, "give the item type, e.g. list[str]")
            items, _ = self.build(args[0], f"{where}[]")
            schema = {"type": "array", "items": items}
            if origin in (set, frozenset):
                schema["uniqueItems"] = True
            return schema, False
        if origin is tuple:
            args = typing.get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                items, _ = self.build(args[0], f"{where}[]")
                return {"type": "array", "items": items}, False
            if not args or args == ((),):
                raise self.fail(where, tp, "give the item types, e.g. tuple[float, float]")
            subs = [self.build(a, f"{where}[{i}]")[0] for i, a in enumerate(args)]
            n = len(subs)
            if all(s == subs[0] for s in subs):
                return {"type": "array", "items": subs[0], "minItems": n, "maxItems": n}, False
            return {"type": "array", "prefixItems": subs, "minItems": n, "maxItems": n}, False
        if origin in (dict, Mapping, typing.Mapping) or tp is dict:
            args = typing.get_args(tp)
            if len(args) != 2:
                raise self.fail(where, tp, "give key and value types, e.g. dict[str, int]")
            if args[0] is not str:
                raise self.fail(where, tp, "JSON object keys are strings; use dict[str, X]")
            values, _ = self.build(args[1], f"{where}{{}}")
            return {"type": "object", "additionalProperties": values}, False
        if typing.is_typeddict(tp):
            return self._typeddict(tp, where), False
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tp, where), False
        if origin is CallableABC or tp is CallableABC:
            raise self.fail(where, tp, "a model cannot send a function")
        raise self.fail(
            where,
            tp,
            "supported are str, int, float, bool, Literal, Enum, list/tuple/set, dict[str, X], "
            "X | None, Annotated, TypedDict and dataclasses",
        )

    def _literal(self, tp: Any, where: str) -> tuple[dict[str, Any], bool]:
        values = list(typing.get_args(tp))
        optional = None in values
        values = [v for v in values if v is not None]
        schema = self._enum_schema(values, where, tp)
        return (_make_nullable(schema) if optional else schema), optional

    def _enum(self, tp: type[enum.Enum], where: str) -> dict[str, Any]:
        schema = self._enum_schema([m.value for m in tp], where, tp)
        return schema

    def _enum_schema(self, values: list[Any], where: str, tp: Any) -> dict[str, Any]:
        if not values:
            raise self.fail(where, tp, "an empty set of choices")
        if all(isinstance(v, str) for v in values):
            return {"type": "string", "enum": values}
        if all(isinstance(v, bool) for v in values):
            return {"type": "boolean", "enum": values}
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return {"type": "integer", "enum": values}
        raise self.fail(where, tp, "choices must all be str, all int, or all bool")

    def _nested(self, tp: type, where: str) -> None:
        if tp in self.stack:
            raise self.fail(where, tp, "recursive types cannot be inlined into a tool schema")

    def _fields_of(self, tp: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Start inlining the record type `tp` (pushed on the stack, recursion refused): its
        field annotations and the field descriptions of its docstring."""
        self._nested(tp, where)
        self.stack.append(tp)
        try:
            hints = typing.get_type_hints(tp, include_extras=True)
        except NameError as exc:
            raise self.fail(where, tp, f"could not resolve its field annotations ({exc})") from exc
        _, docs = _parse_docstring(inspect.getdoc(tp))
        return hints, docs

    def _typeddict(self, tp: Any, where: str) -> dict[str, Any]:
        hints, docs = self._fields_of(tp, where)
        required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset(hints))
        props: dict[str, Any] = {}
        required: list[str] = []
        for key, hint in hints.items():
            base, is_required = hint, key in required_keys
            # Read the wrappers too: with string annotations (PEP 563) __required_keys__
            # does not see NotRequired[...] on Python 3.11.
            while typing.get_origin(base) in (typing.NotRequired, typing.Required):
                is_required = typing.get_origin(base) is typing.Required
                base = typing.get_args(base)[0]
            sub, optional = self.build(base, f"{where}.{key}")
            if key in docs and "description" not in sub:
                sub["description"] = docs[key]
            props[key] = sub
            if is_required and not optional:
                required.append(key)
        self.stack.pop()
        return _object_schema(tp, props, required)

    def _dataclass(self, tp: type, where: str) -> dict[str, Any]:
        hints, docs = self._fields_of(tp, where)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            sub, optional = self.build(hints[f.name], f"{where}.{f.name}")
            if f.name in docs and "description" not in sub:
                sub["description"] = docs[f.name]
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if f.default is not dataclasses.MISSING:
                default = _json_default(f.default)
                if default is not None:
                    sub["default"] = default
            props[f.name] = sub
            if not has_default and not optional:
                required.append(f.name)
        self.stack.pop()
        return _object_schema(tp, props, required)


def _object_schema(tp: type, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    doc = tp.__dict__.get("__doc__")
    summary, _ = _parse_docstring(doc)
    # dataclasses synthesise "Name(field: type, ...)" as a docstring; that is not a description.
    if summary and not summary.startswith(f"{tp.__name__}("):
        schema["description"] = summary
    return schema


def _make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Admit null: extend `type` (and `enum`, which would otherwise still reject null)."""
    t = schema.get("type")
    if isinstance(t, str) and "anyOf" not in schema:
        schema["type"] = [t, "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if "anyOf" in schema and len(schema) == 1:
        schema["anyOf"] = [*schema["anyOf"], {"type": "null"}]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


# --------------------------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------------------------

_GOOGLE_HEADERS = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Attributes):\s*$"
)
_ANY_GOOGLE_HEADER = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_HEADERS = {"Parameters", "Other Parameters", "Attributes"}
_REST_PARAM = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?(\w+):\s*(.*)$"
)


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return (first paragraph, {argument: description}) from Google, NumPy or reST docstrings.

    Why parse at all: per-argument descriptions are what the model reads when it decides what
    to put in each argument, and people already write them in their docstrings.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(":") or _GOOGLE_HEADERS.match(stripped):
            break
        if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            break
        summary.append(stripped)
    params: dict[str, str] = {}
    params.update(_google_args(lines))
    params.update(_numpy_args(lines))
    params.update(_rest_args(lines))
    return " ".join(summary), params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_args(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        if not _GOOGLE_HEADERS.match(lines[i].strip()):
            i += 1
            continue
        header_indent = _indent(lines[i])
        i += 1
        entry_indent: int | None = None
        current: str | None = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= header_indent:
                break
            if not line.strip():
                i += 1
                continue
            ind = _indent(line)
            if entry_indent is None:
                entry_indent = ind
            m = _GOOGLE_ENTRY.match(line.strip())
            if ind == entry_indent and m:
                current = m.group(1)
                out[current] = m.group(2).strip()
            elif current is not None:
                out[current] = f"{out[current]} {line.strip()}".strip()
            i += 1
    return out


def _numpy_args(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i + 1 < len(lines):
        if lines[i].strip() not in _NUMPY_HEADERS or set(lines[i + 1].strip()) != {"-"}:
            i += 1
            continue
        base = _indent(lines[i])
        i += 2
        names: list[str] = []
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if i + 1 < len(lines) and stripped and set(lines[i + 1].strip()) == {"-"}:
                break  # next section header
            if not stripped:
                i += 1
                continue
            if _indent(line) == base:
                names = [n.strip().lstrip("*") for n in stripped.split(":")[0].split(",")]
                for n in names:
                    out[n] = ""
            else:
                for n in names:
                    out[n] = f"{out[n]} {stripped}".strip()
            i += 1
    return out


def _rest_args(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        m = _REST_PARAM.match(stripped)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current is not None and stripped and not stripped.startswith(":") and _indent(line):
            out[current] = f"{out[current]} {stripped}"
        else:
            current = None
    return out


# --------------------------------------------------------------------------------------------
# Wire shapes: each provider's folder translates; this asks the registry which one
# --------------------------------------------------------------------------------------------


def wire_tool(tool: Tool, provider: str) -> dict[str, Any]:
    """`tool` as `provider`'s tool declaration, exactly as its codec sends it.

    A convenience for notebooks and tests that compare providers: the translation itself lives
    in the provider's folder (`realtimelab/providers/<name>/tools.py`), found through the
    provider registry, so a newly registered provider works here too.
    """
    from realtimelab.providers.registry import get  # lazy: the registry loads the providers

    return get(provider).wire_tool(tool)


# --------------------------------------------------------------------------------------------
# JSON arguments -> the Python values the function's annotations promise
# --------------------------------------------------------------------------------------------


def coerce_arguments(tool: Tool, args: Mapping[str, Any]) -> dict[str, Any]:
    """`args` (already valid JSON per `validate_arguments`) converted to the function's types.

    Why: a function annotated `unit: Unit` or `where: Point` would otherwise receive the JSON
    string or dict the model sent. Enums are built from their values, dataclasses from their
    fields, tuples/sets from arrays, ints widened to float where float is annotated; anything
    else (and every argument of a tool without a Python function) passes through unchanged.
    A value that cannot be converted raises ValueError naming the argument.
    """
    out = dict(args)
    if tool.func is None:
        return out
    try:
        params = inspect.signature(tool.func, eval_str=True).parameters
    except (TypeError, ValueError, NameError):
        return out
    for name, value in args.items():
        param = params.get(name)
        if param is None or param.annotation is inspect.Parameter.empty:
            continue
        try:
            out[name] = _coerce(param.annotation, value)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"argument {name!r}: cannot convert {value!r}: {exc}") from exc
    return out


def _coerce(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _coerce(args[0], value)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        return _coerce(non_null[0], value) if len(non_null) == 1 else value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return value if isinstance(value, tp) else tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        hints = typing.get_type_hints(tp, include_extras=True)
        return tp(**{k: _coerce(hints.get(k, Any), v) for k, v in value.items()})
    if typing.is_typeddict(tp) and isinstance(value, Mapping):
        hints = typing.get_type_hints(tp)
        return {k: _coerce(hints.get(k, Any), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(args[0], v) for v in value)
            return tuple(_coerce(a, v) for a, v in zip(args, value, strict=False))
        if origin in (list, set, frozenset, Sequence) and args:
            items = [_coerce(args[0], v) for v in value]
            return items if origin in (list, Sequence) else origin(items)
    if origin in (dict, Mapping) and len(args) == 2 and isinstance(value, Mapping):
        return {k: _coerce(args[1], v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------


def validate_arguments(tool: Tool, args: Any) -> list[str]:
    """Problems with `args` against `tool.parameters`, as sentences a model can act on.

    An empty list means valid. Keys the schema does not declare are reported when
    `additionalProperties` is false, and also at the top level of a tool backed by a Python
    function (calling it with an unexpected keyword would only raise a TypeError later).
    """
    problems: list[str] = []
    if not isinstance(args, Mapping):
        return [f"arguments must be a JSON object, got {_json_type(args)}"]
    params = tool.parameters
    defs = params.get("$defs", params.get("definitions", {}))
    strict_top = tool.func is not None and "additionalProperties" not in params
    _Validator(defs, problems).check(params, args, "", strict_top)
    return problems


class _Validator:
    def __init__(self, defs: Mapping[str, Any], problems: list[str]) -> None:
        self.defs = defs
        self.problems = problems

    def add(self, path: str, msg: str) -> None:
        self.problems.append(f"argument {path!r}: {msg}" if path else msg)

    def check(self, schema: Any, value: Any, path: str, strict: bool = False) -> None:
        if not isinstance(schema, Mapping):
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in self.defs:
                self.check(self.defs[name], value, path, strict)
        for sub in schema.get("allOf", []):
            self.check(sub, value, path)
        if value is None and schema.get("nullable") is True:
            return
        t = schema.get("type")
        if t is not None:
            kinds = [str(k).lower() for k in (t if isinstance(t, list) else [t])]
            if not any(_is_type(value, k) for k in kinds):
                self.add(path, f"expected {' or '.join(kinds)}, got {_describe(value)}")
                return
        if "enum" in schema and not any(_json_eq(value, e) for e in schema["enum"]):
            self.add(path, f"{_describe(value)} is not one of {schema['enum']!r}")
        if "const" in schema and not _json_eq(value, schema["const"]):
            self.add(path, f"must be {schema['const']!r}, got {_describe(value)}")
        for key, kw in (("anyOf", "any"), ("oneOf", "exactly one")):
            if key in schema:
                hits = sum(1 for s in schema[key] if not self._errors(s, value, path))
                if (kw == "any" and hits == 0) or (kw != "any" and hits != 1):
                    self.add(path, f"{_describe(value)} does not match {kw} of the allowed shapes")
        if isinstance(value, str):
            self._string(schema, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._number(schema, value, path)
        elif isinstance(value, list | tuple):
            self._array(schema, list(value), path)
        elif isinstance(value, Mapping):
            self._object(schema, value, path, strict)

    def _errors(self, schema: Any, value: Any, path: str) -> list[str]:
        sub: list[str] = []
        _Validator(self.defs, sub).check(schema, value, path)
        return sub

    def _string(self, schema: Mapping[str, Any], value: str, path: str) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.add(path, f"must be at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"must be at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            self.add(path, f"{value!r} does not match pattern {schema['pattern']!r}")

    def _number(self, schema: Mapping[str, Any], value: float, path: str) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            self.add(path, f"must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            self.add(path, f"must be <= {schema['maximum']}, got {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            self.add(path, f"must be > {schema['exclusiveMinimum']}, got {value}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            self.add(path, f"must be < {schema['exclusiveMaximum']}, got {value}")

    def _array(self, schema: Mapping[str, Any], value: list[Any], path: str) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.add(path, f"needs at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.add(path, f"allows at most {schema['maxItems']} items, got {len(value)}")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            self.check(sub, item, f"{path}[{i}]")
        if schema.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True, default=str) for v in value]
            if len(set(seen)) != len(seen):
                self.add(path, "items must be unique")

    def _object(
        self, schema: Mapping[str, Any], value: Mapping[str, Any], path: str, strict: bool
    ) -> None:
        props: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                where = f"{path}.{name}" if path else name
                self.problems.append(f"missing required argument {where!r}")
        extra = schema.get("additionalProperties", None)
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in props:
                self.check(props[key], item, where)
            elif extra is False or (extra is None and strict):
                allowed = ", ".join(props) or "none"
                self.problems.append(f"unexpected argument {where!r} (allowed: {allowed})")
            elif isinstance(extra, Mapping):
                self.check(extra, item, where)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list | tuple)
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "null":
        return value is None
    return True  # unknown type names are not ours to police


def _json_eq(a: Any, b: Any) -> bool:
    """Equality in JSON terms: True is not 1, and 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{_json_type(value)} {text}"
