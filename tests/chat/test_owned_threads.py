"""Issue 27 (001): a thread records who started it (a user or an API key), `owner=me` lists the caller's own, and
rename, soft delete and restore work on them, through the gateway on the real stack."""

from __future__ import annotations

from tests.support.platform import platform


async def _thread(p, headers, title: str) -> dict:
    r = await p.gw.post("/api/v1/threads", headers=headers, json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()


async def _mine(p, headers, **params) -> list[str]:
    r = await p.gw.get("/api/v1/threads", headers=headers, params={"owner": "me", **params})
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()["items"]]


async def test_threads_record_their_starter_and_owner_me_lists_only_the_callers(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("OwnA")
        agent = await p.member(a, "OwnAgent", "agent")
        b = await p.tenant("OwnB")

        mine = await _thread(p, a.headers, "by admin")
        assert mine["created_by"] == {"kind": "user", "id": a.user_id}
        theirs = await _thread(p, agent.headers, "by agent")
        assert theirs["created_by"] == {"kind": "user", "id": agent.user_id}
        r = await p.gw.post("/api/v1/chat", headers=a.key_headers, json={"message": "hello from a script"})
        assert r.status_code == 200, r.text
        by_key = (await p.gw.get(f"/api/v1/threads/{r.json()['thread_id']}", headers=a.headers)).json()
        assert by_key["created_by"] == {"kind": "api_key", "id": a.ids["key_id"]}
        await _thread(p, b.headers, "other tenant")

        assert await _mine(p, a.headers) == ["by admin"]
        assert await _mine(p, agent.headers) == ["by agent"]
        assert [
            t["id"] for t in (await p.gw.get("/api/v1/threads?owner=me", headers=a.key_headers)).json()["items"]
        ] == [by_key["id"]]
        everyone = (await p.gw.get("/api/v1/threads", headers=a.headers)).json()["items"]
        assert {t["title"] for t in everyone} >= {"by admin", "by agent"} and len(everyone) == 3
        assert await _mine(p, b.headers) == ["other tenant"]
        r = await p.gw.get("/api/v1/threads", headers=a.headers, params={"owner": "someone"})
        assert r.status_code == 422, r.text


async def test_rename_delete_and_restore_an_owned_thread(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("Life")
        b = await p.tenant("LifeB")
        t = await _thread(p, a.headers, "first name")
        url = f"/api/v1/threads/{t['id']}"

        r = await p.gw.patch(url, headers=a.headers, json={"title": "renamed"})
        assert r.status_code == 200 and r.json()["title"] == "renamed", r.text
        assert r.json()["created_by"] == {"kind": "user", "id": a.user_id}
        assert (await p.gw.patch(url, headers=b.headers, json={"title": "stolen"})).status_code == 404

        assert (await p.gw.delete(url, headers=b.headers)).status_code == 404
        assert (await p.gw.delete(url, headers=a.headers)).status_code == 204
        assert (await p.gw.get(url, headers=a.headers)).status_code == 404
        deleted = {"include_deleted": "true"}
        assert (await p.gw.get(url, headers=b.headers, params=deleted)).status_code == 404  # never another tenant's
        assert (await p.gw.get(f"{url}/messages", headers=b.headers, params=deleted)).status_code == 404
        r = await p.gw.get(url, headers=a.headers, params=deleted)
        assert r.status_code == 200 and r.json()["deleted_at"] is not None, r.text
        assert await _mine(p, a.headers) == []
        assert await _mine(p, a.headers, include_deleted="true") == ["renamed"]

        assert (await p.gw.post(f"{url}/restore", headers=b.headers)).status_code == 404
        r = await p.gw.post(f"{url}/restore", headers=a.headers)
        assert r.status_code == 200 and r.json()["deleted_at"] is None, r.text
        assert await _mine(p, a.headers) == ["renamed"]
