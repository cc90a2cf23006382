"""Tools on the real stack: auth and chat (and channels where a test needs them) behind the gateway, the LLM stand-in
scripted to call tools, and a tool stand-in (tests/support/tools.py) that checks signatures and records calls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tests.support.platform import Platform, Tenant, platform
from tests.support.plugin import serve_app
from tests.support.tools import ToolStandIn

TOOL_SECRET = "tool-signing-secret-7c1d"
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}},
    "required": ["order_id"],
    "additionalProperties": False,
}


class ToolsPlatform(Platform):
    tools: ToolStandIn
    tools_url: str

    async def assistant(self, t: Tenant) -> str:
        r = await self.gw.post(
            "/api/v1/assistants",
            headers=t.headers,
            json={"name": "Orders", "instructions": "Help.", "is_default": True},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def add_tool(self, t: Tenant, assistant_id: str, **body) -> dict:
        r = await self.gw.post(f"/api/v1/assistants/{assistant_id}/tools", headers=t.headers, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    async def http_tool(self, t: Tenant, assistant_id: str, name: str, **body) -> dict:
        base = {"type": "http", "name": name, "description": f"{name} tool", "parameters": ORDER_SCHEMA}
        return await self.add_tool(t, assistant_id, **(base | {"url": f"{self.tools_url}/tools/{name}"} | body))

    async def messages(self, t: Tenant, thread_id: str) -> list[dict]:
        r = await self.gw.get(f"/api/v1/threads/{thread_id}/messages", headers=t.headers)
        assert r.status_code == 200, r.text
        return r.json()["items"]


@contextlib.asynccontextmanager
async def tools_platform(stack, tmp_path, *, chat: dict | None = None, **kw) -> AsyncIterator[ToolsPlatform]:
    """The platform with a tool stand-in; tool URLs on loopback are allowed unless `chat` says otherwise."""
    stand_in = ToolStandIn(secret=TOOL_SECRET)
    async with serve_app(stand_in.app) as url:
        settings = {"chat": {"tools_allow_private_networks": True} | (chat or {})}
        async with platform(stack, tmp_path, settings=settings, kind=ToolsPlatform, **kw) as p:
            p.tools, p.tools_url = stand_in, url
            yield p
