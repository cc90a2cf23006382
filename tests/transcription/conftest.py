"""Fixtures of the transcription tests: generated speech, settings on the test servers, app and runner."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.auth.app import create_app as create_auth_app
from services.auth.config import AuthSettings
from services.transcription.app import create_app
from services.transcription.config import TranscriptionSettings
from services.transcription.engines import build_engines
from services.transcription.jobs.runner import JobRunner
from services.transcription.jobs.storage import FileStore
from services.transcription.tenants import tenant_configs
from shared.db import create_sessionmaker
from shared.egress import create_egress_client
from shared.http import create_http_client
from tests.support.plugin import app_client, serve_app
from tests.support.tenants import tenant_admin
from tests.transcription.audio_gen import EN_SENTENCE, PT_SENTENCE, concat, convert, speak, voice_note

ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = ROOT / ".data" / "models"


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def en_note(audio_dir: Path) -> Path:
    return voice_note(EN_SENTENCE, "en-us", audio_dir / "en.ogg")


@pytest.fixture(scope="session")
def pt_note(audio_dir: Path) -> Path:
    return voice_note(PT_SENTENCE, "pt-br", audio_dir / "pt.ogg")


@pytest.fixture(scope="session")
def en_wav(audio_dir: Path) -> Path:
    return speak(EN_SENTENCE, "en-us", audio_dir / "en.wav")


@pytest.fixture(scope="session")
def formats(audio_dir: Path, en_wav: Path) -> dict[str, Path]:
    """The same speech in every accepted container."""
    return {
        "wav": en_wav,
        "opus": convert(en_wav, audio_dir / "f.ogg", "-ac", "1", "-c:a", "libopus", "-b:a", "24k"),
        "mp3": convert(en_wav, audio_dir / "f.mp3", "-c:a", "libmp3lame", "-b:a", "48k"),
        "flac": convert(en_wav, audio_dir / "f.flac", "-c:a", "flac"),
        "m4a": convert(en_wav, audio_dir / "f.m4a", "-c:a", "aac", "-b:a", "48k"),
        "aac": convert(en_wav, audio_dir / "f.aac", "-c:a", "aac", "-b:a", "48k", "-f", "adts"),
        "webm": convert(en_wav, audio_dir / "f.webm", "-c:a", "libopus", "-b:a", "24k"),
    }


LONG_TEXT = [
    "Good morning, this is the customer service line of the pizza shop.",
    "I would like to order two large pizzas with mushrooms and olives.",
    "Please deliver them to the blue house at the end of the street.",
    "We will also need a bottle of orange juice and some napkins.",
    "The payment will be made with a credit card at the door.",
    "Thank you very much, please call me when the driver arrives.",
]


@pytest.fixture(scope="session")
def long_note(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("long")
    parts = [speak(t, "en-us", d / f"p{i}.wav") for i, t in enumerate(LONG_TEXT)]
    return convert(concat(parts, d / "long.wav"), d / "long.ogg")


@pytest.fixture
def make_settings(stack, tmp_path: Path):
    def build(**overrides) -> TranscriptionSettings:
        base = {
            "storage_dir": str(tmp_path / "store"),
            "model_cache_dir": str(MODEL_CACHE),
            "allow_private_urls": True,
            "auth_url": "http://127.0.0.1:9",  # no auth here: tenant settings fall back to platform defaults
            "lease_seconds": 5,
            "progress_interval_seconds": 0.05,
            "assemblyai_poll_seconds": 0.02,
            "queued_grace_seconds": 0,
        }
        return stack.settings(TranscriptionSettings, **(base | overrides))

    return build


@pytest.fixture
def settings(make_settings) -> TranscriptionSettings:
    return make_settings()


@pytest.fixture
def tenant() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def auth(make_token, tenant):
    def headers(tenant_id: uuid.UUID | None = None, scopes: list[str] | None = None) -> dict[str, str]:
        token = make_token(tenant_id=tenant_id or tenant, role="admin", scopes=scopes or ["read", "write"])
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
async def transcription_client(settings, committed_db) -> AsyncIterator:
    async with app_client(create_app(settings)) as c:
        yield c


@pytest.fixture
async def make_runner(committed_db) -> AsyncIterator:
    """JobRunner on its own engine (as in the worker process); engines built from the given settings."""
    made: list = []

    async def build(settings: TranscriptionSettings) -> JobRunner:
        engine = create_async_engine(settings.database_url, pool_size=5)
        http = create_http_client()
        egress = create_egress_client(settings.egress_policy())
        runner = JobRunner(
            settings,
            create_sessionmaker(engine),
            FileStore(settings.storage_dir),
            build_engines(settings),
            tenant_configs(settings, http),
            egress,
        )
        made.append((engine, http, egress))
        return runner

    yield build
    for engine, http, egress in made:
        await http.aclose()
        await egress.aclose()
        await engine.dispose()


@pytest.fixture
async def runner(make_runner, settings) -> JobRunner:
    return await make_runner(settings)


@pytest.fixture
async def auth_service(stack, committed_db):
    settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    async with serve_app(create_auth_app(settings)) as url, httpx.AsyncClient(base_url=url) as transcription_client:
        yield url, transcription_client


async def tenant_with(transcription_client: httpx.AsyncClient, secrets: dict[str, str], **settings) -> uuid.UUID:
    t = await tenant_admin(transcription_client, "Ana", tenant_name="Pizzaria", settings=settings, secrets=secrets)
    return uuid.UUID(t.tenant_id)


HOOK_SECRET = "whsec-tenant-own-3b7e9d41"


@pytest.fixture
async def hooked(auth_service, make_settings, make_runner, make_token):
    """A tenant on the real auth service with its own webhook_secret, seen by the app and the runner."""
    auth_url, auth_client = auth_service
    tenant = await tenant_with(auth_client, {"webhook_secret": HOOK_SECRET})
    settings = make_settings(auth_url=auth_url)

    def auth(tenant_id: uuid.UUID | None = None, scopes: list[str] | None = None) -> dict[str, str]:
        token = make_token(tenant_id=tenant_id or tenant, role="admin", scopes=scopes or ["read", "write"])
        return {"Authorization": f"Bearer {token}"}

    async with app_client(create_app(settings)) as transcription_client:
        yield SimpleNamespace(
            transcription_client=transcription_client, auth=auth, tenant=tenant, runner=await make_runner(settings)
        )
