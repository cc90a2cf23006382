"""Routing, proxying and edge authentication against real upstream servers over HTTP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from devtools.embedded import free_port
from tests.gateway.conftest import serve_gateway
from tests.gateway.upstream import header

# (method, path, upstream that must receive it)
ROUTED = [
    ("GET", "/api/v1/auth/me", "auth"),
    ("GET", "/api/v1/tenants", "auth"),
    ("PATCH", "/api/v1/tenants/abc/secrets/x", "auth"),
    ("GET", "/api/v1/users", "auth"),
    ("DELETE", "/api/v1/api-keys/k1", "auth"),
    ("GET", "/api/v1/admin/logs", "auth"),
    ("GET", "/api/v1/assistants", "chat"),
    ("POST", "/api/v1/threads/t1/messages", "chat"),
    ("PATCH", "/api/v1/messages/m1", "chat"),
    ("POST", "/api/v1/chat", "chat"),
    ("GET", "/api/v1/contacts/c1/messages", "chat"),
    ("POST", "/api/v1/buffers/k/flush", "chat"),
    ("GET", "/api/v1/metrics", "chat"),
    ("POST", "/v1/chat/completions", "chat"),
    ("GET", "/v1/models", "chat"),
    ("GET", "/api/v1/channels/c1", "channels"),
    ("GET", "/api/v1/transcriptions/j1/export", "transcription"),
    ("POST", "/api/v1/search", "search"),
    ("GET", "/api/v1/documents", "search"),
]
PUBLIC = [
    ("POST", "/api/v1/auth/login", "auth"),
    ("POST", "/api/v1/auth/register", "auth"),
    ("POST", "/api/v1/auth/verify-email", "auth"),
    ("POST", "/api/v1/auth/refresh", "auth"),
    ("POST", "/api/v1/auth/token", "auth"),
    ("GET", "/.well-known/jwks.json", "auth"),
    ("POST", "/webhooks/telegram/c1", "channels"),
    ("POST", "/webhooks/twilio/c1/status", "channels"),
]


async def test_every_prefix_reaches_its_upstream(gw, upstreams, make_token):
    token = make_token(tenant_id=uuid.uuid4())
    for method, path, service in ROUTED:
        r = await gw.request(method, path + "?a=1&b=%2F", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, (path, r.text)
        seen = r.json()
        assert (seen["service"], seen["method"], seen["path"], seen["query"]) == (service, method, path, "a=1&b=%2F")
        assert r.headers["x-upstream"] == service
    for method, path, service in PUBLIC:
        r = await gw.request(method, path)  # no credentials at all
        assert r.status_code == 200, (path, r.text)
        assert r.json()["service"] == service


async def test_unknown_and_internal_paths_are_404_and_never_proxied(gw, upstreams, make_token):
    auth = {"Authorization": f"Bearer {make_token()}"}
    for path in (
        "/internal/v1/token-exchange",
        "/internal/v1/service-token",
        "/internal",
        "/api/v2/anything",
        "/api/v1/unknown",
    ):
        r = await gw.post(path, headers=auth, json={})
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    # dot segments can not be used to climb from a routed prefix into /internal
    r = await gw.post("/api/v1/auth/../../../internal/v1/service-token", json={})
    assert r.status_code in (400, 404)
    raw = httpx.Request("POST", gw.base_url.join("/x"))
    raw.url = raw.url.copy_with(raw_path=b"/api/v1/auth/%2e%2e/%2e%2e/%2e%2e/internal/v1/service-token")
    r = await gw.send(raw)
    assert r.status_code in (400, 404)
    assert not any(s["path"].startswith("/internal") for up, _ in upstreams.values() for s in up.requests)


async def test_401_without_or_with_bad_credentials(gw, upstreams, keys):
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {keys.mint(ttl=-10)}"},  # expired
        {"Authorization": f"Bearer {keys.mint(aud='someone-else')}"},
    ):
        r = await gw.get("/api/v1/threads", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["status"] == 401 and r.json()["detail"]
    assert upstreams["chat"][0].requests == []


async def test_jwt_passes_through_with_forwarded_headers_and_request_id(gw, upstreams, make_token):
    tenant = uuid.uuid4()
    token = make_token(tenant_id=tenant)
    r = await gw.post(
        "/api/v1/threads",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Request-ID": "req-123",
            "X-Forwarded-For": "6.6.6.6",  # a client can not claim another address
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "hop",
            "X-Custom": "kept",
        },
        json={"title": "hi"},
    )
    assert r.status_code == 200
    seen = r.json()
    assert header(seen, "authorization") == [f"Bearer {token}"]
    assert header(seen, "x-request-id") == ["req-123"]
    assert header(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert header(seen, "x-forwarded-proto") == ["http"]
    assert header(seen, "x-forwarded-host") == [gw.base_url.netloc.decode()]
    assert header(seen, "x-custom") == ["kept"] and header(seen, "x-drop-me") == []
    assert seen["body_bytes"] == len(b'{"title":"hi"}')
    # answer: one request id, hop-by-hop headers of the upstream dropped, security headers added
    assert r.headers.get_list("x-request-id") == ["req-123"]
    assert "x-secret-hop" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert len(r.headers.get_list("date")) == 1


async def test_upstream_status_and_body_pass_through(gw, upstreams, make_token):
    auth = {"Authorization": f"Bearer {make_token()}"}
    r = await gw.get("/api/v1/search?status=409", headers=auth)
    assert r.status_code == 409 and r.json()["service"] == "search"
    r = await gw.head("/api/v1/documents", headers=auth)
    assert r.status_code == 200 and r.content == b""


async def test_upstream_down_is_503_problem(stack, redis, upstreams, make_token):
    urls = {n: u for n, (_, u) in upstreams.items()} | {"search": f"http://127.0.0.1:{free_port()}"}
    async with serve_gateway(stack, urls) as gw:
        r = await gw.post("/api/v1/search", headers={"Authorization": f"Bearer {make_token()}"}, json={})
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 503 and "search" in body["detail"]
        assert r.headers["x-request-id"]
        # /ready names the upstream that is down, with the state and latency of the others (to an operator)
        r = await gw.get("/ready")
        assert r.status_code == 503 and "checks" not in r.json() and "search" not in r.text
        r = await gw.get("/ready", headers={"Authorization": f"Bearer {make_token(superuser=True)}"})
        assert r.status_code == 503
        checks = r.json()["checks"]
        assert checks["search"]["status"] == "down"
        assert checks["chat"]["status"] == "ok" and checks["chat"]["latency_ms"] >= 0
        assert checks["redis"]["status"] == "ok"


async def test_ready_lists_every_upstream(gw, make_token):
    r = await gw.get("/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready"}, r.text
    r = await gw.get("/ready", headers={"Authorization": f"Bearer {make_token()}"})
    assert r.json() == {"status": "ready"}, r.text
    r = await gw.get("/ready", headers={"Authorization": f"Bearer {make_token(superuser=True)}"})
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert {"auth", "chat", "channels", "transcription", "search", "redis"} == set(checks)
    for name in ("auth", "chat", "channels", "transcription", "search"):
        assert checks[name]["status"] == "ok" and checks[name]["url"].startswith("http://127.0.0.1:")
        assert isinstance(checks[name]["latency_ms"], float)
    assert (await gw.get("/health")).json()["status"] == "ok"
    metrics = (await gw.get("/metrics")).text
    assert "http_requests_total" in metrics


async def test_upstream_timeout_is_504(stack, redis, upstreams, make_token):
    urls = {n: u for n, (_, u) in upstreams.items()}
    async with serve_gateway(stack, urls, read_timeout=0.3) as gw:
        r = await gw.get("/api/v1/search/slow?s=2", headers={"Authorization": f"Bearer {make_token()}"})
        assert r.status_code == 504
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 504


async def test_oversized_body_is_413(stack, redis, upstreams, make_token):
    urls = {n: u for n, (_, u) in upstreams.items()}
    auth = {"Authorization": f"Bearer {make_token()}"}
    async with serve_gateway(stack, urls, max_body_bytes=4096, max_upload_bytes=100_000) as gw:
        # declared too large: refused before the upstream is contacted
        r = await gw.post("/api/v1/search", headers=auth, content=b"x" * 5000)
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")

        # streamed without a length: cut off once it passes the limit
        async def chunks():
            for _ in range(50):
                yield b"y" * 4096

        r = await gw.post("/api/v1/transcriptions", headers=auth, content=chunks())
        assert r.status_code == 413
        # upload routes take more than API routes
        r = await gw.post("/api/v1/transcriptions", headers=auth, content=b"z" * 50_000)
        assert r.status_code == 200 and r.json()["body_bytes"] == 50_000
    assert not any(s["path"] == "/api/v1/search" for s in upstreams["search"][0].requests)


async def test_sse_arrives_event_by_event(gw, upstreams, make_token):
    chat = upstreams["chat"][0]
    auth = {"Authorization": f"Bearer {make_token()}", "Accept": "text/event-stream"}
    async with gw.stream("POST", "/api/v1/threads/t1/sse", headers=auth) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()
        first = await asyncio.wait_for(_next_event(lines), timeout=5)
        assert first == ["event: delta", "data: first"]
        assert not chat.stream_finished.is_set()  # the upstream is still holding the rest back
        chat.release_stream.set()
        rest = [await asyncio.wait_for(_next_event(lines), timeout=5) for _ in range(2)]
        assert rest == [["event: delta", "data: second"], ["event: done", "data: {}"]]


async def _next_event(lines) -> list[str]:
    event = []
    async for line in lines:
        if line == "":
            if event:
                return event
            continue
        event.append(line)
    return event


@pytest.mark.parametrize("origin,allowed", [("https://app.example.com", True), ("https://evil.example", False)])
async def test_cors_from_settings(stack, redis, upstreams, origin, allowed):
    urls = {n: u for n, (_, u) in upstreams.items()}
    async with serve_gateway(stack, urls, cors_origins=["https://app.example.com"]) as gw:
        r = await gw.options(
            "/api/v1/threads",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        if allowed:
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
        else:
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        # a real request from the allowed origin sees the headers it needs
        r = await gw.get("/health", headers={"Origin": origin})
        assert ("access-control-allow-origin" in r.headers) is allowed
        if allowed:
            assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
