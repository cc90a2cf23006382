"""Login, refresh rotation and reuse detection, logout, switch-tenant, JWKS, brute force."""

from __future__ import annotations

import uuid

from jose import jwt

from tests.auth.conftest import PASSWORD


async def test_login_issues_verifiable_es256_token_with_claims(auth_client, api):
    await api.superuser()
    admin = await api.tenant_admin()
    header = jwt.get_unverified_header(admin.access)
    assert header["alg"] == "ES256" and header["kid"]
    jwks = (await auth_client.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert "d" not in key  # public only
    claims = jwt.decode(admin.access, key, algorithms=["ES256"], audience="atende", issuer="atende-auth")
    assert {"sub", "tid", "role", "scopes", "su", "aud", "iss", "exp", "iat", "jti"} <= set(claims)
    assert claims["sub"] == admin.id and claims["tid"] == admin.tenant_id and claims["role"] == "admin"
    assert claims["scopes"] == ["read", "write", "admin"] and claims["exp"] - claims["iat"] == 900
    assert claims["su"] is False


async def test_login_wrong_password_and_unknown_email_look_the_same(auth_client, api):
    user = await api.register()
    wrong = await auth_client.post("/api/v1/auth/login", json={"email": user["email"], "password": "nope-nope-nope"})
    unknown = await auth_client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"].startswith("application/problem+json")
    bad = await auth_client.post("/api/v1/auth/login", json={"email": "not-an-email", "password": "x"})
    assert bad.status_code == 422


async def test_oauth2_password_form(auth_client, api):
    user = await api.register()
    r = await auth_client.post("/api/v1/auth/token", data={"username": user["email"], "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    r = await auth_client.post("/api/v1/auth/token", data={"username": user["email"], "password": "wrong-password-1"})
    assert r.status_code == 401
    assert (await auth_client.post("/api/v1/auth/token", data={"username": user["email"]})).status_code == 422


async def test_refresh_rotates_and_reuse_kills_the_family(auth_client, api):
    admin = await api.tenant_admin()
    r1 = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": admin.refresh})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != admin.refresh
    r2 = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert r2.status_code == 200
    third = r2.json()["refresh_token"]
    # the first token again: reuse -> 401 and the whole family (incl. the newest token) is dead
    reuse = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": admin.refresh})
    assert reuse.status_code == 401 and reuse.json()["code"] == "refresh_token_reused"
    dead = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": third})
    assert dead.status_code == 401
    # another login's family is untouched
    other = await api.login(admin.email)
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": other.refresh})).status_code == 200
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": "rt_garbage"})).status_code == 401
    assert (await auth_client.post("/api/v1/auth/refresh", json={})).status_code == 422


async def test_logout_revokes(auth_client, api):
    user = await api.register()
    acct = await api.login(user["email"])
    r = await auth_client.post("/api/v1/auth/logout", json={"refresh_token": acct.refresh})
    assert r.status_code == 204
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": acct.refresh})).status_code == 401
    assert (await auth_client.post("/api/v1/auth/logout", json={})).status_code == 422


async def test_switch_tenant(auth_client, api):
    root = await api.superuser()
    a = await api.tenant_admin()
    b = await api.tenant_admin()
    # a member of both tenants switches between them
    member = await api.member(a, "agent")
    await api.verify_email(member.email)  # an unproven account would only be invited (test_account_ownership.py)
    r = await auth_client.post(
        f"/api/v1/tenants/{b.tenant_id}/members", headers=b.auth, json={"email": member.email, "role": "viewer"}
    )
    assert r.status_code == 201, r.text
    r = await auth_client.post("/api/v1/auth/switch-tenant", headers=member.auth, json={"tenant_id": b.tenant_id})
    assert r.status_code == 200
    claims = jwt.get_unverified_claims(r.json()["access_token"])
    assert claims["tid"] == b.tenant_id and claims["role"] == "viewer" and claims["scopes"] == ["read"]
    # not a member -> 404 (existence is not revealed)
    r = await auth_client.post("/api/v1/auth/switch-tenant", headers=a.auth, json={"tenant_id": b.tenant_id})
    assert r.status_code == 404
    r = await auth_client.post("/api/v1/auth/switch-tenant", headers=a.auth, json={"tenant_id": str(uuid.uuid4())})
    assert r.status_code == 404
    # superuser: any tenant
    r = await auth_client.post("/api/v1/auth/switch-tenant", headers=root.auth, json={"tenant_id": b.tenant_id})
    assert r.status_code == 200 and jwt.get_unverified_claims(r.json()["access_token"])["su"] is True
    assert (await auth_client.post("/api/v1/auth/switch-tenant", json={"tenant_id": b.tenant_id})).status_code == 401
    assert (
        await auth_client.post("/api/v1/auth/switch-tenant", headers=a.auth, json={"tenant_id": "x"})
    ).status_code == 422


async def test_login_brute_force_hits_429(auth_client, api):
    user = await api.register()
    for _ in range(5):
        r = await auth_client.post("/api/v1/auth/login", json={"email": user["email"], "password": "wrong-password-1"})
        assert r.status_code == 401
    r = await auth_client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")
    # an unknown email is limited in exactly the same way (no existence oracle)
    for _ in range(5):
        await auth_client.post(
            "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "wrong-password-1"}
        )
    ghost = await auth_client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "x"})
    assert ghost.status_code == 429 and ghost.json()["detail"] == r.json()["detail"]


async def test_login_brute_force_per_ip(stack, db_conn, redis):
    from tests.auth.conftest import AuthApi, auth_app

    async with auth_app(stack, db_conn, login_limit_ip="3/minute") as auth_client:
        await AuthApi(auth_client).register()
        for i in range(3):
            r = await auth_client.post(
                "/api/v1/auth/login", json={"email": f"x{i}@example.com", "password": "wrong-pass-1"}
            )
            assert r.status_code == 401
        r = await auth_client.post("/api/v1/auth/login", json={"email": "x9@example.com", "password": "wrong-pass-1"})
        assert r.status_code == 429
