"""Nobody gets a tenant by pre-registering someone else's address (issue #22, item 1), through the gateway.

The attack: register `newhire@victim.test` with a password of your choosing before the victim's admin adds that
address to their tenant. Whatever route the add takes (with a password, without one, or an address whose account has
something at stake), the pre-registrant's password never opens the victim's tenant and its sessions end; the real
owner reads the mail on a real SMTP server (aiosmtpd), proves the address and gets in. Register and member-add give
the same answer whether an address has an account or not.
"""

from __future__ import annotations

import uuid
from email import message_from_bytes
from email import policy as email_policy

from tests.support.platform import Platform, platform
from tests.support.plugin import wait_for
from tests.support.smtp import Inbox, body, smtp_server, token_of

ATTACKER_PW = "attacker-chosen-passphrase-1"
ADMIN_PW = "admin-vouched-passphrase-22"
OWNER_PW = "the-real-owners-passphrase-333"


async def _login(p: Platform, email: str, password: str, tenant_id: str | None = None):
    body_ = {"email": email, "password": password} | ({"tenant_id": tenant_id} if tenant_id else {})
    return await p.gw.post("/api/v1/auth/login", json=body_)


async def _preregister(p: Platform, email: str, **extra) -> dict:
    """The attacker signs up with the victim's address and keeps a token pair."""
    r = await p.gw.post("/api/v1/auth/register", json={"email": email, "password": ATTACKER_PW} | extra)
    assert r.status_code == 201, r.text
    r = await _login(p, email, ATTACKER_PW)
    assert r.status_code == 200, r.text
    return r.json()


async def _attacker_is_out(p: Platform, email: str, tenant_id: str, pair: dict) -> None:
    r = await _login(p, email, ATTACKER_PW, tenant_id)
    assert r.status_code in (401, 404), f"the pre-registrant's password opens the victim tenant: {r.status_code}"
    assert (await _login(p, email, ATTACKER_PW)).status_code == 401, "the pre-registrant's password still logs in"
    r = await p.gw.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401, f"the pre-registrant's session survived: {r.status_code}"
    # its access token lives a few more minutes, but cannot be switched into the victim tenant
    r = await p.gw.post(
        "/api/v1/auth/switch-tenant",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
        json={"tenant_id": tenant_id},
    )
    assert r.status_code in (401, 404), f"the pre-registrant's access token switched into the tenant: {r.text}"


async def _accept(p: Platform, inbox: Inbox, email: str, tenant_id: str, count: int = 1) -> None:
    """The address's owner reads the mail, sets a password through verify-email and gets into the tenant."""
    mail = (await inbox.wait(email, count))[-1]
    token = token_of(mail)
    assert token not in str(mail["Subject"])
    r = await p.gw.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 422, r.text  # an invitation needs the password the owner chooses
    r = await p.gw.post("/api/v1/auth/verify-email", json={"token": token, "password": OWNER_PW})
    assert r.status_code == 204, r.text
    r = await _login(p, email, OWNER_PW, tenant_id)
    assert r.status_code == 200, r.text
    me = (await p.gw.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})).json()
    assert me["email_verified"] is True
    assert tenant_id in {m["tenant_id"] for m in me["memberships"]}


async def test_preregistered_address_never_opens_the_victims_tenant(stack, committed_db, redis, tmp_path):
    with smtp_server() as (inbox, smtp_url):
        async with platform(stack, tmp_path) as p:
            p.start_worker("auth", smtp_url=smtp_url, mail_poll_seconds=0.2)
            victim = await p.tenant("Victim")
            members = f"/api/v1/tenants/{victim.tenant_id}/members"

            # 1. added as admin WITH a password: the admin's password replaces the pre-registrant's
            email = f"newhire-{uuid.uuid4().hex[:6]}@victim.test"
            refresh = await _preregister(p, email)
            r = await p.gw.post(
                members, headers=victim.headers, json={"email": email, "role": "admin", "password": ADMIN_PW}
            )
            assert r.status_code == 201, r.text
            await _attacker_is_out(p, email, victim.tenant_id, refresh)
            r = await _login(p, email, ADMIN_PW, victim.tenant_id)
            assert r.status_code == 200 and r.json()["role"] == "admin", r.text

            # 2. added as admin WITHOUT a password: no password at all until the owner sets one from the invitation
            email = f"newhire-{uuid.uuid4().hex[:6]}@victim.test"
            refresh = await _preregister(p, email)
            r = await p.gw.post(members, headers=victim.headers, json={"email": email, "role": "admin"})
            assert r.status_code == 201, r.text
            await _attacker_is_out(p, email, victim.tenant_id, refresh)
            await _accept(p, inbox, email, victim.tenant_id, count=2)  # the sign-up mail, then the invitation
            assert "Tenant Victim" in body(inbox.to(email)[1])

            # 3. the pre-registrant made a tenant of its own (the account has something at stake): the grant waits
            #    for the address's owner, the admin's password is not set on it, and accepting ends the attacker
            email = f"newhire-{uuid.uuid4().hex[:6]}@victim.test"
            refresh = await _preregister(p, email, tenant_name="Decoy")
            r = await p.gw.post(
                members, headers=victim.headers, json={"email": email, "role": "admin", "password": ADMIN_PW}
            )
            assert r.status_code == 201, r.text
            r = await _login(p, email, ATTACKER_PW, victim.tenant_id)
            assert r.status_code in (401, 404), f"the pre-registrant's password opens the victim tenant: {r.text}"
            assert (await _login(p, email, ADMIN_PW)).status_code == 401  # the admin never chooses its password
            await _accept(p, inbox, email, victim.tenant_id, count=2)
            await _attacker_is_out(p, email, victim.tenant_id, refresh)


