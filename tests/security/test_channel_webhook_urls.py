"""Channel webhooks through the gateway: a caller's Host header never becomes our public URL (what admins copy into
Twilio/Telegram, what Twilio signatures are checked against), and a status callback's MessageSid matches exactly one
delivery, never a LIKE pattern."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from tests.support.platform import platform
from tests.support.plugin import wait_for

EVIL = "evil.example"
TOKEN = "twilio-auth-token-webhook-urls"


def _signed(url: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}


async def test_unconfigured_public_url_never_comes_from_the_host_header(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, tw_token=TOKEN, settings={"channels": {"public_base_url": ""}}) as p:
        t = await p.tenant("HostA")
        evil = t.headers | {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}
        r = await p.gw.post(
            "/api/v1/channels",
            headers=evil,
            json={
                "type": "whatsapp_twilio",
                "name": "wa",
                "credentials": {
                    "account_sid": "AC" + "5" * 32,
                    "auth_token": TOKEN,
                    "from_number": "whatsapp:+14155238886",
                },
            },
        )
        assert r.status_code == 201, r.text
        ch = r.json()
        assert EVIL not in ch["webhook_url"], ch["webhook_url"]
        for path in (f"/api/v1/channels/{ch['id']}", "/api/v1/channels"):
            r = await p.gw.get(path, headers=evil)
            assert r.status_code == 200 and EVIL not in r.text, r.text

        # A signature over the attacker's URL, sent with the attacker's Host: refused, nothing stored.
        form = p.twilio_form("SM" + "1" * 32, "forged")
        path = f"/webhooks/twilio/{ch['id']}"
        headers = _signed(f"https://{EVIL}{path}", form) | {"Host": EVIL, "X-Forwarded-Host": EVIL}
        headers["X-Forwarded-Proto"] = "https"
        r = await p.gw.post(path, data=form, headers=headers)
        assert r.status_code == 403, r.text
        assert (await p.inbound_count())[0] == 0


async def test_configured_public_url_ignores_the_host_header(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, tw_token=TOKEN) as p:
        t = await p.tenant("HostB")
        ch = await p.channel(t, "twilio", auth_token=TOKEN)
        evil = t.headers | {"Host": EVIL, "X-Forwarded-Host": EVIL}
        r = await p.gw.get(f"/api/v1/channels/{ch['id']}", headers=evil)
        assert r.status_code == 200, r.text
        assert r.json()["webhook_url"] == f"{p.urls['gateway']}/webhooks/twilio/{ch['id']}"

        form = p.twilio_form("SM" + "2" * 32, "forged")
        path = f"/webhooks/twilio/{ch['id']}"
        r = await p.gw.post(path, data=form, headers=_signed(f"http://{EVIL}{path}", form) | {"Host": EVIL})
        assert r.status_code == 403, r.text
        r = await p.gw.post(path, data=form, headers=_signed(f"{p.urls['gateway']}{path}", form) | {"Host": EVIL})
        assert r.status_code == 200, r.text


async def test_twilio_status_sid_is_matched_exactly_not_as_a_pattern(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, tw_token=TOKEN) as p:
        t = await p.tenant("Status")
        ch = await p.answering_channel(t, "twilio", auth_token=TOKEN)
        assert (await p.twilio(ch, "SM" + "3" * 32, "Qual o horário?")).status_code == 200

        async def sent():
            rows = await p.sql(
                "SELECT provider_message_ids, status FROM channels.delivery WHERE channel_id = :c", c=ch["id"]
            )
            return rows if rows and all(r[1] == "sent" and r[0] for r in rows) else None

        rows = await wait_for(sent, timeout=30)
        real_sid = rows[0][0].split(",")[0]
        assert real_sid.startswith("SM")

        path = f"/webhooks/twilio/{ch['id']}/status"
        for pattern in ("SM%", "%", "SM" + "_" * (len(real_sid) - 2)):
            form = {"MessageSid": pattern, "MessageStatus": "failed", "AccountSid": "AC" + "5" * 32}
            r = await p.gw.post(path, data=form, headers=_signed(f"{p.urls['gateway']}{path}", form))
            assert r.status_code == 204, r.text
        rows = await p.sql("SELECT status FROM channels.delivery WHERE channel_id = :c", c=ch["id"])
        assert {r[0] for r in rows} == {"sent"}, rows

        # the exact sid still moves its own delivery forward
        form = {"MessageSid": real_sid, "MessageStatus": "delivered", "AccountSid": "AC" + "5" * 32}
        r = await p.gw.post(path, data=form, headers=_signed(f"{p.urls['gateway']}{path}", form))
        assert r.status_code == 204, r.text
        rows = await p.sql("SELECT status FROM channels.delivery WHERE channel_id = :c", c=ch["id"])
        assert "delivered" in {r[0] for r in rows}, rows
