"""The web chat widget's conversation through the gateway, on the whole stack: a visitor's message reaches the AI
through the same intake as every channel and the answer arrives on the visitor's SSE stream; the conversation is in
the inbox as channel `web` with the visitor's name and email; an agent's reply arrives live; a reconnect with
Last-Event-ID (on another channels replica) gets what was missed while away; a returning visitor resumes their
conversation; a photo reaches the thread as an attachment."""

from __future__ import annotations

import base64
import io

import httpx
import orjson
from PIL import Image

from services.channels.app import create_app
from tests.support.platform import WIDGET_ORIGIN, SSEListener, platform
from tests.support.plugin import serve_app, wait_for


async def test_visitor_conversation_live_and_resumed(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a = await p.tenant("WebA")
        p.start_worker("chat")
        p.start_worker("channels")
        r = await p.gw.post("/api/v1/assistants", headers=a.headers, json={"name": "Bot", "is_default": True})
        assert r.status_code == 201, r.text
        ch = await p.web_channel(a)
        assert ch["type"] == "web" and ch["public_key"].startswith("wk_") and ch["webhook_url"] == ""

        r = await p.widget_session(ch, name="Marina Costa", email="marina@example.com")
        assert r.status_code == 201, r.text
        assert r.headers["access-control-allow-origin"] == WIDGET_ORIGIN
        session = r.json()
        assert session["expires_in"] > 0 and session["channel"]["locale"] == "en"
        visitor = {"Authorization": f"Bearer {session['visitor_token']}", "Origin": WIDGET_ORIGIN}

        async with SSEListener(p.gw, "/api/v1/widget/stream", visitor) as stream:
            assert stream.status == 200
            r = await p.gw.post("/api/v1/widget/messages", headers=visitor, json={"text": "Do you deliver on Sundays?"})
            assert r.status_code == 202, r.text
            sent_id = r.json()["id"]
            mine = await stream.next("message", timeout=5)
            assert mine.id == sent_id and orjson.loads(mine.data)["role"] == "user"
            answer = orjson.loads((await stream.next("message", timeout=15)).data)
            assert answer["role"] == "assistant" and answer["content"].endswith("to: Do you deliver on Sundays?")
            await stream.next("typing", timeout=5)  # chat's typing hint came before the answer

            # the inbox: channel web, the visitor's name on the contact
            threads = (await p.gw.get("/api/v1/threads", headers=a.headers, params={"channel": "web"})).json()["items"]
            assert len(threads) == 1 and threads[0]["channel"] == "web"
            thread_id = threads[0]["id"]
            contacts = (await p.gw.get("/api/v1/contacts", headers=a.headers)).json()["items"]
            web = [(c["name"], c["email"]) for c in contacts if c["channel"] == "web"]
            assert web == [("Marina Costa", "marina@example.com")]

            # an agent's reply from the inbox arrives live
            r = await p.gw.post(
                f"/api/v1/threads/{thread_id}/messages",
                headers=a.headers,
                json={"content": "Yes, from 10 to 14h.", "role": "agent"},
            )
            assert r.status_code == 201, r.text
            agent = await stream.next("message", timeout=10)
            assert orjson.loads(agent.data)["role"] == "agent"
            assert orjson.loads(agent.data)["content"] == "Yes, from 10 to 14h."
            last_seen = agent.id

        # away: two agent replies are sent while the visitor's stream is closed
        for text in ("Anything else?", "We are here until 18h."):
            r = await p.gw.post(
                f"/api/v1/threads/{thread_id}/messages", headers=a.headers, json={"content": text, "role": "agent"}
            )
            assert r.status_code == 201, r.text

        async def delivered() -> bool:
            items = (await p.gw.get("/api/v1/widget/messages", headers=visitor)).json()["items"]
            return len(items) == 5

        await wait_for(delivered, timeout=10)
        # the visitor comes back on another channels replica: it replays what was missed, then gets replies live
        replica = create_app(p.settings("channels"))
        async with (
            serve_app(replica, proxy_headers=False) as replica_url,
            httpx.AsyncClient(base_url=replica_url, timeout=30) as other,
            SSEListener(other, "/api/v1/widget/stream", {**visitor, "Last-Event-ID": last_seen}) as again,
        ):
            missed = [orjson.loads((await again.next("message", timeout=5)).data)["content"] for _ in range(2)]
            assert missed == ["Anything else?", "We are here until 18h."]
            r = await p.gw.post(
                f"/api/v1/threads/{thread_id}/messages", headers=a.headers, json={"content": "Bye!", "role": "agent"}
            )
            assert r.status_code == 201, r.text
            assert orjson.loads((await again.next("message", timeout=10)).data)["content"] == "Bye!"

        # the history: the visitor's own conversation, in order, never anything internal
        items = (await p.gw.get("/api/v1/widget/messages", headers=visitor)).json()["items"]
        assert [i["role"] for i in items] == ["user", "assistant", "agent", "agent", "agent", "agent"]
        after = (await p.gw.get("/api/v1/widget/messages", headers=visitor, params={"after": last_seen})).json()
        assert [i["content"] for i in after["items"]] == ["Anything else?", "We are here until 18h.", "Bye!"]

        # a returning visitor (the browser kept visitor_id) resumes the same conversation
        r = await p.widget_session(ch, visitor_id=session["visitor_id"])
        assert r.status_code == 201 and r.json()["visitor_id"] == session["visitor_id"]
        back = {"Authorization": f"Bearer {r.json()['visitor_token']}"}
        assert len((await p.gw.get("/api/v1/widget/messages", headers=back)).json()["items"]) == 6

        # a photo with a caption: through the media route into the thread as an attachment; the transcript shows it
        r = await p.gw.post(
            "/api/v1/widget/messages",
            headers=back,
            json={"text": "this one", "attachments": [{"type": "image", "data": _png(), "mime_type": "image/png"}]},
        )
        assert r.status_code == 202, r.text

        async def attached() -> list:
            page = (await p.gw.get(f"/api/v1/threads/{thread_id}/messages", headers=a.headers)).json()["items"]
            return [m for m in page if m.get("attachments")]

        (photo,) = await wait_for(attached, timeout=15)
        assert photo["content"] == "this one" and photo["attachments"][0]["mime_type"] == "image/png"
        mine = (await p.gw.get("/api/v1/widget/messages", headers=back)).json()["items"]
        assert next(i for i in mine if i["id"] == r.json()["id"])["content"] == "[image]\nthis one"


def _png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()
