"""The conversation pipeline for real: auth, channels and chat apps over HTTP, the gateway in front, the channels
and chat workers (relays, consumers, flusher) running on the real streams, and stand-in Telegram, Twilio and LLM
servers recording what they receive."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from twilio.request_validator import RequestValidator

from devtools.embedded import free_port
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from services.auth.app import create_app as create_auth
from services.auth.config import AuthSettings
from services.channels.app import create_app as create_channels
from services.channels.config import ChannelsSettings
from services.chat.app import create_app as create_chat
from services.chat.config import ChatSettings
from shared.crypto import SecretBox
from tests.support.llm import LLMStandIn
from tests.support.plugin import serve_app
from tests.support.providers import TelegramStandIn, TwilioStandIn

LLM_KEY = "sk-pipeline-test"
BOT_TOKEN = "1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # fake: shaped like a token, not one
TWILIO_SID = "AC" + "2" * 32
TWILIO_TOKEN = "twilio-pipeline-token-0123"
SYSTEM_PROMPT = "Você é o atendente da Pizzaria Bella. Responda em português."


class Pipeline:
    def __init__(self, stack, urls, llm, tg, tw):
        self.stack = stack
        self.urls = urls
        self.llm = llm
        self.tg = tg
        self.tw = tw
        self.gw = httpx.AsyncClient(base_url=urls["gateway"], timeout=30)
        self.workers: list[tuple[asyncio.Event, asyncio.Task]] = []
        self.tenant_id = None
        self.headers = {}

    def chat_settings(self, **kw) -> ChatSettings:
        return self.stack.settings(
            ChatSettings,
            llm_base_url=f"{self.urls['llm']}/v1",
            llm_api_key=LLM_KEY,
            llm_model="stand-in-model",
            llm_timeout_seconds=5.0,
            llm_max_retries=1,
            auth_url=self.urls["auth"],
            tenant_settings_url=self.urls["auth"],
            tenant_cache_seconds=0.5,
            events_relay_interval_ms=20,
            search_url="",
            **kw,
        )

    def channels_settings(self, **kw) -> ChannelsSettings:
        return self.stack.settings(
            ChannelsSettings,
            telegram_api_url=self.urls["telegram"],
            twilio_api_url=self.urls["twilio"],
            public_base_url=self.urls["gateway"],
            auth_url=self.urls["auth"],
            events_relay_interval_ms=20,
            **kw,
        )

    def start_worker(self, run, settings) -> asyncio.Event:
        stop = asyncio.Event()
        self.workers.append((stop, asyncio.create_task(run(settings, stop))))
        return stop

    async def setup_tenant(self, **settings) -> None:
        email = f"owner{uuid.uuid4().hex[:6]}@example.com"
        password = "correct-horse-battery"
        r = await self.gw.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "full_name": "Bella", "tenant_name": "Pizzaria Bella"},
        )
        assert r.status_code == 201, r.text
        r = await self.gw.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = (await self.gw.get("/api/v1/auth/me", headers=self.headers)).json()
        self.tenant_id = me["memberships"][0]["tenant_id"]
        r = await self.gw.patch(
            f"/api/v1/tenants/{self.tenant_id}", headers=self.headers, json={"system_prompt": SYSTEM_PROMPT} | settings
        )
        assert r.status_code == 200, r.text
        r = await self.gw.post(
            "/api/v1/assistants",
            headers=self.headers,
            json={"name": "Bella", "instructions": "Seja breve.", "is_default": True},
        )
        assert r.status_code == 201, r.text

    async def channel(self, kind: str, **extra) -> dict:
        creds = (
            {"bot_token": BOT_TOKEN}
            if kind == "telegram"
            else {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "whatsapp:+14155238886"}
        )
        r = await self.gw.post(
            "/api/v1/channels", headers=self.headers, json={"type": kind, "name": kind, "credentials": creds} | extra
        )
        assert r.status_code == 201, r.text
        ch = r.json()
        if kind == "telegram":
            engine = create_async_engine(self.stack.database_url)
            async with engine.connect() as conn:
                enc = (
                    await conn.execute(
                        text("SELECT credentials_encrypted FROM channels.channel WHERE id = :i"), {"i": ch["id"]}
                    )
                ).scalar_one()
            await engine.dispose()
            ch["secret"] = orjson.loads(SecretBox("test-secrets-key").decrypt(enc))["webhook_secret"]
        return ch

    async def telegram(self, ch: dict, update_id: int, text_: str, chat_id: int = 4242) -> httpx.Response:
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1763790000,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ana"},
                "text": text_,
            },
        }
        return await self.gw.post(
            f"/webhooks/telegram/{ch['id']}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": ch["secret"]}
        )

    async def twilio(self, ch: dict, sid: str, body: str, sender: str = "whatsapp:+5511999990000") -> httpx.Response:
        form = {
            "MessageSid": sid,
            "AccountSid": TWILIO_SID,
            "From": sender,
            "To": "whatsapp:+14155238886",
            "Body": body,
            "NumMedia": "0",
            "ProfileName": "Caio",
        }
        url = f"{self.urls['gateway']}/webhooks/twilio/{ch['id']}"
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        return await self.gw.post(f"/webhooks/twilio/{ch['id']}", data=form, headers={"X-Twilio-Signature": sig})

    def user_texts(self, request: dict) -> list[str]:
        return [m["content"] for m in request["body"]["messages"] if m["role"] == "user"]


@pytest.fixture
async def pipeline(stack, committed_db, redis):
    llm = LLMStandIn(api_key=LLM_KEY)
    tg = TelegramStandIn()
    tw = TwilioStandIn(TWILIO_SID, TWILIO_TOKEN)
    auth_settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    async with contextlib.AsyncExitStack() as es:
        urls = {
            "llm": await es.enter_async_context(serve_app(llm.app)),
            "telegram": await es.enter_async_context(serve_app(tg.app)),
            "twilio": await es.enter_async_context(serve_app(tw.app)),
            "auth": await es.enter_async_context(serve_app(create_auth(auth_settings))),
        }
        gw_port = free_port()
        urls["gateway"] = f"http://127.0.0.1:{gw_port}"
        p = Pipeline(stack, urls, llm, tg, tw)
        p.redis = redis  # the test Redis, for assertions on the streams
        urls["chat"] = await es.enter_async_context(serve_app(create_chat(p.chat_settings())))
        urls["channels"] = await es.enter_async_context(serve_app(create_channels(p.channels_settings())))
        gw = create_gateway(
            stack.settings(
                GatewaySettings,
                auth_upstream=urls["auth"],
                chat_upstream=urls["chat"],
                channels_upstream=urls["channels"],
                auth_url=urls["auth"],
                rate_limits_enabled=False,
            )
        )
        await es.enter_async_context(serve_app(gw, port=gw_port))
        try:
            yield p
        finally:
            for stop, _ in p.workers:
                stop.set()
            await asyncio.gather(*(asyncio.wait_for(t, 30) for _, t in p.workers), return_exceptions=True)
            await p.gw.aclose()
