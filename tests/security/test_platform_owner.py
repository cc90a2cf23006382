"""Issue 27 (002): the platform owner's view through the gateway. A superuser lists every company (not only their
memberships), filters them by status, switches into one they are not a member of and reads its inbox; the
platform metrics count the active companies."""

from __future__ import annotations

from tests.support.platform import platform


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
        # An inactive company cannot be entered until it is active again.
        r = await p.gw.post("/api/v1/auth/switch-tenant", headers=su, json={"tenant_id": b.tenant_id})
        assert r.status_code == 403, r.text
