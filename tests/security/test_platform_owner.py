"""Issue 27 (002): the platform owner's view through the gateway. A superuser lists every company (not only their
memberships), filters them by status, switches into one they are not a member of and reads its inbox; the
platform metrics count the active companies. An inactive company is open to the superuser only: they read the
messages its channels stored meanwhile (not answered by the AI) and answer as a human; its members stay locked out."""

from __future__ import annotations

import asyncio

from tests.support.platform import platform
from tests.support.plugin import wait_for
from tests.support.tenants import PASSWORD


async def _active_in_db(p) -> int:
    rows = await p.sql("SELECT count(*) FROM auth.tenant WHERE status = 'active' AND deleted_at IS NULL")
    return rows[0][0]


async def test_superuser_picks_any_company_and_counts_the_active_ones(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        await p.tenant("Operator")  # the first account of an install is the platform superuser
        a = await p.tenant("CoA")
        b = await p.tenant("CoB")
        root = await p.tenant("Root")
        await p.execute('UPDATE auth."user" SET is_superuser = true WHERE id = :i', i=root.user_id)
        su = {"Authorization": f"Bearer {(await p.login(root.email))['access_token']}"}
        r = await p.gw.post("/api/v1/threads", headers=a.headers, json={"title": "A's conversation"})
        assert r.status_code == 201, r.text

        # A member sees only their own company; the superuser sees all of them.
        r = await p.gw.get("/api/v1/tenants", headers=a.headers, params={"limit": 100})
        assert [t["id"] for t in r.json()["items"]] == [a.tenant_id], r.text
        r = await p.gw.get("/api/v1/tenants", headers=su, params={"limit": 100})
        assert r.status_code == 200, r.text
        assert {a.tenant_id, b.tenant_id, root.tenant_id} <= {t["id"] for t in r.json()["items"]}

        r = await p.gw.get("/api/v1/metrics", headers=su, params={"all": "true"})
        assert r.status_code == 200, r.text
        before = r.json()["active_tenants"]
        assert before == await _active_in_db(p) and before >= 3
        r = await p.gw.patch(f"/api/v1/tenants/{b.tenant_id}", headers=su, json={"status": "inactive"})
        assert r.status_code == 200, r.text
        r = await p.gw.get("/api/v1/metrics", headers=su, params={"all": "true"})
        assert r.json()["active_tenants"] == before - 1, r.text
        r = await p.gw.get("/api/v1/tenants", headers=su, params={"status": "inactive", "limit": 100})
        assert b.tenant_id in {t["id"] for t in r.json()["items"]}
        assert a.tenant_id not in {t["id"] for t in r.json()["items"]}
        r = await p.gw.get("/api/v1/metrics", headers=a.headers, params={"all": "true"})
        assert r.status_code == 403, r.text

        # Switching into a company the superuser is not a member of: its inbox, as its admin would see it.
        r = await p.gw.post("/api/v1/auth/switch-tenant", headers=su, json={"tenant_id": a.tenant_id})
        assert r.status_code == 200, r.text
        in_a = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await p.gw.get("/api/v1/threads", headers=in_a)
        assert r.status_code == 200 and [t["title"] for t in r.json()["items"]] == ["A's conversation"], r.text
        # An inactive company is entered too (the platform owner's view of it).
        r = await p.gw.post("/api/v1/auth/switch-tenant", headers=su, json={"tenant_id": b.tenant_id})
        assert r.status_code == 200 and r.json()["tenant_id"] == b.tenant_id, r.text


def _bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _sent(p) -> list[str]:
    return [c["params"]["text"] for c in p.tg.calls if c["method"] == "sendMessage"]


async def test_superuser_reads_and_answers_an_inactive_company_its_members_stay_out(
    stack, committed_db, redis, tmp_path
):
    async with platform(stack, tmp_path) as p:
        await p.tenant("Operator")
        b = await p.tenant("Closed")
        root = await p.tenant("Owner")
        await p.execute('UPDATE auth."user" SET is_superuser = true WHERE id = :i', i=root.user_id)
        su = _bearer(await p.login(root.email))
        ch = await p.answering_channel(b, "telegram", bot_token="666666666:AAH" + "c" * 32)
        r = await p.gw.patch(f"/api/v1/tenants/{b.tenant_id}", headers=su, json={"status": "inactive"})
        assert r.status_code == 200, r.text
        member_old = dict(b.headers)
        await asyncio.sleep(1.0)  # past CHAT_TENANT_CACHE_SECONDS of the stack (0.5 s)
        assert (await p.telegram(ch, 1, "is anyone reading this?")).status_code == 200

        # The superuser enters the inactive company and reads what came meanwhile: stored, nothing answered.
        r = await p.gw.post("/api/v1/auth/switch-tenant", headers=su, json={"tenant_id": b.tenant_id})
        assert r.status_code == 200, r.text
        in_b = _bearer(r.json())

        async def thread():
            items = (await p.gw.get("/api/v1/threads", headers=in_b, params={"channel": "telegram"})).json()["items"]
            return items[0] if items else None

        found = await wait_for(thread, timeout=20)
        r = await p.gw.get(f"/api/v1/threads/{found['id']}/messages", headers=in_b)
        assert r.status_code == 200, r.text
        assert [(m["role"], m["content"]) for m in r.json()["items"]] == [("user", "is anyone reading this?")]
        for path in ("/api/v1/contacts", "/api/v1/buffers", "/api/v1/metrics", "/api/v1/admin/logs"):
            assert (await p.gw.get(path, headers=in_b)).status_code == 200, path
        # ... and answers as a human: sent on the channel; the AI stays silent, also for a message the superuser posts.
        r = await p.gw.post(
            f"/api/v1/threads/{found['id']}/messages", headers=in_b, json={"role": "agent", "content": "Yes, me."}
        )
        assert r.status_code in (200, 201), r.text
        await wait_for(lambda: _sent(p) or None, timeout=20)
        r = await p.gw.post("/api/v1/threads", headers=in_b, json={"title": "try", "message": "answer me, AI"})
        assert r.status_code == 201 and r.json()["assistant_message"] is None, r.text
        assert _sent(p) == ["Yes, me."]
        roles = [
            m["role"] for m in (await p.gw.get(f"/api/v1/threads/{found['id']}/messages", headers=in_b)).json()["items"]
        ]
        assert roles == ["user", "agent"]

        # Its member stays out: login into it, switching into it, and the token they held before (replayed).
        r = await p.gw.post(
            "/api/v1/auth/login", json={"email": b.email, "password": PASSWORD, "tenant_id": b.tenant_id}
        )
        assert r.status_code == 403 and r.json()["code"] == "tenant_inactive", r.text
        no_tenant = _bearer(await p.login(b.email))
        r = await p.gw.post("/api/v1/auth/switch-tenant", headers=no_tenant, json={"tenant_id": b.tenant_id})
        assert r.status_code == 403, r.text
        for replayed in (member_old, b.key_headers):  # API.md: an inactive tenant loses API access (403)
            r = await p.gw.get("/api/v1/threads", headers=replayed)
            assert r.status_code == 403 and r.json()["code"] == "tenant_inactive", r.text

        # The superuser reactivates it: the member is back, the old message is not answered late, a new one is.
        r = await p.gw.patch(f"/api/v1/tenants/{b.tenant_id}", headers=in_b, json={"status": "active"})
        assert r.status_code == 200, r.text
        await asyncio.sleep(1.0)  # past CHAT_TENANT_CACHE_SECONDS of the stack (0.5 s)
        member = _bearer(await p.login(b.email, b.tenant_id))
        assert (await p.gw.get("/api/v1/threads", headers=member)).status_code == 200
        assert (await p.telegram(ch, 2, "open again?")).status_code == 200
        await wait_for(lambda: len(_sent(p)) == 2 or None, timeout=30)
        roles = [
            m["role"] for m in (await p.gw.get(f"/api/v1/threads/{found['id']}/messages", headers=in_b)).json()["items"]
        ]
        assert roles == ["user", "agent", "user", "assistant"]

        # A deleted company stays closed, to the superuser as well.
        assert (await p.gw.delete(f"/api/v1/tenants/{b.tenant_id}", headers=su)).status_code == 204
        assert (await p.gw.get("/api/v1/threads", headers=in_b)).status_code == 401
