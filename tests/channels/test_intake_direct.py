"""The webhook intake publishes its messages' `channels.inbound.v1` events itself, right after the commit
(shared/events/direct.py, DirectPublisher), at most CHANNELS_WEBHOOK_DIRECT_PUBLISH_PER_SECOND statements a second per
process; the outbox relay stays the safety net.

Published directly, an event is in the stream at once with the envelope the relay would have built (same id,
idempotency key and payload), its row is marked published, and the relay never sends it again, even after the grace.
Redis failing after the commit leaves the row to the relay, which publishes it once the grace is over (nothing is
lost), and direct publishing pauses, so the next messages take the relay's NOTIFY path at once. Over the allowance
a message goes through the relay as before. The grace is not waited for: the tests move `created_at` back by it.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from devtools.embedded import free_port
from services.channels.app import create_app
from services.channels.base import Outbox
from services.channels.config import ChannelsSettings
from shared.db import create_engine, create_sessionmaker
from shared.events import Envelope
from shared.events.channels import INBOUND_STREAM
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS
from shared.events.relay import OutboxRelay
from tests.channels.conftest import PUBLIC, create_channel, twilio_sign
from tests.support.plugin import app_client, wait_for


def _form(sid: str, body: str = "vocês entregam hoje?") -> dict[str, str]:
    return {"MessageSid": sid, "From": "whatsapp:+5511977776666", "To": "whatsapp:+14155238886", "Body": body}


async def _post(client, channel_id, sid: str):
    url = f"{PUBLIC}/webhooks/twilio/{channel_id}"
    form = _form(sid)
    r = await client.post(
        f"/webhooks/twilio/{channel_id}", data=form, headers={"X-Twilio-Signature": twilio_sign(url, form)}
    )
    assert r.status_code == 200, r.text
    return r


class World:
    def __init__(self, committed_db: str, redis) -> None:
        self.engine = create_engine(committed_db, pool_size=2)
        self.sm = create_sessionmaker(self.engine)
        self.redis = redis
        self.relay = OutboxRelay(self.sm, redis, Outbox, notify=False)

    async def rows(self, sql: str, **params):
        async with self.sm() as s:
            return (await s.execute(text(sql), params)).all()

    async def outbox(self):
        """Every channels outbox row: whether it is published, and whether it was written for direct publishing
        (`created_at` in the future)."""
        return await self.rows(
            "SELECT id, idempotency_key, tenant_id, payload, published_at IS NOT NULL AS published, "
            "created_at > now() + make_interval(secs => :g) AS deferred FROM channels.outbox ORDER BY occurred_at",
            g=DIRECT_PUBLISH_GRACE_SECONDS / 2,
        )

    async def stream(self) -> list[Envelope]:
        return [Envelope.from_fields(f) for _, f in await self.redis.xrange(INBOUND_STREAM)]

    async def grace_passes(self) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(
                text("UPDATE channels.outbox SET created_at = created_at - make_interval(secs => :g)"),
                {"g": DIRECT_PUBLISH_GRACE_SECONDS + 1},
            )


@pytest.fixture
async def world(committed_db, redis):
    w = World(committed_db, redis)
    try:
        yield w
    finally:
        await w.engine.dispose()


def _app(stack, **settings):
    return create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC, **settings))


async def _settled(app) -> None:
    """The intake's XADDs and marks in flight are done."""
    direct = app.state.webhook_intake.direct
    await wait_for(lambda: not direct._tasks and (direct._marker is None or direct._marker.done()))  # noqa: SLF001


async def test_published_by_the_api_at_once_and_never_again_by_the_relay(stack, world, admin_headers):
    app = _app(stack)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        await _post(client, ch["id"], "SMdirect1")
        [event] = await wait_for(world.stream)
        await _settled(app)
        for _ in range(2):  # the provider retrying: stored nothing, published nothing
            await _post(client, ch["id"], "SMdirect1")
        await _settled(app)

    [row] = await world.outbox()
    assert row.published and row.deferred
    # The envelope the relay would have published for this row.
    assert (event.id, event.idempotency_key, event.tenant_id) == (row.id, row.idempotency_key, row.tenant_id)
    assert event.type == INBOUND_STREAM and event.payload == row.payload
    assert event.payload["provider_message_id"] == "SMdirect1" and event.payload["text"] == "vocês entregam hoje?"
    assert len(await world.stream()) == 1
    assert await world.relay.publish_once() == 0
    await world.grace_passes()
    assert await world.relay.publish_once() == 0  # published is published, however old
    assert len(await world.stream()) == 1


