"""Forged, expired, misdirected or revoked tokens are refused with 401 by auth's own endpoints."""

from __future__ import annotations

import base64
import time
import uuid

import orjson
from jose import jwt

from services.auth.app import create_app
from services.auth.config import AuthSettings
from tests.auth.conftest import AuthApi
from tests.support.plugin import app_client


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _claims(sub: str, tid: str | None, **extra) -> dict:
    now = int(time.time())
    return {
        "sub": sub,
        "tid": tid,
        "role": "admin",
        "scopes": ["read", "write", "admin"],
        "su": False,
        "aud": "atende",
        "iss": "atende-auth",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    } | extra


async def test_token_attacks_are_refused(stack, db_conn, redis):
    app = create_app(stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1))
    async with app_client(app, db_conn=db_conn) as auth_client:
        api = AuthApi(auth_client)
        admin = await api.tenant_admin()
        key = app.state.keyring.signer
        public_pem_jwk = key.public_jwk

        def sign(claims: dict, kid: str = key.kid) -> str:
            return jwt.encode(claims, key.private_pem, algorithm="ES256", headers={"kid": kid})

        good = sign(_claims(admin.id, admin.tenant_id))
        assert (
            await auth_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {good}"})
        ).status_code == 200

        header, payload, signature = good.split(".")
        none_token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{payload}."
        # HS256 "signed" with the public key (the classic algorithm-confusion attack)
        from cryptography.hazmat.primitives import serialization
        from jose import jwk as jose_jwk

        pub_pem = jose_jwk.construct(public_pem_jwk, "ES256").public_key().to_pem()
        serialization.load_pem_public_key(pub_pem)
        hs_header = _b64({"alg": "HS256", "typ": "JWT", "kid": key.kid})
        import hashlib
        import hmac

        hs_sig = (
            base64.urlsafe_b64encode(hmac.new(pub_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest())
            .decode()
            .rstrip("=")
        )
        hs_token = f"{hs_header}.{payload}.{hs_sig}"
        tampered_payload = _b64(_claims(admin.id, admin.tenant_id, su=True))
        tampered = f"{header}.{tampered_payload}.{signature}"

        attacks = {
            "alg none": none_token,
            "HS256 with public key": hs_token,
            "expired": sign(_claims(admin.id, admin.tenant_id, exp=int(time.time()) - 5)),
            "wrong aud": sign(_claims(admin.id, admin.tenant_id, aud="someone-else")),
            "wrong iss": sign(_claims(admin.id, admin.tenant_id, iss="evil-issuer")),
            "tampered payload": tampered,
            "unknown kid": sign(_claims(admin.id, admin.tenant_id), kid="no-such-key"),
            "garbage": "not.a.jwt",
        }
        for name, token in attacks.items():
            r = await auth_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, name
            assert r.headers["content-type"].startswith("application/problem+json"), name
            assert r.headers["www-authenticate"] == "Bearer"

        # deactivated user: their still-unexpired token stops at once
        root_free = await api.tenant_admin()
        r = await auth_client.get("/api/v1/auth/me", headers=root_free.auth)
        assert r.status_code == 200
        await redis.set(f"auth:disabled:user:{root_free.id}", "1")
        assert (await auth_client.get("/api/v1/auth/me", headers=root_free.auth)).status_code == 401

        # inactive tenant: the same
        assert (await auth_client.get("/api/v1/auth/me", headers=admin.auth)).status_code == 200
        await redis.set(f"auth:disabled:tenant:{admin.tenant_id}", "1")
        assert (await auth_client.get("/api/v1/auth/me", headers=admin.auth)).status_code == 401


async def test_signing_key_rotation_keeps_old_tokens_until_retired(stack, db_conn, redis):
    app = create_app(stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1))
    async with app_client(app, db_conn=db_conn) as auth_client:
        api = AuthApi(auth_client)
        root = await api.superuser()
        old_kid = jwt.get_unverified_header(root.access)["kid"]
        r = await auth_client.post("/api/v1/admin/signing-keys/rotate", headers=root.auth)
        assert r.status_code == 201
        new_kid = r.json()["kid"]
        assert new_kid != old_kid
        fresh = await api.login(root.email)
        assert jwt.get_unverified_header(fresh.access)["kid"] == new_kid
        kids = {k["kid"] for k in (await auth_client.get("/.well-known/jwks.json")).json()["keys"]}
        assert {old_kid, new_kid} <= kids
        listed = (await auth_client.get("/api/v1/admin/signing-keys", headers=fresh.auth)).json()
        assert [k["kid"] for k in listed if k["signing"]] == [new_kid]
        # the old token still verifies (cache off: a new app instance with the same DB keys)
        assert (await auth_client.get("/api/v1/auth/me", headers=root.auth)).status_code == 200
        assert (
            await auth_client.delete(f"/api/v1/admin/signing-keys/{new_kid}", headers=fresh.auth)
        ).status_code == 409
        assert (
            await auth_client.delete(f"/api/v1/admin/signing-keys/{old_kid}", headers=fresh.auth)
        ).status_code == 204
        assert (await auth_client.delete("/api/v1/admin/signing-keys/nope", headers=fresh.auth)).status_code == 404
        kids = {k["kid"] for k in (await auth_client.get("/.well-known/jwks.json")).json()["keys"]}
        assert old_kid not in kids
    # a fresh process no longer trusts the retired key
    app2 = create_app(stack.settings(AuthSettings))
    async with app_client(app2, db_conn=db_conn) as client2:
        assert (await client2.get("/api/v1/auth/me", headers=root.auth)).status_code == 401
        assert (await client2.get("/api/v1/auth/me", headers=fresh.auth)).status_code == 200
        non_su = await client2.post("/api/v1/admin/signing-keys/rotate", headers={"Authorization": "Bearer x"})
        assert non_su.status_code == 401
