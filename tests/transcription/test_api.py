"""Upload, read, list, cancel and export over HTTP: status codes, problem+json, tenant isolation."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.transcription.app import create_app
from services.transcription.models import Job, Outbox
from tests.support.plugin import app_client


async def _rows(database_url: str, stmt):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(stmt)).all()
    finally:
        await engine.dispose()


def _files(settings) -> list[Path]:
    root = Path(settings.storage_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_upload_queues_a_job_with_its_event(transcription_client, auth, tenant, en_note, settings, committed_db):
    r = await transcription_client.post(
        "/api/v1/transcriptions",
        headers=auth(),
        files={"file": ("note.ogg", en_note.read_bytes(), "application/octet-stream")},
        data={"language": "en", "speakers_expected": "2"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued"
    job_id = body["id"]

    r = await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())
    assert r.status_code == 200
    job = r.json()
    assert job["status"] == "queued" and job["progress"] == 0 and job["segments"] == []
    assert job["format"] == "opus" and job["filename"] == "note.ogg" and job["size_bytes"] == en_note.stat().st_size
    assert 4 < job["duration_seconds"] < 7

    stored = _files(settings)
    assert len(stored) == 1 and stored[0].read_bytes() == en_note.read_bytes()
    assert str(tenant) in str(stored[0])

    events = await _rows(committed_db, select(Outbox.stream, Outbox.payload, Outbox.tenant_id))
    assert [(e.stream, e.payload["job_id"], e.tenant_id) for e in events] == [
        ("transcription.requested.v1", job_id, tenant)
    ]

    r = await transcription_client.get("/api/v1/transcriptions", headers=auth())
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [job_id]


async def test_another_tenants_job_is_404_everywhere(transcription_client, auth, en_note):
    r = await transcription_client.post(
        "/api/v1/transcriptions", headers=auth(), files={"file": ("a.ogg", en_note.read_bytes())}
    )
    job_id = r.json()["id"]
    other = auth(uuid.uuid4())
    for method, path in [
        ("GET", f"/api/v1/transcriptions/{job_id}"),
        ("DELETE", f"/api/v1/transcriptions/{job_id}"),
        ("GET", f"/api/v1/transcriptions/{job_id}/export?format=txt"),
    ]:
        r = await transcription_client.request(method, path, headers=other)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await transcription_client.get("/api/v1/transcriptions", headers=other)
    assert r.json()["items"] == []
    r = await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())
    assert r.status_code == 200


async def test_text_renamed_mp3_is_415_and_leaves_nothing(transcription_client, auth, settings, committed_db):
    r = await transcription_client.post(
        "/api/v1/transcriptions",
        headers=auth(),
        files={"file": ("song.mp3", b"this is just text, not audio at all\n" * 20, "audio/mpeg")},
    )
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "not audio" in r.json()["detail"]
    assert _files(settings) == []
    assert await _rows(committed_db, select(Job.id)) == []


async def test_too_big_is_413_and_leaves_nothing(make_settings, auth, committed_db, en_note):
    settings = make_settings(max_upload_bytes=8 * 1024)
    async with app_client(create_app(settings)) as transcription_client:
        r = await transcription_client.post(
            "/api/v1/transcriptions", headers=auth(), files={"file": ("a.ogg", en_note.read_bytes())}
        )
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "audio_too_large"
        # Under the Content-Length pre-check (limit + form overhead), the streamed bytes are counted as they arrive.
        r = await transcription_client.post(
            "/api/v1/transcriptions",
            headers=auth(),
            files={"file": ("a.ogg", en_note.read_bytes() * 2)},
        )
        assert r.status_code == 413
    assert _files(settings) == []
    assert await _rows(committed_db, select(Job.id)) == []


async def test_too_long_is_413(make_settings, auth, committed_db, en_note):
    settings = make_settings(max_duration_seconds=2)
    async with app_client(create_app(settings)) as transcription_client:
        r = await transcription_client.post(
            "/api/v1/transcriptions", headers=auth(), files={"file": ("a.ogg", en_note.read_bytes())}
        )
    assert r.status_code == 413 and r.json()["code"] == "audio_too_long", r.text
    assert _files(settings) == []


async def test_bad_fields_auth_and_scopes(transcription_client, auth, en_note):
    audio = {"file": ("a.ogg", en_note.read_bytes())}
    r = await transcription_client.post("/api/v1/transcriptions", files=audio)
    assert r.status_code == 401
    r = await transcription_client.post("/api/v1/transcriptions", headers=auth(scopes=["read"]), files=audio)
    assert r.status_code == 403
    r = await transcription_client.post(
        "/api/v1/transcriptions", headers=auth(), files=audio, data={"speakers_expected": "0"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "speakers_expected"]
    r = await transcription_client.post(
        "/api/v1/transcriptions", headers=auth(), files=audio, data={"engine": "whatever"}
    )
    assert r.status_code == 422
    r = await transcription_client.post("/api/v1/transcriptions", headers=auth(), data={"language": "en"})
    assert r.status_code in (400, 415)
    r = await transcription_client.post("/api/v1/transcriptions", headers=auth(), json={"file": "x"})
    assert r.status_code == 415
    r = await transcription_client.get("/api/v1/transcriptions?limit=500", headers=auth())
    assert r.status_code == 422


async def test_delete_cancels_a_queued_job(transcription_client, auth, en_note, settings, runner, committed_db):
    r = await transcription_client.post(
        "/api/v1/transcriptions", headers=auth(), files={"file": ("a.ogg", en_note.read_bytes())}
    )
    job_id = uuid.UUID(r.json()["id"])
    r = await transcription_client.delete(f"/api/v1/transcriptions/{job_id}", headers=auth())
    assert r.status_code == 204
    assert (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).status_code == 404
    assert (await transcription_client.delete(f"/api/v1/transcriptions/{job_id}", headers=auth())).status_code == 404
    assert _files(settings) == []
    job = (await _rows(committed_db, select(Job.status, Job.error, Job.tenant_id).where(Job.id == job_id)))[0]
    assert job.status == "failed" and job.error == "cancelled"
    await runner.run_job(job.tenant_id, job_id)  # the worker gets the event afterwards: nothing happens
    events = await _rows(committed_db, select(Outbox.stream))
    assert [e.stream for e in events] == ["transcription.requested.v1"]


async def test_list_pages_newest_first(transcription_client, auth, en_note):
    ids = []
    for _ in range(3):
        r = await transcription_client.post(
            "/api/v1/transcriptions", headers=auth(), files={"file": ("a.ogg", en_note.read_bytes())}
        )
        ids.append(r.json()["id"])
    r = await transcription_client.get("/api/v1/transcriptions?limit=2", headers=auth())
    page = r.json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    r = await transcription_client.get(f"/api/v1/transcriptions?limit=2&cursor={page['next_cursor']}", headers=auth())
    assert [i["id"] for i in r.json()["items"]] == ids[:1] and r.json()["next_cursor"] is None
    r = await transcription_client.get("/api/v1/transcriptions?status=completed", headers=auth())
    assert r.json()["items"] == []
    r = await transcription_client.get(f"/api/v1/transcriptions/{ids[0]}/export?format=srt", headers=auth())
    assert r.status_code == 409
