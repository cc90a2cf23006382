"""Tenant settings the worker needs (locale, preferred engine, provider keys), read from auth's internal API."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.logging import get_logger

log = get_logger("tenants")


@dataclass
class TenantConfig:
    locale: str | None = None
    engine: str | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    reachable: bool = True  # False: auth did not answer, these are the platform defaults


class TenantDirectory:
    """GET {AUTH_URL}/internal/v1/tenants/{id} with a service token; cached for a short while per tenant."""

    def __init__(self, settings, http) -> None:
        self.settings = settings
        self.http = http
        self._cache: dict[uuid.UUID, tuple[float, TenantConfig]] = {}
        self._tokens = None

    def _token_provider(self):
        if self._tokens is None:
            from shared.service_auth import ServiceTokenProvider

            s = self.settings
            self._tokens = ServiceTokenProvider(self.http, s.auth_url, s.service_name, s.service_secret)
        return self._tokens

    def forget(self, tenant_id: uuid.UUID) -> None:
        self._cache.pop(tenant_id, None)

    async def get(self, tenant_id: uuid.UUID) -> TenantConfig:
        hit = self._cache.get(tenant_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            token = await self._token_provider().token()
            r = await self.http.get(
                f"{self.settings.auth_url.rstrip('/')}/internal/v1/tenants/{tenant_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            r.raise_for_status()
            data: dict[str, Any] = r.json()
        except Exception as exc:  # noqa: BLE001 - no tenant settings means platform defaults, said in the log
            log.warning(
                "tenant_settings_unavailable", tenant_id=str(tenant_id), error=f"{type(exc).__name__}: {exc}"[:300]
            )
            return TenantConfig(reachable=False)
        config = TenantConfig(
            locale=data.get("locale"),
            engine=data.get("transcription_engine"),
            secrets={k: v for k, v in (data.get("secrets") or {}).items() if isinstance(v, str)},
        )
        self._cache[tenant_id] = (time.monotonic() + self.settings.tenant_cache_seconds, config)
        return config
