"""Service-to-service endpoints (never routed by the gateway): service tokens, key exchange, tenant reads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.auth.api_keys.keycodec import pepper_from
from services.auth.deps import BoxDep, RedisDep, SettingsDep
from services.auth.tenants.schemas import TenantCounts
from services.auth.tenants.service import TenantService
from services.auth.tokens.deps import TokenServiceDep
from services.auth.tokens.schemas import ExchangedToken, ExchangeRequest, ServiceToken, ServiceTokenRequest
from shared.auth import ServiceDep
from shared.db import SessionDep

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.post("/service-token", responses={401: {"description": "wrong service secret"}})
async def service_token(body: ServiceTokenRequest, tokens: TokenServiceDep) -> ServiceToken:
    return await tokens.service_token(body.service, body.secret)


@router.post(
    "/token-exchange",
    responses={401: {"description": "unknown, revoked or expired key"}, 403: {"description": "its tenant is inactive"}},
)
async def token_exchange(
    body: ExchangeRequest, _: ServiceDep, tokens: TokenServiceDep, settings: SettingsDep
) -> ExchangedToken:
    return await tokens.exchange(body.api_key, pepper_from(settings.api_key_pepper, settings.secrets_key))


@router.get("/tenants/counts")
async def count_tenants(_: ServiceDep, session: SessionDep, redis: RedisDep) -> TenantCounts:
    """Live tenants per status: chat's platform metrics (GET /api/v1/metrics?all=true) count active companies."""
    return await TenantService(session, redis).counts()


@router.get("/tenants/{tenant_id}", responses={404: {"description": "no such tenant"}})
async def read_tenant(tenant_id: uuid.UUID, _: ServiceDep, session: SessionDep, redis: RedisDep, box: BoxDep) -> dict:
    """Settings plus decrypted secrets; callers cache it and drop entries on tenants.changed.v1."""
    return await TenantService(session, redis, box).internal_read(tenant_id)
