"""GET /api/v1/metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter

from services.chat.metrics.schemas import MetricsRead
from services.chat.metrics.service import metrics
from services.chat.runtime import RuntimeDep
from shared.auth import CurrentPrincipal, ReadScope
from shared.db import SessionDep
from shared.errors import BadRequest, Forbidden

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
MAX_RANGE_DAYS = 366


@router.get(
    "",
    response_model=MetricsRead,
    dependencies=[ReadScope],
    responses={400: {"description": "date_from after date_to, or a range over 366 days"}},
)
async def get_metrics(
    session: SessionDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    date_from: date | None = None,
    date_to: date | None = None,
    all: bool = False,
) -> MetricsRead:
    """Default range: the last 30 days. `all=true` (superusers) covers every tenant and counts the active ones."""
    if all and not (principal.is_superuser and principal.kind == "user"):
        raise Forbidden("all=true needs a platform superuser")
    if not all and principal.tenant_id is None:
        raise Forbidden("no active tenant in this token; switch to a tenant first")
    date_to = date_to or datetime.now(UTC).date()
    date_from = date_from or date_to - timedelta(days=29)
    if date_from > date_to:
        raise BadRequest("date_from is after date_to")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise BadRequest(f"the range is limited to {MAX_RANGE_DAYS} days")
    found = await metrics(session, principal.tenant_id, all, date_from, date_to)
    if all:
        counts = await runtime.tenants.counts()
        found.active_tenants = counts.active if counts else None
    return found
