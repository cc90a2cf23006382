"""Tenant settings from the real auth service: cached, dropped on tenants.changed.v1, tenant key/model win."""

import uuid

from shared.events.envelope import Envelope
from shared.events.tenants import TENANT_CHANGED, TENANTS_STREAM
from tests.support.plugin import wait_for

from .conftest import new_thread


async def test_tenant_model_and_key_win_and_change_events_drop_the_cache(chat_auth, auth, llm, redis):
    tenant_id, headers = await auth.tenant_admin(default_model="tenant-model-x")
    await new_thread(chat_auth, headers, message="first")
    assert llm.last["model"] == "tenant-model-x"
    r = await auth.client.patch(
        f"/api/v1/tenants/{tenant_id}", json={"default_model": "tenant-model-y"}, headers=headers
    )
    assert r.status_code == 200, r.text
    await new_thread(chat_auth, headers, message="cached")
    assert llm.last["model"] == "tenant-model-x"  # still the cached settings
    tenants = chat_auth.app.state.chat.tenants
    # what auth's relay publishes after its commit
    envelope = Envelope(
        type=TENANT_CHANGED,
        tenant_id=uuid.UUID(tenant_id),
        idempotency_key="k1",
        payload={"tenant_id": tenant_id, "changed": ["default_model"]},
    )
    await redis.xadd(TENANTS_STREAM, envelope.to_fields())
    await wait_for(lambda: uuid.UUID(tenant_id) not in tenants._cache, timeout=5)
    await new_thread(chat_auth, headers, message="fresh")
    assert llm.last["model"] == "tenant-model-y"
    # the tenant's own key is what the provider sees
    r = await auth.client.put(
        f"/api/v1/tenants/{tenant_id}/secrets/openai_api_key", json={"value": "sk-tenant-own"}, headers=headers
    )
    assert r.status_code == 204, r.text
    tenants.invalidate()
    llm.api_key = "sk-tenant-own"
    await new_thread(chat_auth, headers, message="own key")
    assert llm.requests[-1]["authorization"] == "Bearer sk-tenant-own"


async def test_unknown_tenant_falls_back_to_platform_defaults(chat_auth, headers, llm):
    # a token for a tenant auth has never heard of: platform prompt/model, no failure
    thread = await new_thread(chat_auth, headers, message="hello")
    assert thread["assistant_message"]["model"] == "stand-in-model"
