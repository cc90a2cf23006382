"""Ended sessions and stopped API keys survive a flushed Redis: auth re-sets their flags from the DB at start-up
(issue #22, items 4 and 11e; the gateway-level attacks are in tests/security/test_token_lifecycle.py)."""

from __future__ import annotations

from services.auth.config import AuthSettings
from services.auth.tokens.revocation import sync_ended_flags
from shared.db import create_sessionmaker
from tests.auth.conftest import AuthApi, auth_app


async def test_ended_sessions_and_keys_are_restored_after_a_redis_flush(stack, db_conn, redis):
    async with auth_app(stack, db_conn) as auth_client:
        api = AuthApi(auth_client)
        admin = await api.tenant_admin()
        other = await api.login(admin.email)
        r = await auth_client.post("/api/v1/api-keys", headers=admin.auth, json={"name": "k", "scopes": ["read"]})
        assert r.status_code == 201, r.text
        key_id = r.json()["id"]
        svc = await auth_client.post(
            "/internal/v1/service-token", json={"service": "gateway", "secret": "dev-service-secret-change-me"}
        )
        exchanged = await auth_client.post(
            "/internal/v1/token-exchange",
            json={"api_key": r.json()["key"]},
            headers={"Authorization": f"Bearer {svc.json()['access_token']}"},
        )
        assert exchanged.status_code == 200, exchanged.text
        key_token = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
        assert (
            await auth_client.get(f"/api/v1/tenants/{admin.tenant_id}/members", headers=key_token)
        ).status_code == 200
        assert (await auth_client.get("/api/v1/api-keys", headers=admin.auth)).status_code == 200

        assert (await auth_client.post("/api/v1/auth/logout", json={"refresh_token": other.refresh})).status_code == 204
        assert (await auth_client.delete(f"/api/v1/api-keys/{key_id}", headers=admin.auth)).status_code == 204
        assert (await auth_client.get("/api/v1/auth/me", headers=other.auth)).status_code == 401
        assert (
            await auth_client.get(f"/api/v1/tenants/{admin.tenant_id}/members", headers=key_token)
        ).status_code == 401

        await redis.flushdb()  # would revive both ...
        assert (await auth_client.get("/api/v1/auth/me", headers=other.auth)).status_code == 200
        await sync_ended_flags(create_sessionmaker(db_conn), redis, stack.settings(AuthSettings))
        # ... but auth's start-up puts back what the DB knows has ended
        assert (await auth_client.get("/api/v1/auth/me", headers=other.auth)).status_code == 401
        assert (
            await auth_client.get(f"/api/v1/tenants/{admin.tenant_id}/members", headers=key_token)
        ).status_code == 401
        assert (await auth_client.get("/api/v1/auth/me", headers=admin.auth)).status_code == 200
