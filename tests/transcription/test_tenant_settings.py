"""Tenant settings from the real auth service: the tenant's locale is the language hint, its key is used."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.auth.app import create_app as create_auth_app
from services.auth.config import AuthSettings
from services.transcription.app import create_app
from shared.testing import app_client, serve_app
from tests.transcription.standins import Recorder, assemblyai_app
from tests.transcription.test_local_engine import upload


@pytest.fixture
async def auth_service(stack, committed_db):
    settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    async with serve_app(create_auth_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield url, client


async def tenant_with(client: httpx.AsyncClient, secrets: dict[str, str], **settings) -> uuid.UUID:
    email = f"u{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "correct-horse-battery", "full_name": "Ana", "tenant_name": "Pizzaria"}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": "correct-horse-battery"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    tenant_id = (await client.get("/api/v1/auth/me", headers=headers)).json()["memberships"][0]["tenant_id"]
    r = await client.patch(f"/api/v1/tenants/{tenant_id}", json=settings, headers=headers)
    assert r.status_code == 200, r.text
    for name, value in secrets.items():
        r = await client.put(f"/api/v1/tenants/{tenant_id}/secrets/{name}", json={"value": value}, headers=headers)
        assert r.status_code == 204, r.text
    return uuid.UUID(tenant_id)


async def test_tenant_locale_hint_and_tenant_key(
    auth_service, make_settings, make_runner, make_token, pt_note, en_note
):
    auth_url, auth_client = auth_service
    tenant = await tenant_with(auth_client, {"assemblyai_api_key": "aai-tenant-own"}, locale="pt-BR")

    def headers(tenant_id=None, scopes=None):
        return {"Authorization": f"Bearer {make_token(tenant_id=tenant, scopes=['read', 'write'])}"}

    rec = Recorder()
    async with serve_app(assemblyai_app(rec, api_key="aai-tenant-own")) as aai_url:
        settings = make_settings(auth_url=auth_url, assemblyai_url=aai_url, assemblyai_api_key="")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as client:
            local_id = await upload(client, headers, pt_note)  # no language: the tenant's pt-BR locale decides
            english_id = await upload(client, headers, en_note)  # no language, clearly English: not forced to pt
            cloud_id = await upload(client, headers, pt_note, engine="assemblyai")
            for job_id in (local_id, english_id, cloud_id):
                await runner.run_job(tenant, job_id)
            local = (await client.get(f"/api/v1/transcriptions/{local_id}", headers=headers())).json()
            english = (await client.get(f"/api/v1/transcriptions/{english_id}", headers=headers())).json()
            cloud = (await client.get(f"/api/v1/transcriptions/{cloud_id}", headers=headers())).json()
    assert local["status"] == "completed" and local["language"] == "pt", local
    assert "pizza" in local["text"].lower() and "gostaria" in local["text"].lower()
    # Whisper is unsure of the short pt-BR note (so the locale decides) but sure of the English one, which a
    # forced "pt" would have translated into Portuguese.
    assert english["status"] == "completed" and english["language"] == "en", english
    assert "pizza" in english["text"].lower() and "mushroom" in english["text"].lower(), english["text"]
    assert cloud["status"] == "completed", cloud
    create = [c for c in rec.calls if c["path"] == "/v2/transcript"][0]
    assert create["body"]["language_code"] == "pt"
