"""A small upstream service for gateway tests: echoes what it received, streams SSE on command, sleeps, and
counts uploads without keeping them. Served over real HTTP (tests.support.plugin.serve_app)."""

from __future__ import annotations

import asyncio

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


class Upstream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[dict] = []
        self.release_stream = asyncio.Event()
        self.stream_finished = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/{path:path}", self.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
            ]
        )

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path == "/health":
            return Response(b'{"status":"ok"}', media_type="application/json")
        if path.endswith("/sse"):
            return StreamingResponse(self._events(), media_type="text/event-stream")
        if path.endswith("/slow"):
            await asyncio.sleep(float(request.query_params.get("s", "3")))
        size = 0
        biggest = 0
        async for chunk in request.stream():
            size += len(chunk)
            biggest = max(biggest, len(chunk))
        seen = {
            "service": self.name,
            "method": request.method,
            "path": path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
            "body_bytes": size,
            "max_chunk": biggest,
        }
        self.requests.append(seen)
        status = int(request.query_params.get("status", "200"))
        headers = {"x-upstream": self.name, "connection": "keep-alive, x-secret-hop", "x-secret-hop": "1"}
        return Response(orjson.dumps(seen), status_code=status, media_type="application/json", headers=headers)

    async def _events(self):
        yield b"event: delta\ndata: first\n\n"
        await self.release_stream.wait()  # the test releases the rest only after it saw the first event
        yield b"event: delta\ndata: second\n\n"
        yield b"event: done\ndata: {}\n\n"
        self.stream_finished.set()


def header(seen: dict, name: str) -> list[str]:
    return [v for k, v in seen["headers"] if k == name.lower()]
