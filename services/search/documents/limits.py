"""Refuse oversized upload bodies before they are spooled to disk (413), with or without Content-Length."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from shared.errors import problem


class BodyLimitMiddleware:
    """Pure ASGI: requests under `prefix` may carry at most `max_bytes` of body."""

    def __init__(self, app, *, prefix: str, max_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    detail = f"the request body is larger than {self.max_bytes} bytes"
                    await problem(413, detail, code="document_too_large")(scope, receive, send)
                    return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing; the handler turns it into problem+json.
                    raise HTTPException(413, f"the request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)
