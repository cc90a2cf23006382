"""A stand-in for a tenant's tool endpoints: records every call, checks its `X-Atende-Signature` with the secret it
was given, and answers per tool name as told (a JSON echo by default, a status, a hang, or held until released)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class ToolCall:
    name: str
    body: bytes
    headers: dict[str, str]
    signature_valid: bool | None  # None: no secret to check against
    client_port: int = 0  # the caller's TCP port: which process made the call

    @property
    def arguments(self) -> Any:
        return orjson.loads(self.body) if self.body else None


@dataclass
class ToolStandIn:
    secret: str | None = None
    calls: list[ToolCall] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # tool name -> HTTP status to answer
    hangs: dict[str, float] = field(default_factory=dict)  # tool name -> seconds to sleep before answering
    held: dict[str, asyncio.Event] = field(default_factory=dict)  # tool name -> answered once the event is set

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/tools/{name}", self._call, methods=["POST", "PUT", "PATCH"])])

    def named(self, name: str) -> list[ToolCall]:
        return [c for c in self.calls if c.name == name]

    def hold(self, name: str) -> asyncio.Event:
        """Calls of `name` wait until the returned event is set."""
        self.held[name] = asyncio.Event()
        return self.held[name]

    async def _call(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        valid = None
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(request.headers.get("x-atende-signature", ""), expected)
        port = request.client.port if request.client else 0
        self.calls.append(ToolCall(name, body, dict(request.headers), valid, port))
        if name in self.held:
            await self.held[name].wait()
        if name in self.hangs:
            await asyncio.sleep(self.hangs[name])
        status = self.statuses.get(name, 200)
        if status >= 400:
            return JSONResponse({"error": f"stand-in failure {status}"}, status_code=status)
        if valid is False:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        args = orjson.loads(body) if body else {}
        return JSONResponse({"tool": name, "ok": True, "echo": args})
