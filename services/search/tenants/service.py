"""Each tenant's text search configuration (from its locale) and own OpenAI key, cached."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.indexing.models import TenantIndex
from services.search.tenants.client import AuthTenantClient
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("search.tenants")

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


class TenantDirectory:
    """Tenant facts search needs; the locale lives in search.tenant_index, refreshed from auth after a TTL."""

    def __init__(
        self, client: AuthTenantClient | None, *, ttl_seconds: int = 300, default_ts_config: str = "simple"
    ) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.default = default_ts_config
        self._secrets: dict[uuid.UUID, tuple[float, dict[str, str]]] = {}

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
        if stale and self.client is not None:
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
        try:
            tenant = await self.client.tenant(row.tenant_id)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - auth down: keep what we have
            log.warning("tenant_lookup_failed", tenant_id=str(row.tenant_id), error=f"{type(exc).__name__}")
            return
        if tenant is None:
            return
        locale = tenant.get("locale")
        row.locale = locale
        row.ts_config = ts_config_for(locale, self.default)
        secrets = tenant.get("secrets") or {}
        self._secrets[row.tenant_id] = (time.monotonic() + self.ttl, {k: str(v) for k, v in secrets.items()})

    def forget(self, tenant_id: uuid.UUID) -> None:
        self._secrets.pop(tenant_id, None)

    async def secret(self, tenant_id: uuid.UUID, name: str) -> str | None:
        """A tenant secret (e.g. its own `openai_api_key`), cached for the TTL; never logged."""
        hit = self._secrets.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1].get(name)
        if self.client is None:
            return None
        try:
            tenant = await self.client.tenant(tenant_id)
        except Exception as exc:  # noqa: BLE001 - fall back to the platform key
            log.warning("tenant_lookup_failed", tenant_id=str(tenant_id), error=f"{type(exc).__name__}")
            return None
        secrets = {k: str(v) for k, v in ((tenant or {}).get("secrets") or {}).items()}
        self._secrets[tenant_id] = (time.monotonic() + self.ttl, secrets)
        if len(self._secrets) > 10_000:
            self._secrets.clear()
        return secrets.get(name)
