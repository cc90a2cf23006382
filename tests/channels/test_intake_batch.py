"""Group commit in the webhook intake (webhooks/intake/batcher.py, InsertBatcher): messages that arrive while the
intake's statements are in flight are stored together in the next one, and each still gets its own answer.

To make a batch form on purpose, a test holds the intake's only statement (CHANNELS_WEBHOOK_INSERT_STATEMENTS=1)
behind a row lock: another transaction inserts the same (channel, MessageSid) first and stays open, so Postgres
makes the intake's insert wait for it. Everything posted meanwhile queues; when the blocker rolls back, the held
statement stores its message and the queued ones go in one statement."""

import asyncio
import re
import uuid

import asyncpg
import pytest
from sqlalchemy import func, select

from services.channels.app import create_app
from services.channels.base import Outbox
from services.channels.config import ChannelsSettings
from services.channels.webhooks.intake import asyncpg_dsn
from services.channels.webhooks.models import InboundMessage
from tests.channels.conftest import PUBLIC, create_channel, twilio_sign
from tests.support.plugin import app_client, wait_for


def _form(sid: str, body: str = "quero uma pizza") -> dict[str, str]:
    return {"MessageSid": sid, "From": "whatsapp:+5511999990000", "To": "whatsapp:+14155238886", "Body": body}


async def _post(client, channel_id, form, token=None):
    url = f"{PUBLIC}/webhooks/twilio/{channel_id}"
    sig = twilio_sign(url, form) if token is None else twilio_sign(url, form, token=token)
    return await client.post(f"/webhooks/twilio/{channel_id}", data=form, headers={"X-Twilio-Signature": sig})


def _rows_histogram(metrics: str) -> dict[str, float]:
    """channels_webhook_insert_rows: bucket upper bound -> statements with at most that many rows, plus sum/count."""
    out = {}
    for m in re.finditer(r'^channels_webhook_insert_rows_bucket\{le="([^"]+)"\} (\S+)$', metrics, re.M):
        out[m.group(1)] = float(m.group(2))
    for name in ("sum", "count"):
        m = re.search(rf"^channels_webhook_insert_rows_{name} (\S+)$", metrics, re.M)
        out[name] = float(m.group(1)) if m else 0.0
    return out


async def _queue(client, intake, posts) -> list[asyncio.Task]:
    """Post each (channel, form) concurrently; return once all of them wait in the intake's queue."""
    tasks = [asyncio.create_task(_post(client, ch["id"], form)) for ch, form in posts]
    await wait_for(lambda: len(intake.batcher._queue) == len(posts))  # noqa: SLF001 - what is queued
    return tasks


class _Blocker:
    """Holds the intake's statement: an open transaction has inserted (channel, sid) already."""

    def __init__(self, dsn: str, channel: dict, sid: str) -> None:
        self.dsn, self.channel, self.sid = dsn, channel, sid

    async def __aenter__(self):
        self.conn = await asyncpg.connect(self.dsn)
        self.released = False
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute(
            f"INSERT INTO {InboundMessage.__table__.fullname} (id, tenant_id, channel_id, provider_message_id, kind, "
            "sender, media, received_at) VALUES ($1, $2, $3, $4, 'text', 'blocker', '[]', now())",
            uuid.uuid4(),
            uuid.uuid4(),  # any: the row is rolled back
            uuid.UUID(self.channel["id"]),
            self.sid,
        )
        return self

    async def waiting(self) -> bool:
        """The intake's insert is waiting for this transaction."""
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")  # else the open transaction sees its first look
        return bool(
            await self.conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'channels-webhook-intake' "
                "AND wait_event_type = 'Lock'"
            )
        )

    async def hold(self, client) -> asyncio.Task:
        """Post the blocked message; return (its request still open) once its statement waits for this transaction."""
        held = asyncio.create_task(_post(client, self.channel["id"], _form(self.sid)))
        await wait_for(self.waiting)
        return held

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.tx.rollback()

    async def __aexit__(self, *exc):
        await self.release()
        await self.conn.close()


@pytest.fixture
def session(committed_session):
    return committed_session


def _app(stack, **settings):
    return create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC, webhook_insert_statements=1, **settings))


async def test_messages_queued_behind_a_statement_are_stored_together_each_once(
    stack, committed_db, admin_headers, session
):
    """20 messages (3 of them sent twice, as a provider retrying at once would) queued behind one statement are
    stored by one more: every request answers 200, every distinct message is stored once with its event."""
    app = _app(stack)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        intake = app.state.webhook_intake
        async with _Blocker(asyncpg_dsn(stack.database_url), ch, "SMheld") as blocker:
            held = await blocker.hold(client)
            sids = [f"SMq{i}" for i in range(17)] + ["SMq0", "SMq1", "SMq2"]
            queued = await _queue(client, intake, [(ch, _form(sid)) for sid in sids])
            await blocker.release()
            answers = await asyncio.gather(held, *queued)
        assert [r.status_code for r in answers] == [200] * 21, [r.text for r in answers if r.status_code != 200]
        hist = _rows_histogram((await client.get("/metrics")).text)

    # the held statement (1 row), then one for the 20 queued (channel create: no statement)
    assert hist["count"] == 2 and hist["sum"] == 21, hist
    assert hist["1.0"] == 1 and hist["16.0"] == 1 and hist["32.0"] == 2, hist
    stored = (await session.execute(select(InboundMessage.provider_message_id))).scalars().all()
    assert sorted(stored) == sorted(["SMheld", *set(sids)])
    events = (await session.execute(select(Outbox))).scalars().all()
    assert sorted(e.payload["provider_message_id"] for e in events) == sorted(stored)
    assert len({e.payload["inbound_id"] for e in events}) == len(events) == 18


