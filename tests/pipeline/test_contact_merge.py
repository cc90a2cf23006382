"""Issue 27 (003): one customer on Telegram and on WhatsApp is two contacts until an agent merges them; then the
contact's history spans both channels, the next Telegram message lands on the merged contact and its answer still
goes to the Telegram chat. Through the gateway with the chat and channels workers."""

from __future__ import annotations

from tests.support.platform import platform
from tests.support.plugin import wait_for

TG_TOKEN = "777777777:AAH" + "m" * 32
TW_TOKEN = "merge-auth-token"


async def test_merge_joins_a_customers_channels(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("Merge")
        other = await p.tenant("MergeB")
        await p.gw.post("/api/v1/assistants", headers=t.headers, json={"name": "Bot", "is_default": True})
        r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"buffer_enabled": False})
        assert r.status_code == 200, r.text
        tg = await p.channel(t, "telegram", bot_token=TG_TOKEN)
        wa = await p.channel(t, "whatsapp_twilio", auth_token=TW_TOKEN)
        p.start_worker("chat")
        p.start_worker("channels")

        async def contacts() -> dict[str, dict]:
            items = (await p.gw.get("/api/v1/contacts", headers=t.headers)).json()["items"]
            return {c["channel"]: c for c in items}

        assert (await p.telegram(tg, 1, "oi pelo telegram")).status_code == 200
        assert (await p.twilio(wa, "SM" + "a" * 32, "oi pelo whatsapp")).status_code == 200
        await wait_for(lambda: _has(contacts, 2), timeout=30)
        await wait_for(lambda: len(p.tg.named("sendMessage")) >= 1, timeout=30)  # the first answer went out
        found = await contacts()
        tg_contact, wa_contact = found["telegram"], found["whatsapp_twilio"]
        stranger = (await p.gw.post("/api/v1/contacts", headers=other.headers, json={"name": "Eve"})).json()

        url = f"/api/v1/contacts/{wa_contact['id']}/merge"
        assert (await p.gw.post(url, headers=t.headers, json={"contact_id": wa_contact["id"]})).status_code == 422
        for body, headers in (  # another tenant's contact, either side
            ({"contact_id": stranger["id"]}, t.headers),
            ({"contact_id": tg_contact["id"]}, other.headers),
        ):
            r = await p.gw.post(url, headers=headers, json=body)
            assert r.status_code == 404, r.text
        r = await p.gw.post(
            f"/api/v1/contacts/{stranger['id']}/merge", headers=t.headers, json={"contact_id": tg_contact["id"]}
        )
        assert r.status_code == 404, r.text

        r = await p.gw.post(url, headers=t.headers, json={"contact_id": tg_contact["id"]})
        assert r.status_code == 200, r.text
        merged = r.json()
        assert merged["id"] == wa_contact["id"] and merged["phone"] == "+5511999990000"
        replay = await p.gw.post(url, headers=t.headers, json={"contact_id": tg_contact["id"]})
        assert replay.status_code == 200 and replay.json() == merged, replay.text
        gone = await p.gw.get(f"/api/v1/contacts/{tg_contact['id']}", headers=t.headers)
        assert gone.status_code == 404 and gone.json()["merged_into"] == wa_contact["id"], gone.text
        assert [c["id"] for c in (await contacts()).values()] == [wa_contact["id"]]

        sent_before = len(p.tg.named("sendMessage"))
        assert (await p.telegram(tg, 2, "de novo pelo telegram")).status_code == 200
        await wait_for(lambda: len(p.tg.named("sendMessage")) > sent_before, timeout=30)
        assert p.tg.named("sendMessage")[-1]["params"]["chat_id"] == "4242"  # the Telegram address, not the phone
        assert len(await contacts()) == 1

        r = await p.gw.get(f"/api/v1/contacts/{wa_contact['id']}/messages", headers=t.headers, params={"limit": 100})
        assert r.status_code == 200, r.text
        history = r.json()["items"]
        texts = [m["content"] for m in history if m["role"] == "user"]
        assert sorted(texts) == sorted(["oi pelo telegram", "oi pelo whatsapp", "de novo pelo telegram"]), history
        assert texts[-1] == "de novo pelo telegram"
        assert {m["contact_id"] for m in history} == {wa_contact["id"]}
        threads = (await p.gw.get("/api/v1/threads", headers=t.headers)).json()["items"]
        assert {th["channel"] for th in threads} == {"telegram", "whatsapp_twilio"}
        assert {th["contact_id"] for th in threads} == {wa_contact["id"]}
        assert len({m["thread_id"] for m in history}) == 2
        r = await p.gw.get(f"/api/v1/contacts/{wa_contact['id']}/messages", headers=other.headers)
        assert r.status_code == 404, r.text


async def _has(contacts, n: int) -> bool:
    return len(await contacts()) >= n
