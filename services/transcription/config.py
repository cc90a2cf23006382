"""Transcription settings: env prefix TRANSCRIPTION_."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings, load_settings
from shared.egress import EgressPolicy

EngineName = Literal["local", "openai", "assemblyai"]


class TranscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIPTION_", env_file=".env", extra="ignore")

    service_name: str = "transcription"
    port: int = 8004

    # File store and limits.
    storage_dir: str = ".data/transcription"
    max_upload_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    max_duration_seconds: float = Field(4 * 3600, gt=0)
    max_inline_audio_bytes: int = Field(5 * 1024 * 1024, ge=1024)

    # Engine choice: request > tenant setting `transcription_engine` > this default.
    default_engine: EngineName = "local"

    # Local faster-whisper engine.
    model_cache_dir: str = ".data/models"
    compute_type: str = "float32"  # int8 garbles short pt-BR audio on CPUs without VNNI (docs/transcription.md)
    cpu_threads: int = Field(0, ge=0, le=64)  # 0: the machine's cores shared by the concurrent jobs
    beam_size: int = Field(1, ge=1, le=10)
    # Without a requested language: the detected one when at least this probable, else the tenant's locale.
    language_detect_min_probability: float = Field(0.5, ge=0, le=1)
    vad_filter: bool = True
    word_timestamps: bool = True
    batched: bool = True
    batch_size: int = Field(8, ge=1, le=64)
    # Speaker labels from the local engine when a job asks for 2+ speakers (voice encoder + clustering).
    local_diarization: bool = True

    # Worker: bounded concurrency, lease on a running job, sweep of jobs whose worker died.
    max_concurrent_jobs: int = Field(1, ge=1, le=32)
    lease_seconds: float = Field(60.0, ge=2)
    sweep_interval_seconds: float = Field(15.0, ge=0.2)
    max_attempts: int = Field(3, ge=1, le=20)
    queued_grace_seconds: float = Field(30.0, ge=0)
    progress_interval_seconds: float = Field(0.5, ge=0.05)

    # Per-tenant quotas on uploads (0 = unlimited): minutes of audio accepted per UTC day, and jobs queued or
    # processing at once. Over either: 429 quota_exceeded with Retry-After (docs/transcription.md).
    tenant_minutes_per_day: float = Field(600, ge=0)
    tenant_jobs_in_flight: int = Field(20, ge=0)

    # Cloud engines (empty base URL = the provider's public endpoint).
    openai_base_url: str = ""
    openai_api_key: str = ""
    openai_model: str = "whisper-1"
    openai_diarize_model: str = "gpt-4o-transcribe-diarize"
    assemblyai_url: str = "https://api.assemblyai.com"
    assemblyai_api_key: str = ""
    assemblyai_poll_seconds: float = Field(3.0, ge=0.01)
    assemblyai_timeout_seconds: float = Field(3600.0, ge=1)

    # Webhooks (signed with each tenant's own `webhook_secret` tenant secret) and audio_url downloads go through
    # shared/egress.py: private, loopback, link-local... addresses refused unless allowed (tests, local set-ups).
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_max_attempts: int = Field(5, ge=1, le=50)
    webhook_max_response_bytes: int = Field(64 * 1024, ge=0, le=10 * 1024 * 1024)  # of a refusing receiver's answer
    allow_private_urls: bool = False

    # Tenant settings (locale, engine, keys) come from auth's internal API; cached briefly.
    tenant_cache_seconds: float = Field(60.0, ge=0)

    def egress_policy(self) -> EgressPolicy:
        """Webhooks and audio_url downloads: the answer cap is the audio limit (webhooks read far less)."""
        return EgressPolicy(allow_private=self.allow_private_urls, max_response_bytes=self.max_upload_bytes)


@lru_cache
def get_settings() -> TranscriptionSettings:
    return load_settings(TranscriptionSettings)  # type: ignore[return-value]
