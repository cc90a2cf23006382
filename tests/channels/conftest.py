import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from twilio.request_validator import RequestValidator

from services.channels.app import create_app
from services.channels.config import ChannelsSettings
from tests.support.plugin import app_client

PUBLIC = "https://public.example.test"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-0123456789"
BOT_TOKEN = "1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # fake: shaped like a token, not one


@pytest.fixture
def tenant_id():
    return uuid.uuid4()


@pytest.fixture
def admin_headers(make_token, tenant_id):
    return {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role='admin')}"}


@pytest.fixture
async def committed_session(committed_db):
    """Reads what an app committed on the committed database (READ COMMITTED: each statement sees the latest
    commits). The webhook intake commits on its own connection, so its tests cannot use the rolled-back `session`."""
    engine = create_async_engine(committed_db)
    async with AsyncSession(engine, expire_on_commit=False) as s:
        yield s
    await engine.dispose()


@pytest.fixture
async def channels_client(stack, db_conn):
    app = create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC))
    async with app_client(app, db_conn=db_conn) as client:
        yield client


def twilio_sign(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def create_channel(client, headers, kind="whatsapp_twilio", **extra):
    creds = (
        {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "whatsapp:+14155238886"}
        if kind == "whatsapp_twilio"
        else {"bot_token": BOT_TOKEN}
    )
    body = {"type": kind, "name": f"{kind} line", "credentials": creds} | extra
    r = await client.post("/api/v1/channels", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()