async def test_register_and_member_add_do_not_reveal_accounts(stack, committed_db, redis, tmp_path):
    with smtp_server() as (inbox, smtp_url):
        async with platform(stack, tmp_path) as p:
            p.start_worker("auth", smtp_url=smtp_url, mail_poll_seconds=0.2)
            owner = await p.tenant("Owner")
            # register: a taken address answers like a free one, changes nothing, and tells the owner
            free = f"free-{uuid.uuid4().hex[:6]}@example.com"
            taken = await p.gw.post(
                "/api/v1/auth/register", json={"email": owner.email, "password": ATTACKER_PW, "tenant_name": "X"}
            )
            fresh = await p.gw.post(
                "/api/v1/auth/register", json={"email": free, "password": ATTACKER_PW, "tenant_name": "Y"}
            )
            assert taken.status_code == fresh.status_code == 201, (taken.text, fresh.text)
            assert taken.json().keys() == fresh.json().keys()
            assert taken.headers["content-type"] == fresh.headers["content-type"]
            assert taken.json()["id"] != owner.user_id
            assert (await _login(p, owner.email, ATTACKER_PW)).status_code == 401
            assert (await _login(p, owner.email, "correct-horse-battery-staple")).status_code == 200
            rows = await p.sql("SELECT count(*) FROM auth.tenant WHERE name = 'X'")
            assert rows[0][0] == 0
            mails = await inbox.wait(owner.email, 2)  # the sign-up verification, then the notice
            notice = next(m for m in mails if "tried to sign up" in str(m["Subject"]))
            assert "Nothing was changed" in body(notice) and ATTACKER_PW not in body(notice)

            # member-add: an address with an account and one without answer alike (no password needed)
            other = await p.tenant("Other")
            members = f"/api/v1/tenants/{owner.tenant_id}/members"
            known = await p.gw.post(members, headers=owner.headers, json={"email": other.email, "role": "viewer"})
            unknown = await p.gw.post(
                members,
                headers=owner.headers,
                json={"email": f"nobody-{uuid.uuid4().hex[:6]}@x.test", "role": "viewer"},
            )
            assert known.status_code == unknown.status_code == 201, (known.text, unknown.text)
            assert known.json().keys() == unknown.json().keys()


async def test_verification_mail_proves_the_address_once(stack, committed_db, redis, tmp_path):
    with smtp_server() as (inbox, smtp_url):
        async with platform(stack, tmp_path) as p:
            p.start_worker("auth", smtp_url=smtp_url, mail_poll_seconds=0.2)
            t = await p.tenant("Mailer")
            me = (await p.gw.get("/api/v1/auth/me", headers=t.headers)).json()
            assert me["email_verified"] is False
            token = token_of((await inbox.wait(t.email))[0])
            rows = await p.sql("SELECT count(*) FROM auth.email_token WHERE token_hash = :t", t=token)
            assert rows[0][0] == 0  # stored hashed only
            assert (await p.gw.post("/api/v1/auth/verify-email", json={"token": token + "x"})).status_code == 400
            assert (await p.gw.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 204
            me = (await p.gw.get("/api/v1/auth/me", headers=t.headers)).json()
            assert me["email_verified"] is True
            r = await p.gw.post("/api/v1/auth/verify-email", json={"token": token})
            assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")

            # an expired token is refused too
            r = await p.gw.post("/api/v1/auth/verify-email/resend", headers=t.headers)
            assert r.status_code == 202, r.text
            later = f"late-{uuid.uuid4().hex[:6]}@example.com"
            await p.gw.post("/api/v1/auth/register", json={"email": later, "password": OWNER_PW})
            token = token_of((await inbox.wait(later))[0])
            await p.sql("UPDATE auth.email_token SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL")
            assert (await p.gw.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 400


async def test_mail_survives_an_smtp_outage(stack, committed_db, redis, tmp_path):
    with smtp_server() as (inbox, smtp_url):
        inbox.down = True
        async with platform(stack, tmp_path) as p:
            p.start_worker("auth", smtp_url=smtp_url, mail_poll_seconds=0.2)
            email = f"outage-{uuid.uuid4().hex[:6]}@example.com"
            r = await p.gw.post("/api/v1/auth/register", json={"email": email, "password": OWNER_PW})
            assert r.status_code == 201

            async def tried() -> bool:
                rows = await p.sql("SELECT attempts FROM auth.mail_outbox WHERE to_address = :e", e=email)
                return bool(rows) and rows[0][0] >= 1

            await wait_for(tried, timeout=15)
            assert inbox.to(email) == []
            inbox.down = False
            await inbox.wait(email, timeout=30)


async def test_without_smtp_mail_lands_in_the_outbox_directory(stack, committed_db, redis, tmp_path):
    outbox = tmp_path / "mail"
    async with platform(stack, tmp_path) as p:
        p.start_worker("auth", smtp_url="", mail_outbox_dir=str(outbox), mail_poll_seconds=0.2)
        email = f"dev-{uuid.uuid4().hex[:6]}@example.com"
        r = await p.gw.post("/api/v1/auth/register", json={"email": email, "password": OWNER_PW})
        assert r.status_code == 201, r.text
        await wait_for(lambda: list(outbox.glob("*.eml")), timeout=15)
        (eml,) = outbox.glob("*.eml")
        msg = message_from_bytes(eml.read_bytes(), policy=email_policy.default)
        assert msg["To"] == email and "Confirm" in str(msg["Subject"])
        assert (await p.gw.post("/api/v1/auth/verify-email", json={"token": token_of(msg)})).status_code == 204
        assert (await p.sql("SELECT count(*) FROM auth.mail_outbox"))[0][0] == 0  # sent mail leaves no copy
