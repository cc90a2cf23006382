"""Register, me, password change; superuser user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.auth.deps import ClientIpDep
from services.auth.users.deps import UserServiceDep
from services.auth.users.schemas import MeRead, PasswordChange, UserCreate, UserRead, UserUpdate
from shared.auth import CurrentPrincipal, SuperuserDep
from shared.pagination import Page, PageDep

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
users_router = APIRouter(prefix="/api/v1/users", tags=["users"])


@auth_router.post(
    "/register",
    status_code=201,
    responses={403: {"description": "sign-up is disabled"}},
)
async def register(body: UserCreate, users: UserServiceDep) -> UserRead:
    """The same 201 whether the address is free or taken (then its owner gets a mail and nothing changes)."""
    return await users.register(body)


@auth_router.get("/me", responses={403: {"description": "not a signed-in user (an API key or a service)"}})
async def me(principal: CurrentPrincipal, users: UserServiceDep) -> MeRead:
    return await users.me(principal)


@auth_router.post(
    "/password",
    status_code=204,
    responses={403: {"description": "the current password is wrong, or the caller is not a signed-in user"}},
)
async def change_password(
    body: PasswordChange, principal: CurrentPrincipal, users: UserServiceDep, ip: ClientIpDep
) -> Response:
    await users.change_password(principal, body.current_password, body.new_password, ip)
    return Response(status_code=204)


@users_router.get("")
async def list_users(
    _: SuperuserDep,
    users: UserServiceDep,
    page: PageDep,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[UserRead]:
    return await users.list(page, is_active=is_active, q=q)


@users_router.patch(
    "/{user_id}",
    responses={404: {"description": "no such user"}, 409: {"description": "you cannot deactivate or demote yourself"}},
)
async def update_user(user_id: uuid.UUID, body: UserUpdate, principal: SuperuserDep, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.update(principal, user_id, body))
