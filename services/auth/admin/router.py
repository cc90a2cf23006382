"""GET /api/v1/admin/logs: superusers see everything, tenant admins their own tenant's entries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.auth.admin.schemas import Level, LogEntry
from services.auth.admin.service import read_logs
from services.auth.deps import RedisDep
from services.auth.tenants.service import is_platform_superuser
from shared.auth import AdminScope, CurrentPrincipal
from shared.errors import Forbidden
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/logs", dependencies=[AdminScope])
async def list_logs(
    principal: CurrentPrincipal,
    redis: RedisDep,
    page: PageDep,
    level: Level | None = None,
    service: Annotated[str | None, Query(max_length=100)] = None,
    tenant_id: uuid.UUID | None = None,
    since: datetime | None = None,
) -> Page[LogEntry]:
    if not is_platform_superuser(principal):
        if principal.tenant_id is None:
            raise Forbidden("no active tenant in this token; switch to a tenant first")
        tenant_id = principal.tenant_id  # a tenant admin only ever sees their own tenant
    return await read_logs(redis, page, tenant_id=tenant_id, level=level, service=service, since=since)
