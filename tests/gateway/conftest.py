"""Gateway tests: stand-in upstreams and the gateway itself served over real HTTP on free ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.gateway.upstream import Upstream
from tests.support.plugin import serve_app

SERVICES = ("auth", "chat", "channels", "transcription", "search")


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, tuple[Upstream, str]]]:
    """One echo upstream per service name, each on its own port."""
    async with contextlib.AsyncExitStack() as stack:
        out = {}
        for name in SERVICES:
            up = Upstream(name)
            url = await stack.enter_async_context(serve_app(up.app, lifespan="off"))
            out[name] = (up, url)
        yield out


def gateway_settings(stack, urls: dict[str, str], **overrides) -> GatewaySettings:
    base = {f"{name}_upstream": url for name, url in urls.items()}
    return stack.settings(GatewaySettings, **(base | overrides))


@contextlib.asynccontextmanager
async def serve_gateway(stack, urls: dict[str, str], **overrides) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings(stack, urls, **overrides))
    served = serve_app(app, proxy_headers=False, server_header=False)
    async with served as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def gw(stack, redis, upstreams) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the echo upstreams, with default settings."""
    async with serve_gateway(stack, {n: u for n, (_, u) in upstreams.items()}) as client:
        yield client
