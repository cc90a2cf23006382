"""Dependencies of the search routers: the embedding provider and the tenant directory on app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.search.config import SearchSettings
from services.search.embeddings.base import EmbeddingProvider
from services.search.tenants.service import TenantProfiles


def _provider(request: Request) -> EmbeddingProvider:
    return request.app.state.embeddings


def _tenants(request: Request) -> TenantProfiles:
    return request.app.state.tenants


def _settings(request: Request) -> SearchSettings:
    return request.app.state.settings


EmbeddingsDep = Annotated[EmbeddingProvider, Depends(_provider)]
TenantsDep = Annotated[TenantProfiles, Depends(_tenants)]
SettingsDep = Annotated[SearchSettings, Depends(_settings)]
