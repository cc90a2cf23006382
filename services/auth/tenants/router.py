"""Tenants and their write-only secrets. Another tenant's objects answer 404, never 403."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Response

from services.auth.tenants.deps import TenantServiceDep
from services.auth.tenants.schemas import SecretName, SecretRead, SecretWrite, TenantCreate, TenantRead, TenantUpdate
from shared.auth import AdminScope, CurrentPrincipal, ReadScope, SuperuserDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])
_404 = {404: {"description": "no such tenant (or not yours)"}}


@router.post("", status_code=201, responses={409: {"description": "slug taken"}})
async def create_tenant(body: TenantCreate, principal: SuperuserDep, tenants: TenantServiceDep) -> TenantRead:
    return TenantRead.model_validate(await tenants.create(principal, body))


@router.get("", dependencies=[ReadScope])
async def list_tenants(
    principal: CurrentPrincipal,
    tenants: TenantServiceDep,
    page: PageDep,
    status: Literal["active", "inactive"] | None = None,
) -> Page[TenantRead]:
    """A superuser sees every tenant (picks any company); others their own."""
    return await tenants.list(principal, page, status)


@router.get("/{tenant_id}", dependencies=[ReadScope], responses=_404)
async def get_tenant(tenant_id: uuid.UUID, principal: CurrentPrincipal, tenants: TenantServiceDep) -> TenantRead:
    return TenantRead.model_validate(await tenants.visible(principal, tenant_id))


@router.patch("/{tenant_id}", dependencies=[AdminScope], responses=_404)
async def update_tenant(
    tenant_id: uuid.UUID, body: TenantUpdate, principal: CurrentPrincipal, tenants: TenantServiceDep
) -> TenantRead:
    return TenantRead.model_validate(await tenants.update(principal, tenant_id, body))


@router.delete("/{tenant_id}", status_code=204, dependencies=[AdminScope], responses=_404)
async def delete_tenant(tenant_id: uuid.UUID, principal: CurrentPrincipal, tenants: TenantServiceDep) -> Response:
    await tenants.delete(principal, tenant_id)
    return Response(status_code=204)


@router.get("/{tenant_id}/secrets", dependencies=[AdminScope], responses=_404)
async def list_secrets(
    tenant_id: uuid.UUID, principal: CurrentPrincipal, tenants: TenantServiceDep
) -> list[SecretRead]:
    return await tenants.list_secrets(principal, tenant_id)


@router.put("/{tenant_id}/secrets/{name}", status_code=204, dependencies=[AdminScope], responses=_404)
async def put_secret(
    tenant_id: uuid.UUID, name: SecretName, body: SecretWrite, principal: CurrentPrincipal, tenants: TenantServiceDep
) -> Response:
    await tenants.put_secret(principal, tenant_id, name, body.value)
    return Response(status_code=204)


@router.delete("/{tenant_id}/secrets/{name}", status_code=204, dependencies=[AdminScope], responses=_404)
async def delete_secret(
    tenant_id: uuid.UUID, name: SecretName, principal: CurrentPrincipal, tenants: TenantServiceDep
) -> Response:
    await tenants.delete_secret(principal, tenant_id, name)
    return Response(status_code=204)
