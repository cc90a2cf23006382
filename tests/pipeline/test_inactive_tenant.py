"""Issue 27 (002): an inactive tenant's channel keeps accepting webhooks (stored, 200) but the AI does not answer;
after reactivation the messages that came meanwhile stay unanswered (a human sees them in the thread) and new
ones are answered normally. Through the gateway, with the chat and channels workers and the Telegram stand-in."""

from __future__ import annotations

import asyncio

from tests.support.platform import platform
from tests.support.plugin import wait_for


def _sent(p) -> list[dict]:
    return [c for c in p.tg.calls if c["method"] == "sendMessage"]


async def _thread_messages(p, t) -> list[dict]:
    threads = (await p.gw.get("/api/v1/threads", headers=t.headers, params={"channel": "telegram"})).json()["items"]
    assert len(threads) == 1, threads
    assert threads[0]["created_by"] is None  # a customer started it, not a user or a key
    r = await p.gw.get(f"/api/v1/threads/{threads[0]['id']}/messages", headers=t.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _set_status(p, su: dict, t, status: str) -> None:
    r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=su, json={"status": status})
    assert r.status_code == 200 and r.json()["status"] == status, r.text
    await asyncio.sleep(1.0)  # past CHAT_TENANT_CACHE_SECONDS of the stack (0.5 s), tenants.changed.v1 aside


async def _superuser(p) -> dict:
    root = await p.tenant("Root")
    await p.execute('UPDATE auth."user" SET is_superuser = true WHERE id = :i', i=root.user_id)
    return {"Authorization": f"Bearer {(await p.login(root.email))['access_token']}"}


async def test_inactive_tenant_stores_webhooks_unanswered_and_answers_new_ones_after_reactivation(
    stack, committed_db, redis, tmp_path
):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("Sleepy")
        su = await _superuser(p)
        ch = await p.answering_channel(t, "telegram", bot_token="444444444:AAH" + "s" * 32)

        await _set_status(p, su, t, "inactive")
        assert (await p.gw.get("/api/v1/threads", headers=t.key_headers)).status_code in (401, 403)
        assert (await p.telegram(ch, 1, "anyone there while you are closed?")).status_code == 200

        async def stored():
            rows = await p.sql(
                "SELECT role FROM chat.message WHERE tenant_id = :t AND content = :c",
                t=t.tenant_id,
                c="anyone there while you are closed?",
            )
            return rows or None

        await wait_for(stored, timeout=20)
        await asyncio.sleep(2.0)  # what an answer would need with the buffer off
        assert _sent(p) == []
        assert [r[0] for r in await p.sql("SELECT role FROM chat.message WHERE tenant_id = :t", t=t.tenant_id)] == [
            "user"
        ]

        await _set_status(p, su, t, "active")
        t.token = (await p.login(t.email, t.tenant_id))["access_token"]
        await asyncio.sleep(1.5)
        # Visible to a human, and not answered late by the AI.
        assert [(m["role"], m["content"]) for m in await _thread_messages(p, t)] == [
            ("user", "anyone there while you are closed?")
        ]
        assert _sent(p) == []

        assert (await p.telegram(ch, 2, "hello again, are you open now?")).status_code == 200
        await wait_for(lambda: _sent(p), timeout=30)
        messages = await _thread_messages(p, t)
        assert [m["role"] for m in messages] == ["user", "user", "assistant"], messages
        assert len(_sent(p)) == 1


async def test_a_burst_waiting_when_the_tenant_goes_inactive_is_never_answered(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("Paused")
        su = await _superuser(p)
        await p.gw.post("/api/v1/assistants", headers=t.headers, json={"name": "Bot", "is_default": True})
        r = await p.gw.patch(
            f"/api/v1/tenants/{t.tenant_id}",
            headers=t.headers,
            json={"buffer_enabled": True, "buffer_seconds": 3, "buffer_max_wait_seconds": 3},
        )
        assert r.status_code == 200, r.text
        ch = await p.channel(t, "telegram", bot_token="555555555:AAH" + "p" * 32)
        await asyncio.sleep(1.0)
        p.start_worker("chat")
        p.start_worker("channels")

        assert (await p.telegram(ch, 1, "in the buffer when the lights go out")).status_code == 200

        async def buffered():
            r = await p.gw.get("/api/v1/buffers", headers=t.headers)
            return r.json() if r.status_code == 200 and r.json() else None

        await wait_for(buffered, timeout=20)
        await _set_status(p, su, t, "inactive")
        await asyncio.sleep(4.0)  # the buffer's window has passed: the flusher took the burst and dropped it
        await _set_status(p, su, t, "active")
        t.token = (await p.login(t.email, t.tenant_id))["access_token"]
        await asyncio.sleep(2.0)
        assert _sent(p) == []
        assert [m["role"] for m in await _thread_messages(p, t)] == ["user"]
