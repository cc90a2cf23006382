"""Issue 27 (003): one message by id (another tenant's is 404), the tenant's sector list as the rule for a thread's
sector (422 otherwise; no list: any sector), the inbox's sector filter and per-sector counts, through the gateway."""

from __future__ import annotations

from devtools.embedded import free_port
from tests.support.platform import platform
from tests.support.plugin import wait_for


async def _sectors(p, t, sectors: list[str]) -> None:
    r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"sectors": sectors})
    assert r.status_code == 200, r.text


async def test_message_by_id_is_the_tenants_own(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("MsgA")
        b = await p.tenant("MsgB")
        r = await p.gw.post("/api/v1/chat", headers=a.headers, json={"message": "where is my order?"})
        assert r.status_code == 200, r.text
        chat = r.json()
        r = await p.gw.get(f"/api/v1/messages/{chat['user_message_id']}", headers=a.headers)
        assert r.status_code == 200, r.text
        assert r.json()["content"] == "where is my order?" and r.json()["thread_id"] == chat["thread_id"]
        r = await p.gw.get(f"/api/v1/messages/{chat['message_id']}", headers=a.key_headers)
        assert r.status_code == 200 and r.json()["role"] == "assistant", r.text
        for headers in (b.headers, b.key_headers):
            r = await p.gw.get(f"/api/v1/messages/{chat['user_message_id']}", headers=headers)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_threads_sector_must_be_one_of_the_tenants(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("SecA")
        await _sectors(p, a, ["vendas", "suporte"])

        async def refused(method: str, url: str, body: dict):
            r = await p.gw.request(method, url, headers=a.headers, json=body)
            return r if r.status_code == 422 else None

        r = await wait_for(lambda: refused("POST", "/api/v1/threads", {"sector": "marketing"}), timeout=10)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "sector_not_allowed", r.text
        r = await p.gw.post("/api/v1/threads", headers=a.headers, json={"sector": "vendas"})
        assert r.status_code == 201, r.text
        url = f"/api/v1/threads/{r.json()['id']}"
        r = await p.gw.patch(url, headers=a.headers, json={"sector": "marketing"})
        assert r.status_code == 422 and r.json()["code"] == "sector_not_allowed", r.text
        r = await p.gw.patch(url, headers=a.headers, json={"sector": "suporte"})
        assert r.status_code == 200 and r.json()["sector"] == "suporte", r.text
        r = await p.gw.post("/api/v1/chat", headers=a.headers, json={"message": "oi", "sector": "marketing"})
        assert r.status_code == 422 and r.json()["code"] == "sector_not_allowed", r.text
        assert (await p.gw.get("/api/v1/threads", headers=a.headers)).json()["items"][0]["sector"] == "suporte"


async def test_without_a_sector_list_any_sector_goes(stack, committed_db, redis, tmp_path):
    """Auth always keeps a list (at least one sector); chat that cannot read tenant settings has none (the platform
    defaults) and applies no rule."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with platform(stack, tmp_path, settings={"chat": {"tenant_settings_url": nowhere}}) as p:
        a = await p.tenant("NoList")
        r = await p.gw.post("/api/v1/threads", headers=a.headers, json={"sector": "marketing"})
        assert r.status_code == 201 and r.json()["sector"] == "marketing", r.text
        r = await p.gw.patch(f"/api/v1/threads/{r.json()['id']}", headers=a.headers, json={"sector": "anything"})
        assert r.status_code == 200 and r.json()["sector"] == "anything", r.text


async def test_inbox_filters_by_sector_and_counts_per_sector(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("CountA")
        b = await p.tenant("CountB")
        for sector in ("vendas", "vendas", "suporte", None):
            r = await p.gw.post("/api/v1/threads", headers=a.headers, json={"sector": sector})
            assert r.status_code == 201, r.text
        gone = (await p.gw.post("/api/v1/threads", headers=a.headers, json={"sector": "suporte"})).json()
        assert (await p.gw.delete(f"/api/v1/threads/{gone['id']}", headers=a.headers)).status_code == 204
        await p.gw.post("/api/v1/threads", headers=b.headers, json={"sector": "vendas"})

        r = await p.gw.get("/api/v1/threads", headers=a.headers, params={"sector": "vendas"})
        assert r.status_code == 200 and [t["sector"] for t in r.json()["items"]] == ["vendas", "vendas"], r.text
        r = await p.gw.get("/api/v1/threads/counts", headers=a.headers, params={"by": "sector"})
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [
            {"sector": "vendas", "count": 2},
            {"sector": "suporte", "count": 1},
            {"sector": None, "count": 1},
        ]
        r = await p.gw.get("/api/v1/threads/counts", headers=b.key_headers)
        assert r.json()["items"] == [{"sector": "vendas", "count": 1}], r.text
        r = await p.gw.get("/api/v1/threads/counts", headers=a.headers, params={"by": "channel"})
        assert r.status_code == 422, r.text
