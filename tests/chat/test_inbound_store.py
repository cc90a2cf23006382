"""The chat consumer's inbound store (services/chat/pipeline/inbound.py), two raw statements in the consumer's
transaction, keeps the semantics of the ORM version it replaced: one open thread per contact and channel under
concurrency, a redelivery changes nothing, a human takeover means no answer, a deleted assistant falls back to the
tenant's default, a contact without a name gets the sender's; its search.index.v1 event is published once, right
after the commit. Real consumers (StreamConsumer, raw mode) on the real streams and a committed database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.chat.base import Outbox
from services.chat.buffers.store import buffer_key
from services.chat.pipeline.flusher import context_key
from services.chat.threads.fast_repository import BurstQuery, FastMessageRepository
from shared.events import Envelope
from shared.events.relay import OutboxRelay
from shared.events.search import INDEX_STREAM
from tests.chat.inbound_support import World, chat_world


@pytest.fixture
async def world(stack, committed_db, redis):
    async with chat_world(stack, committed_db, redis) as w:
        yield w


async def _assistant(w: World, name: str, *, default: bool) -> uuid.UUID:
    aid = uuid.uuid4()
    async with w.sm() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO chat.assistant (id, tenant_id, name, instructions, use_knowledge, is_default, created_at,"
                " updated_at) VALUES (:i, :t, :n, '', true, :d, now(), now())"
            ),
            {"i": aid, "t": w.tenant_id, "n": name, "d": default},
        )
    return aid


async def test_concurrent_messages_of_a_new_contact_make_one_contact_and_one_thread(world):
    envs = [world.inbound(text_=f"msg {i}") for i in range(6)]
    await world.deliver(*envs, consumers=3)
    assert len(await world.rows("SELECT id FROM chat.contact WHERE tenant_id = :t")) == 1
    [thread] = await world.rows("SELECT id, last_message_at FROM chat.thread WHERE tenant_id = :t")
    msgs = await world.rows("SELECT thread_id, created_at FROM chat.message WHERE tenant_id = :t")
    assert len(msgs) == 6 and {m.thread_id for m in msgs} == {thread.id}
    # Moved by every stored message (to its time: the last one committed wins, as before).
    assert thread.last_message_at in {m.created_at for m in msgs}
    [contact] = await world.rows("SELECT last_seen_at FROM chat.contact WHERE tenant_id = :t")
    assert contact.last_seen_at in {m.created_at for m in msgs}


async def test_concurrent_messages_of_a_known_contact_without_a_thread_open_one(world):
    await world.deliver(world.inbound())
    async with world.sm() as s, s.begin():
        await s.execute(text("UPDATE chat.thread SET status = 'closed' WHERE tenant_id = :t"), {"t": world.tenant_id})
    await world.deliver(*[world.inbound(text_=f"again {i}") for i in range(6)], consumers=3)
    threads = await world.rows("SELECT status FROM chat.thread WHERE tenant_id = :t ORDER BY created_at")
    assert [t.status for t in threads] == ["closed", "open"]


async def test_redelivery_changes_nothing_and_the_index_event_is_published_once(world):
    env = world.inbound(text_="quero uma pizza")
    await world.deliver(env)
    before = await world.rows("SELECT t.last_message_at, c.last_seen_at FROM chat.thread t, chat.contact c")
    # The same event again, as the relay republishes it (same key), and the same inbound message under a new key.
    again = Envelope(type=env.type, tenant_id=env.tenant_id, idempotency_key=env.idempotency_key, payload=env.payload)
    other_key = Envelope(type=env.type, tenant_id=env.tenant_id, idempotency_key="other", payload=env.payload)
    await world.deliver(again, other_key)
    assert len(await world.rows("SELECT id FROM chat.message WHERE tenant_id = :t")) == 1
    assert await world.rows("SELECT t.last_message_at, c.last_seen_at FROM chat.thread t, chat.contact c") == before
    # One index row, the relay's to publish at once (the consumer leaves it: nobody waits on it), and only once.
    assert await world.redis.xrange(INDEX_STREAM) == []
    [row] = await world.rows("SELECT id, published_at, created_at <= now() AS due FROM chat.outbox")
    assert row.published_at is None and row.due
    relay = OutboxRelay(world.sm, world.redis, Outbox, notify=False)
    assert await relay.publish_once() == 1
    assert await relay.publish_once() == 0
    entries = await world.redis.xrange(INDEX_STREAM)
    assert len(entries) == 1
    index = Envelope.from_fields(entries[0][1])
    [message] = await world.rows("SELECT id, thread_id FROM chat.message WHERE tenant_id = :t")
    assert index.id == row.id
    assert index.payload["message_id"] == str(message.id) and index.payload["thread_id"] == str(message.thread_id)
    assert index.payload["text"] == "quero uma pizza" and index.payload["contact_id"]
    # Buffer off: the flusher is woken once per stored message, after the commit.
    assert world.wakes == [1]


async def test_a_taken_over_thread_gets_no_buffer_entry(world):
    await world.deliver(world.inbound())
    [thread] = await world.rows("SELECT id FROM chat.thread WHERE tenant_id = :t")
    key = buffer_key(world.tenant_id, thread.id)
    assert len((await world.handler.store.get(key)).items) == 1  # buffer off, no flusher here: due, waiting
    async with world.sm() as s, s.begin():
        await s.execute(text("UPDATE chat.thread SET ai_enabled = false WHERE tenant_id = :t"), {"t": world.tenant_id})
    await world.deliver(world.inbound(text_="um humano, por favor"))
    assert len(await world.rows("SELECT id FROM chat.message WHERE tenant_id = :t")) == 2
    assert len((await world.handler.store.get(key)).items) == 1  # the second one was not added
    assert await OutboxRelay(world.sm, world.redis, Outbox, notify=False).publish_once() == 2
    assert len(await world.redis.xrange(INDEX_STREAM)) == 2  # still indexed


async def test_deleted_channel_assistant_falls_back_to_the_tenant_default(world):
    default = await _assistant(world, "Padrão", default=True)
    gone = await _assistant(world, "Antigo", default=False)
    named = await _assistant(world, "Bella", default=False)
    async with world.sm() as s, s.begin():
        await s.execute(text("UPDATE chat.assistant SET deleted_at = now() WHERE id = :i"), {"i": gone})
    await world.deliver(world.inbound(sender="whatsapp:+1", assistant_id=str(gone)))
    await world.deliver(world.inbound(sender="whatsapp:+2", assistant_id=str(named)))
    await world.deliver(world.inbound(sender="whatsapp:+3"))
    rows = await world.rows(
        "SELECT c.external_id, t.assistant_id FROM chat.thread t JOIN chat.contact c ON c.id = t.contact_id "
        "WHERE t.tenant_id = :t ORDER BY c.external_id"
    )
    assert [(r.external_id, r.assistant_id) for r in rows] == [
        ("whatsapp:+1", default),
        ("whatsapp:+2", named),
        ("whatsapp:+3", default),
    ]


async def test_a_contact_without_a_name_gets_the_senders_and_keeps_its_own(world):
    await world.deliver(world.inbound())
    [c] = await world.rows("SELECT name, phone, channel FROM chat.contact WHERE tenant_id = :t")
    assert c.name is None and c.phone == "+5511999990000" and c.channel == "whatsapp_twilio"
    await world.deliver(world.inbound(sender_name="Ana"))
    await world.deliver(world.inbound(sender_name="Outra"))
    [c] = await world.rows("SELECT name FROM chat.contact WHERE tenant_id = :t")
    assert c.name == "Ana"
    [t] = await world.rows("SELECT title FROM chat.thread WHERE tenant_id = :t")
    assert t.title == "whatsapp:+5511999990000"  # named when it opened, before the contact had a name
    await world.deliver(world.inbound(sender="whatsapp:+7", sender_name="Bruno"))
    [t] = await world.rows(
        "SELECT t.title FROM chat.thread t JOIN chat.contact c ON c.id = t.contact_id WHERE c.external_id = :e",
        e="whatsapp:+7",
    )
    assert t.title == "Bruno"


async def test_the_flushers_read_gives_the_context_key_of_its_history(world):
    """The flusher's one read statement computes the answer's batch key in SQL: it must be `context_key`."""
    old = world.inbound(text_="antiga", received_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    await world.deliver(old, *[world.inbound(text_=f"nova {i}") for i in range(4)])
    [thread] = await world.rows("SELECT id FROM chat.thread WHERE tenant_id = :t")
    [first] = await world.rows("SELECT id FROM chat.message WHERE content = 'antiga'")
    async with world.sm() as s:
        conn = (await (await s.connection()).get_raw_connection()).driver_connection
        snap = await FastMessageRepository(conn).read_burst(BurstQuery(world.tenant_id, thread.id, 3, [first.id]))
    assert [m.content for m in snap.recent] == ["nova 3", "nova 2", "nova 1"]
    assert [m.content for m in snap.extra] == ["antiga"]  # in the burst, older than the window
    assert snap.batch_key == context_key(thread.id, snap.recent) and not snap.answered
    assert snap.thread.id == thread.id and snap.contact.external_id == "whatsapp:+5511999990000"
    assert snap.assistant is None
