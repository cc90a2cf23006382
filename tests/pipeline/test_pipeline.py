"""A customer writes on Telegram or WhatsApp and gets the assistant's answer: once, even in bursts, retries and
with two chat workers."""

import asyncio
import time

from shared.events import Envelope
from shared.events.chat import OUTBOUND_STREAM
from tests.pipeline.conftest import SYSTEM_PROMPT
from tests.support.plugin import wait_for


async def _settle(seconds: float = 1.5) -> None:
    """Give a wrongly duplicated answer the time to show up before counting."""
    await asyncio.sleep(seconds)


async def test_telegram_burst_answered_once_with_all_messages_in_order(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=3, buffer_max_wait_seconds=30)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.start_worker("channels")
    texts = ["oi", "quero uma pizza", "grande", "de calabresa", "para hoje à noite"]
    for i, t in enumerate(texts):
        r = await p.telegram(ch, 100 + i, t)
        assert r.status_code == 200, r.text
        if i < len(texts) - 1:
            await asyncio.sleep(1)
    await wait_for(lambda: p.tg.named("sendMessage"), timeout=20)
    await _settle()
    assert len(p.llm.requests) == 1
    request = p.llm.requests[0]
    system = request["body"]["messages"][0]["content"]
    assert SYSTEM_PROMPT in system and "Seja breve." in system
    assert p.user_texts(request)[-5:] == texts
    [sent] = p.tg.named("sendMessage")
    assert sent["params"]["chat_id"] == "4242" and sent["params"]["text"]
    [typing] = p.tg.named("sendChatAction")  # shown while the answer was prepared
    assert typing["params"]["action"] == "typing" and typing["at"] <= sent["at"]
    threads = (await p.gw.get("/api/v1/threads?channel=telegram", headers=p.headers)).json()["items"]
    assert len(threads) == 1
    msgs = (await p.gw.get(f"/api/v1/threads/{threads[0]['id']}/messages", headers=p.headers)).json()["items"]
    assert [m["role"] for m in msgs] == ["user"] * 5 + ["assistant"]


async def test_whatsapp_through_gateway_buffer_off_and_redelivery(pipeline, redis):
    p = pipeline
    await p.setup_tenant(buffer_enabled=False)
    ch = await p.tenant_channel("whatsapp_twilio")
    p.start_worker("chat")
    p.start_worker("channels")
    for _ in range(3):  # Twilio retries the same MessageSid
        r = await p.twilio(ch, "SM" + "f" * 32, "Vocês entregam no centro?")
        assert r.status_code == 200 and "<Response>" in r.text
    await wait_for(lambda: p.tw.named("messages.create"), timeout=20)
    await _settle()
    [sent] = p.tw.named("messages.create")
    assert sent["auth_ok"] and sent["params"]["To"] == "whatsapp:+5511999990000"
    assert len(p.llm.requests) == 1
    assert p.user_texts(p.llm.requests[0]) == ["Vocês entregam no centro?"]
    assert SYSTEM_PROMPT in p.llm.requests[0]["body"]["messages"][0]["content"]
    contacts = (await p.gw.get("/api/v1/contacts", headers=p.headers)).json()["items"]
    assert len(contacts) == 1 and contacts[0]["name"] == "Caio"
    # WhatsApp has no typing indicator: the flusher sends channels no typing event for it.
    events = [Envelope.from_fields(f) for _, f in await redis.xrange(OUTBOUND_STREAM)]
    mine = [e.type for e in events if e.payload.get("channel_id") == ch["id"]]
    assert mine == ["chat.outbound.v1"]


async def test_max_wait_caps_a_continuous_stream(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=2, buffer_max_wait_seconds=3)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.start_worker("channels")
    started = time.time()
    sent = []  # when each message was accepted
    while not p.llm.requests and time.time() - started < 30:
        await p.telegram(ch, 200 + len(sent), f"mensagem {len(sent)}")
        sent.append(time.time())
        await asyncio.sleep(0.4)
    assert p.llm.requests, "a customer who never pauses was never answered"
    answered = p.llm.requests[0]["at"]
    assert answered - started > 2.5, answered - started  # not before the max wait (3 s) from the first message
    # The 2 s window never passed without a message before the answer: only the max wait can have flushed it. (A
    # machine stalled for 2 s between two sends would make this run prove nothing: it says so.)
    before = [t for t in sent if t < answered]
    gaps = [b - a for a, b in zip([started, *before], before, strict=False)]
    assert max(gaps) < 2.0, f"the customer paused {max(gaps):.1f} s: the window, not the max wait, may have flushed"


async def test_two_chat_workers_answer_each_conversation_once(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=1, buffer_max_wait_seconds=5)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.start_worker("chat")
    p.start_worker("channels")
    customers = list(range(5000, 5012))
    for n, chat_id in enumerate(customers):
        for k in range(2):
            r = await p.telegram(ch, 1000 + n * 10 + k, f"cliente {chat_id} parte {k}", chat_id=chat_id)
            assert r.status_code == 200
    await wait_for(lambda: len(p.tg.named("sendMessage")) >= len(customers), timeout=30)
    await _settle(2.5)
    recipients = sorted(int(c["params"]["chat_id"]) for c in p.tg.named("sendMessage"))
    assert recipients == customers
    assert len(p.llm.requests) == len(customers)


async def test_force_flush_and_buffer_list(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=120, buffer_max_wait_seconds=600)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.start_worker("channels")
    await p.telegram(ch, 300, "alguém aí?")

    async def listed():
        r = await p.gw.get("/api/v1/buffers", headers=p.headers)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    [buf] = await wait_for(listed, timeout=15)
    assert [m["content"] for m in buf["messages"]] == ["alguém aí?"]
    assert buf["channel"] == "telegram" and 100 < buf["seconds_left"] <= 120
    other = await p.gw.post(f"/api/v1/buffers/{buf['thread_id']}:{buf['thread_id']}/flush", headers=p.headers)
    assert other.status_code == 404
    r = await p.gw.post(f"/api/v1/buffers/{buf['key']}/flush", headers=p.headers)
    assert r.status_code == 202, r.text
    await wait_for(lambda: p.tg.named("sendMessage"), timeout=10)
    assert await listed() == []


async def test_takeover_agent_reply_reaches_customer_and_ai_stays_silent(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=False)
    ch = await p.tenant_channel("telegram")
    p.start_worker("chat")
    p.start_worker("channels")
    await p.telegram(ch, 400, "quero falar com um humano")
    await wait_for(lambda: p.tg.named("sendMessage"), timeout=15)
    [thread] = (await p.gw.get("/api/v1/threads", headers=p.headers)).json()["items"]
    r = await p.gw.patch(f"/api/v1/threads/{thread['id']}", json={"ai_enabled": False}, headers=p.headers)
    assert r.status_code == 200, r.text
    r = await p.gw.post(
        f"/api/v1/threads/{thread['id']}/messages",
        headers=p.headers,
        json={"content": "Olá, aqui é a Marta. Como posso ajudar?", "role": "agent"},
    )
    assert r.status_code == 201, r.text
    await p.telegram(ch, 401, "obrigado Marta")
    await wait_for(lambda: len(p.tg.named("sendMessage")) >= 2, timeout=15)
    await _settle()
    texts = [c["params"]["text"] for c in p.tg.named("sendMessage")]
    assert texts[1] == "Olá, aqui é a Marta. Como posso ajudar?" and len(texts) == 2
    assert len(p.llm.requests) == 1  # the AI answered the first message only
