"""The relay's prune pass bounds both event tables: outbox rows published longer ago than their retention, and the
consumers' processed_event records of events handled longer ago than theirs (EVENTS_PROCESSED_RETENTION_HOURS);
recent records, which still dedupe redeliveries, stay. Every service's processed_event has its BRIN index."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from services.search.base import Outbox, ProcessedEvent
from shared.config import ServiceSettings
from shared.events.relay import OutboxRelay

SERVICES = ("auth", "channels", "chat", "search", "transcription")


async def _rows(sm, sql: str, **params) -> list:
    async with sm() as s:
        return list(await s.execute(text(sql), params))


async def test_prune_removes_old_records_and_keeps_recent_ones(sm, redis):
    tag = uuid.uuid4().hex[:8]
    async with sm() as s, s.begin():
        for key, age in ((f"{tag}-old", timedelta(days=8)), (f"{tag}-recent", timedelta(hours=1))):
            await s.execute(
                text(
                    "INSERT INTO search.processed_event (consumer, idempotency_key, event_id, processed_at) "
                    "VALUES ('g', :k, :e, now() - CAST(:a AS interval))"
                ),
                {"k": key, "e": uuid.uuid4(), "a": age},
            )
        for key, published in (
            (f"{tag}-out-old", timedelta(days=8)),
            (f"{tag}-out-recent", timedelta(hours=1)),
            (f"{tag}-out-new", None),
        ):
            await s.execute(
                text(
                    "INSERT INTO search.outbox (id, stream, type, idempotency_key, payload, occurred_at, created_at, "
                    "published_at, attempts) VALUES (:i, 't', 't', :k, '{}', now(), now() - interval '9 days', "
                    "now() - CAST(:p AS interval), 0)"
                ),
                {"i": uuid.uuid4(), "k": key, "p": published},
            )
    relay = OutboxRelay(
        sm, redis, Outbox, retention=timedelta(days=7), processed_model=ProcessedEvent,
        processed_retention=timedelta(days=7), notify=False,
    )  # fmt: skip
    try:
        assert await relay.prune() >= 2
        kept = await _rows(sm, "SELECT idempotency_key FROM search.processed_event WHERE idempotency_key LIKE :t",
                           t=f"{tag}%")  # fmt: skip
        assert [r.idempotency_key for r in kept] == [f"{tag}-recent"]
        kept = await _rows(sm, "SELECT idempotency_key FROM search.outbox WHERE idempotency_key LIKE :t "
                           "ORDER BY idempotency_key", t=f"{tag}%")  # fmt: skip
        assert [r.idempotency_key for r in kept] == [f"{tag}-out-new", f"{tag}-out-recent"]
    finally:
        async with sm() as s, s.begin():
            await s.execute(text("DELETE FROM search.processed_event WHERE idempotency_key LIKE :t"), {"t": f"{tag}%"})
            await s.execute(text("DELETE FROM search.outbox WHERE idempotency_key LIKE :t"), {"t": f"{tag}%"})


async def test_a_large_backlog_goes_in_batches_over_passes(sm, redis):
    """Records never pruned before: each pass deletes at most prune_batches x prune_batch rows, in short
    transactions, and the next pass takes the rest."""
    tag = uuid.uuid4().hex[:8]
    async with sm() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO search.processed_event (consumer, idempotency_key, event_id, processed_at) "
                "SELECT 'g', :t || '-' || i, gen_random_uuid(), now() - interval '30 days' "
                "FROM generate_series(1, 45) i"
            ),
            {"t": tag},
        )
    relay = OutboxRelay(
        sm, redis, Outbox, retention=None, processed_model=ProcessedEvent, notify=False, prune_batch=10, prune_batches=3
    )

    async def left() -> int:
        rows = await _rows(
            sm, "SELECT count(*) AS n FROM search.processed_event WHERE idempotency_key LIKE :t", t=f"{tag}-%"
        )
        return rows[0].n

    assert await relay.prune() == 30 and await left() == 15
    assert await relay.prune() == 15 and await left() == 0
    assert await relay.prune() == 0


async def test_every_service_has_the_brin_index_and_the_setting_has_its_default(sm):
    rows = await _rows(
        sm,
        "SELECT schemaname, indexdef FROM pg_indexes WHERE tablename = 'processed_event' "
        "AND indexname = 'ix_processed_event_processed_at'",
    )
    assert sorted(r.schemaname for r in rows) == sorted(SERVICES)
    assert all("USING brin (processed_at)" in r.indexdef for r in rows)
    assert ServiceSettings.model_fields["events_processed_retention_hours"].default == 168
