"""Members of a tenant: list (read), add/change/remove (admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.auth.members.joining import Joining
from services.auth.members.schemas import MemberCreate, MemberRead, MemberUpdate
from services.auth.members.service import MemberService
from services.auth.tenants.service import TenantService
from services.auth.users.service import UserService
from shared.auth import AdminScope, CurrentPrincipal, ReadScope
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/tenants/{tenant_id}/members", tags=["members"])
_404 = {404: {"description": "no such tenant or member (or not yours)"}}
_LAST_ADMIN = {409: {"description": "a tenant needs at least one admin"}}


def get_member_service(request: Request, session: SessionDep) -> MemberService:
    state = request.app.state
    users = UserService(session, state.settings, state.redis, box=state.box)
    return MemberService(
        session,
        TenantService(session, state.redis, state.box),
        users,
        Joining(session, state.settings, state.box, users),
    )


MemberServiceDep = Annotated[MemberService, Depends(get_member_service)]


@router.get("", dependencies=[ReadScope], responses=_404)
async def list_members(
    tenant_id: uuid.UUID, principal: CurrentPrincipal, members: MemberServiceDep, page: PageDep
) -> Page[MemberRead]:
    return await members.list(principal, tenant_id, page)


@router.post("", status_code=201, dependencies=[AdminScope], responses=_404 | {409: {"description": "already"}})
async def add_member(
    tenant_id: uuid.UUID, body: MemberCreate, principal: CurrentPrincipal, members: MemberServiceDep
) -> MemberRead:
    return await members.add(principal, tenant_id, body)


@router.patch("/{user_id}", dependencies=[AdminScope], responses=_404 | _LAST_ADMIN)
async def update_member(
    tenant_id: uuid.UUID, user_id: uuid.UUID, body: MemberUpdate, principal: CurrentPrincipal, members: MemberServiceDep
) -> MemberRead:
    return await members.update(principal, tenant_id, user_id, body)


@router.delete("/{user_id}", status_code=204, dependencies=[AdminScope], responses=_404 | _LAST_ADMIN)
async def remove_member(
    tenant_id: uuid.UUID, user_id: uuid.UUID, principal: CurrentPrincipal, members: MemberServiceDep
) -> Response:
    await members.remove(principal, tenant_id, user_id)
    return Response(status_code=204)
