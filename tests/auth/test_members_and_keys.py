"""Members (roles, last admin), API keys (shown once, scopes, revoke, expiry), and the cross-tenant matrix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from jose import jwt

from tests.auth.conftest import PASSWORD


async def test_members_lifecycle(auth_client, api):
    admin = await api.tenant_admin()
    base = f"/api/v1/tenants/{admin.tenant_id}/members"
    r = await auth_client.post(
        base,
        headers=admin.auth,
        json={"email": "Agent@Example.com", "role": "agent", "full_name": "Ana", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    agent = r.json()
    assert agent["email"] == "agent@example.com" and agent["role"] == "agent" and "password" not in r.text
    assert (
        await auth_client.post(base, headers=admin.auth, json={"email": "agent@example.com", "role": "viewer"})
    ).status_code == 409
    # an unknown address without a password is invited (no account enumeration: same 201 as a known one)
    r = await auth_client.post(base, headers=admin.auth, json={"email": "new@example.com", "role": "viewer"})
    assert r.status_code == 201 and r.json()["email"] == "new@example.com", r.text
    assert (await auth_client.delete(f"{base}/{r.json()['user_id']}", headers=admin.auth)).status_code == 204
    assert (
        await auth_client.post(
            base, headers=admin.auth, json={"email": "x@example.com", "role": "owner", "password": PASSWORD}
        )
    ).status_code == 422
    assert (
        await auth_client.post(
            base, headers=admin.auth, json={"email": "w@example.com", "role": "agent", "password": "short"}
        )
    ).status_code == 422
    listed = (await auth_client.get(base, headers=admin.auth)).json()["items"]
    assert {m["email"]: m["role"] for m in listed} == {admin.email: "admin", "agent@example.com": "agent"}
    # the agent logs in to the tenant; reads members, cannot manage them
    ag = await api.login("agent@example.com", tenant_id=admin.tenant_id)
    assert (await auth_client.get(base, headers=ag.auth)).status_code == 200
    assert (
        await auth_client.post(
            base, headers=ag.auth, json={"email": "z@example.com", "role": "admin", "password": PASSWORD}
        )
    ).status_code == 403
    # promote, demote, remove; the last admin cannot go
    r = await auth_client.patch(f"{base}/{agent['user_id']}", headers=admin.auth, json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await auth_client.patch(f"{base}/{agent['user_id']}", headers=admin.auth, json={"role": "viewer"})
    assert r.status_code == 200
    assert (
        await auth_client.patch(f"{base}/{admin.id}", headers=admin.auth, json={"role": "agent"})
    ).status_code == 409
    assert (await auth_client.delete(f"{base}/{admin.id}", headers=admin.auth)).status_code == 409
    assert (
        await auth_client.patch(f"{base}/{agent['user_id']}", headers=admin.auth, json={"role": "x"})
    ).status_code == 422
    assert (await auth_client.delete(f"{base}/{agent['user_id']}", headers=admin.auth)).status_code == 204
    assert (await auth_client.delete(f"{base}/{agent['user_id']}", headers=admin.auth)).status_code == 404
    assert (
        await auth_client.patch(f"{base}/{uuid.uuid4()}", headers=admin.auth, json={"role": "agent"})
    ).status_code == 404
    assert (await auth_client.get(base)).status_code == 401
    # the removed user can no longer log in to that tenant
    r = await auth_client.post(
        "/api/v1/auth/login", json={"email": "agent@example.com", "password": PASSWORD, "tenant_id": admin.tenant_id}
    )
    assert r.status_code == 404


async def test_api_keys_shown_once_and_scoped(auth_client, api, service_token, db_conn):
    admin = await api.tenant_admin()
    created = await api.api_key(admin, ["read", "read"])
    assert created["key"].startswith(f"atd_{created['prefix']}_") and created["scopes"] == ["read"]
    listed = (await auth_client.get("/api/v1/api-keys", headers=admin.auth)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert created["key"] not in (await auth_client.get("/api/v1/api-keys", headers=admin.auth)).text
    from sqlalchemy import text

    stored = (await db_conn.execute(text("SELECT key_hash FROM auth.api_key"))).scalars().all()
    assert created["key"] not in str(stored) and created["key"].split("_")[-1] not in str(stored)
    svc = {"Authorization": f"Bearer {service_token}"}

    async def exchange(key: str):
        return await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key})

    # a read key: the exchanged JWT reads, cannot write or administer
    read_jwt = (await exchange(created["key"])).json()["access_token"]
    as_key = {"Authorization": f"Bearer {read_jwt}"}
    assert (await auth_client.get(f"/api/v1/tenants/{admin.tenant_id}", headers=as_key)).status_code == 200
    assert (
        await auth_client.patch(f"/api/v1/tenants/{admin.tenant_id}", headers=as_key, json={"locale": "en"})
    ).status_code == 403
    assert (
        await auth_client.post("/api/v1/api-keys", headers=as_key, json={"name": "x", "scopes": ["read"]})
    ).status_code == 403
    assert (await auth_client.get("/api/v1/auth/me", headers=as_key)).status_code == 403
    # an admin key may mint keys, but never with more than it holds
    write_key = await api.api_key(admin, ["read", "write"])
    claims = jwt.get_unverified_claims((await exchange(write_key["key"])).json()["access_token"])
    assert claims["scopes"] == ["read", "write"]
    agent = await api.member(admin, "agent")
    assert (
        await auth_client.post("/api/v1/api-keys", headers=agent.auth, json={"name": "x", "scopes": ["read"]})
    ).status_code == 403
    # validation
    for bad in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
    ):
        assert (await auth_client.post("/api/v1/api-keys", headers=admin.auth, json=bad)).status_code == 422, bad
    # revoke: exchange fails, listing hides it unless asked
    assert (await auth_client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin.auth)).status_code == 204
    assert (await exchange(created["key"])).status_code == 401
    assert (await auth_client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin.auth)).status_code == 404
    ids = [k["id"] for k in (await auth_client.get("/api/v1/api-keys", headers=admin.auth)).json()["items"]]
    assert created["id"] not in ids
    all_ids = [
        k["id"]
        for k in (await auth_client.get("/api/v1/api-keys?include_revoked=true", headers=admin.auth)).json()["items"]
    ]
    assert created["id"] in all_ids
    assert (await auth_client.get("/api/v1/api-keys")).status_code == 401


async def test_expired_api_key_fails(auth_client, api, service_token, db_conn):
    from sqlalchemy import text

    admin = await api.tenant_admin()
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    key = await api.api_key(admin, ["read"], expires_at=soon)
    svc = {"Authorization": f"Bearer {service_token}"}
    ok = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key["key"]})
    assert ok.status_code == 200
    await db_conn.execute(
        text("UPDATE auth.api_key SET expires_at = now() - interval '1 second' WHERE id = :i"), {"i": key["id"]}
    )
    r = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key["key"]})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_cross_tenant_is_404_everywhere(auth_client, api):
    a = await api.tenant_admin()
    b = await api.tenant_admin()
    b_member = await api.member(b, "agent")
    b_key = await api.api_key(b, ["read"])
    r = await auth_client.put(
        f"/api/v1/tenants/{b.tenant_id}/secrets/openai_api_key",
        headers=b.auth,
        json={"value": "sk-b-tenant-secret-value"},
    )
    assert r.status_code == 204
    t = f"/api/v1/tenants/{b.tenant_id}"
    attempts = [
        ("GET", t, None),
        ("PATCH", t, {"system_prompt": "pwned"}),
        ("DELETE", t, None),
        ("GET", f"{t}/members", None),
        ("POST", f"{t}/members", {"email": "spy@example.com", "role": "admin", "password": PASSWORD}),
        ("PATCH", f"{t}/members/{b_member.id}", {"role": "admin"}),
        ("DELETE", f"{t}/members/{b_member.id}", None),
        ("GET", f"{t}/secrets", None),
        ("PUT", f"{t}/secrets/openai_api_key", {"value": "overwritten-by-a"}),
        ("DELETE", f"{t}/secrets/openai_api_key", None),
        ("DELETE", f"/api/v1/api-keys/{b_key['id']}", None),
    ]
    for method, url, body in attempts:
        r = await auth_client.request(method, url, headers=a.auth, json=body)
        assert r.status_code == 404, (method, url, r.status_code)
        assert "sk-b-tenant-secret-value" not in r.text
    # nothing of B changed
    got = (await auth_client.get(t, headers=b.auth)).json()
    assert got["system_prompt"] == "" and got["status"] == "active"
    members = (await auth_client.get(f"{t}/members", headers=b.auth)).json()["items"]
    assert {m["email"] for m in members} == {b.email, b_member.email}
    assert [s["name"] for s in (await auth_client.get(f"{t}/secrets", headers=b.auth)).json()] == ["openai_api_key"]
    keys = (await auth_client.get("/api/v1/api-keys", headers=b.auth)).json()["items"]
    assert [k["id"] for k in keys] == [b_key["id"]]
    # and A's list never shows B's objects
    assert b_key["id"] not in (await auth_client.get("/api/v1/api-keys", headers=a.auth)).text
    assert b.tenant_id not in (await auth_client.get("/api/v1/tenants", headers=a.auth)).text
