"""The one client of auth's tenant settings: service token, TTL cache, dropped on tenants.changed.v1.

Each service maps the raw answer to its own settings type (`parse`); an unknown tenant or an auth that cannot be
reached gives that type's defaults, cached for `fallback_ttl` (0: ask again next time), so auth being slow never
fails a request that can go on with the platform defaults.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx

from shared.events.envelope import Envelope
from shared.events.tenants import TENANT_CHANGED, TENANTS_STREAM
from shared.logging import get_logger
from shared.service_auth import ServiceTokenProvider

log = get_logger("tenant_settings")
T = TypeVar("T")
_MAX_ENTRIES = 10_000

Outcome = Literal["found", "unknown", "unavailable", "unconfigured"]


@dataclass(frozen=True)
class TenantRecord:
    """What auth said about a tenant: its settings and decrypted secrets when `found`, else nothing."""

    tenant_id: uuid.UUID
    outcome: Outcome
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def found(self) -> bool:
        return self.outcome == "found"

    @property
    def secrets(self) -> dict[str, str]:
        raw = self.data.get("secrets")
        return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v} if isinstance(raw, dict) else {}


@dataclass(frozen=True)
class TenantCounts:
    """Live tenants per status, platform-wide (auth's GET /internal/v1/tenants/counts)."""

    active: int
    inactive: int


class TenantSettingsClient(Generic[T]):
    """`await client.get(tenant_id)` -> the service's own settings type for that tenant, cached per tenant."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        tokens: ServiceTokenProvider,
        parse: Callable[[TenantRecord], T],
        *,
        ttl: float,
        fallback_ttl: float,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.parse = parse
        self.ttl = ttl
        self.fallback_ttl = fallback_ttl
        self._cache: dict[uuid.UUID, tuple[float, T]] = {}

    async def get(self, tenant_id: uuid.UUID) -> T:
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        record = await self._fetch(tenant_id)
        try:
            value = self.parse(record)
        except (ValueError, TypeError, AttributeError, KeyError):
            log.warning("tenant_settings_malformed", tenant_id=str(tenant_id))
            record = TenantRecord(tenant_id, "unavailable")
            value = self.parse(record)
        ttl = self.ttl if record.outcome in ("found", "unconfigured") else self.fallback_ttl
        if ttl > 0:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[tenant_id] = (time.monotonic() + ttl, value)
        return value

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        """Drop one tenant's entry (or all): the next read asks auth again."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def counts(self) -> TenantCounts | None:
        """Active and inactive tenants, uncached (a superuser's dashboard); None when auth cannot say."""
        if not self.base_url:
            return None
        try:
            token = await self.tokens.token()
            resp = await self.http.get(
                f"{self.base_url}/internal/v1/tenants/counts", headers={"Authorization": f"Bearer {token}"}, timeout=5
            )
            body = resp.json() if resp.status_code == 200 else None
            return TenantCounts(active=int(body["active"]), inactive=int(body["inactive"])) if body else None
        except Exception as exc:  # noqa: BLE001 - the metrics answer without the count
            log.warning("tenant_counts_unavailable", error=type(exc).__name__)
            return None

    async def _fetch(self, tenant_id: uuid.UUID) -> TenantRecord:
        if not self.base_url:
            return TenantRecord(tenant_id, "unconfigured")
        try:
            token = await self.tokens.token()
            resp = await self.http.get(
                f"{self.base_url}/internal/v1/tenants/{tenant_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
        except Exception as exc:  # noqa: BLE001 - auth down: the platform defaults for now, said in the log
            log.warning("tenant_settings_unreachable", tenant_id=str(tenant_id), error=type(exc).__name__)
            return TenantRecord(tenant_id, "unavailable")
        if resp.status_code == 404:
            return TenantRecord(tenant_id, "unknown")
        if resp.status_code != 200:
            if resp.status_code == 401:
                self.tokens.invalidate()  # e.g. auth rotated its keys: a fresh token next time
            log.warning("tenant_settings_failed", tenant_id=str(tenant_id), status=resp.status_code)
            return TenantRecord(tenant_id, "unavailable")
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("tenant_settings_malformed", tenant_id=str(tenant_id))
            return TenantRecord(tenant_id, "unavailable")
        return TenantRecord(tenant_id, "found", data)


async def watch_tenant_changes(redis, client: TenantSettingsClient, stop: asyncio.Event, block_ms: int = 2000) -> None:
    """Tail tenants.changed.v1 and drop the changed tenant from `client`'s cache.

    Plain XREAD, no consumer group: every replica must see every event for its own cache."""
    last_id = "$"
    while not stop.is_set():
        try:
            batches = await redis.xread({TENANTS_STREAM: last_id}, count=100, block=block_ms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis away: changes may be missed, so forget everything
            log.warning("tenant_changes_unreadable", error=type(exc).__name__)
            client.invalidate()
            await asyncio.sleep(1)
            continue
        for _, entries in batches or ():
            for entry_id, fields in entries:
                last_id = entry_id
                try:
                    envelope = Envelope.from_fields(fields)
                    tenant = TENANT_CHANGED.parse(envelope).tenant_id or envelope.tenant_id
                    client.invalidate(tenant)
                except (ValueError, TypeError):  # an unreadable entry (InvalidPayload too): forget every tenant
                    client.invalidate()


@asynccontextmanager
async def watching_changes(redis, client: TenantSettingsClient) -> AsyncIterator[None]:
    """While inside: `client`'s entries are dropped as tenants.changed.v1 says (a lifespan wraps its app in it)."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_tenant_changes(redis, client, stop), name="tenant-changes")
    try:
        yield
    finally:
        stop.set()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


def service_tenant_settings(
    settings: Any, http: httpx.AsyncClient, parse: Callable[[TenantRecord], T], *, fallback_ttl: float = 0.0
) -> TenantSettingsClient[T]:
    """The client as a service builds it from its settings: AUTH_URL, SERVICE_SECRET, `tenant_cache_seconds`."""
    tokens = ServiceTokenProvider(http, settings.auth_url, settings.service_name, settings.service_secret)
    return TenantSettingsClient(
        http, settings.auth_url, tokens, parse, ttl=settings.tenant_cache_seconds, fallback_ttl=fallback_ttl
    )
