"""Meta's channels through the gateway, the whole pipeline running (auth, channels, chat, transcription and their
workers) against a stand-in Graph API that records what it got: the subscription check, signatures, retries and
batches, voice notes, images, statuses, the 24-hour window, Graph refusals, Instagram and Messenger, splitting.

One platform for the module (each test on its own senders): the stack is the slow part."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from shared.events.chat import OUTBOUND_STREAM
from tests.support.images import image_bytes
from tests.support.platform import LLM_KEY, META_TOKEN, Platform, platform, wav_bytes
from tests.support.plugin import truncate_all, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE_ID = "1065550001"
PHOTO = image_bytes("PNG", size=(6, 4), color=(20, 120, 220))


class MetaStack:
    def __init__(self, p: Platform, owner, channels: dict[str, dict]) -> None:
        self.p, self.owner, self.ch = p, owner, channels

    async def rows(self, query: str, **params):
        return await self.p.sql(query, **params)

    async def inbound(self, channel: str) -> list[tuple[str, str, str | None]]:
        rows = await self.p.sql(
            "SELECT provider_message_id, kind, text FROM channels.inbound_message WHERE channel_id = :c ORDER BY "
            "received_at, provider_message_id",
            c=self.ch[channel]["id"],
        )
        return [tuple(r) for r in rows]

    def sends(self, to: str) -> list[dict]:
        """Text sends to `to` (WhatsApp `to`, or a page's `recipient.id`) the Graph stand-in took."""
        out = []
        for c in self.p.meta.calls:
            body = c.get("body") or {}
            to_them = body.get("to") == to or (body.get("recipient") or {}).get("id") == to
            if c["method"] == "messages" and "sender_action" not in body and to_them:
                out.append(c)
        return out

    async def delivery(self, to: str) -> tuple[str, str | None, int] | None:
        rows = await self.p.sql(
            "SELECT status, error, parts FROM channels.delivery WHERE recipient = :r ORDER BY created_at DESC", r=to
        )
        return tuple(rows[0]) if rows else None


def wa_note(*messages: dict, statuses: list[dict] | None = None, sender: str = "5511900000001") -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001", "phone_number_id": PHONE_ID},
        "contacts": [{"wa_id": sender, "profile": {"name": "Bia"}}],
        "messages": list(messages),
        "statuses": statuses or [],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def wa_text(mid: str, text: str, sender: str) -> dict:
    return {"from": sender, "id": mid, "timestamp": "1763790000", "type": "text", "text": {"body": text}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def meta(stack, tmp_path_factory):
    client = aioredis.from_url(stack.redis_url)
    await client.flushdb()
    await client.aclose()
    tmp = tmp_path_factory.mktemp("meta")
    async with platform(stack, tmp, services=("auth", "chat", "channels", "transcription")) as p:
        owner = await p.tenant(
            "Meta", tenant_name="Pizzaria Meta", api_key=False, settings={"buffer_enabled": False, "locale": "en-US"}
        )
        r = await p.gw.post(
            "/api/v1/assistants",
            headers=owner.headers,
            json={"name": "Bella", "instructions": "Short.", "is_default": True},
        )
        assert r.status_code == 201, r.text
        channels = {
            "whatsapp_cloud": await p.meta_channel(owner, "whatsapp_cloud", PHONE_ID),
            "templated": await p.meta_channel(
                owner, "whatsapp_cloud", "1065550002", template={"name": "reopen_chat", "language": "pt_BR"}
            ),
            "batched": await p.meta_channel(
                owner, "whatsapp_cloud", "1065550003", buffer_enabled=True, buffer_seconds=1
            ),
            "instagram": await p.meta_channel(owner, "instagram", "17841400000001"),
            "messenger": await p.meta_channel(owner, "messenger", "10855500000002"),
        }
        transcription = p.settings(
            "transcription", default_engine="openai", openai_base_url=f"{p.urls['llm']}/v1", openai_api_key=LLM_KEY
        )
        p.start_worker("chat")
        p.start_worker("channels", send_max_attempts=3)
        p.start_worker("transcription", settings=transcription)
        yield MetaStack(p, owner, channels)
    await truncate_all(stack.database_url)


async def test_the_subscription_check(meta):
    ch = meta.ch["whatsapp_cloud"]
    assert ch["verify_token"] and ch["webhook_url"].endswith(f"/webhooks/meta/{ch['id']}")
    params = {"hub.mode": "subscribe", "hub.verify_token": ch["verify_token"], "hub.challenge": "8123456"}
    r = await meta.p.gw.get(f"/webhooks/meta/{ch['id']}", params=params)
    assert (r.status_code, r.text, r.headers["content-type"].split(";")[0]) == (200, "8123456", "text/plain")
    other = meta.ch["messenger"]["verify_token"]  # another channel's token opens nothing here
    for wrong in ({"hub.verify_token": other}, {"hub.verify_token": ""}, {"hub.mode": "unsubscribe"}):
        r = await meta.p.gw.get(f"/webhooks/meta/{ch['id']}", params=params | wrong)
        assert r.status_code == 403, r.text
    r = await meta.p.gw.get(f"/webhooks/meta/{uuid.uuid4()}", params=params)
    assert r.status_code == 404


async def test_a_signed_text_is_answered_once_though_meta_delivers_it_three_times(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000010"
    note = wa_note(wa_text("wamid.ONCE", "Do you deliver?", sender), sender=sender)
    answers = await asyncio.gather(*(meta.p.meta_webhook(ch, note) for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
    await wait_for(lambda: meta.sends(sender), timeout=30)
    await wait_for(lambda: meta.delivery(sender), timeout=10)
    r = await meta.p.meta_webhook(ch, note)  # a late fourth
    assert r.status_code == 200
    assert await meta.inbound("whatsapp_cloud") == [("wamid.ONCE", "text", "Do you deliver?")]
    [send] = meta.sends(sender)
    assert send["node"] == PHONE_ID and send["version"] == "v21.0" and send["body"]["type"] == "text"
    assert "Do you deliver?" in send["body"]["text"]["body"]
    assert (await meta.delivery(sender))[0] == "sent"


async def test_a_bad_signature_is_refused_and_nothing_is_stored(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000020"
    note = wa_note(wa_text("wamid.FORGED", "forged", sender), sender=sender)
    r = await meta.p.meta_webhook(ch, note, app_secret="ff" * 16)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = await meta.p.gw.post(f"/webhooks/meta/{ch['id']}", content=orjson.dumps(note))  # unsigned
    assert r.status_code == 403
    assert not await meta.rows("SELECT 1 FROM channels.inbound_message WHERE provider_message_id = 'wamid.FORGED'")


async def test_a_batch_of_several_messages_is_stored_and_answered_together(meta):
    ch, sender = meta.ch["batched"], "5511900000030"
    first = wa_note(
        wa_text("wamid.B1", "one large pizza", sender), wa_text("wamid.B2", "with olives", sender), sender=sender
    )
    first["entry"].append(wa_note(wa_text("wamid.B3", "and a coke", sender), sender=sender)["entry"][0])
    r = await meta.p.meta_webhook(ch, first)
    assert r.status_code == 200 and r.text == "EVENT_RECEIVED"
    assert [m[0] for m in await meta.inbound("batched")] == ["wamid.B1", "wamid.B2", "wamid.B3"]
    await wait_for(lambda: meta.sends(sender), timeout=30)
    [send] = meta.sends(sender)  # one burst, one answer
    [request] = [q for q in meta.p.llm.requests if "and a coke" in orjson.dumps(q["body"]).decode()]
    heard = " ".join(meta.p.user_texts(request))
    assert all(t in heard for t in ("one large pizza", "with olives", "and a coke")), heard
    assert send["body"]["to"] == sender


async def test_a_voice_note_is_answered_from_its_transcript(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000040"
    meta.p.meta.media["VOICE1"] = (wav_bytes(0.5), "audio/ogg")
    voice = {
        "from": sender,
        "id": "wamid.VOICE",
        "type": "audio",
        "audio": {"id": "VOICE1", "mime_type": "audio/ogg", "voice": True},
    }
    r = await meta.p.meta_webhook(ch, wa_note(voice, sender=sender))
    assert r.status_code == 200
    await wait_for(lambda: meta.sends(sender), timeout=60)
    fetched = [c for c in meta.p.meta.calls if c.get("media_id") == "VOICE1"]
    assert [c["method"] for c in fetched] == ["media", "download"] and all(c["token"] for c in fetched)
    heard = [q for q in meta.p.llm.requests if "pizza with mushrooms" in " ".join(meta.p.user_texts(q))]
    assert heard, "the LLM never heard the transcript"
    assert "pizza with mushrooms" in meta.sends(sender)[0]["body"]["text"]["body"]


async def test_an_image_is_stored_as_an_attachment(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000050"
    meta.p.meta.media["IMG1"] = (PHOTO, "image/png")
    image = {"from": sender, "id": "wamid.IMG", "type": "image", "image": {"id": "IMG1", "mime_type": "image/png"}}
    r = await meta.p.meta_webhook(ch, wa_note(image, sender=sender))
    assert r.status_code == 200
    await wait_for(lambda: meta.sends(sender), timeout=60)  # answered once the photo is stored
    fetched = [c for c in meta.p.meta.calls if c.get("media_id") == "IMG1"]
    assert [(c["method"], c["token"]) for c in fetched] == [("media", META_TOKEN), ("download", META_TOKEN)]
    [(thread_id,)] = await meta.rows(
        "SELECT t.id FROM chat.thread t JOIN chat.contact c ON c.id = t.contact_id WHERE c.external_id = :s", s=sender
    )
    headers = meta.owner.headers
    msgs = (await meta.p.gw.get(f"/api/v1/threads/{thread_id}/messages", headers=headers)).json()["items"]
    [photo] = [m for m in msgs if m["attachments"]]
    assert photo["content"] == "[image]" and photo["attachments"][0]["size"] == len(PHOTO)
    got = await meta.p.gw.get(photo["attachments"][0]["url"], headers=headers)
    assert got.status_code == 200 and got.content == PHOTO and got.headers["content-type"] == "image/png"


async def test_status_updates_move_the_delivery(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000060"
    await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.ST", "status please", sender), sender=sender))
    await wait_for(lambda: meta.delivery(sender), timeout=30)
    await wait_for(lambda: _status_is(meta, sender, "sent"), timeout=10)
    rows = await meta.rows("SELECT provider_message_ids FROM channels.delivery WHERE recipient = :r", r=sender)
    wamid = rows[0][0]
    statuses = [
        {"id": wamid, "status": "read", "timestamp": "3", "recipient_id": sender},
        {"id": wamid, "status": "delivered", "timestamp": "2", "recipient_id": sender},  # out of order, same batch
        {"id": "wamid.SOMEONE_ELSES", "status": "failed", "timestamp": "2", "recipient_id": sender},
    ]
    r = await meta.p.meta_webhook(ch, wa_note(statuses=statuses, sender=sender))
    assert r.status_code == 200
    assert (await meta.delivery(sender))[:2] == ("read", None)
    late = [{"id": wamid, "status": "delivered", "timestamp": "4", "recipient_id": sender}]
    await meta.p.meta_webhook(ch, wa_note(statuses=late, sender=sender))
    assert (await meta.delivery(sender))[0] == "read"  # never back


async def _status_is(meta, to: str, status: str) -> bool:
    d = await meta.delivery(to)
    return d is not None and d[0] == status


async def test_outside_the_24_hour_window_the_template_is_sent(meta):
    ch, sender = meta.ch["templated"], "5511900000070"
    meta.p.meta.fail(400, code=131047)
    await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.W1", "are you there?", sender), sender=sender))
    await wait_for(lambda: _status_is(meta, sender, "sent"), timeout=30)
    free, template = meta.sends(sender)
    assert free["body"]["type"] == "text"
    assert template["body"]["template"] == {"name": "reopen_chat", "language": {"code": "pt_BR"}}


async def test_outside_the_window_without_a_template_the_thread_goes_to_a_human(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000080"
    meta.p.meta.fail(400, code=131047)
    await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.W2", "hello again", sender), sender=sender))
    await wait_for(lambda: _status_is(meta, sender, "failed"), timeout=30)
    status, error, _ = await meta.delivery(sender)
    assert "24-hour" in error and len(meta.sends(sender)) == 1

    async def flagged():
        rows = await meta.rows(
            "SELECT t.needs_human FROM chat.thread t JOIN chat.contact c ON c.id = t.contact_id "
            "WHERE c.external_id = :s OR c.phone = :s",
            s=sender,
        )
        return rows and rows[0][0]

    await wait_for(flagged, timeout=30)


async def test_a_window_closed_status_reported_later_hands_the_thread_to_a_human(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000085"
    await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.W3", "still open?", sender), sender=sender))
    await wait_for(lambda: _status_is(meta, sender, "sent"), timeout=30)
    [(wamid,)] = await meta.rows("SELECT provider_message_ids FROM channels.delivery WHERE recipient = :r", r=sender)
    failed = {"id": wamid, "status": "failed", "recipient_id": sender,
              "errors": [{"code": 131047, "title": "Re-engagement message"}]}  # fmt: skip
    for _ in range(2):  # Meta redelivers: one hand-over event
        r = await meta.p.meta_webhook(ch, wa_note(statuses=[failed], sender=sender))
        assert r.status_code == 200
    status, error, _ = await meta.delivery(sender)
    assert (status, error) == ("failed", "meta error 131047: Re-engagement message")
    await wait_for(lambda: _needs_human(meta, sender), timeout=30)
    events = await meta.rows(
        "SELECT count(*) FROM channels.outbox WHERE stream = 'channels.delivery_failed.v1' AND payload->>'reason' "
        "LIKE 'meta error 131047%' AND payload->>'message_id' IS NOT NULL"
    )
    assert events[0][0] == 1


async def _needs_human(meta, sender: str) -> bool:
    rows = await meta.rows(
        "SELECT t.needs_human FROM chat.thread t JOIN chat.contact c ON c.id = t.contact_id WHERE c.external_id = :s",
        s=sender,
    )
    return bool(rows and rows[0][0])


async def test_an_invalid_token_fails_the_delivery_to_the_dlq(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000090"
    meta.p.meta.tokens.discard(next(iter(meta.p.meta.tokens)))
    try:
        await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.TOK", "token test", sender), sender=sender))
        await wait_for(lambda: _status_is(meta, sender, "failed"), timeout=30)
    finally:
        meta.p.meta.tokens.add(META_TOKEN)
    status, error, _ = await meta.delivery(sender)
    assert "access token" in error and len(meta.sends(sender)) == 1  # not retried
    client = aioredis.from_url(meta.p.stack.redis_url)
    try:
        dlq = await client.xrange(OUTBOUND_STREAM.dlq)
    finally:
        await client.aclose()
    assert any(sender.encode() in b"".join(v for v in fields.values()) for _, fields in dlq)


async def test_rate_limits_are_retried(meta):
    ch, sender = meta.ch["whatsapp_cloud"], "5511900000100"
    meta.p.meta.fail(400, code=130429)
    await meta.p.meta_webhook(ch, wa_note(wa_text("wamid.RL", "busy?", sender), sender=sender))
    await wait_for(lambda: _status_is(meta, sender, "sent"), timeout=30)
    assert len(meta.sends(sender)) == 2


@pytest.mark.parametrize(("kind", "node"), [("instagram", "17841400000001"), ("messenger", "10855500000002")])
async def test_instagram_and_messenger_text_in_and_out(meta, kind, node):
    ch, sender = meta.ch[kind], f"{kind}-psid-1"
    event = {
        "sender": {"id": sender},
        "recipient": {"id": node},
        "timestamp": 1,
        "message": {"mid": f"m_{kind}", "text": "hi there"},
    }
    echo = {
        "sender": {"id": node},
        "recipient": {"id": sender},
        "message": {"mid": f"m_{kind}_echo", "text": "x", "is_echo": True},
    }
    note = {
        "object": "instagram" if kind == "instagram" else "page",
        "entry": [{"id": node, "messaging": [event, echo]}],
    }
    r = await meta.p.meta_webhook(ch, note)
    assert r.status_code == 200
    await wait_for(lambda: meta.sends(sender), timeout=30)
    [send] = meta.sends(sender)
    assert send["node"] == node and send["body"]["messaging_type"] == "RESPONSE"
    assert "hi there" in send["body"]["message"]["text"]
    assert await meta.inbound(kind) == [(f"m_{kind}", "text", "hi there")]


@pytest.mark.parametrize(("kind", "limit"), [("whatsapp_cloud", 4096), ("instagram", 1000), ("messenger", 2000)])
async def test_replies_are_split_at_each_platform_limit(meta, kind, limit):
    ch, sender = meta.ch[kind], f"split-{kind}"
    sentence = "This sentence is part of a long answer. "
    answer = meta.p.llm.fixed_answer = sentence * (2 * limit // len(sentence) + 3)  # just over twice the limit
    try:
        if kind == "whatsapp_cloud":
            note = wa_note(wa_text(f"wamid.SPLIT{kind}", "tell me everything", sender), sender=sender)
        else:
            event = {"sender": {"id": sender}, "message": {"mid": f"m_split_{kind}", "text": "tell me everything"}}
            note = {"object": "page", "entry": [{"id": "x", "messaging": [event]}]}
        await meta.p.meta_webhook(ch, note)
        await wait_for(lambda: _status_is(meta, sender, "sent"), timeout=30)
    finally:
        meta.p.llm.fixed_answer = None
    texts = [
        s["body"]["text"]["body"] if "text" in s["body"] else s["body"]["message"]["text"] for s in meta.sends(sender)
    ]
    assert len(texts) == 3 and all(len(t) <= limit for t in texts), [len(t) for t in texts]
    assert " ".join(texts) == answer.strip()
