"""The one tenant-settings client (shared/tenant_settings.py) against the real auth service over HTTP and real
Redis: a service token, the TTL cache, a drop on tenants.changed.v1, the defaults when auth is unknown or down."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from devtools.embedded import free_port
from services.auth.app import create_app as create_auth_app
from services.auth.config import AuthSettings
from shared.db import create_sessionmaker
from shared.events.envelope import Envelope
from shared.events.tenants import TENANT_CHANGED, TENANTS_STREAM
from shared.service_auth import ServiceTokenProvider
from shared.tenant_settings import TenantRecord, TenantSettingsClient, watching_changes
from tests.support.plugin import serve_app, wait_for


@dataclass(frozen=True)
class Seen:
    """A service's own settings type: what the tests read back."""

    outcome: str
    model: str | None = None
    key: str | None = None


def parse(record: TenantRecord) -> Seen:
    return Seen(record.outcome, record.data.get("default_model"), record.secrets.get("openai_api_key"))


@pytest.fixture
async def auth(stack, db_conn, redis):
    app = create_auth_app(stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1))
    async with serve_app(app) as url:
        app.state.sessionmaker = create_sessionmaker(db_conn)
        async with httpx.AsyncClient(base_url=url) as client:
            client.url = url
            yield client


async def tenant_admin(auth: httpx.AsyncClient, **settings) -> tuple[uuid.UUID, dict[str, str]]:
    email = f"u{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "correct-horse-battery", "full_name": "T", "tenant_name": "Acme"}
    assert (await auth.post("/api/v1/auth/register", json=body)).status_code == 201
    r = await auth.post("/api/v1/auth/login", json={"email": email, "password": "correct-horse-battery"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    tenant_id = (await auth.get("/api/v1/auth/me", headers=headers)).json()["memberships"][0]["tenant_id"]
    r = await auth.patch(f"/api/v1/tenants/{tenant_id}", json=settings, headers=headers)
    assert r.status_code == 200, r.text
    return uuid.UUID(tenant_id), headers


def client_for(stack, http: httpx.AsyncClient, url: str, *, ttl: float, fallback_ttl: float = 0.0):
    secret = stack.settings(AuthSettings).service_secret
    tokens = ServiceTokenProvider(http, url, "chat", secret)
    return TenantSettingsClient(http, url, tokens, parse, ttl=ttl, fallback_ttl=fallback_ttl)


async def set_model(auth, tenant_id, headers, model: str) -> None:
    r = await auth.patch(f"/api/v1/tenants/{tenant_id}", json={"default_model": model}, headers=headers)
    assert r.status_code == 200, r.text


async def test_settings_and_secrets_come_with_a_service_token_and_stay_cached_for_the_ttl(stack, auth):
    tenant_id, headers = await tenant_admin(auth, default_model="model-a")
    r = await auth.put(f"/api/v1/tenants/{tenant_id}/secrets/openai_api_key", json={"value": "sk-own"}, headers=headers)
    assert r.status_code == 204, r.text
    async with httpx.AsyncClient() as http:
        client = client_for(stack, http, auth.url, ttl=0.5)
        assert await client.get(tenant_id) == Seen("found", "model-a", "sk-own")
        await set_model(auth, tenant_id, headers, "model-b")
        assert (await client.get(tenant_id)).model == "model-a"  # inside the TTL: the cached answer
        await asyncio.sleep(0.6)
        assert (await client.get(tenant_id)).model == "model-b"


async def test_a_tenants_changed_event_drops_the_cached_entry(stack, auth, redis):
    tenant_id, headers = await tenant_admin(auth, default_model="model-a")
    other, _ = await tenant_admin(auth, default_model="model-o")
    async with httpx.AsyncClient() as http:
        client = client_for(stack, http, auth.url, ttl=300)
        async with watching_changes(redis, client):
            await asyncio.sleep(0.1)  # the watcher reads from "$": let it start before the event
            assert (await client.get(tenant_id)).model == "model-a"
            assert (await client.get(other)).model == "model-o"
            await set_model(auth, tenant_id, headers, "model-b")
            envelope = Envelope(
                type=TENANT_CHANGED,
                tenant_id=tenant_id,
                idempotency_key=f"k-{uuid.uuid4().hex}",
                payload={"tenant_id": str(tenant_id), "changed": ["default_model"]},
            )
            await redis.xadd(TENANTS_STREAM, envelope.to_fields())
            await wait_for(lambda: tenant_id not in client._cache, timeout=5)
            assert other in client._cache  # only the changed tenant
            assert (await client.get(tenant_id)).model == "model-b"


async def test_an_unknown_tenant_gets_the_defaults_cached_for_the_fallback_ttl(stack, auth):
    async with httpx.AsyncClient() as http:
        client = client_for(stack, http, auth.url, ttl=300, fallback_ttl=30)
        unknown = uuid.uuid4()
        assert await client.get(unknown) == Seen("unknown")
        assert unknown in client._cache


async def test_auth_down_gives_the_defaults_cached_only_for_the_fallback_ttl(stack):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens
    tenant_id = uuid.uuid4()
    async with httpx.AsyncClient() as http:
        briefly = client_for(stack, http, down, ttl=300, fallback_ttl=0.3)
        assert await briefly.get(tenant_id) == Seen("unavailable")
        assert tenant_id in briefly._cache
        await asyncio.sleep(0.4)
        assert briefly._cache[tenant_id][0] <= time.monotonic()  # expired: the next read asks auth again
        never = client_for(stack, http, down, ttl=300, fallback_ttl=0)
        assert await never.get(tenant_id) == Seen("unavailable")
        assert tenant_id not in never._cache


async def test_no_auth_url_means_platform_defaults_without_a_request(stack):
    async with httpx.AsyncClient() as http:
        client = client_for(stack, http, "", ttl=300)
        assert await client.get(uuid.uuid4()) == Seen("unconfigured")
