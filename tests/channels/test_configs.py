"""Channel configuration: write-only credentials, webhook URLs, tenant isolation, scopes, validation."""

import uuid

from sqlalchemy import text

from services.channels.configs.models import Channel
from tests.channels.conftest import BOT_TOKEN, PUBLIC, TWILIO_TOKEN, create_channel
from tests.support.plugin import serve_app
from tests.support.providers import TelegramStandIn


async def test_create_read_never_returns_credentials(channels_client, admin_headers, db_conn):
    ch = await create_channel(channels_client, admin_headers)
    assert ch["webhook_url"] == f"{PUBLIC}/webhooks/twilio/{ch['id']}"
    assert ch["credentials"]["auth_token"] == {"is_set": True, "last4": TWILIO_TOKEN[-4:]}
    for r in (
        await channels_client.get(f"/api/v1/channels/{ch['id']}", headers=admin_headers),
        await channels_client.get("/api/v1/channels", headers=admin_headers),
    ):
        assert r.status_code == 200
        assert TWILIO_TOKEN not in r.text
    # Encrypted at rest: the token is not in the row.
    raw = (await db_conn.execute(text("SELECT credentials_encrypted FROM channels.channel"))).scalar_one()
    assert TWILIO_TOKEN not in raw


async def test_telegram_channel_and_set_webhook(stack, db_conn, make_token, tenant_id, admin_headers):
    from services.channels.app import create_app
    from services.channels.config import ChannelsSettings
    from tests.support.plugin import app_client

    tg = TelegramStandIn()
    async with serve_app(tg.app) as tg_url:
        app = create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC, telegram_api_url=tg_url))
        async with app_client(app, db_conn=db_conn) as client:
            ch = await create_channel(client, admin_headers, kind="telegram")
            assert BOT_TOKEN not in str(ch)
            r = await client.post(f"/api/v1/channels/{ch['id']}/telegram/set-webhook", headers=admin_headers)
            assert r.status_code == 200, r.text
            assert r.json()["webhook_url"] == f"{PUBLIC}/webhooks/telegram/{ch['id']}"
    [call] = tg.named("setWebhook")
    assert call["token"] == BOT_TOKEN
    assert call["params"]["url"] == f"{PUBLIC}/webhooks/telegram/{ch['id']}"
    secret = call["params"]["secret_token"]
    assert len(secret) >= 32
    row = (await db_conn.execute(text("SELECT credentials_encrypted FROM channels.channel"))).scalar_one()
    assert secret not in row


async def test_validation_errors(channels_client, admin_headers):
    bad = [
        {"type": "sms", "name": "x", "credentials": {}},
        {"type": "telegram", "name": "x", "credentials": {}},
        {"type": "telegram", "name": "x", "credentials": {"bot_token": "nope"}},
        {
            "type": "whatsapp_twilio",
            "name": "x",
            "credentials": {"account_sid": "AC1", "auth_token": "t", "from_number": "+1555"},
        },
        {"type": "telegram", "name": "", "credentials": {"bot_token": BOT_TOKEN}},
    ]
    for body in bad:
        r = await channels_client.post("/api/v1/channels", json=body, headers=admin_headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await channels_client.get("/api/v1/channels", headers=admin_headers)
    assert r.json()["items"] == []


async def test_other_tenant_gets_404_and_scopes_are_enforced(channels_client, admin_headers, make_token, tenant_id):
    ch = await create_channel(channels_client, admin_headers)
    other = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4(), role='admin')}"}
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/telegram/set-webhook")):
        r = await channels_client.request(
            method,
            f"/api/v1/channels/{ch['id']}{path}",
            headers=other,
            json={"name": "x"} if method == "PATCH" else None,
        )
        assert r.status_code == 404, (method, path, r.text)
    assert (await channels_client.get("/api/v1/channels", headers=other)).json()["items"] == []

    viewer = {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role='viewer', scopes=['read'])}"}
    assert (await channels_client.get("/api/v1/channels", headers=viewer)).status_code == 200
    body = {"type": "telegram", "name": "x", "credentials": {"bot_token": BOT_TOKEN}}
    assert (await channels_client.post("/api/v1/channels", json=body, headers=viewer)).status_code == 403
    assert (await channels_client.delete(f"/api/v1/channels/{ch['id']}", headers=viewer)).status_code == 403
    no_tenant = {"Authorization": f"Bearer {make_token(tenant_id=None, role='admin')}"}
    assert (await channels_client.get("/api/v1/channels", headers=no_tenant)).status_code == 403
    assert (await channels_client.get("/api/v1/channels")).status_code == 401


async def test_update_delete_and_pagination(channels_client, admin_headers, session):
    ids = [(await create_channel(channels_client, admin_headers))["id"] for _ in range(3)]
    r = await channels_client.patch(
        f"/api/v1/channels/{ids[0]}",
        headers=admin_headers,
        json={
            "name": "renamed",
            "settings": {"buffer_seconds": 3},
            "credentials": {"auth_token": "new-token-abcdefgh"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed" and r.json()["settings"]["buffer_seconds"] == 3
    assert r.json()["credentials"]["auth_token"]["last4"] == "efgh"
    page1 = (await channels_client.get("/api/v1/channels?limit=2", headers=admin_headers)).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = (
        await channels_client.get(f"/api/v1/channels?limit=2&cursor={page1['next_cursor']}", headers=admin_headers)
    ).json()
    assert [c["id"] for c in page1["items"] + page2["items"]] == ids and page2["next_cursor"] is None
    assert (await channels_client.get("/api/v1/channels?cursor=garbage", headers=admin_headers)).status_code == 400
    assert (await channels_client.delete(f"/api/v1/channels/{ids[1]}", headers=admin_headers)).status_code == 204
    assert (await channels_client.get(f"/api/v1/channels/{ids[1]}", headers=admin_headers)).status_code == 404
    assert (await session.get(Channel, uuid.UUID(ids[1]))).deleted_at is not None
