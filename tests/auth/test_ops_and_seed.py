"""Admin log reads over ops.logs, secrets never logged, the demo seed."""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import text

from services.auth.config import AuthSettings
from services.auth.seed import seed
from shared.db import create_sessionmaker
from shared.events.ops import OPS_STREAM
from shared.logging import configure_logging
from tests.auth.conftest import PASSWORD, AuthApi, auth_app


async def _log(redis, level: str, service: str, tenant_id: str | None, event: str) -> None:
    entry = {"level": level, "service": service, "tenant_id": tenant_id, "event": event}
    await redis.xadd(
        OPS_STREAM,
        {
            "level": level,
            "service": service,
            "tenant_id": tenant_id or "",
            "event": event,
            "data": orjson.dumps(entry).decode(),
        },
    )


async def test_admin_logs_filters_and_tenant_isolation(auth_client, api, redis):
    root = await api.superuser()
    a = await api.tenant_admin()
    b = await api.tenant_admin()
    await _log(redis, "warning", "chat", a.tenant_id, "a_warn")
    await _log(redis, "error", "channels", a.tenant_id, "a_err")
    await _log(redis, "error", "chat", b.tenant_id, "b_err")
    await _log(redis, "warning", "gateway", None, "platform_warn")

    async def events(acct, query=""):
        r = await auth_client.get(f"/api/v1/admin/logs{query}", headers=acct.auth)
        assert r.status_code == 200, r.text
        return [e["event"] for e in r.json()["items"]]

    assert {"a_warn", "a_err", "b_err", "platform_warn"} <= set(await events(root))
    assert await events(a) == ["a_err", "a_warn"]  # newest first, own tenant only
    assert await events(a, f"?tenant_id={b.tenant_id}") == ["a_err", "a_warn"]  # the filter cannot escape
    assert await events(b) == ["b_err"]
    assert set(await events(root, "?level=error")) >= {"a_err", "b_err"} and "a_warn" not in await events(
        root, "?level=error"
    )
    assert await events(root, f"?service=chat&tenant_id={a.tenant_id}") == ["a_warn"]
    assert await events(root, "?since=2100-01-01T00:00:00Z") == []
    page = (await auth_client.get("/api/v1/admin/logs?limit=1", headers=a.auth)).json()
    assert [e["event"] for e in page["items"]] == ["a_err"] and page["next_cursor"]
    nxt = (await auth_client.get(f"/api/v1/admin/logs?limit=1&cursor={page['next_cursor']}", headers=a.auth)).json()
    assert [e["event"] for e in nxt["items"]] == ["a_warn"]
    agent = await api.member(a, "agent")
    assert (await auth_client.get("/api/v1/admin/logs", headers=agent.auth)).status_code == 403
    assert (await auth_client.get("/api/v1/admin/logs")).status_code == 401
    assert (await auth_client.get("/api/v1/admin/logs?level=debug", headers=root.auth)).status_code == 422


