"""Provider webhooks: authentic, well-formed, deduplicated messages are stored with their event; nothing else is.

The webhook intake commits on its own connection (one statement, autocommit), so these tests run against committed
data (`hooks`: the app on a committed database, emptied after each test)."""

import asyncio
import time
import uuid

import asyncpg
import orjson
import pytest
from sqlalchemy import func, select

from services.channels.app import create_app
from services.channels.base import Outbox
from services.channels.config import ChannelsSettings
from services.channels.configs.models import Channel
from services.channels.webhooks.intake import asyncpg_dsn
from services.channels.webhooks.models import InboundMessage
from shared.events import Envelope
from shared.events.channels import INBOUND_RECEIVED, InboundReceived
from shared.events.outbox import NOTIFY_CHANNEL
from tests.channels.conftest import PUBLIC, create_channel, twilio_sign
from tests.support.plugin import app_client


@pytest.fixture
async def hooks(stack, committed_db):
    async with app_client(create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC))) as client:
        yield client


@pytest.fixture
def session(committed_session):
    return committed_session


async def _counts(session):
    """Every inbound row and channels event in the database (each test starts from an empty one)."""
    inbound = (await session.execute(select(func.count()).select_from(InboundMessage))).scalar_one()
    events = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
    return inbound, events


def _twilio_form(sid="SM" + "a" * 32, body="Olá, quero uma pizza", **extra):
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "whatsapp:+5511999990000",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Ana",
    } | extra


async def _post_twilio(client, channel_id, form, *, signature=None, path=""):
    url = f"{PUBLIC}/webhooks/twilio/{channel_id}{path}"
    sig = signature if signature is not None else twilio_sign(url, form)
    return await client.post(f"/webhooks/twilio/{channel_id}{path}", data=form, headers={"X-Twilio-Signature": sig})


async def test_twilio_message_stored_once_with_event(hooks, admin_headers, session):
    ch = await create_channel(hooks, admin_headers)
    form = _twilio_form()
    for _ in range(3):  # Twilio retries: same MessageSid
        r = await _post_twilio(hooks, ch["id"], form)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/xml") and "<Response>" in r.text
    assert await _counts(session) == (1, 1)
    event = (await session.execute(select(Outbox))).scalar_one()
    assert event.stream == "channels.inbound.v1"
    assert event.payload["text"] == "Olá, quero uma pizza"
    assert event.payload["sender"] == "whatsapp:+5511999990000" and event.payload["sender_name"] == "Ana"
    assert event.tenant_id == (await session.execute(select(Channel.tenant_id))).scalar_one()


async def test_twilio_voice_note_is_audio(hooks, admin_headers, session):
    ch = await create_channel(hooks, admin_headers)
    form = _twilio_form(
        body="",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/x/Media/ME1",
        MediaContentType0="audio/ogg",
    )
    r = await _post_twilio(hooks, ch["id"], form)
    assert r.status_code == 200, r.text
    msg = (await session.execute(select(InboundMessage))).scalar_one()
    assert msg.kind == "audio" and msg.media[0]["content_type"] == "audio/ogg"


