"""Tenant settings (prompt, model, LLM key, approval, timezone) read from auth's internal endpoint, cached.

A tenant auth does not know (404) or an auth that cannot be reached gives the platform defaults, cached
briefly, so a chat answer never fails because auth is slow. `tenants.changed.v1` drops the entry.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

log = structlog.get_logger("tenants")
# Names under which a tenant's LLM key may be stored (PUT /api/v1/tenants/{id}/secrets/{name}).
LLM_KEY_SECRETS = ("llm_api_key", "openai_api_key")
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class TenantSettings:
    tenant_id: uuid.UUID
    found: bool = False
    name: str = ""
    status: str = "active"
    system_prompt: str = ""
    default_model: str | None = None
    llm_base_url: str | None = None
    require_approval: bool = False
    split_replies: bool = False
    buffer_enabled: bool = True
    buffer_seconds: float = 10.0
    buffer_max_wait_seconds: float = 60.0
    locale: str = "pt-BR"
    timezone: str = "UTC"
    sectors: tuple[str, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def llm_api_key(self) -> str:
        return next((self.secrets[n] for n in LLM_KEY_SECRETS if self.secrets.get(n)), "")

    @classmethod
    def from_api(cls, tenant_id: uuid.UUID, data: dict[str, Any]) -> TenantSettings:
        secrets = data.get("secrets") or {}
        return cls(
            tenant_id=tenant_id,
            found=True,
            name=str(data.get("name") or ""),
            status=str(data.get("status") or "active"),
            system_prompt=str(data.get("system_prompt") or ""),
            default_model=data.get("default_model") or None,
            llm_base_url=data.get("llm_base_url") or None,
            require_approval=bool(data.get("require_approval")),
            split_replies=bool(data.get("split_replies")),
            buffer_enabled=bool(data.get("buffer_enabled", True)),
            buffer_seconds=float(data.get("buffer_seconds") if data.get("buffer_seconds") is not None else 10),
            buffer_max_wait_seconds=float(data.get("buffer_max_wait_seconds") or 60),
            locale=str(data.get("locale") or "pt-BR"),
            timezone=str(data.get("timezone") or "UTC"),
            sectors=tuple(str(s) for s in (data.get("sectors") or ())),
            secrets={str(k): str(v) for k, v in secrets.items() if v} if isinstance(secrets, dict) else {},
        )


class TenantSettingsClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, token_provider, ttl: float, fallback_ttl: float) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.tokens = token_provider
        self.ttl = ttl
        self.fallback_ttl = fallback_ttl
        self._cache: dict[uuid.UUID, tuple[float, TenantSettings]] = {}

    async def get(self, tenant_id: uuid.UUID) -> TenantSettings:
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        settings, ttl = await self._fetch(tenant_id)
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[tenant_id] = (time.monotonic() + ttl, settings)
        return settings

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        """Drop one tenant's entry (or all): the next read asks auth again."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def _fetch(self, tenant_id: uuid.UUID) -> tuple[TenantSettings, float]:
        defaults = TenantSettings(tenant_id=tenant_id)
        if not self.base_url:
            return defaults, self.ttl
        try:
            token = await self.tokens.token()
            resp = await self.http.get(
                f"{self.base_url}/internal/v1/tenants/{tenant_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
        except Exception as exc:  # noqa: BLE001 - auth down: answer with the platform defaults for now
            log.warning("tenant_settings_unreachable", error=type(exc).__name__)
            return defaults, self.fallback_ttl
        if resp.status_code == 404:
            return defaults, self.fallback_ttl
        if resp.status_code != 200:
            log.warning("tenant_settings_failed", status=resp.status_code)
            return defaults, self.fallback_ttl
        try:
            return TenantSettings.from_api(tenant_id, resp.json()), self.ttl
        except (ValueError, TypeError, AttributeError):
            log.warning("tenant_settings_malformed")
            return defaults, self.fallback_ttl


TENANTS_CHANGED = "tenants.changed.v1"


async def watch_changes(redis, client: TenantSettingsClient, stop: asyncio.Event, block_ms: int = 2000) -> None:
    """Every API replica tails tenants.changed.v1 itself (plain XREAD, no consumer group: each replica must
    see every event) and drops the changed tenant from its cache."""
    from shared.events.envelope import Envelope

    last_id = "$"
    while not stop.is_set():
        try:
            batches = await redis.xread({TENANTS_CHANGED: last_id}, count=100, block=block_ms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis away: cached entries still expire by TTL
            log.warning("tenant_changes_unreadable", error=type(exc).__name__)
            client.invalidate()
            await asyncio.sleep(1)
            continue
        for _, entries in batches or ():
            for entry_id, fields in entries:
                last_id = entry_id
                try:
                    envelope = Envelope.from_fields(fields)
                    tenant = envelope.payload.get("tenant_id") or envelope.tenant_id
                    client.invalidate(uuid.UUID(str(tenant)) if tenant else None)
                except (ValueError, TypeError):
                    client.invalidate()
