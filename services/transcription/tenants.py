"""Transcription's view of a tenant's settings (locale, preferred engine, provider keys, webhook secret) from auth.

Fetched and cached by shared/tenant_settings.py (TRANSCRIPTION_TENANT_CACHE_SECONDS); when auth has no answer the
platform defaults apply, marked `reachable=False` and not cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from services.transcription.config import TranscriptionSettings
from shared.tenant_settings import TenantRecord, TenantSettingsClient, service_tenant_settings


@dataclass
class TenantConfig:
    locale: str | None = None
    engine: str | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    reachable: bool = True  # False: auth did not answer, these are the platform defaults


def parse_tenant_config(record: TenantRecord) -> TenantConfig:
    if not record.found:
        return TenantConfig(reachable=False)
    return TenantConfig(
        locale=record.data.get("locale"), engine=record.data.get("transcription_engine"), secrets=record.secrets
    )


TenantConfigs = TenantSettingsClient[TenantConfig]


def tenant_configs(settings: TranscriptionSettings, http: httpx.AsyncClient) -> TenantConfigs:
    return service_tenant_settings(settings, http, parse_tenant_config)
