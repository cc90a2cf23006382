"""Internal endpoints: service tokens, API key exchange, tenant reads with secrets; ServiceTokenProvider."""

from __future__ import annotations

import uuid

from jose import jwt

from services.auth.app import create_app
from services.auth.config import AuthSettings
from shared.http import create_http_client
from shared.service_auth import ServiceTokenProvider
from tests.support.plugin import serve_app


async def test_service_token(auth_client):
    secret = "dev-service-secret-change-me"
    r = await auth_client.post("/internal/v1/service-token", json={"service": "chat", "secret": secret})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["sub"] == "svc:chat" and claims["scopes"] == ["internal"] and claims["tid"] is None
    r = await auth_client.post("/internal/v1/service-token", json={"service": "chat", "secret": "wrong"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    r = await auth_client.post("/internal/v1/service-token", json={"service": "Bad Name!", "secret": "x"})
    assert r.status_code == 422


async def test_token_exchange_carries_exactly_the_key_scopes(auth_client, api, service_token):
    admin = await api.tenant_admin()
    key = await api.api_key(admin, ["read"])
    svc = {"Authorization": f"Bearer {service_token}"}
    r = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": key["key"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scopes"] == ["read"] and body["tenant_id"] == admin.tenant_id and body["key_id"] == key["id"]
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["sub"] == f"key:{key['id']}" and claims["scopes"] == ["read"] and claims["role"] is None
    assert claims["tid"] == admin.tenant_id and claims["uid"] == admin.id
    assert claims["exp"] - claims["iat"] == 300
    # not a service: 403; no token: 401; garbage key: 401
    r = await auth_client.post("/internal/v1/token-exchange", headers=admin.auth, json={"api_key": key["key"]})
    assert r.status_code == 403
    assert (await auth_client.post("/internal/v1/token-exchange", json={"api_key": key["key"]})).status_code == 401
    for bad in ("nope", key["key"][:-2] + "xx", f"atd_zzzzzzzz_{'a' * 43}"):
        r = await auth_client.post("/internal/v1/token-exchange", headers=svc, json={"api_key": bad})
        assert r.status_code == 401, bad
    # last_used_at is recorded
    listed = (await auth_client.get("/api/v1/api-keys", headers=admin.auth)).json()["items"]
    assert listed[0]["last_used_at"] is not None


async def test_internal_tenant_read_has_settings_and_decrypted_secrets(auth_client, api, service_token):
    admin = await api.tenant_admin()
    r = await auth_client.put(
        f"/api/v1/tenants/{admin.tenant_id}/secrets/openai_api_key",
        headers=admin.auth,
        json={"value": "sk-internal-secret-123456"},
    )
    assert r.status_code == 204
    svc = {"Authorization": f"Bearer {service_token}"}
    r = await auth_client.get(f"/internal/v1/tenants/{admin.tenant_id}", headers=svc)
    assert r.status_code == 200
    body = r.json()
    assert body["secrets"] == {"openai_api_key": "sk-internal-secret-123456"}
    assert body["sectors"] == ["financeiro", "suporte", "vendas", "admin", "geral"] and body["status"] == "active"
    assert (await auth_client.get(f"/internal/v1/tenants/{uuid.uuid4()}", headers=svc)).status_code == 404
    assert (await auth_client.get(f"/internal/v1/tenants/{admin.tenant_id}", headers=admin.auth)).status_code == 403
    assert (await auth_client.get(f"/internal/v1/tenants/{admin.tenant_id}")).status_code == 401


async def test_service_token_provider_over_real_http(stack, committed_db, redis):
    app = create_app(stack.settings(AuthSettings))
    async with serve_app(app) as url:
        http = create_http_client()
        try:
            provider = ServiceTokenProvider(http, url, "chat", "dev-service-secret-change-me")
            first = await provider.token()
            assert await provider.token() == first  # cached
            assert jwt.get_unverified_claims(first)["sub"] == "svc:chat"
            # the token is accepted by auth's own internal endpoints
            r = await http.get(f"{url}/internal/v1/tenants/{uuid.uuid4()}", headers=await provider.headers())
            assert r.status_code == 404
            provider.invalidate()
            assert await provider.token() != first
            bad = ServiceTokenProvider(http, url, "chat", "wrong-secret")
            try:
                await bad.token()
                raise AssertionError("a wrong secret must fail")
            except Exception as exc:  # noqa: BLE001
                assert getattr(exc, "status", None) == 503
        finally:
            await http.aclose()
