"""Issue 27: fixed customer-facing texts follow the customer's language (detected from their message) or else the
tenant's locale (pt-BR by default); and a tenant whose status auth cannot confirm is never answered by the AI (fail
safe), its messages stored for humans. Through the gateway, in knowledge-only mode (no LLM, no knowledge: every
question gets the hand-over text), with the chat and channels workers and the Telegram stand-in."""

from __future__ import annotations

import asyncio

from devtools.embedded import free_port
from shared.i18n.texts import TEXTS
from tests.support.platform import platform
from tests.support.plugin import wait_for

PT, EN, ES = (TEXTS[lang]["handover"] for lang in ("pt-BR", "en", "es"))
NO_LLM = {"chat": {"llm_base_url": "", "llm_api_key": ""}}


async def _handover(p, t, question: str) -> str:
    r = await p.gw.post("/api/v1/threads", headers=t.headers, json={"message": question})
    assert r.status_code == 201, r.text
    answer = r.json()["assistant_message"]
    assert answer["model"] == "knowledge-only", answer
    return answer["content"]


async def test_the_handover_text_speaks_the_customers_language(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings=NO_LLM) as p:
        t = await p.tenant("Lingua")
        assert (await p.gw.get(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers)).json()["locale"] == "pt-BR"
        assert PT != EN and "Obrigado" in PT and "Thanks" in EN and "Gracias" in ES

        # The API: the question's language wins; an unclear one ("ok") gets the tenant's locale, pt-BR by default.
        assert await _handover(p, t, "Olá, vocês entregam hoje à noite?") == PT
        assert await _handover(p, t, "Hello, do you deliver tonight?") == EN
        assert await _handover(p, t, "Hola, ¿entregan hoy por la noche?") == ES
        assert await _handover(p, t, "ok") == PT
        r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"locale": "en-US"})
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.6)  # past CHAT_TENANT_CACHE_SECONDS of the platform (0.5 s)
        assert await _handover(p, t, "ok") == EN
        assert await _handover(p, t, "Quero falar com uma pessoa, por favor") == PT

        # A channel customer: the flusher's answer, as Telegram receives it.
        r = await p.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"buffer_enabled": False})
        assert r.status_code == 200, r.text
        ch = await p.channel(t, "telegram", bot_token="616161616:AAH" + "l" * 32)
        p.start_worker("chat", **NO_LLM["chat"])
        p.start_worker("channels")
        assert (
            await p.telegram(ch, 1, "Boa noite, qual o horário de atendimento amanhã?", chat_id=71)
        ).status_code == 200
        sent = await wait_for(lambda: [c for c in p.tg.calls if c["method"] == "sendMessage"] or None, timeout=30)
        assert [c["params"]["text"] for c in sent] == [PT], sent


async def test_a_tenant_auth_cannot_vouch_for_is_not_answered_but_its_messages_are_kept(
    stack, committed_db, redis, tmp_path
):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("Unsure")
        await p.gw.post("/api/v1/assistants", headers=t.headers, json={"name": "Bot", "is_default": True})
        ch = await p.channel(t, "telegram", bot_token="626262626:AAH" + "u" * 32)
        # The channel's own override: with the tenant's settings unknown, the platform default would buffer 10 s.
        r = await p.gw.patch(
            f"/api/v1/channels/{ch['id']}", headers=t.headers, json={"settings": {"buffer_enabled": False}}
        )
        assert r.status_code == 200, r.text
        # The chat worker cannot reach auth's tenant settings: it cannot tell whether the tenant is active.
        p.start_worker("chat", tenant_settings_url=f"http://127.0.0.1:{free_port()}")
        p.start_worker("channels")
        question = "is anyone there while auth is down?"
        assert (await p.telegram(ch, 1, question, chat_id=72)).status_code == 200

        async def thread_messages():
            r = await p.gw.get("/api/v1/threads", headers=t.headers, params={"channel": "telegram"})
            items = r.json()["items"]
            if not items:
                return None
            r = await p.gw.get(f"/api/v1/threads/{items[0]['id']}/messages", headers=t.headers)
            return r.json()["items"] or None

        stored = await wait_for(thread_messages, timeout=20)
        await asyncio.sleep(2.0)  # what an answer needs with the buffer off and the stand-in LLM
        assert [(m["role"], m["content"]) for m in await thread_messages()] == [("user", question)], stored
        assert [c for c in p.tg.calls if c["method"] == "sendMessage"] == []
        assert p.llm.requests == []
