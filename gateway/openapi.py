"""One OpenAPI document for the whole public API, merged from every upstream's /openapi.json.

Only paths the routing table sends to that upstream are kept (so `/internal`, `/health`, `/metrics` of the
services drop out); component names that clash between services are prefixed with the service name; every
operation gets the security the gateway enforces (bearer JWT, API key, OAuth2 password flow on
`/api/v1/auth/token`), public ones get none. Upstream documents are cached; an upstream that is down keeps its
last good copy, and is listed under `x-upstreams-unavailable` until it answers.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx
import orjson
import structlog

from gateway.routes import RoutingTable
from shared.openapi import describe_problem_answers, problem_schemas

log = structlog.get_logger("gateway.openapi")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SECURITY_SCHEMES = {
    "BearerJWT": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /api/v1/auth/login (or an API key, also as a bearer token).",
    },
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A tenant API key."},
    "OAuth2Password": {
        "type": "oauth2",
        "description": "Log in with e-mail and password (Swagger's Authorize button).",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
    },
}
SECURED = [{"BearerJWT": []}, {"ApiKey": []}, {"OAuth2Password": []}]


class MergedOpenAPI:
    def __init__(
        self,
        table: RoutingTable,
        upstreams: dict[str, str],
        http: httpx.AsyncClient,
        own: dict[str, Any],
        cache_seconds: float,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.http = http
        self.own = own
        self.cache_seconds = cache_seconds
        self._docs: dict[str, dict[str, Any]] = {}
        self._merged: bytes | None = None
        self._built_at = 0.0
        self._missing: list[str] = []
        self._lock = asyncio.Lock()

    async def document(self) -> bytes:
        """The merged document as JSON bytes, rebuilt at most every `cache_seconds` (sooner while one is missing)."""
        fresh = time.monotonic() - self._built_at < (self.cache_seconds if not self._missing else 2.0)
        if self._merged is not None and fresh:
            return self._merged
        async with self._lock:
            fresh = time.monotonic() - self._built_at < (self.cache_seconds if not self._missing else 2.0)
            if self._merged is None or not fresh:
                await self._refresh()
        assert self._merged is not None
        return self._merged

    async def _fetch(self, name: str, base: str) -> None:
        try:
            resp = await self.http.get(f"{base}/openapi.json", timeout=5)
            resp.raise_for_status()
            doc = resp.json()
            if not isinstance(doc, dict) or "paths" not in doc:
                raise ValueError("not an OpenAPI document")
            self._docs[name] = doc
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("openapi_fetch_failed", upstream=name, error=type(exc).__name__)

    async def _refresh(self) -> None:
        await asyncio.gather(*(self._fetch(n, b) for n, b in self.upstreams.items()))
        self._missing = [n for n in self.upstreams if n not in self._docs]
        merged = merge(self.own, self._docs, self.table)
        if self._missing:
            merged["x-upstreams-unavailable"] = self._missing
        self._merged = orjson.dumps(merged)
        self._built_at = time.monotonic()


def merge(own: dict[str, Any], docs: dict[str, dict[str, Any]], table: RoutingTable) -> dict[str, Any]:
    out = copy.deepcopy(own)
    out["openapi"] = own.get("openapi", "3.1.0")
    paths: dict[str, Any] = out.setdefault("paths", {})
    components: dict[str, Any] = out.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    tags: dict[str, dict[str, Any]] = {t["name"]: t for t in out.get("tags", [])}
    operation_ids: set[str] = {
        op["operationId"] for item in paths.values() for m, op in item.items() if m in METHODS and "operationId" in op
    }
    for name in sorted(docs):
        doc = copy.deepcopy(docs[name])
        renames = _component_renames(name, doc.get("components", {}), components)
        if renames:
            doc = _rewrite_refs(doc, renames)
        for section, entries in doc.get("components", {}).items():
            if section == "securitySchemes":
                continue  # the gateway's schemes describe what clients must send
            target = components.setdefault(section, {})
            for key, value in entries.items():
                target[renames.get((section, key), key)] = value
        for path, item in doc.get("paths", {}).items():
            if not table.paths_of(name, path):
                continue
            for method, op in item.items():
                if method not in METHODS or not isinstance(op, dict):
                    continue
                op.pop("security", None)
                if table.is_public(method.upper(), _concrete(path)):
                    op["security"] = []
                else:
                    op["security"] = SECURED
                _document_gateway_errors(op, path, secured=bool(op["security"]))
                op_id = op.get("operationId")
                if op_id and op_id in operation_ids:
                    op["operationId"] = f"{name}_{op_id}"
                if op.get("operationId"):
                    operation_ids.add(op["operationId"])
                op.setdefault("tags", [name])
            paths[path] = item
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas.update(problem_schemas())
    if not schemas:
        components.pop("schemas")
    if tags:
        out["tags"] = list(tags.values())
    out["paths"] = dict(sorted(paths.items()))
    return out


def _concrete(path_template: str) -> str:
    """`/webhooks/telegram/{channel_id}` -> a path the public-route matcher can judge."""
    return path_template.replace("{", "x").replace("}", "x")


def _document_gateway_errors(op: dict[str, Any], path: str, *, secured: bool) -> None:
    """What the gateway itself refuses before the service sees the request, all problem+json."""
    responses = op.setdefault("responses", {})
    if secured:
        responses.setdefault("401", {"description": "Missing or invalid credentials"})
    responses.setdefault("429", {"description": "Rate limited; see Retry-After and RateLimit-*"})
    if "{" in path:  # a path parameter of '.' or '..' is refused: it would climb out of the route
        responses.setdefault("400", {"description": "Malformed request (a '.' or '..' path segment)"})
    if "requestBody" in op:
        responses.setdefault("413", {"description": "Body larger than the gateway accepts for this route"})
    describe_problem_answers(op)


def _component_renames(
    service: str, theirs: dict[str, dict[str, Any]], ours: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], str]:
    renames = {}
    for section, entries in theirs.items():
        if section == "securitySchemes":
            continue
        existing = ours.get(section, {})
        for key, value in entries.items():
            if key in existing and existing[key] != value:
                renames[(section, key)] = f"{service}__{key}"
    return renames


def _rewrite_refs(node: Any, renames: dict[tuple[str, str], str]) -> Any:
    refs = {f"#/components/{s}/{k}": f"#/components/{s}/{v}" for (s, k), v in renames.items()}

    def walk(n: Any) -> Any:
        if isinstance(n, dict):
            return {k: (refs.get(v, v) if k == "$ref" and isinstance(v, str) else walk(v)) for k, v in n.items()}
        if isinstance(n, list):
            return [walk(v) for v in n]
        return n

    return walk(node)