async def test_redis_failing_after_the_commit_leaves_the_event_to_the_relay_and_pauses_direct_publishing(
    stack, world, admin_headers
):
    app = _app(stack)
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        # The intake's Redis becomes a port nobody listens on: its XADD fails after the commit, as if it died there.
        app.state.webhook_intake.direct.redis = dead
        await _post(client, ch["id"], "SMlost1")
        await _settled(app)
        direct = app.state.webhook_intake.direct
        assert direct._paused_until > time.monotonic()  # noqa: SLF001 - paused after the failure
        await _post(client, ch["id"], "SMlost2")  # within the pause: the relay's path
        await _settled(app)
    await dead.aclose()

    first, second = await world.outbox()
    assert first.payload["provider_message_id"] == "SMlost1" and first.deferred and not first.published
    assert second.payload["provider_message_id"] == "SMlost2" and not second.deferred and not second.published
    assert await world.stream() == []
    assert await world.relay.publish_once() == 1  # the second at once; the first is still in its grace
    await world.grace_passes()
    assert await world.relay.publish_once() == 1
    assert await world.relay.publish_once() == 0
    events = await world.stream()
    assert [e.payload["provider_message_id"] for e in events] == ["SMlost2", "SMlost1"]
    assert [e.id for e in events] == [second.id, first.id]


async def test_over_the_allowance_messages_go_through_the_relay(stack, world, admin_headers):
    app = _app(stack, webhook_direct_publish_per_second=2)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        started = time.monotonic()
        for i in range(6):
            await _post(client, ch["id"], f"SMcap{i}")
        elapsed = time.monotonic() - started
        await _settled(app)

    rows = await world.outbox()
    direct = [r for r in rows if r.deferred]
    assert len(rows) == 6
    # Two a second: the first two, and two more for every second boundary the six posts crossed.
    assert 2 <= len(direct) <= 2 * (math.ceil(elapsed) + 1), (len(direct), elapsed)
    assert rows[0].deferred and rows[1].deferred and all(r.published for r in direct)
    assert not any(r.published for r in rows if not r.deferred)
    assert await world.relay.publish_once() == 6 - len(direct)
    await world.grace_passes()
    assert await world.relay.publish_once() == 0
    events = await world.stream()
    assert sorted(e.id for e in events) == sorted(r.id for r in rows)  # each exactly once


async def test_zero_turns_it_off(stack, world, admin_headers):
    app = _app(stack, webhook_direct_publish_per_second=0)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        await _post(client, ch["id"], "SMoff1")
        await asyncio.sleep(0.2)
        assert await world.stream() == []
    [row] = await world.outbox()
    assert not row.deferred and not row.published
    assert await world.relay.publish_once() == 1
    [event] = await world.stream()
    assert event.id == row.id


async def test_a_burst_sharing_statements_is_published_once_each(stack, world, admin_headers):
    """Concurrent messages share intake statements (group commit); every stored one is in the stream once, retries
    of the same MessageSid in the same burst included."""
    app = _app(stack, webhook_direct_publish_per_second=1000, webhook_insert_statements=1)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        sids = [f"SMburst{i}" for i in range(30)] + ["SMburst0", "SMburst1", "SMburst2"]
        await asyncio.gather(*(_post(client, ch["id"], sid) for sid in sids))
        await _settled(app)
        statements = app.state.webhook_intake.batcher.rows_seen.collect()[0].samples
    count = next(s.value for s in statements if s.name.endswith("_count"))
    assert count < 30, count  # some statements carried several messages

    rows = await world.outbox()
    assert len(rows) == 30 and all(r.published and r.deferred for r in rows)
    events = await world.stream()
    assert sorted(e.id for e in events) == sorted(r.id for r in rows)
    assert sorted(e.payload["provider_message_id"] for e in events) == sorted(set(sids))
    await world.grace_passes()
    assert await world.relay.publish_once() == 0


async def test_the_allowance_counts_messages_so_a_burst_goes_through_the_relay(stack, world, admin_headers):
    """A statement is direct only if all its messages fit in the second's allowance: under a burst of shared
    statements most events take the relay (which costs the API nothing), and each is still published once."""
    app = _app(stack, webhook_direct_publish_per_second=4, webhook_insert_statements=1)
    async with app_client(app) as client:
        ch = await create_channel(client, admin_headers)
        started = time.monotonic()
        await asyncio.gather(*(_post(client, ch["id"], f"SMflood{i}") for i in range(40)))
        elapsed = time.monotonic() - started
        await _settled(app)

    rows = await world.outbox()
    direct = [r for r in rows if r.deferred]
    assert len(rows) == 40
    assert len(direct) <= 4 * (math.ceil(elapsed) + 1), (len(direct), elapsed)
    assert all(r.published for r in direct) and not any(r.published for r in rows if not r.deferred)
    assert await world.relay.publish_once() == 40 - len(direct)
    events = await world.stream()
    assert sorted(e.id for e in events) == sorted(r.id for r in rows)
