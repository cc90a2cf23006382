"""Per-tenant quotas: one lock per (quota, tenant) so counting and inserting are one step, and the refusals.

Counting rows and then inserting in another step lets ten concurrent requests all see room for one; taking a
transaction-scoped advisory lock on (quota, tenant) first serialises the check-and-insert of one tenant's requests
(other tenants are not blocked), and the lock ends with the request's transaction, after the new row is committed.
Count and size quotas answer 409 `quota_exceeded` (deleting something makes room); rate-like ones (per day,
in flight) answer 429 `quota_exceeded` with Retry-After. Both name the quota, its limit and the current use.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, RateLimited

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:quota), hashtext(:tenant))")


class QuotaExceeded(Conflict):
    """A count or size quota is full: 409, until the tenant deletes something."""

    code, title = "quota_exceeded", "Quota exceeded"


class QuotaRateExceeded(RateLimited):
    """A rate-like quota is full: 429 with Retry-After (when the day rolls over, or a job finishes)."""

    code, title = "quota_exceeded", "Quota exceeded"


async def lock_tenant_quota(session: AsyncSession, quota: str, tenant_id: uuid.UUID) -> None:
    """Serialise this tenant's check-and-insert for `quota` until the caller's transaction ends."""
    await session.execute(_LOCK, {"quota": quota, "tenant": str(tenant_id)})


def enforce(
    quota: str,
    limit: float,
    used: float,
    adding: float = 1,
    *,
    unit: str = "",
    retry_after: float | None = None,
) -> None:
    """Refuse when `used + adding` would pass `limit` (0 = unlimited); retry_after makes it a 429."""
    if limit <= 0 or used + adding <= limit:
        return
    suffix = f" {unit}" if unit else ""
    detail = f"the tenant's {quota} quota is {limit:g}{suffix}; {used:g}{suffix} in use"
    if adding != 1 or unit:
        detail += f", this request needs {adding:g}{suffix} more"
    if retry_after is not None:
        raise QuotaRateExceeded(retry_after, detail, quota=quota, limit=limit, used=used)
    raise QuotaExceeded(detail, quota=quota, limit=limit, used=used)


def start_of_utc_day(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_next_utc_day(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    return max(1, int((start_of_utc_day(now) + timedelta(days=1) - now).total_seconds()) + 1)
