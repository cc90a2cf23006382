"""Secrets never leak: full flows run with known secret values, then every captured log line, every response and
error body, and every entry of every Redis stream (events, DLQs, ops.logs) is searched for them.

The secrets: a tenant secret (the tenant's own LLM key, really used by chat), a Telegram bot token and a Twilio auth
token (really used to reply through the stand-ins), a user password, and an API key. The stand-ins prove each secret
was actually used, so "not found" means "not leaked", not "never touched".
"""

from __future__ import annotations

import httpx

from tests.support.platform import PASSWORD, platform
from tests.support.plugin import wait_for

TENANT_SECRET = "sk-tenant-secret-7Qx9Lm2Vb8Zr"
BOT_TOKEN = "9876543:AAHsecretBotToken9Xy8Wv7Ut6Sr5Qp4Onm"  # fake
TWILIO_TOKEN = "twilio-auth-secret-3Fh7Jk9Lp2"
NEW_PASSWORD = "brand-new-secret-passphrase-42"


async def test_no_secret_in_logs_responses_events_or_errors(stack, committed_db, redis, tmp_path, capfd):
    bodies: list[str] = []

    async def keep(r: httpx.Response) -> None:
        await r.aread()
        bodies.append(r.text)

    async with platform(stack, tmp_path, tw_token=TWILIO_TOKEN, llm_key=TENANT_SECRET) as p:
        p.gw.event_hooks["response"].append(keep)
        await p.tenant("Operator")
        t = await p.tenant("Secret")  # registers and logs in with PASSWORD, creates an admin API key
        api_key = t.api_key
        gw, h = p.gw, t.headers
        r = await gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=h, json={"buffer_enabled": False})
        assert r.status_code == 200, r.text
        r = await gw.put(
            f"/api/v1/tenants/{t.tenant_id}/secrets/openai_api_key", headers=h, json={"value": TENANT_SECRET}
        )
        assert r.status_code == 204, r.text
        r = await gw.get(f"/api/v1/tenants/{t.tenant_id}/secrets", headers=h)
        assert r.status_code == 200 and "openai_api_key" in r.text
        r = await gw.post("/api/v1/assistants", headers=h, json={"name": "Bot", "is_default": True})
        assert r.status_code == 201, r.text

        # the API key at work, then wrong and truncated keys (their errors must not echo them)
        assert (await gw.get("/api/v1/threads", headers=t.key_headers)).status_code == 200
        assert (await gw.get("/api/v1/threads", headers={"X-API-Key": api_key[:-4] + "xxxx"})).status_code == 401
        assert (await gw.get("/api/v1/threads", headers={"X-API-Key": api_key + "x"})).status_code == 401

        # wrong and right passwords, a password change, a refused password (too long) in a 422
        r = await gw.post("/api/v1/auth/login", json={"email": t.email, "password": PASSWORD + "!"})
        assert r.status_code == 401
        r = await gw.post(
            "/api/v1/auth/password", headers=h, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert r.status_code in (200, 204), r.text
        r = await gw.post("/api/v1/auth/login", json={"email": t.email, "password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await gw.post(
            "/api/v1/auth/register",
            json={"email": "x@example.com", "password": NEW_PASSWORD * 100, "tenant_name": "X"},
        )
        assert r.status_code == 422
        r = await gw.put(
            f"/api/v1/tenants/{t.tenant_id}/secrets/openai_api_key", headers=h, json={"value": TENANT_SECRET * 1000}
        )
        assert r.status_code == 422

        # channels with real credentials; a refused update that carries them; wrong secrets on the webhooks
        tg = await p.channel(t, "telegram", bot_token=BOT_TOKEN)
        tw = await p.channel(t, "twilio", auth_token=TWILIO_TOKEN)
        r = await gw.patch(f"/api/v1/channels/{tg['id']}", headers=h, json={"credentials": {"bot_token": 42}})
        assert r.status_code == 422
        r = await gw.patch(
            f"/api/v1/channels/{tw['id']}", headers=h, json={"credentials": {"auth_token": TWILIO_TOKEN, "x": "y"}}
        )
        assert r.status_code in (200, 422), r.text
        for listing in (f"/api/v1/channels/{tg['id']}", f"/api/v1/channels/{tw['id']}", "/api/v1/channels"):
            assert (await gw.get(listing, headers=h)).status_code == 200
        assert (await p.telegram(tg, 1, "x", secret=BOT_TOKEN)).status_code == 403
        assert (await p.twilio(tw, "SM" + "9" * 32, "x", auth_token=TENANT_SECRET)).status_code == 403

        # the full pipeline: customer messages in, answers out through the stand-ins with the real credentials
        p.start_worker("chat")
        p.start_worker("channels")
        assert (await p.telegram(tg, 10, "Olá, vocês abrem hoje?")).status_code == 200
        assert (await p.twilio(tw, "SM" + "8" * 32, "Qual o horário?")).status_code == 200
        await wait_for(lambda: p.tg.named("sendMessage") and p.tw.named("messages.create"), timeout=30)
        r = await gw.post("/api/v1/threads", headers=h, json={"message": "Teste direto"})
        assert r.status_code == 201, r.text
        for path in ("/api/v1/threads", "/api/v1/contacts", "/api/v1/api-keys", "/api/v1/auth/me"):
            assert (await gw.get(path, headers=h)).status_code == 200
        assert (await gw.delete(f"/api/v1/api-keys/{t.ids['key_id']}", headers=h)).status_code == 204

        # the secrets were really used: the LLM got the tenant key, Telegram the bot token, Twilio the auth token
        assert p.llm.requests
        assert {c["token"] for c in p.tg.calls if c["method"] == "sendMessage"} == {BOT_TOKEN}
        assert all(c["auth_ok"] for c in p.tw.named("messages.create"))

        streams = []
        async for key in redis.scan_iter(_type="stream", count=1000):
            streams.append(key.decode())
            for _, fields in await redis.xrange(key):
                for v in fields.values():
                    _assert_clean(v.decode("utf-8", "replace"), f"stream {key.decode()}", api_key)
        assert "channels.inbound.v1" in streams and "chat.outbound.v1" in streams

    assert len(bodies) > 30
    # the API key is shown exactly once, in the answer that created it
    assert len([b for b in bodies if api_key in b]) == 1
    for body in bodies:
        if f'"key":"{api_key}"' not in body:
            _assert_clean(body, "response body", api_key)
    out, err = capfd.readouterr()
    logs = out + err
    assert '"event":"request"' in logs and '"service":"chat"' in logs  # the JSON logs were captured
    for line in logs.splitlines():
        _assert_clean(line, "log line", api_key)


def _assert_clean(text: str, where: str, api_key: str) -> None:
    for name, secret in (
        ("api key", api_key),
        ("api key secret part", api_key[-24:]),
        ("tenant secret", TENANT_SECRET),
        ("bot token", BOT_TOKEN),
        ("bot token secret part", BOT_TOKEN.split(":", 1)[1]),
        ("twilio auth token", TWILIO_TOKEN),
        ("password", PASSWORD),
        ("new password", NEW_PASSWORD),
    ):
        assert secret not in text, f"{name} in a {where}: {text[:400]}"
