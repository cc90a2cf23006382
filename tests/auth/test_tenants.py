"""Tenants: CRUD, settings validation, status stops tokens and keys, secrets write-only, change events."""

from __future__ import annotations

import uuid

from sqlalchemy import text


async def _events(db_conn, tenant_id: str) -> list[dict]:
    rows = await db_conn.execute(
        text(
            "SELECT payload FROM auth.outbox WHERE type = 'tenants.changed.v1' AND tenant_id = :t ORDER BY created_at"
        ),
        {"t": tenant_id},
    )
    return [r[0] for r in rows]


async def test_superuser_creates_lists_and_deletes_tenants(auth_client, api, db_conn):
    root = await api.superuser()
    admin = await api.tenant_admin()
    r = await auth_client.post(
        "/api/v1/tenants", headers=root.auth, json={"name": "Pizzaria Bella", "buffer_seconds": 5}
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["slug"] == "pizzaria-bella" and t["status"] == "active" and t["buffer_seconds"] == 5
    assert t["sectors"] == ["financeiro", "suporte", "vendas", "admin", "geral"]
    assert (
        await auth_client.post("/api/v1/tenants", headers=root.auth, json={"name": "Other", "slug": "pizzaria-bella"})
    ).status_code == 409
    assert (await auth_client.post("/api/v1/tenants", headers=admin.auth, json={"name": "X"})).status_code == 403
    assert (await auth_client.post("/api/v1/tenants", json={"name": "X"})).status_code == 401
    for bad in (
        {"name": ""},
        {"name": "x", "slug": "Bad Slug"},
        {"name": "x", "timezone": "Mars/Base"},
        {"name": "x", "sectors": []},
        {"name": "x", "sectors": ["a", "A"]},
        {"name": "x", "status": "paused"},
        {"name": "x", "buffer_seconds": 50, "buffer_max_wait_seconds": 10},
    ):
        r = await auth_client.post("/api/v1/tenants", headers=root.auth, json=bad)
        assert r.status_code == 422, bad
    # lists: superuser sees all, a tenant admin only their own
    all_ids = {x["id"] for x in (await auth_client.get("/api/v1/tenants?limit=200", headers=root.auth)).json()["items"]}
    assert {t["id"], admin.tenant_id} <= all_ids
    own = (await auth_client.get("/api/v1/tenants", headers=admin.auth)).json()["items"]
    assert [x["id"] for x in own] == [admin.tenant_id]
    # pagination
    page1 = (await auth_client.get("/api/v1/tenants?limit=1", headers=root.auth)).json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    page2 = (await auth_client.get(f"/api/v1/tenants?limit=1&cursor={page1['next_cursor']}", headers=root.auth)).json()
    assert page2["items"][0]["id"] != page1["items"][0]["id"]
    assert (await auth_client.get("/api/v1/tenants?limit=500", headers=root.auth)).status_code == 422
    # a tenant admin cannot delete; the superuser can (soft) and the tenant disappears
    assert (await auth_client.delete(f"/api/v1/tenants/{admin.tenant_id}", headers=admin.auth)).status_code == 403
    assert (await auth_client.delete(f"/api/v1/tenants/{t['id']}", headers=root.auth)).status_code == 204
    assert (await auth_client.get(f"/api/v1/tenants/{t['id']}", headers=root.auth)).status_code == 404
    assert (await auth_client.delete(f"/api/v1/tenants/{t['id']}", headers=root.auth)).status_code == 404
    assert [e["changed"] for e in await _events(db_conn, t["id"])] == [["created"], ["deleted", "status"]]


async def test_tenant_admin_updates_settings(auth_client, api, db_conn):
    admin = await api.tenant_admin()
    url = f"/api/v1/tenants/{admin.tenant_id}"
    body = {
        "system_prompt": "Você é a atendente.",
        "default_model": "gpt-4o-mini",
        "require_approval": True,
        "buffer_enabled": True,
        "buffer_seconds": 8,
        "buffer_max_wait_seconds": 30,
        "split_replies": True,
        "locale": "pt-BR",
        "timezone": "America/Recife",
        "sectors": ["vendas", "suporte"],
    }
    r = await auth_client.patch(url, headers=admin.auth, json=body)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in body} == body
    got = (await auth_client.get(url, headers=admin.auth)).json()
    assert got["sectors"] == ["vendas", "suporte"]
    events = await _events(db_conn, admin.tenant_id)
    # only what really changed (buffer_enabled and locale were already these values)
    assert (
        set(events[-1]["changed"]) == set(body) - {"buffer_enabled", "locale"}
        and events[-1]["tenant_id"] == admin.tenant_id
    )
    # llm_base_url is for superusers only (SSRF guard)
    r = await auth_client.patch(url, headers=admin.auth, json={"llm_base_url": "http://169.254.169.254/"})
    assert r.status_code == 403
    assert (await auth_client.patch(url, headers=admin.auth, json={"buffer_seconds": -1})).status_code == 422
    assert (await auth_client.patch(url, headers=admin.auth, json={"name": None})).status_code == 422
    assert (await auth_client.patch(url, headers=admin.auth, json={"buffer_max_wait_seconds": 1})).status_code == 422
    agent = await api.member(admin, "agent")
    assert (await auth_client.patch(url, headers=agent.auth, json={"locale": "en"})).status_code == 403
    assert (await auth_client.get(url, headers=agent.auth)).status_code == 200
    assert (await auth_client.patch(url, json={"locale": "en"})).status_code == 401


