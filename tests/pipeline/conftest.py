"""The conversation pipeline for real: the whole-stack harness (tests/support/platform.py) serving auth, channels
and chat over HTTP with the gateway in front, the channels and chat workers (relays, consumers, flusher) running on
the real streams, and stand-in Telegram, Twilio and LLM servers recording what they receive."""

from __future__ import annotations

import pytest

from tests.support.platform import Platform, Tenant, platform

BOT_TOKEN = "1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # fake: shaped like a token, not one
TWILIO_TOKEN = "twilio-pipeline-token-0123"
SYSTEM_PROMPT = "Você é o atendente da Pizzaria Bella. Responda em português."


class Pipeline(Platform):
    """The platform with one pizzeria tenant (`setup_tenant`) whose channels the tests drive."""

    tenant_id: str | None = None
    headers: dict[str, str] = {}
    owner: Tenant | None = None

    async def setup_tenant(self, **settings) -> None:
        self.owner = await self.tenant(
            "Bella", tenant_name="Pizzaria Bella", api_key=False, settings={"system_prompt": SYSTEM_PROMPT} | settings
        )
        self.tenant_id, self.headers = self.owner.tenant_id, self.owner.headers
        r = await self.gw.post(
            "/api/v1/assistants",
            headers=self.headers,
            json={"name": "Bella", "instructions": "Seja breve.", "is_default": True},
        )
        assert r.status_code == 201, r.text

    async def tenant_channel(self, kind: str) -> dict:
        """A channel of the pizzeria's: `telegram` or `whatsapp_twilio`."""
        assert self.owner is not None, "setup_tenant first"
        return await self.channel(self.owner, kind, bot_token=BOT_TOKEN, auth_token=TWILIO_TOKEN)


@pytest.fixture
async def pipeline(stack, committed_db, redis, tmp_path):
    async with platform(
        stack, tmp_path, tw_token=TWILIO_TOKEN, services=("auth", "chat", "channels"), kind=Pipeline
    ) as p:
        p.redis = redis  # the test Redis, for assertions on the streams
        yield p
