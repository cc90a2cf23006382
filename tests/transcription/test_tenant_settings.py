"""Tenant settings from the real auth service: the tenant's locale is the language hint, its key is used."""

from __future__ import annotations

from services.transcription.app import create_app
from tests.support.plugin import app_client, serve_app
from tests.transcription.conftest import tenant_with
from tests.transcription.standins import Recorder, assemblyai_app
from tests.transcription.test_local_engine import upload


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
        async with app_client(create_app(settings)) as transcription_client:
            local_id = await upload(
                transcription_client, headers, pt_note
            )  # no language: the tenant's pt-BR locale decides
            english_id = await upload(
                transcription_client, headers, en_note
            )  # no language, clearly English: not forced to pt
            cloud_id = await upload(transcription_client, headers, pt_note, engine="assemblyai")
            for job_id in (local_id, english_id, cloud_id):
                await runner.run_job(tenant, job_id)
            local = (await transcription_client.get(f"/api/v1/transcriptions/{local_id}", headers=headers())).json()
            english = (await transcription_client.get(f"/api/v1/transcriptions/{english_id}", headers=headers())).json()
            cloud = (await transcription_client.get(f"/api/v1/transcriptions/{cloud_id}", headers=headers())).json()
    assert local["status"] == "completed" and local["language"] == "pt", local
    assert "pizza" in local["text"].lower() and "gostaria" in local["text"].lower()
    # Whisper is unsure of the short pt-BR note (so the locale decides) but sure of the English one, which a
    # forced "pt" would have translated into Portuguese.
    assert english["status"] == "completed" and english["language"] == "en", english
    assert "pizza" in english["text"].lower() and "mushroom" in english["text"].lower(), english["text"]
    assert cloud["status"] == "completed", cloud
    create = [c for c in rec.calls if c["path"] == "/v2/transcript"][0]
    assert create["body"]["language_code"] == "pt"
