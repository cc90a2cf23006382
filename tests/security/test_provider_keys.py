"""The platform's LLM key never leaves for a tenant's own server: a base URL and its key travel together.

A superuser points one tenant's `llm_base_url` at a second OpenAI-protocol server (what a tenant running its own
Ollama/vLLM, or an attacker who talked an operator into it, would see). That server records every Authorization
header; the platform's key (CHAT_LLM_API_KEY) must never be among them, while other tenants keep using it.
"""

from __future__ import annotations

import contextlib

from tests.support.llm import LLMStandIn
from tests.support.platform import LLM_KEY, Tenant, platform
from tests.support.plugin import serve_app

TENANT_KEY = "sk-tenant-own-key-8Hq2Zp"


async def _ask(p, t: Tenant, text: str):
    return await p.gw.post("/api/v1/threads", headers=t.headers, json={"message": text})


async def _setup(p, t: Tenant) -> None:
    r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"buffer_enabled": False})
    assert r.status_code == 200, r.text
    r = await p.gw.post("/api/v1/assistants", headers=t.headers, json={"name": "Bot", "is_default": True})
    assert r.status_code == 201, r.text


async def test_tenant_base_url_never_gets_the_platform_key(stack, committed_db, redis, tmp_path):
    own = LLMStandIn()  # the tenant's server: answers whatever key it gets, records each Authorization header
    async with contextlib.AsyncExitStack() as es:
        own_url = await es.enter_async_context(serve_app(own.app))
        p = await es.enter_async_context(platform(stack, tmp_path))
        root = await p.tenant("Operator")  # the first account of an install is the platform superuser
        a, b = await p.tenant("A"), await p.tenant("B")
        for t in (a, b):
            await _setup(p, t)
        r = await p.gw.patch(
            f"/api/v1/tenants/{a.tenant_id}", headers=root.headers, json={"llm_base_url": own_url + "/v1"}
        )
        assert r.status_code == 200, r.text

        # A has its own URL and no key: its server answers, and it never sees the platform's key
        r = await _ask(p, a, "hello from A")
        assert r.status_code == 201, r.text
        assert own.requests, "tenant A's message did not reach its own server"
        seen = [q["authorization"] for q in own.requests]
        assert not any(LLM_KEY in h for h in seen), f"the platform key reached the tenant's server: {seen}"
        assert not any("hello from A" in str(q["body"]) for q in p.llm.requests)

        # with a key of its own (tenant secret), the tenant's server gets that key
        r = await p.gw.put(
            f"/api/v1/tenants/{a.tenant_id}/secrets/llm_api_key", headers=a.headers, json={"value": TENANT_KEY}
        )
        assert r.status_code == 204, r.text
        own.requests.clear()
        for attempt in range(40):  # the tenant-settings cache is dropped by tenants.changed.v1 (TTL 0.5 s here)
            r = await _ask(p, a, f"again from A {attempt}")
            assert r.status_code == 201, r.text
            if own.requests and own.requests[-1]["authorization"] == f"Bearer {TENANT_KEY}":
                break
        assert own.requests[-1]["authorization"] == f"Bearer {TENANT_KEY}"
        assert not any(LLM_KEY in q["authorization"] for q in own.requests)

        # another tenant still uses the platform's server with the platform's key
        r = await _ask(p, b, "hello from B")
        assert r.status_code == 201, r.text
        mine = [q for q in p.llm.requests if "hello from B" in str(q["body"])]
        assert mine and all(q["authorization"] == f"Bearer {LLM_KEY}" for q in mine)
        assert not any("hello from B" in str(q["body"]) for q in own.requests)
        assert all(LLM_KEY not in q["authorization"] for q in own.requests)


async def test_tenant_server_refusing_keyless_calls_says_which_key_is_missing(stack, committed_db, redis, tmp_path):
    own = LLMStandIn(api_key="sk-the-tenant-server-wants-this")  # a tenant server that requires its own key
    async with contextlib.AsyncExitStack() as es:
        own_url = await es.enter_async_context(serve_app(own.app))
        p = await es.enter_async_context(platform(stack, tmp_path))
        root = await p.tenant("Operator")
        a = await p.tenant("A")
        await _setup(p, a)
        r = await p.gw.patch(
            f"/api/v1/tenants/{a.tenant_id}", headers=root.headers, json={"llm_base_url": own_url + "/v1"}
        )
        assert r.status_code == 200, r.text
        r = await p.gw.post("/api/v1/threads", headers=a.headers, json={})
        assert r.status_code == 201, r.text
        r = await p.gw.post(f"/api/v1/threads/{r.json()['id']}/messages", headers=a.headers, json={"content": "hi"})
        assert r.status_code == 502, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "llm_api_key" in r.json()["detail"]
        assert own.requests and all(LLM_KEY not in q["authorization"] for q in own.requests)
