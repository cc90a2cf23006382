"""Issue 27 (003): GET /api/v1/contacts/{id}/messages is a customer's whole history across their threads: a closed
channel conversation, the next one the channel opened, and one an agent opened for the contact through the API.
Through the gateway with the chat and channels workers."""

from __future__ import annotations

from tests.support.platform import platform
from tests.support.plugin import wait_for


async def test_contact_history_spans_every_thread_of_the_customer(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("History")
        other = await p.tenant("HistoryB")
        ch = await p.answering_channel(t, "telegram", bot_token="666666666:AAH" + "h" * 32)

        async def threads():
            r = await p.gw.get("/api/v1/threads", headers=t.headers, params={"include_deleted": "true"})
            return r.json()["items"]

        assert (await p.telegram(ch, 1, "first visit")).status_code == 200
        first = (await wait_for(threads, timeout=30))[0]
        r = await p.gw.patch(f"/api/v1/threads/{first['id']}", headers=t.headers, json={"status": "closed"})
        assert r.status_code == 200, r.text
        assert (await p.telegram(ch, 2, "second visit")).status_code == 200
        await wait_for(lambda: _two(threads), timeout=30)
        contact_id = first["contact_id"]
        r = await p.gw.post("/api/v1/threads", headers=t.headers, json={"contact_id": contact_id, "title": "follow-up"})
        assert r.status_code == 201, r.text
        follow_up = r.json()
        r = await p.gw.post(
            f"/api/v1/threads/{follow_up['id']}/messages",
            headers=t.headers,
            json={"content": "we called you back", "role": "agent"},
        )
        assert r.status_code == 201, r.text

        r = await p.gw.get(f"/api/v1/contacts/{contact_id}/messages", headers=t.headers, params={"limit": 100})
        assert r.status_code == 200, r.text
        history = r.json()["items"]
        assert len({m["thread_id"] for m in history}) == 3, history
        texts = [m["content"] for m in history if m["role"] in ("user", "agent")]
        assert texts == ["first visit", "second visit", "we called you back"], history
        r = await p.gw.get(f"/api/v1/contacts/{contact_id}/messages", headers=other.headers)
        assert r.status_code == 404, r.text


async def _two(threads) -> bool:
    return len(await threads()) >= 2
