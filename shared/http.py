"""Outgoing HTTP: one pooled httpx client per process that forwards the current request id."""

from __future__ import annotations

import httpx
import structlog

REQUEST_ID_HEADER = "X-Request-ID"


async def _forward_request_id(request: httpx.Request) -> None:
    rid = structlog.contextvars.get_contextvars().get("request_id")
    if rid and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = rid


def create_http_client(timeout: float = 10.0, **kw) -> httpx.AsyncClient:
    hooks = kw.pop("event_hooks", {})
    hooks.setdefault("request", []).append(_forward_request_id)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        event_hooks=hooks,
        **kw,
    )
