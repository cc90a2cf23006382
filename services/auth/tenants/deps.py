"""The tenant service of a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.tenants.service import TenantService
from shared.db import SessionDep


def get_tenant_service(request: Request, session: SessionDep) -> TenantService:
    return TenantService(session, request.app.state.redis, request.app.state.box)


TenantServiceDep = Annotated[TenantService, Depends(get_tenant_service)]
