"""Login, OAuth2 password form, refresh rotation, logout, switch tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response

from services.auth.deps import ClientIpDep
from services.auth.tokens.deps import TokenServiceDep
from services.auth.tokens.errors import InvalidRefreshToken, RefreshTokenReused
from services.auth.tokens.schemas import LoginRequest, RefreshRequest, SwitchTenantRequest, TokenPair
from services.auth.users.schemas import Email
from shared.auth import CurrentPrincipal
from shared.errors import problem

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_401 = {401: {"description": "wrong credentials or token"}}


@router.post(
    "/login",
    responses=_401
    | {
        403: {"description": "the tenant asked for is inactive"},
        404: {"description": "the tenant asked for is not one of yours"},
        429: {"description": "too many failed attempts"},
    },
)
async def login(body: LoginRequest, tokens: TokenServiceDep, ip: ClientIpDep) -> TokenPair:
    return await tokens.login(body.email, body.password, body.tenant_id, ip)


@router.post("/token", responses=_401 | {429: {"description": "too many failed attempts"}})
async def token(
    username: Annotated[Email, Form()],
    password: Annotated[str, Form(max_length=256)],
    tokens: TokenServiceDep,
    ip: ClientIpDep,
) -> TokenPair:
    """OAuth2 password flow for the docs' Authorize button (username = email)."""
    return await tokens.login(username, password, None, ip)


@router.post("/refresh", responses=_401)
async def refresh(body: RefreshRequest, tokens: TokenServiceDep):
    try:
        return await tokens.refresh(body.refresh_token)
    except (InvalidRefreshToken, RefreshTokenReused) as exc:
        # Answered, not raised, so the request transaction commits the family revocation.
        return problem(exc.status, exc.detail, code=exc.code, title=exc.title, headers=exc.headers)


@router.post("/logout", status_code=204)
async def logout(body: RefreshRequest, tokens: TokenServiceDep) -> Response:
    await tokens.logout(body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/switch-tenant",
    responses=_401
    | {
        403: {"description": "not a signed-in user, or the tenant is inactive"},
        404: {"description": "not a tenant of yours"},
    },
)
async def switch_tenant(body: SwitchTenantRequest, principal: CurrentPrincipal, tokens: TokenServiceDep) -> TokenPair:
    return await tokens.switch_tenant(principal, body.tenant_id)
