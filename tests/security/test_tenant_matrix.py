"""Cross-tenant matrix, generated from the gateway's merged OpenAPI document.

Every operation with an object id in its path is called with tenant A's credentials (owner token, then admin API
key) on an object that lives in tenant B: the answer must be 404 (never 200, never 403 that would tell A the object
exists), and B's objects must be unchanged afterwards. Every list and search as A is free of B's ids. A webhook signed
with A's channel secret cannot push a message into B's channel. A new id-bearing operation that is neither covered
nor listed in EXCLUDED makes the test fail.
"""

from __future__ import annotations

import re
import uuid

from services.chat.buffers.store import BufferStore, buffer_key
from tests.support.images import b64, image_bytes
from tests.support.platform import METHODS, Platform, Tenant, platform, wav_bytes
from tests.support.plugin import wait_for

SECRET_A, SECRET_B = "a1" * 16, "b2" * 16  # two Meta app secrets (32 hex characters, as Meta's)
PNG = image_bytes("PNG")  # the first message's attachment: GET /api/v1/messages/{id}/attachments/0 is in the matrix

# path parameter -> the key of the object id in Tenant.ids
ID_PARAMS = {
    "tenant_id": "tenant_id",
    "user_id": "user_id",
    "key_id": "key_id",
    "name": "secret",
    "assistant_id": "assistant_id",
    "tool_id": "tool_id",
    "contact_id": "contact_id",
    "thread_id": "thread_id",
    "message_id": "message_id",
    "channel_id": "channel_id",
    "job_id": "job_id",
    "document_id": "document_id",
    "key": "buffer",
    "position": "attachment_position",
}

# Operations with a path parameter the matrix does not call, with the reason.
EXCLUDED = {
    ("delete", "/api/v1/admin/signing-keys/{kid}"): "platform signing keys: superuser only, owned by no tenant",
    ("post", "/webhooks/twilio/{channel_id}"): "no credentials, Twilio signature: test_webhooks_cannot_cross_tenants",
    ("post", "/webhooks/twilio/{channel_id}/status"): "no credentials, Twilio signature: test_webhooks_cross",
    ("post", "/webhooks/telegram/{channel_id}"): "no credentials, Telegram secret: test_webhooks_cannot_cross_tenants",
    ("get", "/webhooks/meta/{channel_id}"): "no credentials, Meta verify token: test_webhooks_cannot_cross_tenants",
    ("post", "/webhooks/meta/{channel_id}"): "no credentials, Meta signature: test_webhooks_cannot_cross_tenants",
}

# Platform operations only a superuser may call: a tenant admin gets the same 403 whatever the id (checked
# against a random id), so the answer says nothing about B's objects.
SUPERUSER_ONLY = {("patch", "/api/v1/users/{user_id}")}

# A valid body for every write operation of the matrix: an invalid one would be refused (422) before the
# tenant check runs, which proves nothing.
JSON_BODIES = {
    ("patch", "/api/v1/users/{user_id}"): {"full_name": "Mallory"},
    ("patch", "/api/v1/tenants/{tenant_id}"): {"system_prompt": "pwned"},
    ("put", "/api/v1/tenants/{tenant_id}/secrets/{name}"): {"value": "sk-mallory"},
    ("post", "/api/v1/tenants/{tenant_id}/members"): {"email": "mallory@example.com", "role": "admin"},
    ("patch", "/api/v1/tenants/{tenant_id}/members/{user_id}"): {"role": "viewer"},
    ("patch", "/api/v1/assistants/{assistant_id}"): {"name": "pwned"},
    ("post", "/api/v1/assistants/{assistant_id}/tools"): {"type": "builtin", "name": "search_knowledge"},
    ("patch", "/api/v1/assistants/{assistant_id}/tools/{tool_id}"): {"description": "pwned"},
    ("post", "/api/v1/assistants/{assistant_id}/tools/{tool_id}/test"): {"arguments": {}},
    ("patch", "/api/v1/threads/{thread_id}"): {"title": "pwned"},
    ("post", "/api/v1/contacts/{contact_id}/merge"): {"contact_id": "00000000-0000-4000-8000-000000000001"},
    ("post", "/api/v1/threads/{thread_id}/messages"): {"content": "injected", "role": "agent"},
    ("patch", "/api/v1/messages/{message_id}"): {"review": "rejected"},
    ("patch", "/api/v1/channels/{channel_id}"): {"name": "pwned"},
    ("post", "/api/v1/channels/{channel_id}/telegram/set-webhook"): None,
    ("post", "/api/v1/threads/{thread_id}/restore"): None,
    ("post", "/api/v1/buffers/{key}/flush"): None,
}

