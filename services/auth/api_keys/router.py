"""API keys of the caller's tenant (admin scope)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.auth.api_keys.keycodec import pepper_from
from services.auth.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from services.auth.api_keys.service import ApiKeyService
from services.auth.tokens.revocation import AccessRevoker
from shared.auth import AdminScope, CurrentPrincipal, TenantIdDep
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"], dependencies=[AdminScope])


def get_api_key_service(request: Request, session: SessionDep) -> ApiKeyService:
    settings = request.app.state.settings
    revoker = AccessRevoker(session, settings, request.app.state.redis)
    pepper = pepper_from(settings.api_key_pepper, settings.secrets_key)
    return ApiKeyService(session, pepper, revoker, max_keys=settings.tenant_max_api_keys)


ApiKeyServiceDep = Annotated[ApiKeyService, Depends(get_api_key_service)]


@router.post(
    "", status_code=201, responses={409: {"description": "the tenant's API key quota is used up (quota_exceeded)"}}
)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, tenant_id: TenantIdDep, keys: ApiKeyServiceDep
) -> ApiKeyCreated:
    """The key is in this answer only; it is stored as a keyed hash."""
    return await keys.create(principal, tenant_id, body)


@router.get("")
async def list_api_keys(
    tenant_id: TenantIdDep, keys: ApiKeyServiceDep, page: PageDep, include_revoked: bool = False
) -> Page[ApiKeyRead]:
    return await keys.list(tenant_id, page, include_revoked)


@router.delete("/{key_id}", status_code=204, responses={404: {"description": "no such key (or not yours)"}})
async def revoke_api_key(key_id: uuid.UUID, tenant_id: TenantIdDep, keys: ApiKeyServiceDep) -> Response:
    await keys.revoke(tenant_id, key_id)
    return Response(status_code=204)
