"""Register, me, password change, superuser user administration, deactivation."""

from __future__ import annotations

import uuid

from tests.auth.conftest import PASSWORD, AuthApi, auth_app


async def test_register_first_user_is_superuser_and_validation(auth_client):
    r = await auth_client.post(
        "/api/v1/auth/register", json={"email": "first@example.com", "password": PASSWORD, "full_name": "First"}
    )
    assert r.status_code == 201 and r.json()["is_superuser"] is True and "password" not in r.text
    r = await auth_client.post(
        "/api/v1/auth/register",
        json={"email": "second@example.com", "password": PASSWORD, "full_name": "Second", "tenant_name": "Loja"},
    )
    assert r.status_code == 201 and r.json()["is_superuser"] is False
    # a taken address: the same 201 and body shape, nothing changes (tests/security/test_account_ownership.py)
    dup = await auth_client.post("/api/v1/auth/register", json={"email": "SECOND@example.com", "password": PASSWORD})
    assert dup.status_code == 201 and dup.json().keys() == r.json().keys() and dup.json()["id"] != r.json()["id"]
    cases = {
        "short-pw": ("a@example.com", "short"),
        "email-as-pw": ("longname@example.com", "longname@example.com"),
        "common": ("b@example.com", "password123"),
        "simple": ("c@example.com", "aaaaaaaaaaaa"),
    }
    for name, (email, pw) in cases.items():
        r = await auth_client.post("/api/v1/auth/register", json={"email": email, "password": pw})
        assert r.status_code == 422, name
        assert r.json()["errors"][0]["loc"] == ["body", "password"] and r.json()["detail"], name
    assert (
        await auth_client.post("/api/v1/auth/register", json={"email": "bad", "password": PASSWORD})
    ).status_code == 422
    assert (await auth_client.post("/api/v1/auth/register", json={})).status_code == 422


async def test_signup_can_be_disabled(stack, db_conn, redis):
    async with auth_app(stack, db_conn, signup_enabled=False, signup_tenant_enabled=False) as auth_client:
        first = await auth_client.post(
            "/api/v1/auth/register", json={"email": "root@example.com", "password": PASSWORD}
        )
        assert first.status_code == 201  # an empty install always gets its first user
        r = await auth_client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": PASSWORD})
        assert r.status_code == 403 and r.json()["code"] == "signup_disabled"


async def test_me(auth_client, api):
    admin = await api.tenant_admin(tenant_name="Padaria Sol")
    r = await auth_client.get("/api/v1/auth/me", headers=admin.auth)
    assert r.status_code == 200
    me = r.json()
    assert me["email"] == admin.email and me["is_superuser"] is False
    assert me["memberships"] == [
        {"tenant_id": admin.tenant_id, "tenant_name": "Padaria Sol", "tenant_slug": "padaria-sol", "role": "admin"}
    ]
    assert (await auth_client.get("/api/v1/auth/me")).status_code == 401


async def test_password_change_ends_other_sessions(auth_client, api):
    admin = await api.tenant_admin()
    other = await api.login(admin.email)
    new = "a-brand-new-passphrase"
    r = await auth_client.post(
        "/api/v1/auth/password", headers=admin.auth, json={"current_password": "wrong-password-9", "new_password": new}
    )
    assert r.status_code == 403
    r = await auth_client.post(
        "/api/v1/auth/password", headers=admin.auth, json={"current_password": PASSWORD, "new_password": "123"}
    )
    assert r.status_code == 422
    r = await auth_client.post(
        "/api/v1/auth/password", headers=admin.auth, json={"current_password": PASSWORD, "new_password": new}
    )
    assert r.status_code == 204
    # this session's refresh token survives, the other session's does not
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": admin.refresh})).status_code == 200
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": other.refresh})).status_code == 401
    bad = await auth_client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert bad.status_code == 401
    await api.login(admin.email, new)
    assert (
        await auth_client.post("/api/v1/auth/password", json={"current_password": "x", "new_password": "y"})
    ).status_code == 401


async def test_superuser_lists_and_deactivates_users(auth_client, api, redis):
    root = await api.superuser()
    admin = await api.tenant_admin()
    r = await auth_client.get("/api/v1/users", headers=root.auth)
    assert r.status_code == 200 and {root.email, admin.email} <= {u["email"] for u in r.json()["items"]}
    assert (await auth_client.get("/api/v1/users", headers=admin.auth)).status_code == 403
    assert (await auth_client.get("/api/v1/users")).status_code == 401
    filtered = (await auth_client.get(f"/api/v1/users?q={admin.email}", headers=root.auth)).json()["items"]
    assert [u["email"] for u in filtered] == [admin.email]
    r = await auth_client.patch(f"/api/v1/users/{admin.id}", headers=root.auth, json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert await redis.get(f"auth:disabled:user:{admin.id}") == b"1"
    # the access token stops at once, refresh fails, login says deactivated
    assert (await auth_client.get("/api/v1/auth/me", headers=admin.auth)).status_code == 401
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": admin.refresh})).status_code == 401
    r = await auth_client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert r.status_code == 401
    inactive = (await auth_client.get("/api/v1/users?is_active=false", headers=root.auth)).json()["items"]
    assert [u["id"] for u in inactive] == [admin.id]
    # reactivated: can log in again; the sessions deactivation ended stay ended
    r = await auth_client.patch(f"/api/v1/users/{admin.id}", headers=root.auth, json={"is_active": True})
    assert r.status_code == 200 and await redis.get(f"auth:disabled:user:{admin.id}") is None
    assert (await auth_client.get("/api/v1/auth/me", headers=admin.auth)).status_code == 401
    admin = await api.login(admin.email)
    # guards
    assert (
        await auth_client.patch(f"/api/v1/users/{root.id}", headers=root.auth, json={"is_active": False})
    ).status_code == 409
    assert (
        await auth_client.patch(f"/api/v1/users/{uuid.uuid4()}", headers=root.auth, json={"is_active": False})
    ).status_code == 404
    assert (
        await auth_client.patch(f"/api/v1/users/{admin.id}", headers=admin.auth, json={"is_superuser": True})
    ).status_code == 403
    assert (
        await auth_client.patch(f"/api/v1/users/{admin.id}", headers=root.auth, json={"is_active": "maybe"})
    ).status_code == 422


async def test_disabled_flags_are_restored_at_startup(stack, db_conn, redis):
    async with auth_app(stack, db_conn) as auth_client:
        api = AuthApi(auth_client)
        root = await api.superuser()
        admin = await api.tenant_admin()
        await auth_client.patch(f"/api/v1/users/{admin.id}", headers=root.auth, json={"is_active": False})
    await redis.flushdb()
    from services.auth.status import sync_disabled_flags
    from shared.db import create_sessionmaker

    await sync_disabled_flags(create_sessionmaker(db_conn), redis)
    assert await redis.get(f"auth:disabled:user:{admin.id}") == b"1"
