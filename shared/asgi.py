"""Small pieces for plain-ASGI code paths (the gateway's proxy, the channels webhook intake)."""

from __future__ import annotations

from shared.errors import PayloadTooLarge


class ClientGone(Exception):
    """The client disconnected before its request (or our answer) was complete."""


async def read_body(receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes `limit` bytes (never buffered past it)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
