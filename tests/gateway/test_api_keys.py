"""The API-key path end to end: the real auth service (over HTTP, committed database) behind the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from jose import jwt

from services.auth.app import create_app as create_auth_app
from services.auth.config import AuthSettings
from tests.gateway.conftest import serve_gateway
from tests.gateway.upstream import header
from tests.support.plugin import serve_app

PASSWORD = "correct-horse-battery"


@contextlib.asynccontextmanager
async def auth_and_gateway(stack, upstreams, **gateway_overrides):
    auth_settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    async with serve_app(create_auth_app(auth_settings)) as auth_url:
        urls = {n: u for n, (_, u) in upstreams.items()} | {"auth": auth_url}
        async with serve_gateway(stack, urls, auth_url=auth_url, **gateway_overrides) as gw:
            yield gw


async def _tenant_admin(gw) -> dict[str, str]:
    """Sign up with a tenant and log in through the Swagger (OAuth2 password form) route of the gateway."""
    email = f"gw{uuid.uuid4().hex[:8]}@example.com"
    r = await gw.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Gate Keeper", "tenant_name": "Gate Co"},
    )
    assert r.status_code == 201, r.text
    r = await gw.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_api_key_exchanged_at_the_edge_and_revocation_stops_it(stack, redis, committed_db, upstreams):
    async with auth_and_gateway(stack, upstreams, api_key_cache_seconds=1.5) as gw:
        admin = await _tenant_admin(gw)
        me = await gw.get("/api/v1/auth/me", headers=admin)  # a JWT through the gateway to the real auth
        assert me.status_code == 200, me.text
        r = await gw.post("/api/v1/api-keys", headers=admin, json={"name": "ci", "scopes": ["read"]})
        assert r.status_code == 201, r.text
        key, key_id = r.json()["key"], r.json()["id"]

        chat = upstreams["chat"][0]
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            r = await gw.get("/v1/models", headers=headers)
            assert r.status_code == 200, r.text
            seen = chat.requests[-1]
            assert header(seen, "x-api-key") == []  # the key never reaches a service
            (authorization,) = header(seen, "authorization")
            assert key not in authorization
            claims = jwt.get_unverified_claims(authorization.removeprefix("Bearer "))
            assert claims["sub"] == f"key:{key_id}" and claims["scopes"] == ["read"] and claims["role"] is None
            assert claims["tid"] == me.json()["memberships"][0]["tenant_id"]

        bad = await gw.get("/v1/models", headers={"X-API-Key": key[:-4] + "abcd"})
        assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")

        r = await gw.delete(f"/api/v1/api-keys/{key_id}", headers=admin)
        assert r.status_code == 204, r.text
        # within the cache window the exchanged token may still be used; after it, the key is refused
        revoked_at = asyncio.get_running_loop().time()
        while (await gw.get("/v1/models", headers={"X-API-Key": key})).status_code == 200:
            assert asyncio.get_running_loop().time() - revoked_at < 3, "revoked key still accepted"
            await asyncio.sleep(0.1)
        r = await gw.get("/v1/models", headers={"X-API-Key": key})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_api_key_rate_limit(stack, redis, committed_db, upstreams):
    limits = {"default": {"api_key": "2/minute", "user": "100/minute"}, "auth_public": {"ip": "100/minute"}}
    async with auth_and_gateway(stack, upstreams, rate_limits=limits) as gw:
        admin = await _tenant_admin(gw)
        r = await gw.post("/api/v1/api-keys", headers=admin, json={"name": "ci", "scopes": ["read", "write"]})
        assert r.status_code == 201, r.text
        key = {"X-API-Key": r.json()["key"]}
        assert [(await gw.post("/v1/chat/completions", headers=key, json={})).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert (await gw.get("/api/v1/auth/me", headers=admin)).status_code == 200  # other identities unaffected
