"""Real speech through the whole job: upload -> worker runner -> local faster-whisper -> result, events, exports."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid

import orjson
from docx import Document
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.transcription.jobs.webhooks import SIGNATURE_HEADER, verify
from services.transcription.models import Outbox
from shared.events.transcription import COMPLETED_STREAM
from tests.support.plugin import serve_app
from tests.transcription.conftest import HOOK_SECRET
from tests.transcription.standins import Recorder, webhook_app

SRT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$")
VTT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}$")


async def completed_events(database_url: str) -> list[dict]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(Outbox.payload).where(Outbox.stream == COMPLETED_STREAM))
            return [r.payload for r in rows]
    finally:
        await engine.dispose()


async def upload(transcription_client, auth, path, **data) -> uuid.UUID:
    r = await transcription_client.post(
        "/api/v1/transcriptions", headers=auth(), files={"file": (path.name, path.read_bytes())}, data=data
    )
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["id"])


async def run_and_watch(transcription_client, auth, runner, tenant, job_id) -> list[int]:
    """Run the job as the worker does while a client polls its progress."""
    seen: list[int] = []

    async def poll() -> None:
        while True:
            r = await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())
            seen.append(r.json()["progress"])
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(poll())
    try:
        await runner.run_job(tenant, job_id)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return seen


async def test_english_voice_note_is_transcribed_with_progress_events_and_webhook(hooked, en_note, committed_db):
    transcription_client, auth, tenant, runner = hooked.transcription_client, hooked.auth, hooked.tenant, hooked.runner
    rec = Recorder()
    async with serve_app(webhook_app(rec)) as hook_url:
        job_id = await upload(transcription_client, auth, en_note, webhook_url=f"{hook_url}/hook")
        seen = await run_and_watch(transcription_client, auth, runner, tenant, job_id)

    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}?words=true", headers=auth())).json()
    assert job["status"] == "completed", job
    assert job["progress"] == 100
    assert seen == sorted(seen), "progress never goes back"
    text = job["text"].lower()
    for word in ("hello", "order", "large", "pizza", "mushrooms", "delivery"):
        assert word in text, (word, text)
    assert job["language"] == "en" and job["engine"] == "local"
    assert 4 < job["duration_seconds"] < 7
    assert job["speakers_available"] is False
    segs = job["segments"]
    assert segs and all(s["start"] <= s["end"] for s in segs) and all(s["speaker"] is None for s in segs)
    assert any(w["word"].strip().lower().startswith("pizza") for s in segs for w in s["words"])

    events = await completed_events(committed_db)
    assert len(events) == 1
    assert events[0]["job_id"] == str(job_id) and events[0]["status"] == "completed"
    assert "pizza" in events[0]["text"].lower()

    assert len(rec.calls) == 1
    call = rec.calls[0]
    assert verify(HOOK_SECRET, call["body"], call["headers"][SIGNATURE_HEADER.lower()])
    assert not verify("another-secret", call["body"], call["headers"][SIGNATURE_HEADER.lower()])
    assert orjson.loads(call["body"])["status"] == "completed"

    # Redelivery of the same event (a retried consumer) changes nothing.
    await runner.run_job(tenant, job_id)
    assert len(await completed_events(committed_db)) == 1


async def test_portuguese_with_language_hint_and_speakers_note(transcription_client, auth, tenant, pt_note, runner):
    job_id = await upload(transcription_client, auth, pt_note, language="pt-BR", speakers_expected="2")
    await runner.run_job(tenant, job_id)
    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "completed", job
    text = job["text"].lower()
    for word in ("bom dia", "gostaria", "pizza", "grande", "entrega"):
        assert word in text, (word, text)
    assert job["language"] == "pt"
    assert job["speakers_available"] is True and not job["notes"]
    assert all(s["speaker"] in ("A", "B") for s in job["segments"])


async def test_exports_are_valid_files(transcription_client, auth, tenant, en_note, runner):
    job_id = await upload(transcription_client, auth, en_note)
    await runner.run_job(tenant, job_id)
    base = f"/api/v1/transcriptions/{job_id}/export"

    r = await transcription_client.get(f"{base}?format=txt", headers=auth())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'filename="en.txt"' in r.headers["content-disposition"]
    assert "pizza" in r.text.lower() and r.text.startswith("[00:00:0")

    r = await transcription_client.get(f"{base}?format=srt", headers=auth())
    blocks = [b.splitlines() for b in r.text.strip().split("\n\n")]
    assert blocks
    for i, lines in enumerate(blocks, 1):
        assert lines[0] == str(i) and SRT_TIME.match(lines[1]), lines
        assert lines[2].strip()
    assert "pizza" in r.text.lower()

    r = await transcription_client.get(f"{base}?format=vtt", headers=auth())
    assert r.headers["content-type"].startswith("text/vtt")
    lines = r.text.splitlines()
    assert lines[0] == "WEBVTT"
    cues = [line for line in lines if "-->" in line]
    assert cues and all(VTT_TIME.match(c) for c in cues)

    r = await transcription_client.get(f"{base}?format=json", headers=auth())
    data = json.loads(r.text)
    assert data["id"] == str(job_id) and data["segments"][0]["words"]

    r = await transcription_client.get(f"{base}?format=docx", headers=auth())
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    doc = Document(io.BytesIO(r.content))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "pizza" in body.lower() and "[00:00:0" in body and "Language: en" in body

    r = await transcription_client.get(f"{base}?format=pdf", headers=auth())
    assert r.status_code == 422


async def test_truncated_voice_note_fails_with_a_readable_error(
    transcription_client, auth, tenant, en_note, runner, committed_db, tmp_path
):
    cut = tmp_path / "cut.ogg"
    data = en_note.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    job_id = await upload(transcription_client, auth, cut)
    await runner.run_job(tenant, job_id)
    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "failed"
    assert "truncated" in job["error"]
    events = await completed_events(committed_db)
    assert [(e["job_id"], e["status"]) for e in events] == [(str(job_id), "failed")]
    assert (
        await transcription_client.get(f"/api/v1/transcriptions/{job_id}/export", headers=auth())
    ).status_code == 409


async def test_garbage_after_an_ogg_header_fails_not_crashes(transcription_client, auth, tenant, runner, en_note):
    bogus = en_note.parent / "bogus.ogg"
    bogus.write_bytes(en_note.read_bytes()[:64] + b"\x00" * 4000)
    job_id = await upload(transcription_client, auth, bogus)
    await runner.run_job(tenant, job_id)
    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "failed" and job["error"]


async def test_failed_webhook_is_retried_by_the_sweep(hooked, en_note):
    transcription_client, auth, tenant, runner = hooked.transcription_client, hooked.auth, hooked.tenant, hooked.runner
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    calls: list[int] = []

    async def flaky(request):
        calls.append(1)
        return Response(status_code=503 if len(calls) == 1 else 200)

    async with serve_app(Starlette(routes=[Route("/hook", flaky, methods=["POST"])])) as url:
        job_id = await upload(transcription_client, auth, en_note, webhook_url=f"{url}/hook")
        await runner.run_job(tenant, job_id)
        assert len(calls) == 1
        runner.settings.sweep_interval_seconds = 0.2
        await asyncio.sleep(0.3)
        await runner.sweep_once()
        assert len(calls) == 2
        await runner.sweep_once()
        assert len(calls) == 2  # delivered: not sent again


# Last in this module: a cancelled decode keeps the shared model busy until its 30 s window ends.
async def test_delete_while_processing_stops_the_worker_and_drops_the_result(
    transcription_client, auth, tenant, long_note, runner, committed_db
):
    job_id = await upload(transcription_client, auth, long_note)
    task = asyncio.create_task(runner.run_job(tenant, job_id))

    async def progressing():
        r = await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())
        return r.json()["status"] == "processing" and r.json()["progress"] > 0

    from tests.support.plugin import wait_for

    await wait_for(progressing, timeout=60, interval=0.05)
    assert (await transcription_client.delete(f"/api/v1/transcriptions/{job_id}", headers=auth())).status_code == 204
    await asyncio.wait_for(task, timeout=60)
    assert (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).status_code == 404
    assert await completed_events(committed_db) == []
    await asyncio.wait_for(runner.engines["local"].wait_idle(), timeout=60)  # the decode thread stops too
