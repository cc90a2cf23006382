"""One visitor's live stream (SSE) as plain ASGI: what they missed since `Last-Event-ID`, then every answer, agent
reply and typing hint of their conversation as it comes, whichever channels replica published it (web/hub.py).

Thousands of these are held open at once, idle, so each costs as little as it can (docs/benchmarks/widget.md): one
task (the server's own for the request), one queue, no FastAPI or sse-starlette machinery around it (their task
group is four tasks per stream). It is the channels app's front path for `GET /api/v1/widget/stream` (shared/app.py
`FrontPath`); the FastAPI route (web/router.py) declares it for OpenAPI and answers with the same handler.
A comment ping goes out after CHANNELS_WIDGET_PING_SECONDS without an event (proxies keep the stream open), and
each ping also asks the server whether the client is gone (a receive() of at most a millisecond), so a closed stream
is let go within one ping interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import structlog

from services.channels.web.errors import OriginNotAllowed, StreamsLimited
from services.channels.web.hub import RESYNC, WidgetHub
from services.channels.web.tokens import InvalidVisitorToken
from services.channels.web.transcript import Transcript, TranscriptEntry, conversation, entry_id, id_after
from shared.errors import AppError, BadRequest, app_error_response

PATH = "/api/v1/widget/stream"
REPLAY_MAX = 500  # entries replayed at once (the transcript keeps about CHANNELS_WIDGET_TRANSCRIPT_MAXLEN)
STREAMS_PER_VISITOR = 8  # open at once on one channels process (the tabs of one browser share the visitor)
PING = b": ping\r\n\r\n"
_TYPING = b"event: typing\r\ndata: {}\r\n\r\n"


@dataclass(frozen=True)
class _Route:
    path: str  # the template RequestContextMiddleware labels metrics and the access line with


_ROUTE = _Route(PATH)


def _message(entry: TranscriptEntry) -> bytes:
    return f"id: {entry.id}\r\nevent: message\r\ndata: {entry.json()}\r\n\r\n".encode()


async def visitor_events(
    hub: WidgetHub, transcript: Transcript, conv: str, last_id: str | None, ping_seconds: float
) -> AsyncIterator[bytes]:
    """The stream's bytes. Registered with the hub before the replay, so an event published meanwhile is queued,
    then skipped by id if the replay already had it; PING after `ping_seconds` of silence."""
    with hub.listen(conv) as listener:
        if last_id is None:
            last_id = await transcript.last_id(conv)
        else:
            for entry in await transcript.after(conv, last_id, REPLAY_MAX):
                last_id = entry.id
                yield _message(entry)
        while True:
            try:
                async with asyncio.timeout(ping_seconds):
                    item = await listener.queue.get()
            except TimeoutError:
                yield PING
                continue
            if item is RESYNC:
                for entry in await transcript.after(conv, last_id, REPLAY_MAX):
                    last_id = entry.id
                    yield _message(entry)
                continue
            if item.get("e") == "typing":
                yield _TYPING
                continue
            entry_id_ = item.get("id")
            if not isinstance(entry_id_, str) or not id_after(entry_id_, last_id):
                continue  # replayed already
            last_id = entry_id_
            yield _message(TranscriptEntry(entry_id_, item["role"], item["content"], item["created_at"]))


def cors_headers(origin: str | None) -> dict[str, str]:
    """What lets the page read an answer (its origin was checked, or the answer is a harmless error)."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": "Retry-After"}


async def _client_gone(receive) -> bool:
    try:
        async with asyncio.timeout(0.001):
            return (await receive())["type"] == "http.disconnect"
    except TimeoutError:
        return False


class WidgetStream:
    """`GET /api/v1/widget/stream`: the front path (`claims`) and the handler the FastAPI route delegates to."""

    def claims(self, scope) -> bool:
        return scope["path"] == PATH and scope["method"] == "GET"

    async def __call__(self, scope, receive, send) -> None:
        scope["route"] = _ROUTE
        widget = scope["app"].state.widget
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        try:
            token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
            scheme, _, credential = headers.get("authorization", "").partition(" ")
            if credential and scheme.lower() == "bearer":
                token = credential.strip()
            if not token or len(token) > 2048:
                raise InvalidVisitorToken("a visitor token is required (Authorization: Bearer or ?token=)")
            claims = widget.tokens.verify(token)
            await widget.channel(claims, origin)
            last_id = None
            if headers.get("last-event-id"):
                last_id = entry_id(headers["last-event-id"][:50])
                if last_id is None:
                    raise BadRequest("Last-Event-ID is not an event id of this stream")
            conv = conversation(claims.channel_id, claims.visitor_id)
            if widget.hub.held(conv) >= STREAMS_PER_VISITOR:
                raise StreamsLimited(5, "too many open streams for this visitor; close a tab")
        except AppError as exc:
            if not isinstance(exc, OriginNotAllowed):
                exc.headers = exc.headers | cors_headers(origin)
            await app_error_response(exc, PATH)(scope, receive, send)
            return
        structlog.contextvars.bind_contextvars(channel_id=str(claims.channel_id), tenant_id=str(claims.tenant_id))
        answer = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store",
                  "x-accel-buffering": "no"} | cors_headers(origin)  # fmt: skip
        raw = [(k.lower().encode(), v.encode()) for k, v in answer.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": PING, "more_body": True})  # the head goes out at once
        events = visitor_events(widget.hub, widget.transcript, conv, last_id, widget.ping_seconds)
        try:
            async for chunk in events:
                if chunk is PING and await _client_gone(receive):
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await events.aclose()
