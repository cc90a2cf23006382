"""JSON Schema checks: a tool's `parameters` when saved (a valid, bounded object schema) and the model's arguments
before any call."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_SCHEMA_BYTES = 16 * 1024
MAX_SCHEMA_DEPTH = 8
_MAX_JSON_DEPTH = MAX_SCHEMA_DEPTH * 2  # every schema level is two JSON levels (properties -> name)


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [str(value["$ref"])] if "$ref" in value else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` cannot be a tool's parameters (None: it can)."""
    try:
        size = len(orjson.dumps(schema))
    except (TypeError, orjson.JSONEncodeError):
        return "parameters holds a value JSON cannot carry (a number out of range?)"
    if size > MAX_SCHEMA_BYTES:
        return f"parameters is larger than {MAX_SCHEMA_BYTES} bytes"
    if _depth(schema) > _MAX_JSON_DEPTH:
        return f"parameters nests deeper than {MAX_SCHEMA_DEPTH} levels"
    if schema.get("type") != "object":
        return 'parameters must be a JSON Schema with "type": "object"'
    if any(not ref.startswith("#") for ref in _refs(schema)):
        return "parameters may only $ref inside itself (#/...): nothing is fetched"
    try:
        Draft202012Validator.check_schema(schema)
        next(iter(Draft202012Validator(schema).iter_errors({})), None)  # compiles its patterns and refs once
    except SchemaError as exc:
        return f"parameters is not a valid JSON Schema: {exc.message[:300]}"
    except Exception as exc:  # noqa: BLE001 - a bad regex, an unresolvable $ref, a recursion: all the tenant's
        return f"parameters cannot be used to check arguments ({type(exc).__name__})"
    return None


@lru_cache(maxsize=512)
def _validator(schema_json: bytes) -> Draft202012Validator:
    return Draft202012Validator(orjson.loads(schema_json))


def arguments_problem(schema: dict[str, Any], arguments: Any) -> str | None:
    """Why the model's arguments do not fit the tool's schema (None: they do)."""
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"
    try:
        validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
        error = next(iter(validator.iter_errors(arguments)), None)
    except Exception as exc:  # noqa: BLE001 - a schema saved before a check existed must not crash a call
        return f"the tool's parameters schema cannot check these arguments ({type(exc).__name__})"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"invalid arguments at {where}: {error.message[:300]}"
