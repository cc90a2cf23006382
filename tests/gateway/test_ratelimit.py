"""Rate limits: counted in Redis per identity and route group, 429 with headers, and a local fallback when
Redis is down (still serving, still limiting, and saying so in the logs)."""

from __future__ import annotations

import uuid

from devtools.embedded import EmbeddedRedis, free_port
from tests.gateway.conftest import serve_gateway

LIMITS = {
    "default": {"ip": "100/minute", "user": "3/minute", "api_key": "100/minute", "tenant": "6/minute"},
    "auth_public": {"ip": "2/minute"},
}


def _urls(upstreams) -> dict[str, str]:
    return {n: u for n, (_, u) in upstreams.items()}


async def test_429_with_headers_after_the_limit(stack, redis, upstreams, make_token):
    tenant = uuid.uuid4()
    alice = {"Authorization": f"Bearer {make_token(tenant_id=tenant)}"}
    bob = {"Authorization": f"Bearer {make_token(tenant_id=tenant)}"}
    carol = {"Authorization": f"Bearer {make_token(tenant_id=tenant)}"}
    async with serve_gateway(stack, _urls(upstreams), rate_limits=LIMITS) as gw:
        for _ in range(3):
            r = await gw.get("/api/v1/threads", headers=alice)
            assert r.status_code == 200
            assert r.headers["ratelimit-policy"] == "3;w=60"
        r = await gw.get("/api/v1/threads", headers=alice)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 429 and r.json()["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-limit"] == "3" and r.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
        assert r.headers["x-request-id"]
        # per user: bob and carol have their own budgets ... but the tenant's (6/minute) is shared; alice's
        # refused try counted against no limit (all or nothing), so the tenant has 3 left
        assert (await gw.get("/api/v1/threads", headers=bob)).status_code == 200
        assert (await gw.get("/api/v1/threads", headers=bob)).status_code == 200
        assert (await gw.get("/api/v1/threads", headers=carol)).status_code == 200
        r = await gw.get("/api/v1/threads", headers=carol)
        assert r.status_code == 429 and r.headers["ratelimit-limit"] == "6"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # anonymous public routes: per client IP in their own group
        assert (await gw.post("/api/v1/auth/login", json={})).status_code == 200
        assert (await gw.post("/api/v1/auth/login", json={})).status_code == 200
        assert (await gw.post("/api/v1/auth/token", data={})).status_code == 429
    assert len(upstreams["chat"][0].requests) == 6  # refused requests never reached the service
    tenant_key = f"LIMITS:LIMITER/gw/chat/tenant/{tenant}/6/1/minute"
    assert await redis.llen(tenant_key) == 6  # the counters live in Redis, in the `limits` moving-window layout


async def test_redis_down_keeps_serving_with_local_limits(stack, upstreams, make_token, tmp_path, capsys):
    own = EmbeddedRedis(tmp_path / "redis", port=free_port()).start()
    auth = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4())}"}
    limits = {"default": {"user": "4/minute"}}
    try:
        async with serve_gateway(stack, _urls(upstreams), redis_url=own.url, rate_limits=limits) as gw:
            assert (await gw.get("/api/v1/search", headers=auth)).status_code == 200
            own.stop()
            # Redis is gone: requests are still served ...
            for _ in range(4):
                r = await gw.get("/api/v1/search", headers=auth)
                assert r.status_code == 200, r.text
            # ... and still limited (the per-process fallback counts from zero)
            r = await gw.get("/api/v1/search", headers=auth)
            assert r.status_code == 429 and r.headers["retry-after"]
            ready = await gw.get("/ready", headers={"Authorization": f"Bearer {make_token(superuser=True)}"})
            assert ready.status_code == 200
            assert ready.json()["checks"]["redis"]["status"] == "degraded"
            assert (await gw.get("/health")).status_code == 200
    finally:
        own.stop()
    out = capsys.readouterr().out
    assert '"event":"rate_limit_redis_down"' in out and '"level":"error"' in out


async def test_script_reloads_after_redis_forgets_it(stack, redis, upstreams, make_token):
    """A restarted Redis has no cached scripts: EVALSHA says NOSCRIPT and the limiter loads it again."""
    auth = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4())}"}
    async with serve_gateway(stack, _urls(upstreams), rate_limits={"default": {"user": "3/minute"}}) as gw:
        assert (await gw.get("/api/v1/search", headers=auth)).status_code == 200
        await redis.script_flush()
        assert (await gw.get("/api/v1/search", headers=auth)).status_code == 200
        assert (await gw.get("/api/v1/search", headers=auth)).status_code == 200
        r = await gw.get("/api/v1/search", headers=auth)
        assert r.status_code == 429 and r.headers["ratelimit-limit"] == "3"
