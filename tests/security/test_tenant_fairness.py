"""One tenant cannot starve the others (issue #22, item 8): per-tenant quotas refuse the greedy tenant with a
problem+json naming the quota while its neighbour goes on, concurrent uploads at the edge of a quota never
overshoot it, and the transcription and search workers take work round-robin across tenants, so one tenant's
backlog does not make every other tenant wait behind it. Everything goes through the gateway on the real stack."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.platform import Platform, Tenant, platform, wav_bytes
from tests.support.plugin import serve_app, wait_for
from tests.transcription.standins import Recorder, openai_app

OPENAI_KEY = "sk-fairness-openai-key"


async def upload_audio(p: Platform, t: Tenant, audio: bytes) -> httpx.Response:
    return await p.gw.post(
        "/api/v1/transcriptions", headers=t.headers, files={"file": ("note.wav", audio, "audio/wav")}
    )


async def upload_document(p: Platform, t: Tenant, text: str, name: str = "faq.txt") -> httpx.Response:
    return await p.gw.post("/api/v1/documents", headers=t.headers, files={"file": (name, text.encode(), "text/plain")})


def assert_quota_refusal(r: httpx.Response, status: int, quota: str, limit: float) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "quota_exceeded" and body["quota"] == quota and body["limit"] == limit, body
    assert "used" in body, body
    return body


async def test_transcription_backlog_of_one_tenant_does_not_hold_back_another(stack, committed_db, redis, tmp_path):
    rec = Recorder()
    async with serve_app(openai_app(rec, OPENAI_KEY)) as openai_url, platform(stack, tmp_path) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        audio = wav_bytes(1.0)
        a_jobs = []
        for _ in range(8):
            r = await upload_audio(p, a, audio)
            assert r.status_code == 202, r.text
            a_jobs.append(r.json()["id"])
        r = await upload_audio(p, b, audio)
        assert r.status_code == 202, r.text
        b_job = r.json()["id"]

        p.start_worker(
            "transcription", default_engine="openai", openai_base_url=f"{openai_url}/v1", openai_api_key=OPENAI_KEY
        )

        async def finished() -> list[tuple[str, str]] | None:
            done = []
            for t, ids in ((a, a_jobs), (b, [b_job])):
                for job_id in ids:
                    job = (await p.gw.get(f"/api/v1/transcriptions/{job_id}", headers=t.headers)).json()
                    if job["status"] not in ("completed", "failed"):
                        return None
                    assert job["status"] == "completed", job
                    done.append((job["finished_at"], job_id))
            return done

        done = await wait_for(finished, timeout=120, interval=0.3)
        order = [job_id for _, job_id in sorted(done)]
        # B queued one job behind A's eight: it is served within the first two completions, not after A's backlog
        assert order.index(b_job) <= 1, f"B's job finished {order.index(b_job) + 1}th of {len(order)}"


async def test_document_backlog_of_one_tenant_does_not_hold_back_another(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        a_docs = []
        for i in range(10):
            r = await upload_document(p, a, f"Tenant A handbook page {i}: opening hours, delivery areas, refunds.")
            assert r.status_code == 202, r.text
            a_docs.append(r.json()["id"])
        r = await upload_document(p, b, "Tenant B price list: a large pizza costs ten euros.")
        assert r.status_code == 202, r.text
        b_doc = r.json()["id"]

        p.start_worker("search")

        async def ready() -> list[tuple[str, str]] | None:
            done = []
            for t, ids in ((a, a_docs), (b, [b_doc])):
                for doc_id in ids:
                    doc = (await p.gw.get(f"/api/v1/documents/{doc_id}", headers=t.headers)).json()
                    if doc["status"] != "ready":
                        assert doc["status"] == "processing", doc
                        return None
                    done.append((doc["ready_at"], doc_id))
            return done

        done = await wait_for(ready, timeout=180, interval=0.3)
        order = [doc_id for _, doc_id in sorted(done)]
        assert order.index(b_doc) <= 1, f"B's document was ready {order.index(b_doc) + 1}th of {len(order)}"


async def test_jobs_in_flight_quota_is_exact_under_concurrent_uploads(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings={"transcription": {"tenant_jobs_in_flight": 3}}) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        audio = wav_bytes(1.0)
        answers = await asyncio.gather(*(upload_audio(p, a, audio) for _ in range(10)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 3 + [429] * 7, codes
        refused = next(r for r in answers if r.status_code == 429)
        body = assert_quota_refusal(refused, 429, "jobs_in_flight", 3)
        assert body["used"] == 3
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        queued = await p.sql("SELECT count(*) FROM transcription.job WHERE tenant_id = :t", t=a.tenant_id)
        assert queued[0][0] == 3
        # B, at the same moment, is not affected by A being at its limit
        r = await upload_audio(p, b, audio)
        assert r.status_code == 202, r.text


async def test_minutes_per_day_quota_refuses_until_the_day_rolls_over(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings={"transcription": {"tenant_minutes_per_day": 1}}) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        audio = wav_bytes(25.0)  # a 60 s day holds two of these
        answers = await asyncio.gather(*(upload_audio(p, a, audio) for _ in range(6)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 2 + [429] * 4, codes
        refused = next(r for r in answers if r.status_code == 429)
        body = assert_quota_refusal(refused, 429, "minutes_per_day", 1)
        assert 0.8 <= body["used"] <= 0.85, body
        assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
        r = await upload_audio(p, b, audio)
        assert r.status_code == 202, r.text


async def test_document_count_quota_is_exact_under_concurrent_uploads(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings={"search": {"tenant_max_documents": 3}}) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        answers = await asyncio.gather(*(upload_document(p, a, f"page {i} of the menu") for i in range(10)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 3 + [409] * 7, codes
        body = assert_quota_refusal(next(r for r in answers if r.status_code == 409), 409, "documents", 3)
        assert body["used"] == 3
        r = await upload_document(p, b, "B's only document")
        assert r.status_code == 202, r.text
        # deleting a document makes room again
        doc_id = next(r.json()["id"] for r in answers if r.status_code == 202)
        assert (await p.gw.delete(f"/api/v1/documents/{doc_id}", headers=a.headers)).status_code == 204
        assert (await upload_document(p, a, "a new page")).status_code == 202


async def test_document_bytes_quota_is_exact_under_concurrent_uploads(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings={"search": {"tenant_max_document_bytes": 5000}}) as p:
        a, b = await p.tenant("A"), await p.tenant("B")
        page = "menu line\n" * 200  # 2000 bytes: two fit in 5000
        answers = await asyncio.gather(*(upload_document(p, a, page) for _ in range(10)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 2 + [409] * 8, codes
        body = assert_quota_refusal(next(r for r in answers if r.status_code == 409), 409, "document_bytes", 5000)
        assert body["used"] == 4000
        r = await upload_document(p, b, page)
        assert r.status_code == 202, r.text


async def test_api_key_count_quota_is_exact_under_concurrent_creates(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, settings={"auth": {"tenant_max_api_keys": 4}}) as p:
        a, b = await p.tenant("A"), await p.tenant("B")  # each already holds one key (the harness's "ops")

        async def create(t: Tenant, name: str) -> httpx.Response:
            return await p.gw.post("/api/v1/api-keys", headers=t.headers, json={"name": name, "scopes": ["read"]})

        answers = await asyncio.gather(*(create(a, f"k{i}") for i in range(10)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [201] * 3 + [409] * 7, codes
        body = assert_quota_refusal(next(r for r in answers if r.status_code == 409), 409, "api_keys", 4)
        assert body["used"] == 4
        assert (await create(b, "b-key")).status_code == 201
        # a revoked key no longer counts
        key_id = next(r.json()["id"] for r in answers if r.status_code == 201)
        assert (await p.gw.delete(f"/api/v1/api-keys/{key_id}", headers=a.headers)).status_code == 204
        assert (await create(a, "again")).status_code == 201
