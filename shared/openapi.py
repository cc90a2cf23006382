"""The error answers of every operation in the OpenAPI document: which problem+json statuses a route really returns.

FastAPI only documents the success answer and a 422 shaped like its own validation error. Our handlers answer every
error as `application/problem+json` (shared/errors.py), and each route's dependencies say what it can refuse: a
dependency marked with `raises(...)` (authentication 401, a scope/role/tenant guard 403, a page cursor 400) adds its
statuses to every route that uses it; a request body adds 400 (unparsable) and 422; a path parameter adds 404 (no
such object, or another tenant's). What is particular to one route is declared on it with `responses=`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import orjson
from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from shared.errors import PROBLEM_JSON

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"

DESCRIPTIONS = {
    400: "Malformed request (unparsable body, invalid cursor)",
    401: "Missing or invalid credentials",
    403: "Not allowed for this caller (scope, role, tenant or superuser)",
    404: "No such object (or it belongs to another tenant)",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Rate limited; see Retry-After",
}


class ProblemFieldError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error the API answers."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


class ValidationProblem(Problem):
    """A 422: the problem plus one entry per invalid field."""

    errors: list[ProblemFieldError]


def operation_id(route: APIRoute) -> str:
    """`<tag>-<function name>`: short, stable names a generated client turns into `assistants_create_assistant`."""
    return f"{route.tags[0] if route.tags else 'default'}-{route.name}"


def raises(*statuses: int) -> Callable[[F], F]:
    """Mark a dependency with the error statuses it answers, so every route using it documents them."""

    def mark(fn: F) -> F:
        fn.problem_statuses = tuple(statuses)  # type: ignore[attr-defined]
        return fn

    return mark


def problem_schemas() -> dict[str, Any]:
    """JSON schemas of Problem and ValidationProblem, for `components.schemas`."""
    out: dict[str, Any] = {}
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def problem_content(status: int) -> dict[str, Any]:
    model = ValidationProblem if status == 422 else Problem
    return {PROBLEM_JSON: {"schema": {"$ref": REF.format(model=model.__name__)}}}


def api_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every API route, also inside included routers (FastAPI >= 0.16x keeps those as branches)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (r for r in routes if isinstance(r, APIRoute))
        return
    for context in contexts(list(routes)):
        if isinstance(context.original_route, APIRoute):
            yield context


def route_problem_statuses(route: Any) -> set[int]:
    """The error statuses this route answers by construction: its dependencies, its body, its path parameters."""
    statuses: set[int] = set()

    def walk(dep: Dependant) -> None:
        statuses.update(getattr(dep.call, "problem_statuses", ()))
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    if route.body_field is not None:
        statuses |= {400, 422}
    if route.dependant.path_params:
        statuses.add(404)
    if route.dependant.query_params or route.dependant.header_params or route.dependant.path_params:
        statuses.add(422)
    return statuses


def document_problems(doc: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Add each route's error statuses to `doc` and describe every 4xx/5xx answer as problem+json, in place."""
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        item = doc.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            op = item.get(method.lower())
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            for status in sorted(route_problem_statuses(route)):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict):
                describe_problem_answers(op)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, which we never send
        if unused in schemas and f'"{REF.format(model=unused)}"' not in orjson.dumps(doc).decode():
            schemas.pop(unused)
    return doc


def describe_problem_answers(op: dict[str, Any]) -> None:
    """Every error answer of `op` is a problem+json document (the handlers in shared/errors.py see to it)."""
    for code, response in op.get("responses", {}).items():
        if code.isdigit() and int(code) >= 400 and isinstance(response, dict):
            response["content"] = problem_content(int(code))
            response.setdefault("description", DESCRIPTIONS.get(int(code), "Error (problem+json)"))
