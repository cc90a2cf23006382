"""What running tools needs, built once in the lifespan: the egress-checked HTTP client and the tool lists cache."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from services.chat.config import ChatSettings
from services.chat.tools.cache import ToolCache
from shared.egress import EgressGuard, EgressPolicy, EgressTransport, Resolver


@dataclass
class ToolKit:
    settings: ChatSettings
    guard: EgressGuard
    http: httpx.AsyncClient
    cache: ToolCache


def tool_kit(settings: ChatSettings, resolver: Resolver | None = None) -> ToolKit:
    policy = EgressPolicy(
        allow_private=settings.tools_allow_private_networks, max_response_bytes=settings.tools_response_max_bytes
    )
    guard = EgressGuard(policy, resolver)
    http = httpx.AsyncClient(
        transport=EgressTransport(guard),
        follow_redirects=False,
        trust_env=False,
        timeout=settings.tools_timeout_max_seconds,
    )
    return ToolKit(settings=settings, guard=guard, http=http, cache=ToolCache())


def tools_lifespan(resolver: Resolver | None) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """`resolver` replaces the system's (tests give names stub answers, e.g. a rebinding name)."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        kit = tool_kit(app.state.settings, resolver)
        app.state.tools = kit
        try:
            yield
        finally:
            await kit.http.aclose()

    return hook


async def get_tool_kit(request: Request) -> ToolKit:
    return request.app.state.tools


ToolKitDep = Annotated[ToolKit, Depends(get_tool_kit)]
