"""Each tenant's text search configuration (from its locale) and own OpenAI key, from auth's tenant settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.config import SearchSettings
from services.search.indexing.models import TenantIndex
from shared.db import utcnow
from shared.tenant_settings import TenantRecord, TenantSettingsClient, service_tenant_settings

# Postgres' built-in text search configurations by language subtag.
_CONFIGS = {
    "pt": "portuguese",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "nl": "dutch",
    "da": "danish",
    "fi": "finnish",
    "hu": "hungarian",
    "nb": "norwegian",
    "no": "norwegian",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}
TS_CONFIGS = frozenset({"simple", *_CONFIGS.values()})


def ts_config_for(locale: str | None, default: str = "simple") -> str:
    """'pt-BR' -> 'portuguese', 'en' -> 'english'; unknown or empty -> `default` (no stemming)."""
    if not locale:
        return default
    return _CONFIGS.get(locale.replace("_", "-").split("-")[0].lower(), default)


@dataclass(frozen=True)
class SearchTenant:
    """What search reads of a tenant's settings: its locale and its own provider keys."""

    found: bool
    locale: str | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


def parse_search_tenant(record: TenantRecord) -> SearchTenant:
    if not record.found:
        return SearchTenant(found=False)
    return SearchTenant(found=True, locale=record.data.get("locale"), secrets=record.secrets)


SearchTenantSettings = TenantSettingsClient[SearchTenant]


def search_tenant_settings(settings: SearchSettings, http: httpx.AsyncClient) -> SearchTenantSettings | None:
    """None without AUTH_URL: every tenant gets the default text search configuration and the platform key."""
    return service_tenant_settings(settings, http, parse_search_tenant) if settings.auth_url else None


class TenantProfiles:
    """Each tenant's search profile: its row in search.tenant_index (locale -> text search configuration),
    refreshed from auth's tenant settings after a TTL, and its own keys."""

    def __init__(
        self, settings: SearchTenantSettings | None, *, ttl_seconds: int = 300, default_ts_config: str = "simple"
    ) -> None:
        self.settings = settings
        self.ttl = ttl_seconds
        self.default = default_ts_config

    async def _ensure(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantIndex:
        row = await session.get(TenantIndex, tenant_id, populate_existing=True)
        if row is None:
            await session.execute(
                insert(TenantIndex)
                .values(tenant_id=tenant_id, ts_config=self.default)
                .on_conflict_do_nothing(index_elements=["tenant_id"])
            )
            row = await session.get(TenantIndex, tenant_id, populate_existing=True)
            assert row is not None
        return row

    async def profile(self, session: AsyncSession, tenant_id: uuid.UUID) -> TenantIndex:
        """The tenant's index row (created on first use), its locale refreshed from auth when stale."""
        row = await self._ensure(session, tenant_id)
        stale = row.locale_checked_at is None or utcnow() - row.locale_checked_at > timedelta(seconds=self.ttl)
        if stale and self.settings is not None:
            await self._refresh(row)
            await session.flush()
        return row

    async def note_locale(self, session: AsyncSession, tenant_id: uuid.UUID, locale: str | None) -> TenantIndex:
        """A producer told us the tenant's locale (e.g. on search.index.v1): trust it, no call to auth."""
        if not locale:
            return await self.profile(session, tenant_id)
        row = await self._ensure(session, tenant_id)
        if locale != row.locale or row.locale_checked_at is None:
            row.locale = locale
            row.ts_config = ts_config_for(locale, self.default)
            row.locale_checked_at = utcnow()
            await session.flush()
        return row

    async def _refresh(self, row: TenantIndex) -> None:
        row.locale_checked_at = utcnow()  # also on failure: retry after the TTL, not on every request
        tenant = await self.settings.get(row.tenant_id)  # type: ignore[union-attr]
        if not tenant.found:
            return  # unknown to auth, or auth down: keep what we have
        row.locale = tenant.locale
        row.ts_config = ts_config_for(tenant.locale, self.default)

    def forget(self, tenant_id: uuid.UUID) -> None:
        """tenants.changed.v1: the next read asks auth again."""
        if self.settings is not None:
            self.settings.invalidate(tenant_id)

    async def secret(self, tenant_id: uuid.UUID, name: str) -> str | None:
        """A tenant secret (e.g. its own `openai_api_key`), cached for the TTL; never logged."""
        if self.settings is None:
            return None
        return (await self.settings.get(tenant_id)).secrets.get(name)
