"""The two implementations of the message repository (services/chat/threads/repository.py, the ORM for the API, and
services/chat/threads/fast_repository.py, raw statements for the channel pipeline) store a message the same way:
the same columns, the same outbox events, the same token usage. Real Postgres, in the test's rolled-back
transaction (the fast one runs on the session's own asyncpg connection)."""

from __future__ import annotations

import uuid

import orjson
import pytest
from sqlalchemy import text

from services.chat.contacts.models import Contact
from services.chat.metrics.usage import Usage
from services.chat.threads.fast_repository import FastMessageRepository, NewInbound
from services.chat.threads.models import Message, Thread
from services.chat.threads.repository import MessageRepository, NewAnswer
from services.chat.threads.tool_calls import NewToolCall, ToolCallDone, ToolCallRound
from shared.db import utcnow
from shared.events.chat import OUTBOUND_STREAM
from shared.events.raw import NamedStatement
from shared.events.search import INDEX_STREAM

# What differs by construction: the row's identity and order, and (for the inbound) its idempotency key.
IDENTITY = {"id", "seq", "thread_id", "batch_key", "external_id"}


async def _channel_thread(session, tenant_id: uuid.UUID, contact: Contact) -> Thread:
    thread = Thread(
        id=uuid.uuid4(), tenant_id=tenant_id, contact_id=contact.id, channel="telegram", channel_id=contact.channel_id,
        title="Ana", sector="vendas", status="open", ai_enabled=True, needs_human=False, last_message_at=utcnow(),
    )  # fmt: skip
    session.add(thread)
    await session.flush()
    return thread


@pytest.fixture
async def parties(session):
    tenant_id = uuid.uuid4()
    contact = Contact(
        id=uuid.uuid4(), tenant_id=tenant_id, name="Ana", channel="telegram", channel_id=uuid.uuid4(),
        external_id="4242", attributes={},
    )  # fmt: skip
    session.add(contact)
    await session.flush()
    return tenant_id, contact


async def _raw(session):
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def _row(session, table: str, id_: uuid.UUID) -> dict:
    row = (await session.execute(text(f"SELECT * FROM chat.{table} WHERE id = :i"), {"i": id_})).mappings().one()
    return dict(row)


def _answer(thread: Thread, contact: Contact, *, handover: bool, usage: bool) -> NewAnswer:
    return NewAnswer(
        id=uuid.uuid4(), thread=thread, contact=contact, content="Abrimos às 18h.", validated_by="ai",
        model="stand-in-model", tokens_in=31, tokens_out=7, latency_ms=420, incomplete=False, handover=handover,
        batch_key=uuid.uuid4().hex, created_at=utcnow(), send_reply=True, split_replies=False,
        usage=Usage(thread.tenant_id, "stand-in-model", 31, 7) if usage else None,
    )  # fmt: skip


async def _events(session, message_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        text(
            "SELECT stream, type, tenant_id, payload FROM chat.outbox WHERE payload->>'message_id' = :m ORDER BY stream"
        ),
        {"m": str(message_id)},
    )
    out = []
    for r in rows.mappings():
        payload = r["payload"] if isinstance(r["payload"], dict) else orjson.loads(r["payload"])
        payload = {k: v for k, v in payload.items() if k not in ("message_id", "thread_id")}
        out.append({"stream": r["stream"], "type": r["type"], "tenant_id": r["tenant_id"], "payload": payload})
    return out


@pytest.mark.parametrize("handover", [False, True])
async def test_an_answer_is_stored_identically_by_both_repositories(session, parties, handover):
    tenant_id, contact = parties
    plain_thread = await _channel_thread(session, tenant_id, contact)
    fast_thread = await _channel_thread(session, tenant_id, contact)
    plain = _answer(plain_thread, contact, handover=handover, usage=True)
    fast = _answer(fast_thread, contact, handover=handover, usage=True)
    fast.created_at = plain.created_at

    stored_plain = await MessageRepository(session).add_answer(plain)
    stored_fast = await FastMessageRepository(await _raw(session)).add_answer(fast)

    a, b = await _row(session, "message", plain.id), await _row(session, "message", fast.id)
    assert a.keys() == b.keys() and {k: v for k, v in a.items() if k not in IDENTITY} == {
        k: v for k, v in b.items() if k not in IDENTITY
    }
    assert (a["thread_id"], b["thread_id"]) == (plain_thread.id, fast_thread.id)
    assert (a["batch_key"], b["batch_key"]) == (plain.batch_key, fast.batch_key)
    assert a["role"] == "assistant" and a["tokens_in"] == 31 and a["contact_id"] == contact.id
    # The message each returns says the same, but for what the database alone assigns.
    for m in (stored_plain.message, stored_fast.message):
        assert (m.content, m.model, m.contact_id, m.sector, m.validated_by) == (
            "Abrimos às 18h.", "stand-in-model", contact.id, "vendas", "ai"
        )  # fmt: skip
        assert m.seq is not None
    # The same two events (index, then the reply for the channel); the fast one hands them back to publish now.
    plain_events, fast_events = await _events(session, plain.id), await _events(session, fast.id)
    assert [e["stream"] for e in plain_events] == [OUTBOUND_STREAM, INDEX_STREAM]
    assert plain_events == fast_events
    assert stored_plain.committed == [] and [e.stream for e in stored_fast.committed] == [
        OUTBOUND_STREAM, INDEX_STREAM
    ]  # fmt: skip
    # The thread moved the same way.
    t1, t2 = await _row(session, "thread", plain_thread.id), await _row(session, "thread", fast_thread.id)
    assert t1["last_message_at"] == t2["last_message_at"] == plain.created_at
    assert t1["needs_human"] is t2["needs_human"] is handover
    # One usage row, both requests in it.
    usage = (
        (await session.execute(text("SELECT * FROM chat.token_usage WHERE tenant_id = :t"), {"t": tenant_id}))
        .mappings()
        .all()
    )
    assert [(u["model"], u["requests"], u["tokens_in"], u["tokens_out"]) for u in usage] == [
        ("stand-in-model", 2, 62, 14)
    ]


