"""What the chat request handlers share, built once in the lifespan: tenant settings, LLM, search, tokens."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.chat.assistants.models import Assistant
from services.chat.attachments.context import ImageContext
from services.chat.attachments.intake import AttachmentIntake
from services.chat.config import ChatSettings
from services.chat.context.builder import TokenCounter
from services.chat.llm.knowledge import SearchClient
from services.chat.llm.openai_provider import OpenAIProvider
from services.chat.llm.provider import LLMConfig
from services.chat.tenants.settings import ChatTenantSettings, TenantSettings, parse_tenant_settings
from shared.egress import EgressPolicy, create_egress_client
from shared.providers import resolve_endpoint
from shared.service_auth import ServiceTokenProvider
from shared.tenant_settings import TenantSettingsClient, watching_changes


@dataclass
class ChatRuntime:
    settings: ChatSettings
    state: Any  # app.state: the sessionmaker is read per use so tests can swap it
    tenants: ChatTenantSettings
    llm: OpenAIProvider
    search: SearchClient
    counter: TokenCounter
    intake: AttachmentIntake  # attachments given to the API, verified before their message is stored
    images: ImageContext  # images in an answer's context

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.state.sessionmaker

    def llm_config(self, tenant: TenantSettings, assistant: Assistant | None) -> LLMConfig:
        """The tenant's key, model and base URL win over the platform's (CHAT_LLM_*); a tenant's base URL gets the
        tenant's key or none, never CHAT_LLM_API_KEY (shared/providers.py)."""
        endpoint = resolve_endpoint(
            platform_url=self.settings.llm_base_url,
            platform_key=self.settings.llm_api_key,
            tenant_url=tenant.llm_base_url,
            tenant_key=tenant.llm_api_key,
        )
        model = (assistant.model if assistant else None) or tenant.default_model or self.settings.llm_model
        return LLMConfig(
            base_url=endpoint.base_url, api_key=endpoint.api_key, model=model, tenant_url=endpoint.tenant_url
        )


@asynccontextmanager
async def chat_runtime(app: FastAPI):
    settings: ChatSettings = app.state.settings
    tokens = ServiceTokenProvider(app.state.http, settings.auth_url, "chat", settings.service_secret)
    llm = OpenAIProvider(
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
        transport=settings.llm_http_transport,
    )
    egress = create_egress_client(
        EgressPolicy(
            allow_private=settings.attachment_allow_private_urls, max_response_bytes=settings.attachment_max_bytes + 1
        ),
        timeout=settings.attachment_fetch_timeout_seconds,
    )
    app.state.chat = ChatRuntime(
        settings=settings,
        state=app.state,
        tenants=TenantSettingsClient(
            app.state.http,
            settings.tenant_settings_url or settings.auth_url,
            tokens,
            parse_tenant_settings,
            ttl=settings.tenant_cache_seconds,
            fallback_ttl=settings.tenant_fallback_cache_seconds,
        ),
        llm=llm,
        search=SearchClient(app.state.http, settings.search_url, tokens, settings.search_timeout_seconds),
        counter=TokenCounter(),
        intake=AttachmentIntake(egress, settings.attachment_max_bytes, settings.attachments_max_per_message),
        images=ImageContext(app.state, settings.context_max_images),
    )
    try:
        async with watching_changes(app.state.redis, app.state.chat.tenants):
            yield
    finally:
        await llm.aclose()
        await egress.aclose()


async def get_runtime(request: Request) -> ChatRuntime:
    """async: a plain `def` dependency would cost every request a hop to the thread pool."""
    return request.app.state.chat


RuntimeDep = Annotated[ChatRuntime, Depends(get_runtime)]
