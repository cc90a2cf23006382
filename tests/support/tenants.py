"""The one way tests make a tenant admin: sign up with a tenant through the public API, sign in, optionally give
the tenant settings, secrets and an admin API key. Works on any client that reaches auth (gateway or auth itself)."""

from __future__ import annotations

import uuid

import httpx

PASSWORD = "correct-horse-battery-staple"


class Tenant:
    """One tenant seen from outside: its owner's token, an admin API key, and what was created in it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.email = ""
        self.tenant_id = ""
        self.user_id = ""
        self.token = ""
        self.api_key = ""
        self.ids: dict[str, str] = {}

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


async def tenant_admin(
    client: httpx.AsyncClient,
    name: str = "Admin",
    *,
    tenant_name: str | None = None,
    settings: dict | None = None,
    secrets: dict[str, str] | None = None,
    api_key: bool = False,
    password: str = PASSWORD,
) -> Tenant:
    """A new user who signed up with a tenant of their own (its admin), signed in; `settings` PATCHed on the tenant,
    `secrets` PUT as tenant secrets, `api_key` an admin API key (read, write, admin) in `t.api_key`."""
    t = Tenant(name)
    t.email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    body = {"email": t.email, "password": password, "full_name": name, "tenant_name": tenant_name or f"Tenant {name}"}
    r = await client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/login", json={"email": t.email, "password": password})
    assert r.status_code == 200, r.text
    t.token = r.json()["access_token"]
    me = (await client.get("/api/v1/auth/me", headers=t.headers)).json()
    t.tenant_id = me["memberships"][0]["tenant_id"]
    t.user_id = me["id"]
    t.ids["tenant_id"] = t.tenant_id
    if settings:
        r = await client.patch(f"/api/v1/tenants/{t.tenant_id}", json=settings, headers=t.headers)
        assert r.status_code == 200, r.text
    for secret, value in (secrets or {}).items():
        r = await client.put(
            f"/api/v1/tenants/{t.tenant_id}/secrets/{secret}", json={"value": value}, headers=t.headers
        )
        assert r.status_code == 204, r.text
    if api_key:
        r = await client.post(
            "/api/v1/api-keys", headers=t.headers, json={"name": "ops", "scopes": ["read", "write", "admin"]}
        )
        assert r.status_code == 201, r.text
        t.api_key = r.json()["key"]
        t.ids["key_id"] = r.json()["id"]
    return t
