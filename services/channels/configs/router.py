"""/api/v1/channels: a tenant's Telegram and WhatsApp (Twilio) channels."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.channels.configs.schemas import ChannelCreate, ChannelRead, ChannelUpdate, SetWebhookResult
from services.channels.configs.service import ChannelService
from services.channels.deps import BaseUrlDep, BoxDep
from shared.auth import AdminScope, ReadScope, TenantIdDep
from shared.db import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


@router.post("", status_code=201, response_model=ChannelRead, dependencies=[AdminScope])
async def create_channel(
    data: ChannelCreate, session: SessionDep, tenant_id: TenantIdDep, box: BoxDep, base_url: BaseUrlDep
) -> ChannelRead:
    svc = ChannelService(session, box)
    return svc.read(await svc.create(tenant_id, data), base_url)


@router.get("", response_model=Page[ChannelRead], dependencies=[ReadScope])
async def list_channels(
    session: SessionDep, tenant_id: TenantIdDep, box: BoxDep, base_url: BaseUrlDep, page: PageDep
) -> Page[ChannelRead]:
    return await ChannelService(session, box).list(tenant_id, page, base_url)


@router.get("/{channel_id}", response_model=ChannelRead, dependencies=[ReadScope])
async def get_channel(
    channel_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, box: BoxDep, base_url: BaseUrlDep
) -> ChannelRead:
    svc = ChannelService(session, box)
    return svc.read(await svc.get(tenant_id, channel_id), base_url)


@router.patch("/{channel_id}", response_model=ChannelRead, dependencies=[AdminScope])
async def update_channel(
    channel_id: uuid.UUID,
    data: ChannelUpdate,
    session: SessionDep,
    tenant_id: TenantIdDep,
    box: BoxDep,
    base_url: BaseUrlDep,
) -> ChannelRead:
    svc = ChannelService(session, box)
    return svc.read(await svc.update(tenant_id, channel_id, data), base_url)


@router.delete("/{channel_id}", status_code=204, dependencies=[AdminScope])
async def delete_channel(channel_id: uuid.UUID, session: SessionDep, tenant_id: TenantIdDep, box: BoxDep) -> Response:
    await ChannelService(session, box).delete(tenant_id, channel_id)
    return Response(status_code=204)


@router.post("/{channel_id}/telegram/set-webhook", response_model=SetWebhookResult, dependencies=[AdminScope])
async def set_telegram_webhook(
    channel_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    tenant_id: TenantIdDep,
    box: BoxDep,
    base_url: BaseUrlDep,
) -> SetWebhookResult:
    providers = request.app.state.providers
    return await ChannelService(session, box).register_webhook(tenant_id, channel_id, base_url, providers)