async def test_superuser_sets_llm_base_url(auth_client, api):
    root = await api.superuser()
    admin = await api.tenant_admin()
    r = await auth_client.patch(
        f"/api/v1/tenants/{admin.tenant_id}", headers=root.auth, json={"llm_base_url": "http://127.0.0.1:11434/v1/"}
    )
    assert r.status_code == 200 and r.json()["llm_base_url"] == "http://127.0.0.1:11434/v1"
    bad = await auth_client.patch(
        f"/api/v1/tenants/{admin.tenant_id}", headers=root.auth, json={"llm_base_url": "ftp://x"}
    )
    assert bad.status_code == 422


async def test_inactive_tenant_stops_tokens_keys_and_refresh(auth_client, api, redis, service_token):
    root = await api.superuser()
    admin = await api.tenant_admin()
    key = await api.api_key(admin, ["read"])
    svc = {"Authorization": f"Bearer {service_token}"}
    r = await auth_client.patch(f"/api/v1/tenants/{admin.tenant_id}", headers=root.auth, json={"status": "inactive"})
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    assert await redis.get(f"auth:disabled:tenant:{admin.tenant_id}") == b"inactive"
    r = await auth_client.get("/api/v1/auth/me", headers=admin.auth)
    assert r.status_code == 403 and r.json()["code"] == "tenant_inactive", r.text  # API.md: inactive -> 403
    assert (await auth_client.get("/api/v1/auth/me", headers=root.auth)).status_code == 200  # not in it
    r = await auth_client.post("/api/v1/auth/switch-tenant", headers=root.auth, json={"tenant_id": admin.tenant_id})
    assert r.status_code == 200  # the platform superuser may enter an inactive tenant
    in_it = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await auth_client.get("/api/v1/auth/me", headers=in_it)).status_code == 200
    r = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key["key"]})
    assert r.status_code == 403 and r.json()["code"] == "tenant_inactive", r.text
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": admin.refresh})).status_code == 401
    r = await auth_client.post(
        "/api/v1/auth/login", json={"email": admin.email, "password": admin.password, "tenant_id": admin.tenant_id}
    )
    assert r.status_code == 403
    # reactivated: works again
    r = await auth_client.patch(f"/api/v1/tenants/{admin.tenant_id}", headers=root.auth, json={"status": "active"})
    assert r.status_code == 200
    assert await redis.get(f"auth:disabled:tenant:{admin.tenant_id}") is None
    r = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key["key"]})
    assert r.status_code == 200


async def test_secrets_are_write_only(auth_client, api, db_conn):
    admin = await api.tenant_admin()
    base = f"/api/v1/tenants/{admin.tenant_id}/secrets"
    value = "sk-proj-abcdefghijklmnop-WXYZ"
    assert (
        await auth_client.put(f"{base}/openai_api_key", headers=admin.auth, json={"value": value})
    ).status_code == 204
    assert (
        await auth_client.put(f"{base}/assemblyai_api_key", headers=admin.auth, json={"value": "short"})
    ).status_code == 204
    r = await auth_client.get(base, headers=admin.auth)
    assert r.status_code == 200 and value not in r.text and "short" not in r.text.replace("short", "", 0)
    items = {s["name"]: s for s in r.json()}
    assert items["openai_api_key"]["is_set"] is True and items["openai_api_key"]["last4"] == "WXYZ"
    assert items["openai_api_key"]["updated_at"]
    assert items["assemblyai_api_key"]["last4"] is None  # too short to show a tail
    stored = (await db_conn.execute(text("SELECT value_encrypted FROM auth.tenant_secret"))).scalars().all()
    assert stored and all(value not in s for s in stored)
    # overwrite, delete, 404 on a missing one, 422 on a bad name or empty value
    assert (
        await auth_client.put(f"{base}/openai_api_key", headers=admin.auth, json={"value": "sk-new-value-123456"})
    ).status_code == 204
    assert (await auth_client.delete(f"{base}/assemblyai_api_key", headers=admin.auth)).status_code == 204
    assert (await auth_client.delete(f"{base}/assemblyai_api_key", headers=admin.auth)).status_code == 404
    assert (await auth_client.put(f"{base}/Bad-Name", headers=admin.auth, json={"value": "x"})).status_code == 422
    assert (await auth_client.put(f"{base}/openai_api_key", headers=admin.auth, json={"value": ""})).status_code == 422
    agent = await api.member(admin, "agent")
    assert (await auth_client.get(base, headers=agent.auth)).status_code == 403
    assert (await auth_client.put(f"{base}/x_key", headers=agent.auth, json={"value": "v"})).status_code == 403
    assert (await auth_client.get(base)).status_code == 401
    changed = [e["changed"] for e in await _events(db_conn, admin.tenant_id)]
    assert ["secrets.openai_api_key"] in changed and ["secrets.assemblyai_api_key"] in changed


async def test_unknown_tenant_is_404(auth_client, api):
    root = await api.superuser()
    missing = uuid.uuid4()
    assert (await auth_client.get(f"/api/v1/tenants/{missing}", headers=root.auth)).status_code == 404
    assert (await auth_client.patch(f"/api/v1/tenants/{missing}", headers=root.auth, json={})).status_code == 404
    assert (await auth_client.get("/api/v1/tenants/not-a-uuid", headers=root.auth)).status_code == 422
