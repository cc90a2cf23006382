"""verify-email and resend, and the member-add routes the security suite does not replay (in-process)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from services.auth.verification.models import EmailToken
from services.auth.verification.repository import EmailTokenRepository
from services.auth.worker import KEEP_SPENT
from shared.db import utcnow
from tests.auth.conftest import PASSWORD
from tests.support.smtp import token_of

ADMIN_PW = "admin-chosen-passphrase-9"


async def test_verified_account_joins_and_keeps_its_own_password(auth_client, api):
    admin = await api.tenant_admin()
    owner = await api.tenant_admin()
    await api.verify_email(owner.email)
    r = await auth_client.post(
        f"/api/v1/tenants/{admin.tenant_id}/members",
        headers=admin.auth,
        json={"email": owner.email, "role": "agent", "password": ADMIN_PW},
    )
    assert r.status_code == 201, r.text
    bad = await auth_client.post("/api/v1/auth/login", json={"email": owner.email, "password": ADMIN_PW})
    assert bad.status_code == 401  # the admin's password was ignored
    await api.login(owner.email, tenant_id=admin.tenant_id)  # the owner's own password opens the new tenant
    assert "adicionado a" in str((await api.mails(owner.email))[-1]["Subject"])  # the tenant's locale: pt-BR


async def test_an_unverified_superuser_is_invited_never_reset(auth_client, api):
    root = await api.superuser()
    admin = await api.tenant_admin()
    members = f"/api/v1/tenants/{admin.tenant_id}/members"
    r = await auth_client.post(
        members, headers=admin.auth, json={"email": root.email, "role": "viewer", "password": ADMIN_PW}
    )
    assert r.status_code == 201, r.text
    await api.login(root.email)  # credentials untouched, sessions alive
    assert (await auth_client.get("/api/v1/auth/me", headers=root.auth)).status_code == 200
    r = await auth_client.post("/api/v1/auth/login", json={"email": root.email, "password": ADMIN_PW})
    assert r.status_code == 401
    listed = (await auth_client.get(members, headers=admin.auth)).json()["items"]
    assert root.email not in {m["email"] for m in listed}  # held back until the owner accepts
    assert "Convite" in str((await api.mails(root.email))[-1]["Subject"])
    await api.verify_email(root.email, password="root-accepts-the-invite-7")
    listed = (await auth_client.get(members, headers=admin.auth)).json()["items"]
    assert {m["email"]: m["role"] for m in listed}[root.email] == "viewer"
    assert (await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": root.refresh})).status_code == 401


async def test_a_weak_password_leaves_the_token_usable(auth_client, api):
    admin = await api.tenant_admin()
    r = await auth_client.post(
        f"/api/v1/tenants/{admin.tenant_id}/members", headers=admin.auth, json={"email": "inv@x.test", "role": "agent"}
    )
    assert r.status_code == 201, r.text
    assert (
        await auth_client.post("/api/v1/auth/login", json={"email": "inv@x.test", "password": PASSWORD})
    ).status_code == 401
    token = token_of((await api.mails("inv@x.test"))[-1])
    r = await auth_client.post("/api/v1/auth/verify-email", json={"token": token, "password": "short"})
    assert r.status_code == 422 and r.json()["code"] == "weak_password"
    await api.verify_email("inv@x.test", password=PASSWORD)
    await api.login("inv@x.test", tenant_id=admin.tenant_id)


async def test_resend_mails_a_new_code_at_most_once_a_minute(auth_client, api, redis):
    user = await api.tenant_admin()
    assert len(await api.mails(user.email)) == 1
    assert (await auth_client.post("/api/v1/auth/verify-email/resend", headers=user.auth)).status_code == 202
    assert (await auth_client.post("/api/v1/auth/verify-email/resend", headers=user.auth)).status_code == 202
    assert len(await api.mails(user.email)) == 2
    await api.verify_email(user.email)
    me = (await auth_client.get("/api/v1/auth/me", headers=user.auth)).json()
    assert me["email_verified"] is True
    await redis.delete(f"auth:mail:resend:{user.id}")
    assert (await auth_client.post("/api/v1/auth/verify-email/resend", headers=user.auth)).status_code == 202
    assert len(await api.mails(user.email)) == 2  # verified: nothing more to send
    assert (await auth_client.post("/api/v1/auth/verify-email/resend")).status_code == 401


async def test_spent_and_expired_tokens_are_pruned_after_a_week(session):
    now = utcnow()
    rows = {
        "fresh": dict(expires_at=now + timedelta(days=3)),
        "used-yesterday": dict(expires_at=now + timedelta(days=2), used_at=now - timedelta(days=1)),
        "used-long-ago": dict(expires_at=now - timedelta(days=20), used_at=now - timedelta(days=30)),
        "expired-long-ago": dict(expires_at=now - timedelta(days=8)),
    }
    for name, extra in rows.items():
        session.add(EmailToken(user_id=uuid.uuid4(), email="a@b.c", purpose="verify", token_hash=name, **extra))
    await session.flush()
    assert await EmailTokenRepository(session).prune(KEEP_SPENT) == 2
    left = set(await session.scalars(select(EmailToken.token_hash).where(EmailToken.email == "a@b.c")))
    assert left == {"fresh", "used-yesterday"}