async def test_twilio_without_public_url_refuses_every_signature(stack, committed_db, admin_headers):
    """Without CHANNELS_PUBLIC_BASE_URL the URL Twilio signed is unknown: the request's Host is never believed."""
    async with app_client(create_app(stack.settings(ChannelsSettings))) as client:
        ch = await create_channel(client, admin_headers)
        assert ch["webhook_url"] == f"/webhooks/twilio/{ch['id']}"
        form = _twilio_form()
        url = f"https://bot.example.com/webhooks/twilio/{ch['id']}"
        headers = {
            "X-Twilio-Signature": twilio_sign(url, form),
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "bot.example.com",
            "Host": "bot.example.com",
        }
        r = await client.post(f"/webhooks/twilio/{ch['id']}", data=form, headers=headers)
        assert r.status_code == 403 and "CHANNELS_PUBLIC_BASE_URL" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "no_signature",
        "other_token",
        "tampered_body",
        "malformed",
        "wrong_type",
        "no_sid",
        "unknown_channel",
        "not_uuid",
        "too_big",
    ],
)
async def test_twilio_bad_input_stores_nothing(hooks, admin_headers, session, case):
    ch = await create_channel(hooks, admin_headers)
    cid = ch["id"]
    form = _twilio_form()
    url = f"{PUBLIC}/webhooks/twilio/{cid}"
    expected = {
        "bad_signature": 403,
        "no_signature": 403,
        "other_token": 403,
        "tampered_body": 403,
        "malformed": 400,
        "wrong_type": 415,
        "no_sid": 400,
        "unknown_channel": 404,
        "not_uuid": 404,
        "too_big": 413,
    }[case]
    if case == "bad_signature":
        r = await _post_twilio(hooks, cid, form, signature="AAAA")
    elif case == "no_signature":
        r = await hooks.post(f"/webhooks/twilio/{cid}", data=form)
    elif case == "other_token":
        r = await _post_twilio(hooks, cid, form, signature=twilio_sign(url, form, token="other"))
    elif case == "tampered_body":
        sig = twilio_sign(url, form)
        r = await _post_twilio(hooks, cid, form | {"Body": "transfer money"}, signature=sig)
    elif case == "malformed":
        r = await hooks.post(
            f"/webhooks/twilio/{cid}",
            content=b"%%%=&&==",
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
        )
        # a malformed body cannot carry a valid signature either; the parse error is reported first
    elif case == "wrong_type":
        r = await hooks.post(f"/webhooks/twilio/{cid}", json=form, headers={"X-Twilio-Signature": "x"})
    elif case == "no_sid":
        bad = {k: v for k, v in form.items() if k != "MessageSid"}
        r = await _post_twilio(hooks, cid, bad)
    elif case == "unknown_channel":
        other = str(uuid.uuid4())
        r = await _post_twilio(hooks, other, form)
    elif case == "not_uuid":
        r = await hooks.post("/webhooks/twilio/xyz", data=form)
    else:
        big = form | {"Body": "x" * 300_000}
        r = await _post_twilio(hooks, cid, big)
    assert r.status_code == expected, (case, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _counts(session) == (0, 0)


def _tg_update(update_id=1, text_="oi, tudo bem?", chat_id=4242, **kw):
    msg = {
        "message_id": update_id,
        "date": 1763790000,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ana", "last_name": "Souza"},
    }
    if text_ is not None:
        msg["text"] = text_
    msg |= kw
    return {"update_id": update_id, "message": msg}


async def _secret(session) -> str:
    from shared.crypto import SecretBox

    ch = (await session.execute(select(Channel))).scalar_one()
    return orjson.loads(SecretBox("test-secrets-key").decrypt(ch.credentials_encrypted))["webhook_secret"]


async def test_telegram_update_stored_once(hooks, admin_headers, session):
    ch = await create_channel(hooks, admin_headers, kind="telegram")
    secret = await _secret(session)
    for _ in range(3):
        r = await hooks.post(
            f"/webhooks/telegram/{ch['id']}", json=_tg_update(77), headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert r.status_code == 200, r.text
    assert await _counts(session) == (1, 1)
    event = (await session.execute(select(Outbox))).scalar_one()
    assert event.payload["text"] == "oi, tudo bem?" and event.payload["reply_to"] == "4242"
    assert event.payload["sender_name"] == "Ana Souza" and event.payload["provider_message_id"] == "77"


async def test_telegram_voice_edit_and_ignored(hooks, admin_headers, session):
    ch = await create_channel(hooks, admin_headers, kind="telegram")
    headers = {"X-Telegram-Bot-Api-Secret-Token": await _secret(session)}
    voice = _tg_update(
        1,
        text_=None,
        voice={"file_id": "VOICE1", "file_unique_id": "u1", "duration": 3, "mime_type": "audio/ogg", "file_size": 5000},
    )
    edited = {
        "update_id": 2,
        "edited_message": _tg_update(2, "corrigindo: duas pizzas")["message"] | {"edit_date": 1763790100},
    }
    sticker = _tg_update(
        3,
        text_=None,
        sticker={
            "file_id": "S",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        },
    )
    callback = {
        "update_id": 4,
        "callback_query": {"id": "1", "from": {"id": 1, "is_bot": False, "first_name": "A"}, "chat_instance": "c"},
    }
    for body in (voice, edited, sticker, callback):
        r = await hooks.post(f"/webhooks/telegram/{ch['id']}", json=body, headers=headers)
        assert r.status_code == 200, r.text
    rows = (await session.execute(select(InboundMessage).order_by(InboundMessage.provider_message_id))).scalars().all()
    assert [(m.kind, m.text) for m in rows] == [("audio", None), ("edited", "corrigindo: duas pizzas")]
    assert rows[0].media[0]["file_id"] == "VOICE1"


@pytest.mark.parametrize("case", ["no_secret", "wrong_secret", "malformed", "not_update", "unknown", "too_big"])
async def test_telegram_bad_input_stores_nothing(hooks, admin_headers, session, case):
    ch = await create_channel(hooks, admin_headers, kind="telegram")
    secret = await _secret(session)
    url = f"/webhooks/telegram/{ch['id']}"
    good = {"X-Telegram-Bot-Api-Secret-Token": secret}
    if case == "no_secret":
        r = await hooks.post(url, json=_tg_update())
    elif case == "wrong_secret":
        r = await hooks.post(url, json=_tg_update(), headers={"X-Telegram-Bot-Api-Secret-Token": secret[:-1]})
    elif case == "malformed":
        r = await hooks.post(url, content=b"{not json", headers=good)
    elif case == "not_update":
        r = await hooks.post(url, json={"update_id": "abc", "message": 5}, headers=good)
    elif case == "unknown":
        r = await hooks.post(f"/webhooks/telegram/{uuid.uuid4()}", json=_tg_update(), headers=good)
    else:
        r = await hooks.post(url, content=b"{" + b" " * 400_000 + b"}", headers=good)
    expected = {
        "no_secret": 403,
        "wrong_secret": 403,
        "malformed": 400,
        "not_update": 400,
        "unknown": 404,
        "too_big": 413,
    }[case]
    assert r.status_code == expected, (case, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _counts(session) == (0, 0)


async def test_twilio_channel_does_not_take_telegram_updates(hooks, admin_headers, session):
    """A webhook for one channel type cannot be used to inject into another."""
    ch = await create_channel(hooks, admin_headers, kind="whatsapp_twilio")
    r = await hooks.post(
        f"/webhooks/telegram/{ch['id']}", json=_tg_update(), headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert r.status_code == 404
    assert await _counts(session) == (0, 0)


async def test_cached_channel_follows_rotation_settings_and_delete(hooks, admin_headers, session):
    """The intake caches channels; every change to the row is seen on the next webhook."""
    ch = await create_channel(hooks, admin_headers)
    cid = ch["id"]
    assert (await _post_twilio(hooks, cid, _twilio_form(sid="SM1"))).status_code == 200  # cached now

    new_token = "rotated-twilio-token-0123456789"
    r = await hooks.patch(
        f"/api/v1/channels/{cid}",
        json={"credentials": {"auth_token": new_token}, "settings": {"buffer_seconds": 7}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    url = f"{PUBLIC}/webhooks/twilio/{cid}"
    old = _twilio_form(sid="SM2")
    r = await _post_twilio(hooks, cid, old)  # signed with the old token, which the cache still holds
    assert r.status_code == 403, r.text
    new = _twilio_form(sid="SM3")
    r = await _post_twilio(hooks, cid, new, signature=twilio_sign(url, new, token=new_token))
    assert r.status_code == 200, r.text
    events = (await session.execute(select(Outbox).order_by(Outbox.created_at))).scalars().all()
    assert [e.payload["provider_message_id"] for e in events] == ["SM1", "SM3"]
    assert events[1].payload["channel_settings"]["buffer_seconds"] == 7
    assert "buffer_seconds" not in events[0].payload["channel_settings"]

    assert (await hooks.delete(f"/api/v1/channels/{cid}", headers=admin_headers)).status_code == 204
    gone = _twilio_form(sid="SM4")
    r = await _post_twilio(hooks, cid, gone, signature=twilio_sign(url, gone, token=new_token))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert await _counts(session) == (2, 2)


async def test_twilio_text_postgres_cannot_store_is_422(hooks, admin_headers, session):
    ch = await create_channel(hooks, admin_headers)
    r = await _post_twilio(hooks, ch["id"], _twilio_form(body="pizza\x00"))
    assert r.status_code == 422 and r.json()["errors"], r.text
    assert await _counts(session) == (0, 0)


async def test_webhooks_answer_503_while_postgres_is_unreachable(stack, committed_db):
    """Providers retry a 503; a 500 would be our bug. Nothing is lost: nothing was accepted."""
    from devtools.embedded import free_port

    down = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/atende"
    app = create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC, database_url=down))
    async with app_client(app) as client:
        form = _twilio_form()
        cid = str(uuid.uuid4())
        r = await _post_twilio(client, cid, form)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and r.headers["content-type"].startswith("application/problem+json")
        r = await client.post(
            f"/webhooks/telegram/{cid}", json=_tg_update(), headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
        )
        assert r.status_code == 503, r.text


async def test_token_rotated_elsewhere_is_picked_up_on_the_first_new_signature(stack, committed_db, admin_headers):
    """A cached channel whose token changed: the first webhook signed with the new token is re-checked, not refused."""
    settings = stack.settings(ChannelsSettings, public_base_url=PUBLIC, webhook_recheck_seconds=0.0)
    async with app_client(create_app(settings)) as hooks:
        await _rotated_token_is_picked_up(hooks, admin_headers)


async def _rotated_token_is_picked_up(hooks, admin_headers) -> None:
    ch = await create_channel(hooks, admin_headers)
    cid, url = ch["id"], f"{PUBLIC}/webhooks/twilio/{ch['id']}"
    assert (await _post_twilio(hooks, cid, _twilio_form(sid="SM1"))).status_code == 200  # cached with the old token
    new_token = "rotated-twilio-token-abcdef"
    r = await hooks.patch(
        f"/api/v1/channels/{cid}", json={"credentials": {"auth_token": new_token}}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    form = _twilio_form(sid="SM2")
    r = await _post_twilio(hooks, cid, form, signature=twilio_sign(url, form, token=new_token))
    assert r.status_code == 200, r.text
    forged = _twilio_form(sid="SM3")
    assert (await _post_twilio(hooks, cid, forged, signature="AAAA")).status_code == 403


async def test_intake_survives_its_pooled_connections_being_killed(hooks, admin_headers, session):
    """Postgres restarted (or a DBA killed the backends) while the pool sat idle: the next webhook still lands."""
    from sqlalchemy import text

    ch = await create_channel(hooks, admin_headers)
    assert (await _post_twilio(hooks, ch["id"], _twilio_form(sid="SM1"))).status_code == 200
    killed = await session.scalar(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'channels-webhook-intake'"
        )
    )
    await session.commit()
    assert killed >= 1
    r = await _post_twilio(hooks, ch["id"], _twilio_form(sid="SM2"))
    assert r.status_code == 200, r.text
    assert await _counts(session) == (2, 2)


async def test_twilio_signature_forms_the_library_accepts(hooks, admin_headers, session):
    """The intake checks the URL as rebuilt first and falls back to RequestValidator.validate: Twilio signing the
    URL with its default port (`:443`) still passes, and anything the library refuses is refused (no 500 for a
    header that is not ASCII)."""
    ch = await create_channel(hooks, admin_headers)
    path = f"/webhooks/twilio/{ch['id']}"
    with_port = f"{PUBLIC}:443{path}"
    form = _twilio_form(sid="SM" + "p" * 32)
    r = await _post_twilio(hooks, ch["id"], form, signature=twilio_sign(with_port, form))
    assert r.status_code == 200, r.text
    other = _twilio_form(sid="SM" + "q" * 32)
    for bad in (
        twilio_sign(f"{PUBLIC}:8443{path}", other),  # another port: not the URL Twilio was given
        twilio_sign(f"{PUBLIC}{path}", other, token="another-token"),
        twilio_sign(f"{PUBLIC}{path}", form),  # the other message's signature
    ):
        r = await _post_twilio(hooks, ch["id"], other, signature=bad)
        assert r.status_code == 403, r.text
    r = await hooks.post(path, data=other, headers={"X-Twilio-Signature": "sïgnature".encode("latin-1")})
    assert r.status_code == 403, r.text
    assert await _counts(session) == (1, 1)


class _Wakes:
    """Listens like the relay (LISTEN atende_outbox) and, for each wake-up, counts the channels events committed at
    that point: what a relay pass woken by it would find."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seen: list[tuple[float, int]] = []  # (received at, events visible then)
        self._queue: asyncio.Queue[float] = asyncio.Queue()

    async def __aenter__(self):
        self.listen = await asyncpg.connect(self.dsn)
        self.reader = await asyncpg.connect(self.dsn)
        await self.listen.add_listener(NOTIFY_CHANNEL, self._on)
        self._task = asyncio.create_task(self._count())
        return self

    def _on(self, _conn, _pid, _channel, payload: str) -> None:
        if payload == "channels":
            self._queue.put_nowait(time.monotonic())

    async def _count(self) -> None:
        while True:
            at = await self._queue.get()
            self.seen.append((at, await self.reader.fetchval("SELECT count(*) FROM channels.outbox")))

    async def settle(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        while not self._queue.empty():
            await asyncio.sleep(0.05)

    async def __aexit__(self, *exc):
        self._task.cancel()
        await self.listen.close()
        await self.reader.close()


async def test_relay_wake_ups_are_coalesced_and_every_stored_message_is_covered(stack, committed_db, admin_headers):
    """CHANNELS_WEBHOOK_NOTIFY_INTERVAL_MS: a burst wakes the relay a few times, not once per message, and the last
    wake-up comes after the last commit, so a relay pass woken by it finds every event (none waits for the poll)."""
    # The relay's wake-ups are for events the API does not publish itself: with direct publishing on, these messages
    # would not NOTIFY at all (tests/channels/test_intake_direct.py).
    settings = dict(public_base_url=PUBLIC, webhook_notify_interval_ms=300, webhook_direct_publish_per_second=0)
    app = create_app(stack.settings(ChannelsSettings, **settings))
    async with app_client(app) as client, _Wakes(asyncpg_dsn(stack.database_url)) as wakes:
        ch = await create_channel(client, admin_headers)
        for i in range(5):  # one after the other, well inside one interval
            assert (await _post_twilio(client, ch["id"], _twilio_form(sid=f"SMseq{i}"))).status_code == 200
        last_answer = time.monotonic()
        await wakes.settle(0.8)
        assert 2 <= len(wakes.seen) < 5, wakes.seen  # the first message's own NOTIFY, then one trailing
        assert wakes.seen[-1][0] > last_answer and wakes.seen[-1][1] == 5, (wakes.seen, last_answer)

        wakes.seen.clear()
        answers = await asyncio.gather(
            *(_post_twilio(client, ch["id"], _twilio_form(sid=f"SMpar{i}")) for i in range(20))
        )
        last_answer = time.monotonic()
        assert [r.status_code for r in answers] == [200] * 20
        await wakes.settle(0.8)
        assert 1 <= len(wakes.seen) < 10, wakes.seen
        # Concurrent messages share statements (group commit), so the last one may carry the NOTIFY itself, which
        # Postgres delivers at its commit, before the answers leave: what must hold is that it sees every event.
        assert wakes.seen[-1][1] == 25, (wakes.seen, last_answer)


async def test_relay_wake_per_message_when_the_interval_is_zero(stack, committed_db, admin_headers):
    """0 = every stored message NOTIFYs in its own statement; a provider retry stores nothing and wakes nothing."""
    # The relay's wake-ups are for events the API does not publish itself: with direct publishing on, these messages
    # would not NOTIFY at all (tests/channels/test_intake_direct.py).
    settings = dict(public_base_url=PUBLIC, webhook_notify_interval_ms=0, webhook_direct_publish_per_second=0)
    app = create_app(stack.settings(ChannelsSettings, **settings))
    async with app_client(app) as client, _Wakes(asyncpg_dsn(stack.database_url)) as wakes:
        ch = await create_channel(client, admin_headers)
        for i in range(4):
            assert (await _post_twilio(client, ch["id"], _twilio_form(sid=f"SMone{i}"))).status_code == 200
        assert (await _post_twilio(client, ch["id"], _twilio_form(sid="SMone0"))).status_code == 200  # a retry
        await wakes.settle(0.5)
        assert len(wakes.seen) == 4 and wakes.seen[-1][1] == 4, wakes.seen  # one each; the retry none


async def test_inbound_event_fits_its_contract(hooks, admin_headers, session):
    """The intake writes the channels.inbound.v1 payload as JSON itself (the hot path): the contract's fields."""
    ch = await create_channel(hooks, admin_headers)
    assert (await _post_twilio(hooks, ch["id"], _twilio_form())).status_code == 200
    event = (await session.execute(select(Outbox))).scalar_one()
    assert event.type == INBOUND_RECEIVED
    payload = INBOUND_RECEIVED.parse(Envelope(type=event.type, idempotency_key="k", payload=event.payload))
    assert set(event.payload) == set(InboundReceived.model_fields) == payload.model_fields_set
    assert payload.channel_id == uuid.UUID(ch["id"]) and payload.text == "Olá, quero uma pizza"