# What B itself gets on its own object when that is not 200 (the job is queued: no transcription worker runs here).
# A must still get 404 there: a 409 would tell A the job exists.
OWNER_STATUS = {"/api/v1/transcriptions/{job_id}/export": 409}

# fields that move on their own (workers, clocks) and are left out of the before/after comparison
VOLATILE = {"last_used_at", "ready", "checked_at"}


async def populate(p: Platform, t: Tenant, redis) -> None:
    """One object of every kind in tenant `t`, through the public API."""
    gw, h = p.gw, t.headers
    r = await gw.post(
        f"/api/v1/tenants/{t.tenant_id}/members",
        headers=h,
        json={"email": f"agent-{t.email}", "role": "agent", "password": "another-long-password"},
    )
    assert r.status_code == 201, r.text
    t.ids["user_id"] = r.json()["user_id"]
    r = await gw.put(f"/api/v1/tenants/{t.tenant_id}/secrets/crm_token", headers=h, json={"value": "crm-x-1234"})
    assert r.status_code == 204, r.text
    t.ids["secret"] = "crm_token"
    r = await gw.post("/api/v1/assistants", headers=h, json={"name": f"Bot {t.name}", "is_default": True})
    assert r.status_code == 201, r.text
    t.ids["assistant_id"] = r.json()["id"]
    tool = {"type": "builtin", "name": "handover_to_human"}
    r = await gw.post(f"/api/v1/assistants/{t.ids['assistant_id']}/tools", headers=h, json=tool)
    assert r.status_code == 201, r.text
    t.ids["tool_id"] = r.json()["id"]
    r = await gw.post("/api/v1/contacts", headers=h, json={"name": f"Customer {t.name}"})
    assert r.status_code == 201, r.text
    t.ids["contact_id"] = r.json()["id"]
    first = {"contact_id": t.ids["contact_id"], "title": "t", "message": "Olá", "attachments": [{"data": b64(PNG)}]}
    r = await gw.post("/api/v1/threads", headers=h, json=first)
    assert r.status_code == 201, r.text
    t.ids["thread_id"] = r.json()["id"]
    t.ids["message_id"] = r.json()["user_message"]["id"]
    t.ids["attachment_position"] = "0"
    ch = await p.channel(t, "telegram", bot_token=f"{abs(hash(t.name)) % 10**9}:AAH" + "x" * 32)
    t.ids["channel_id"] = ch["id"]
    t.ids["channel_secret"] = ch["secret"]
    tw = await p.channel(t, "twilio", auth_token=f"twilio-token-{t.name}")
    t.ids["twilio_channel_id"] = tw["id"]
    t.ids["twilio_token"] = tw["auth_token"]
    r = await gw.post(
        "/api/v1/transcriptions", headers=h, files={"file": ("note.wav", wav_bytes(), "audio/wav")}, data={}
    )
    assert r.status_code == 202, r.text
    t.ids["job_id"] = r.json()["id"]
    doc = f"Tenant {t.name} keeps the zebra{t.name.lower()} recipe secret. Delivery takes forty minutes.\n"
    r = await gw.post("/api/v1/documents", headers=h, files={"file": ("faq.txt", doc.encode(), "text/plain")})
    assert r.status_code == 202, r.text
    t.ids["document_id"] = r.json()["id"]
    key = buffer_key(t.tenant_id, t.ids["thread_id"])
    # a live buffer as the chat inbound consumer writes it (a burst waiting for its window to end)
    meta = {"tenant_id": t.tenant_id, "thread_id": t.ids["thread_id"], "contact_id": t.ids["contact_id"]}
    meta |= {"contact": "Ana", "channel": "telegram", "recipient": "4242", "channel_id": ch["id"]}
    await BufferStore(redis).add(key, {"message_id": t.ids["message_id"]}, window=3600, max_wait=3600, meta=meta)
    t.ids["buffer"] = key


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[ID_PARAMS[m.group(1)]], path)


def operations(doc: dict) -> list[tuple[str, str]]:
    return [(m, path) for path, item in doc["paths"].items() for m in item if m in METHODS]


def b_ids(b: Tenant) -> set[str]:
    not_ids = ("secret", "attachment_position")  # a secret's name, a position: not ids to look for in answers
    return {v for k, v in b.ids.items() if k not in not_ids} | {b.email, b.tenant_id, b.user_id}


