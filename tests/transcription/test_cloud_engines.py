"""OpenAI and AssemblyAI engines: the real `openai` client and httpx against stand-in servers of their APIs."""

from __future__ import annotations

import io
import uuid

from docx import Document

from services.transcription.app import create_app
from tests.support.plugin import app_client, serve_app
from tests.transcription.standins import TRANSCRIPT_TEXT, Recorder, assemblyai_app, openai_app
from tests.transcription.test_local_engine import upload


async def test_openai_whisper_segments_and_words(make_settings, make_runner, auth, tenant, en_note, committed_db):
    rec = Recorder()
    async with serve_app(openai_app(rec)) as url:
        settings = make_settings(openai_base_url=f"{url}/v1", openai_api_key="sk-test-openai")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as transcription_client:
            job_id = await upload(transcription_client, auth, en_note, engine="openai", language="en-US")
            await runner.run_job(tenant, job_id)
            job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}?words=true", headers=auth())).json()
    assert job["status"] == "completed", job
    assert job["text"] == TRANSCRIPT_TEXT and job["engine"] == "openai" and job["language"] == "en"
    assert [s["start"] for s in job["segments"]] == [0.0, 3.1]
    assert job["segments"][0]["words"][0]["word"] == "Hello"
    [call] = rec.calls
    assert call["model"] == "whisper-1" and call["response_format"] == "verbose_json"
    assert call["language"] == "en" and call["audio_bytes"] == en_note.stat().st_size
    assert set(call["timestamp_granularities"]) == {"segment", "word"}


async def test_openai_diarize_model_when_speakers_are_asked(
    make_settings, make_runner, auth, tenant, en_note, committed_db
):
    rec = Recorder()
    async with serve_app(openai_app(rec)) as url:
        settings = make_settings(openai_base_url=f"{url}/v1", openai_api_key="sk-test-openai")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as transcription_client:
            job_id = await upload(transcription_client, auth, en_note, engine="openai", speakers_expected="2")
            await runner.run_job(tenant, job_id)
            job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
            r = await transcription_client.get(f"/api/v1/transcriptions/{job_id}/export?format=srt", headers=auth())
    assert job["status"] == "completed" and job["speakers_available"] is True
    assert [s["speaker"] for s in job["segments"]] == ["A", "B"]
    assert "Speaker A: Hello" in r.text and "Speaker B: Sure" in r.text
    [call] = rec.calls
    assert call["model"] == "gpt-4o-transcribe-diarize" and call["response_format"] == "diarized_json"
    assert call["chunking_strategy"] == "auto"


async def test_openai_bad_key_fails_the_job_readably(make_settings, make_runner, auth, tenant, en_note, committed_db):
    rec = Recorder()
    async with serve_app(openai_app(rec)) as url:
        settings = make_settings(openai_base_url=f"{url}/v1", openai_api_key="sk-wrong")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as transcription_client:
            job_id = await upload(transcription_client, auth, en_note, engine="openai")
            await runner.run_job(tenant, job_id)
            job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "failed" and "OpenAI" in job["error"] and "sk-wrong" not in job["error"]


async def test_assemblyai_speaker_labels_and_polling(make_settings, make_runner, auth, tenant, pt_note, committed_db):
    rec = Recorder()
    async with serve_app(assemblyai_app(rec)) as url:
        settings = make_settings(assemblyai_url=url, assemblyai_api_key="aai-test-key")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as transcription_client:
            job_id = await upload(
                transcription_client, auth, pt_note, engine="assemblyai", speakers_expected="2", language="pt-BR"
            )
            await runner.run_job(tenant, job_id)
            job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}?words=true", headers=auth())).json()
            docx = await transcription_client.get(f"/api/v1/transcriptions/{job_id}/export?format=docx", headers=auth())
    assert job["status"] == "completed", job
    assert job["speakers_available"] is True and job["engine"] == "assemblyai"
    assert [(s["speaker"], s["start"], s["end"]) for s in job["segments"]] == [("A", 0.1, 1.5), ("B", 2.0, 2.9)]
    assert job["segments"][1]["words"][0]["word"] == "Which"
    uploads = rec.of("/v2/upload")
    assert uploads[0]["bytes"] == pt_note.stat().st_size
    [create] = [c for c in rec.calls if c["path"] == "/v2/transcript"]
    assert create["body"]["speaker_labels"] is True and create["body"]["speakers_expected"] == 2
    assert create["body"]["language_code"] == "pt"
    polls = [c for c in rec.calls if c["path"].startswith("/v2/transcript/")]
    assert len(polls) == 3  # queued, processing, completed

    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "Speaker A: Hello, I would like a pizza." in text and "Speaker B: Which size?" in text


async def test_assemblyai_error_status_fails_the_job(make_settings, make_runner, auth, tenant, en_note, committed_db):
    rec = Recorder()
    async with serve_app(assemblyai_app(rec, fail_with="Audio duration is too short.")) as url:
        settings = make_settings(assemblyai_url=url, assemblyai_api_key="aai-test-key")
        runner = await make_runner(settings)
        async with app_client(create_app(settings)) as transcription_client:
            job_id = await upload(transcription_client, auth, en_note, engine="assemblyai")
            await runner.run_job(tenant, job_id)
            job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "failed" and "Audio duration is too short." in job["error"]
    create = [c for c in rec.calls if c["path"] == "/v2/transcript"][0]
    assert create["body"]["speaker_labels"] is False and create["body"].get("language_detection") is True


async def test_missing_key_is_a_readable_failure(transcription_client, auth, tenant, en_note, runner):
    job_id = await upload(transcription_client, auth, en_note, engine="assemblyai")
    await runner.run_job(tenant, job_id)
    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}", headers=auth())).json()
    assert job["status"] == "failed" and "no AssemblyAI API key" in job["error"]
    assert uuid.UUID(job["id"]) == job_id
