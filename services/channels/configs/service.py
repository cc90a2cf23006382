"""Channel configuration: create, read, change, delete, and registering the Telegram webhook."""

from __future__ import annotations

import secrets
import uuid

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.configs.errors import ChannelNotFound, InvalidCredentials, ProviderUnavailable
from services.channels.configs.models import Channel
from services.channels.configs.repository import ChannelRepository
from services.channels.configs.schemas import (
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    CredentialState,
    SetWebhookResult,
    validate_credentials,
)
from services.channels.providers.base import WebhookRegistrationError, WebhookRegistrationUnsupported
from services.channels.providers.registry import PROVIDERS, Providers, provider_class
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.errors import BadRequest
from shared.pagination import Page, PageParams

log = structlog.get_logger("channels")


def webhook_url(base_url: str, channel: Channel) -> str:
    """Absolute on CHANNELS_PUBLIC_BASE_URL; without it only the path (the operator has not said where we live).
    Empty for a provider without a webhook (web)."""
    path = provider_class(channel.type).webhook_path
    return f"{base_url.rstrip('/')}/webhooks/{path}/{channel.id}" if path else ""


def _last4(value: str) -> str:
    return value[-4:] if len(value) >= 8 else ""


class ChannelService:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.repo = ChannelRepository(session)
        self.box = box

    def credentials(self, channel: Channel) -> dict[str, str]:
        return orjson.loads(self.box.decrypt(channel.credentials_encrypted))

    def _store_credentials(self, channel: Channel, creds: dict[str, str]) -> None:
        channel.credentials_encrypted = self.box.encrypt(orjson.dumps(creds).decode())
        schema = PROVIDERS[channel.type].credentials
        made = (*schema.generated, *schema.shown)
        channel.credentials_last4 = {k: _last4(v) for k, v in creds.items() if k not in made}

    def read(self, channel: Channel, base_url: str) -> ChannelRead:
        schema = provider_class(channel.type).credentials
        fields = schema.fields
        last4 = channel.credentials_last4 or {}
        shown = {k: v for k, v in self.credentials(channel).items() if k in schema.shown} if schema.shown else {}
        return ChannelRead(
            id=channel.id,
            type=channel.type,
            name=channel.name,
            assistant_id=channel.assistant_id,
            credentials={k: CredentialState(is_set=k in last4, last4=last4.get(k) or None) for k in fields},
            settings=channel.settings or {},
            public_key=channel.public_key,
            webhook_url=webhook_url(base_url, channel),
            verify_token=shown.get("verify_token"),
            webhook_registered_at=channel.webhook_registered_at,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )

    async def create(self, tenant_id: uuid.UUID, data: ChannelCreate) -> Channel:
        channel = Channel(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            type=data.type,
            name=data.name,
            assistant_id=data.assistant_id,
            settings=data.settings.model_dump(exclude_none=True),
            # The widget's key: public (it is in the host page), unguessable so channels cannot be enumerated.
            public_key=f"wk_{secrets.token_urlsafe(24)}" if data.type == "web" else None,
        )
        creds = dict(data.credentials) | PROVIDERS[data.type].credentials.generate()
        self._store_credentials(channel, creds)
        await self.repo.add(channel)
        log.info("channel_created", channel_id=str(channel.id), type=channel.type)
        return channel

    async def get(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> Channel:
        channel = await self.repo.get(tenant_id, channel_id)
        if channel is None:
            raise ChannelNotFound(f"channel {channel_id} not found")
        return channel

    async def list(self, tenant_id: uuid.UUID, page: PageParams, base_url: str) -> Page[ChannelRead]:
        found = await self.repo.list(tenant_id, page)
        return Page(items=[self.read(c, base_url) for c in found.rows], next_cursor=found.next_cursor)

    async def update(self, tenant_id: uuid.UUID, channel_id: uuid.UUID, data: ChannelUpdate) -> Channel:
        channel = await self.get(tenant_id, channel_id)
        changes = data.model_dump(exclude_unset=True)
        if "name" in changes and data.name is not None:
            channel.name = data.name
        if "assistant_id" in changes:
            channel.assistant_id = data.assistant_id
        if data.settings is not None:
            if channel.type != "web" and data.settings.web_only():
                raise BadRequest(f"{', '.join(data.settings.web_only())}: only for web channels")
            channel.settings = (channel.settings or {}) | data.settings.model_dump(exclude_unset=True)
        if data.credentials:
            try:
                validate_credentials(channel.type, data.credentials, partial=True)
            except ValueError as exc:
                raise InvalidCredentials(str(exc)) from None
            self._store_credentials(channel, self.credentials(channel) | data.credentials)
        channel.updated_at = utcnow()
        return channel

    async def delete(self, tenant_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        channel = await self.get(tenant_id, channel_id)
        channel.deleted_at = utcnow()

    async def register_webhook(
        self, tenant_id: uuid.UUID, channel_id: uuid.UUID, base_url: str, providers: Providers
    ) -> SetWebhookResult:
        """Point the provider at this channel's webhook URL (Telegram's setWebhook)."""
        channel = await self.get(tenant_id, channel_id)
        provider = providers[channel.type]
        creds = self.credentials(channel)
        if not base_url:
            raise BadRequest("CHANNELS_PUBLIC_BASE_URL is not configured: there is no public webhook URL to register")
        try:
            registration = await provider.register_webhook(creds, webhook_url(base_url, channel))
        except WebhookRegistrationUnsupported as exc:
            raise BadRequest(f"set-webhook is not supported for {channel.type} channels: {exc}") from None
        except WebhookRegistrationError as exc:
            if exc.unavailable:
                raise ProviderUnavailable(str(exc)) from None
            raise InvalidCredentials(str(exc)) from None
        channel.webhook_registered_at = utcnow()
        return SetWebhookResult(
            webhook_url=registration.url,
            registered_at=channel.webhook_registered_at,
            allowed_updates=registration.allowed_updates,
        )
