"""The channel pipeline's side: transcription.requested.v1 with inline audio -> job -> completed event with text."""

from __future__ import annotations

import base64

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.transcription.models import Job, Outbox
from shared.events.envelope import Envelope
from shared.events.transcription import COMPLETED_STREAM, TRANSCRIPTION_REQUESTED, TranscriptionCompleted


async def _query(database_url: str, stmt):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(stmt)).all()
    finally:
        await engine.dispose()


async def test_voice_note_event_becomes_a_job_once_and_comes_back_with_text(runner, tenant, en_note, committed_db):
    envelope = Envelope(
        type=TRANSCRIPTION_REQUESTED,
        tenant_id=tenant,
        idempotency_key="channels:telegram:update:4711",
        payload={
            "audio_b64": base64.b64encode(en_note.read_bytes()).decode(),
            "filename": "voice.ogg",
            "language": "en",
            "correlation": {"channel_message_id": "4711", "thread_hint": "chat-1"},
        },
    )
    async with runner.sessionmaker() as session:
        await runner.handler(envelope, session)
        await runner.handler(envelope, session)  # redelivered: same job, no second result

    jobs = await _query(committed_db, select(Job.id, Job.source, Job.status, Job.tenant_id, Job.filename))
    assert len(jobs) == 1
    assert jobs[0].source == "event" and jobs[0].status == "completed" and jobs[0].tenant_id == tenant
    rows = await _query(
        committed_db, select(Outbox.payload, Outbox.tenant_id).where(Outbox.stream == COMPLETED_STREAM)
    )
    assert len(rows) == 1 and rows[0].tenant_id == tenant
    done = TranscriptionCompleted.model_validate(rows[0].payload)
    assert done.status == "completed" and done.source == "event" and done.job_id == jobs[0].id
    assert "pizza" in (done.text or "").lower()
    assert done.correlation == {"channel_message_id": "4711", "thread_hint": "chat-1"}


async def test_event_with_no_audio_or_bad_audio_answers_failed(runner, tenant, committed_db):
    bad = Envelope(
        type=TRANSCRIPTION_REQUESTED,
        tenant_id=tenant,
        idempotency_key="channels:twilio:SM1",
        payload={"audio_b64": base64.b64encode(b"<html>not audio</html>").decode(), "correlation": {"m": 1}},
    )
    empty = Envelope(
        type=TRANSCRIPTION_REQUESTED, tenant_id=tenant, idempotency_key="channels:twilio:SM2", payload={}
    )
    async with runner.sessionmaker() as session:
        await runner.handler(bad, session)
        await runner.handler(empty, session)
    rows = await _query(committed_db, select(Outbox.payload).where(Outbox.stream == COMPLETED_STREAM))
    results = sorted((r.payload["status"], r.payload["error"]) for r in rows)
    assert [s for s, _ in results] == ["failed", "failed"]
    assert any("not a type we accept" in e for _, e in results)
    assert any("carries no audio" in e for _, e in results)
    assert (await _query(committed_db, select(func.count()).select_from(Job)))[0][0] == 2