async def test_one_message_postgres_refuses_fails_alone_and_a_stale_channel_is_re_checked(
    stack, committed_db, admin_headers, session
):
    """In one batch: good messages for two channels, a text with a NUL (Postgres refuses the whole statement), a
    retry of a stored message, and a message for a channel changed since it was cached. Only the NUL one is a 422;
    the batch is re-run a row at a time; the stale channel's message is re-authenticated and stored."""
    app = _app(stack)
    async with app_client(app) as client:
        a = await create_channel(client, admin_headers)
        b = await create_channel(client, admin_headers)
        intake = app.state.webhook_intake
        assert (await _post(client, a["id"], _form("SMa-old"))).status_code == 200
        assert (await _post(client, b["id"], _form("SMb-old"))).status_code == 200  # b is cached now
        r = await client.patch(f"/api/v1/channels/{b['id']}", json={"settings": {"buffer_seconds": 9}},
                               headers=admin_headers)  # fmt: skip
        assert r.status_code == 200, r.text

        async with _Blocker(asyncpg_dsn(stack.database_url), a, "SMheld") as blocker:
            held = await blocker.hold(client)
            batch = [
                (a, _form("SMa1")),
                (a, _form("SMnul", body="pizza\x00")),
                (a, _form("SMa-old")),  # a provider retry
                (b, _form("SMb1")),  # b changed since it was cached
                (a, _form("SMa2")),
            ]
            queued = await _queue(client, intake, batch)
            await blocker.release()
            held_answer, *answers = await asyncio.gather(held, *queued)

    assert held_answer.status_code == 200
    assert [r.status_code for r in answers] == [200, 422, 200, 200, 200], [r.text for r in answers]
    assert answers[1].headers["content-type"].startswith("application/problem+json")
    rows = (await session.execute(select(InboundMessage.channel_id, InboundMessage.provider_message_id))).all()
    assert sorted((str(c), s) for c, s in rows) == sorted(
        [(a["id"], "SMa-old"), (b["id"], "SMb-old"), (a["id"], "SMheld"), (a["id"], "SMa1"), (b["id"], "SMb1"),
         (a["id"], "SMa2")]
    )  # fmt: skip
    events = {e.payload["provider_message_id"]: e for e in (await session.execute(select(Outbox))).scalars()}
    assert len(events) == (await session.execute(select(func.count()).select_from(Outbox))).scalar_one() == 6
    assert events["SMb1"].payload["channel_settings"]["buffer_seconds"] == 9  # the fresh row's settings


async def test_batching_off_is_one_statement_per_message(stack, committed_db, admin_headers, session):
    """CHANNELS_WEBHOOK_BATCH_MAX_ROWS=1: no batcher, no batch metric; concurrent messages are all stored."""
    app = _app(stack, webhook_batch_max_rows=1)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        assert app.state.webhook_intake.batcher is None
        answers = await asyncio.gather(*(_post(client, ch["id"], _form(f"SMoff{i}")) for i in range(10)))
        assert [r.status_code for r in answers] == [200] * 10
        assert "channels_webhook_insert_rows" not in (await client.get("/metrics")).text
    assert (await session.execute(select(func.count()).select_from(InboundMessage))).scalar_one() == 10


async def test_a_full_queue_answers_503_and_stores_nothing_for_that_message(
    stack, committed_db, admin_headers, session
):
    """The queue behind the intake's statements is capped (webhook_max_queued, 3 here): past it a message is a 503 with
    Retry-After (the provider retries) and is not stored; the queued ones are stored when the statement frees."""
    app = _app(stack, webhook_max_queued=3)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        intake = app.state.webhook_intake
        async with _Blocker(asyncpg_dsn(stack.database_url), ch, "SMheld") as blocker:
            held = await blocker.hold(client)
            queued = await _queue(client, intake, [(ch, _form(f"SMfull{i}")) for i in range(3)])
            refused = await _post(client, ch["id"], _form("SMrefused"))
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            await blocker.release()
            answers = await asyncio.gather(held, *queued)
        assert [r.status_code for r in answers] == [200] * 4
    stored = (await session.execute(select(InboundMessage.provider_message_id))).scalars().all()
    assert sorted(stored) == ["SMfull0", "SMfull1", "SMfull2", "SMheld"]
