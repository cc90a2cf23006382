"""GET /api/v1/events through the gateway: the console's live feed of the caller's tenant (SSE).

A message posted through the API and a customer's webhook message (the pipeline's fast path) reach the stream as
`message.created` within a second; a buffer change as `buffer.updated`; a PATCH as `thread.updated`; another
tenant's stream gets none of it; a reconnect with Last-Event-ID replays what was missed.
"""

from __future__ import annotations

import orjson

from shared.events.search import INDEX_STREAM
from tests.support.platform import SSEListener, platform
from tests.support.plugin import wait_for


async def _mirror_ready(redis) -> bool:
    try:
        return any(g["name"] == b"chat.live" for g in await redis.xinfo_groups(INDEX_STREAM))
    except Exception:  # noqa: BLE001 - the stream does not exist yet
        return False


async def test_live_feed_delivers_own_tenant_events_and_resumes(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a, b = await p.tenant("LiveA"), await p.tenant("LiveB")
        p.start_worker("chat")
        p.start_worker("channels")
        await wait_for(lambda: _mirror_ready(redis))
        gw = p.gw
        assert (await gw.get("/api/v1/events")).status_code == 401
        r = await gw.post("/api/v1/assistants", headers=a.headers, json={"name": "Bot", "is_default": True})
        assert r.status_code == 201, r.text

        async with (
            SSEListener(gw, "/api/v1/events", a.headers) as feed_a,
            SSEListener(gw, "/api/v1/events", {"X-API-Key": b.api_key}) as feed_b,
        ):
            assert feed_a.status == 200 and feed_b.status == 200
            # a message posted through the API
            r = await gw.post("/api/v1/threads", headers=a.headers, json={"title": "live"})
            assert r.status_code == 201, r.text
            thread_id = r.json()["id"]
            r = await gw.post(f"/api/v1/threads/{thread_id}/messages", headers=a.headers, json={"content": "olá"})
            assert r.status_code == 201, r.text
            exchange = r.json()
            posted = {exchange["user_message"]["id"], exchange["assistant_message"]["id"]}
            seen = set()
            while not posted <= seen:  # the customer's message and the AI's answer, each within a second
                data = orjson.loads((await feed_a.next("message.created", timeout=1.0)).data)
                assert data["thread_id"] == thread_id
                seen.add(data["message_id"])

            # a PATCH
            r = await gw.patch(f"/api/v1/threads/{thread_id}", headers=a.headers, json={"title": "renamed"})
            assert r.status_code == 200, r.text
            got = await feed_a.next("thread.updated")
            assert orjson.loads(got.data)["thread_id"] == thread_id
            last_id = got.id

            # a customer's webhook message, through channels and chat's pipeline: stored, then buffered
            ch = await p.channel(a, "telegram", bot_token="9876543:AAHliveFeedBotToken9Xy8Wv7Ut6Sr5Qp4O")
            assert (await p.telegram(ch, 1, "bom dia")).status_code == 200
            created = orjson.loads((await feed_a.next("message.created", timeout=1.0)).data)
            assert created["role"] == "user" and created["thread_id"] != thread_id
            buffered = orjson.loads((await feed_a.next("buffer.updated")).data)
            assert buffered["thread_id"] == created["thread_id"] and buffered["pending"] >= 1

            # tenant B heard nothing of tenant A
            assert feed_b.drain() == []

        # reconnect with the last id seen before the webhook: the missed events come again, in order
        async with SSEListener(gw, "/api/v1/events", {**a.headers, "Last-Event-ID": last_id}) as again:
            replayed = orjson.loads((await again.next("message.created")).data)
            assert replayed["message_id"] == created["message_id"]
            assert orjson.loads((await again.next("buffer.updated")).data)["thread_id"] == created["thread_id"]