async def test_an_answer_without_usage_records_none_on_either_path(session, parties):
    tenant_id, contact = parties
    for repo, thread in (
        (MessageRepository(session), await _channel_thread(session, tenant_id, contact)),
        (FastMessageRepository(await _raw(session)), await _channel_thread(session, tenant_id, contact)),
    ):
        await repo.add_answer(_answer(thread, contact, handover=False, usage=False))
    usage = await session.execute(text("SELECT count(*) FROM chat.token_usage WHERE tenant_id = :t"), {"t": tenant_id})
    assert usage.scalar_one() == 0


async def test_a_customer_message_is_stored_identically_by_both_repositories(session, parties):
    tenant_id, contact = parties
    thread = await _channel_thread(session, tenant_id, contact)
    now = utcnow()
    plain = await MessageRepository(session).add(
        Message(
            id=uuid.uuid4(), tenant_id=tenant_id, thread_id=thread.id, contact_id=contact.id, role="user",
            content="Vocês abrem hoje?", sector=thread.sector, incomplete=False, created_at=now,
        )
    )  # fmt: skip
    fast_id = uuid.uuid4()
    stored = await FastMessageRepository(await _raw(session)).add_inbound(
        NewInbound(
            tenant_id=tenant_id, contact_id=contact.id, contact_created=False, channel_id=contact.channel_id,
            channel="telegram", recipient=contact.external_id, assistant_id=None, new_thread_id=uuid.uuid4(),
            title="Ana", message_id=fast_id, content="Vocês abrem hoje?", external_id=f"inbound:{uuid.uuid4()}",
            transcript_status=None,
            name_fill=None, received_at=now, now=now, event_id=uuid.uuid4(), event_key=f"chat.index:{fast_id}:0",
            index_payload="{}", relay_after=0.0,
        )
    )  # fmt: skip
    assert stored.stored and stored.thread_id == thread.id  # the contact's open thread, not a new one
    a, b = await _row(session, "message", plain.id), await _row(session, "message", fast_id)
    assert {k: v for k, v in a.items() if k not in IDENTITY} == {k: v for k, v in b.items() if k not in IDENTITY}
    assert a["thread_id"] == b["thread_id"] == thread.id and b["external_id"].startswith("inbound:")


async def _tool_rows(session, thread_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(text("SELECT * FROM chat.message WHERE thread_id = :t ORDER BY seq"), {"t": thread_id})
    return [{k: v for k, v in r.items() if k not in IDENTITY | {"created_at"}} for r in rows.mappings()]


async def test_tool_call_records_are_stored_identically_by_both_repositories(session, parties):
    """Begin a round (a key recorded already is left alone), read the records back, finish a call (and a finish
    conditioned on a status that no longer holds changes nothing): the same rows either way."""
    tenant_id, contact = parties
    threads = []
    for repo in (MessageRepository(session), FastMessageRepository(await _raw(session))):
        thread = await _channel_thread(session, tenant_id, contact)
        threads.append(thread)
        call = {"name": "check_order", "arguments": {"order_id": "7"}, "status": "started", "call_id": "c1"}
        keys = [f"{thread.id.hex}a", f"{thread.id.hex}b"]
        round_ = ToolCallRound(
            tenant_id, thread.id, contact.id, thread.sector, utcnow(),
            [NewToolCall(uuid.uuid4(), k, call | {"call_id": k[-1]}) for k in keys],
        )  # fmt: skip
        assert await repo.begin_tool_calls(round_) == set(keys)
        again = ToolCallRound(tenant_id, thread.id, contact.id, thread.sector, utcnow(), round_.calls[:1])
        assert await repo.begin_tool_calls(again) == set()
        await repo.finish_tool_call(ToolCallDone(tenant_id, keys[0], '{"ok": true}', "ok", 12))
        await repo.finish_tool_call(ToolCallDone(tenant_id, keys[0], "lost", "error", 0, only_if_status="started"))
        records = {r.key: r for r in await repo.tool_calls(tenant_id, keys)}
        assert records[keys[0]].result == '{"ok": true}' and records[keys[0]].latency_ms == 12
        assert records[keys[0]].call["status"] == "ok" and records[keys[1]].call["status"] == "started"
        assert await repo.tool_calls(uuid.uuid4(), keys) == []  # another tenant's keys: nothing
    plain, fast = [await _tool_rows(session, t.id) for t in threads]
    assert [r["role"] for r in plain] == ["tool", "tool"] and plain[0]["content"] == '{"ok": true}'
    strip = [{k: v for k, v in r.items() if k != "call_key"} for r in plain]
    assert strip == [{k: v for k, v in r.items() if k != "call_key"} for r in fast]


def test_named_parameters_compile_to_numbered_ones_once_each():
    stmt = NamedStatement.compile("SELECT :a::int, ':x', :b, '{}'::jsonb, :a WHERE c = ANY(:ids::uuid[])")
    assert stmt.sql == "SELECT $1::int, ':x', $2, '{}'::jsonb, $1 WHERE c = ANY($3::uuid[])"
    assert stmt.names == ("a", "b", "ids")

    class P:
        a, b, ids = 1, "two", [3]

    assert stmt.args(P()) == [1, "two", [3]]