async def test_secrets_never_in_responses_or_logs(stack, db_conn, redis, capfd):
    secret = f"sk-live-{uuid.uuid4().hex}"
    async with auth_app(stack, db_conn) as auth_client:
        api = AuthApi(auth_client)
        admin = await api.tenant_admin()
        base = f"/api/v1/tenants/{admin.tenant_id}/secrets"
        bodies = []
        r = await auth_client.put(f"{base}/openai_api_key", headers=admin.auth, json={"value": secret})
        bodies.append(r.text)
        bodies.append((await auth_client.get(base, headers=admin.auth)).text)
        bodies.append((await auth_client.get(f"/api/v1/tenants/{admin.tenant_id}", headers=admin.auth)).text)
        bodies.append((await auth_client.get("/api/v1/tenants", headers=admin.auth)).text)
        # failures too: a bad name with the secret in the body, a wrong tenant
        bodies.append((await auth_client.put(f"{base}/BAD", headers=admin.auth, json={"value": secret})).text)
        bodies.append((await auth_client.put(f"{base}/x" * 40, headers=admin.auth, json={"value": secret})).text)
        # passwords and keys: a failed login with a password-ish value, an API key creation and exchange
        bodies.append(
            (await auth_client.post("/api/v1/auth/login", json={"email": admin.email, "password": secret})).text
        )
        key = await api.api_key(admin, ["read"])
        svc = (
            await auth_client.post(
                "/internal/v1/service-token", json={"service": "gw", "secret": "dev-service-secret-change-me"}
            )
        ).json()
        await auth_client.post(
            "/internal/v1/token-exchange",
            headers={"Authorization": f"Bearer {svc['access_token']}"},
            json={"api_key": key["key"]},
        )
        await auth_client.post("/internal/v1/service-token", json={"service": "gw", "secret": secret})
    out, err = capfd.readouterr()
    logs = out + err
    assert "tenant_secret_set" in logs and "api_key_created" in logs  # the log really was captured
    for body in bodies:
        assert secret not in body
    for forbidden in (secret, key["key"], PASSWORD, "dev-service-secret-change-me", svc["access_token"]):
        assert forbidden not in logs
    stream = await redis.xrange(OPS_STREAM)
    assert stream and all(secret.encode() not in b"".join(f.values()) for _, f in stream)


async def test_seed_is_idempotent_and_uses_the_service_layer(stack, db_conn, redis):
    settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    configure_logging("auth-seed", "INFO")  # bind logs to this test's stdout, not an earlier test's capture
    sessions = create_sessionmaker(db_conn)
    first = await seed(settings, sessions)
    again = await seed(settings, sessions)
    assert first == again
    counts = (
        await db_conn.execute(
            text(
                "SELECT (SELECT count(*) FROM auth.tenant WHERE slug = 'demo'), "
                "(SELECT count(*) FROM auth.membership WHERE tenant_id = :t), "
                "(SELECT count(*) FROM auth.outbox WHERE tenant_id = :t)"
            ),
            {"t": first["tenant_id"]},
        )
    ).one()
    assert tuple(counts) == (1, 3, 1)  # admin, agent, viewer
    async with auth_app(stack, db_conn) as auth_client:
        r = await auth_client.post(
            "/api/v1/auth/login", json={"email": settings.demo_admin_email, "password": settings.demo_admin_password}
        )
        assert r.status_code == 200
        me = (
            await auth_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        ).json()
        assert me["is_superuser"] is True and me["memberships"][0]["role"] == "admin"
        r = await auth_client.post(
            "/api/v1/auth/login", json={"email": settings.demo_agent_email, "password": settings.demo_agent_password}
        )
        assert r.status_code == 200 and r.json()["role"] == "agent"
        r = await auth_client.post(
            "/api/v1/auth/login", json={"email": settings.demo_viewer_email, "password": settings.demo_viewer_password}
        )
        assert r.status_code == 200 and r.json()["role"] == "viewer"
        tenant = (
            await auth_client.get(
                f"/api/v1/tenants/{first['tenant_id']}", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
            )
        ).json()
        assert {"vendas", "suporte", "financeiro"} <= set(tenant["sectors"])  # the seeds' sectors


def test_trusted_proxies_accept_cidrs():
    from shared.net import TrustedProxies

    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    assert proxies.client_ip("10.3.4.5", "203.0.113.9, 10.9.9.9") == "203.0.113.9"
    assert proxies.client_ip("198.51.100.7", "203.0.113.9") == "198.51.100.7"  # untrusted peer: header ignored
    assert proxies.client_ip("10.3.4.5", "not-an-ip") == "10.3.4.5"
    assert proxies.client_ip("10.3.4.5", "6.6.6.6, not-an-ip, 10.1.1.1") == "10.1.1.1"  # the walk ends at garbage
    assert proxies.client_ip("10.3.4.5", "10.7.7.7, 10.9.9.9") == "10.7.7.7"  # all trusted: the leftmost