async def test_tenant_a_cannot_reach_tenant_b(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        p.start_worker("search")
        await p.tenant("Operator")  # the first account of an install is the platform superuser
        a, b = await p.tenant("A"), await p.tenant("B")
        await populate(p, a, redis)
        await populate(p, b, redis)
        for t in (a, b):
            await wait_for(
                lambda t=t: _doc_ready(p, t), timeout=120, interval=0.3
            )  # indexed, so a search could find it

        doc = (await p.gw.get("/openapi.json")).json()
        ops = operations(doc)
        with_ids = [(m, path) for m, path in ops if "{" in path]
        covered = [(m, path) for m, path in with_ids if (m, path) not in EXCLUDED]
        unknown = [(m, path) for m, path in covered if any(n not in ID_PARAMS for n in re.findall(r"\{(\w+)\}", path))]
        assert not unknown, f"new id-bearing operations: cover them in the matrix or list them in EXCLUDED: {unknown}"
        assert not [k for k in EXCLUDED if k not in with_ids], "EXCLUDED lists an operation that no longer exists"
        writes = [(m, path) for m, path in covered if m != "get" and m != "delete"]
        missing = [k for k in writes if k not in JSON_BODIES]
        assert not missing, f"give these write operations a valid body: {missing}"
        assert len(covered) >= 35

        gets = [path for m, path in covered if m == "get"]
        # B reaches its own objects: the ids are real, so A's 404 means isolation, not a bad id
        before = {}
        for path in gets:
            r = await p.gw.get(fill(path, b.ids), headers=b.headers)
            assert r.status_code == OWNER_STATUS.get(path, 200), (path, r.status_code, r.text[:300])
            before[path] = _stable(r)

        # every operation, as A (token, then API key), on B's objects; mixed: A's own tenant with B's object
        targets = []
        for m, path in sorted(covered, key=lambda k: k[0] == "delete"):
            targets.append((m, path, fill(path, b.ids)))
            if "{tenant_id}" in path and path.count("{") > 1 and "{name}" not in path:  # a secret name is no id
                mixed = dict(b.ids, tenant_id=a.tenant_id)
                targets.append((m, path, fill(path, mixed)))
        failures = []
        for m, path, url in targets:
            for who, headers in (("token", a.headers), ("api-key", a.key_headers)):
                body = JSON_BODIES.get((m, path))
                r = await p.gw.request(m.upper(), url, headers=headers, **({"json": body} if body else {}))
                expected = 403 if (m, path) in SUPERUSER_ONLY else 404
                if r.status_code != expected or not r.headers["content-type"].startswith("application/problem+json"):
                    failures.append((who, m.upper(), url, r.status_code, r.text[:200]))
                if expected == 403:
                    other = fill(path, {k: str(uuid.uuid4()) for k in b.ids})
                    r2 = await p.gw.request(m.upper(), other, headers=headers, **({"json": body} if body else {}))
                    if (r2.status_code, r2.json()["detail"]) != (r.status_code, r.json()["detail"]):
                        failures.append((who, m.upper(), url, "403 differs from a random id's", r2.text[:200]))
                for leaked in b_ids(b) - {b.tenant_id}:
                    if leaked in r.text and leaked not in url:
                        failures.append((who, m.upper(), url, "leaks", leaked))
        assert not failures, "\n".join(map(str, failures))

        # nothing of B changed or disappeared
        for path in gets:
            r = await p.gw.get(fill(path, b.ids), headers=b.headers)
            assert r.status_code == OWNER_STATUS.get(path, 200), (path, r.status_code)
            assert _stable(r) == before[path], path
        r = await p.gw.get(f"/api/v1/tenants/{b.tenant_id}/members", headers=b.headers)
        assert {m["user_id"] for m in r.json()["items"]} >= {b.user_id, b.ids["user_id"]}
        assert "mallory@example.com" not in r.text

        # lists and searches as A: A's own objects are there, none of B's
        # GET /api/v1/events never ends (SSE): its isolation is tests/chat/test_live_events.py's
        lists = [path for m, path in ops if m == "get" and "{" not in path and path != "/api/v1/events"]
        lists += [
            path.replace("{tenant_id}", a.tenant_id) for path in gets if path.count("{") == 1 and "{tenant_id}" in path
        ]
        seen_ok, statuses = set(), {}
        for path in lists:
            for headers in (a.headers, a.key_headers):
                r = await p.gw.get(path, headers=headers, params={"limit": 100} if path.startswith("/api/") else None)
                leaked = [i for i in b_ids(b) if i in r.text]
                assert not leaked, (path, r.status_code, leaked)
                if r.status_code == 200:
                    seen_ok.add(path)
                else:
                    statuses[path] = (r.status_code, r.text[:200])
        for path in ("/api/v1/assistants", "/api/v1/contacts", "/api/v1/threads", "/api/v1/channels",
                     "/api/v1/transcriptions", "/api/v1/documents", "/api/v1/api-keys", "/api/v1/buffers",
                     "/api/v1/tenants", f"/api/v1/tenants/{a.tenant_id}/members",
                     "/api/v1/threads/counts"):  # fmt: skip
            assert path in seen_ok, (path, statuses.get(path))
        r = await p.gw.get("/api/v1/threads", headers=a.headers)
        assert a.ids["thread_id"] in r.text
        r = await p.gw.get("/api/v1/buffers", headers=a.headers)
        assert a.ids["buffer"] in r.text

        for query in ("zebrab recipe", "Delivery takes forty minutes", "Olá"):
            r = await p.gw.post("/api/v1/search", headers=b.headers, json={"query": query})
            assert r.status_code == 200, r.text
            if query.startswith("zebra"):
                assert b.ids["document_id"] in r.text  # B finds its own document: the search works
            for headers in (a.headers, a.key_headers):
                r = await p.gw.post("/api/v1/search", headers=headers, json={"query": query})
                assert r.status_code == 200, r.text
                assert not [i for i in b_ids(b) if i in r.text], query
                assert "zebrab" not in r.text


async def test_webhooks_cannot_cross_tenants(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        await p.tenant("Operator")  # the first account of an install is the platform superuser
        a, b = await p.tenant("A"), await p.tenant("B")
        tg_a = await p.channel(a, "telegram", bot_token="111111111:AAH" + "a" * 32)
        tg_b = await p.channel(b, "telegram", bot_token="222222222:AAH" + "b" * 32)
        tw_a = await p.channel(a, "twilio", auth_token="twilio-token-of-a")
        tw_b = await p.channel(b, "twilio", auth_token="twilio-token-of-b")
        assert tg_a["secret"] != tg_b["secret"]

        # A's secret on B's channel, A's Twilio signature on B's channel, B's on A's: refused, nothing stored
        attempts = [
            await p.telegram(tg_b, 1, "injected", secret=tg_a["secret"]),
            await p.telegram(tg_a, 2, "injected", secret=tg_b["secret"]),
            await p.telegram(tg_b, 3, "injected", secret=""),
            await p.twilio(tw_b, "SM" + "1" * 32, "injected", auth_token="twilio-token-of-a"),
            await p.twilio(tw_a, "SM" + "2" * 32, "injected", auth_token="twilio-token-of-b"),
        ]
        assert [r.status_code for r in attempts] == [403] * 5, [r.text for r in attempts]
        assert await p.inbound_count() == (0, 0)

        # Meta: A's app secret signs nothing into B's channel, and A's verify token does not subscribe B's
        wa_a = await p.meta_channel(a, "whatsapp_cloud", node_id="1065550011", app_secret=SECRET_A)
        wa_b = await p.meta_channel(b, "whatsapp_cloud", node_id="1065550012", app_secret=SECRET_B)
        note = _wa_text_note("wamid.injected", "1065550012")
        assert (await p.meta_webhook(wa_b, note, app_secret=SECRET_A)).status_code == 403
        assert (await p.meta_webhook(wa_a, note, app_secret=SECRET_B)).status_code == 403
        for channel, token in ((wa_b, wa_a["verify_token"]), (wa_a, wa_b["verify_token"])):
            query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
            r = await p.gw.get(f"/webhooks/meta/{channel['id']}", params=query)
            assert r.status_code == 403 and r.text != "42", r.text
        assert await p.inbound_count() == (0, 0)

        # B's own secret on A's channel id does not work either: a channel id is no capability
        r = await p.gw.post(
            f"/webhooks/telegram/{tg_a['id']}",
            json=p.telegram_update(4, "x"),
            headers={"X-Telegram-Bot-Api-Secret-Token": tg_b["secret"]},
        )
        assert r.status_code == 403
        assert await p.inbound_count() == (0, 0)

        # control: the right secret and signature are accepted and stored under the channel's own tenant
        assert (await p.telegram(tg_b, 5, "legit")).status_code == 200
        assert (await p.twilio(tw_b, "SM" + "3" * 32, "legit")).status_code == 200
        note = _wa_text_note("wamid.legit", "1065550012")
        assert (await p.meta_webhook(wa_b, note, app_secret=SECRET_B)).status_code == 200
        assert await p.inbound_count() == (3, 3)
        rows = await p.sql("SELECT DISTINCT tenant_id::text FROM channels.inbound_message")
        assert rows == [(b.tenant_id,)]


def _wa_text_note(mid: str, phone_number_id: str) -> dict:
    """A WhatsApp Cloud API notification with one text message, as Meta posts it."""
    message = {"from": "5511900000009", "id": mid, "timestamp": "1763790000", "type": "text", "text": {"body": "hi"}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": phone_number_id}, "messages": [message]}
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [change]}]}


async def _doc_ready(p: Platform, t: Tenant) -> bool:
    r = await p.gw.get(f"/api/v1/documents/{t.ids['document_id']}", headers=t.headers)
    assert r.json()["status"] != "failed", r.text
    return r.json()["status"] == "ready"


def _stable(r) -> object:
    if "json" not in r.headers.get("content-type", ""):
        return r.content
    body = r.json()
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE}
    return body
