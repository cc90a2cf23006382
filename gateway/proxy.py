"""Streaming HTTP/1.1 reverse proxy over one lean keep-alive pool per upstream (gateway/upstream_client.py).

Bodies stream both ways: an upload is read from the client chunk by chunk while it is written upstream (only
bodies with a small Content-Length are buffered), and the answer is relayed chunk by chunk as it arrives, so SSE
events pass one by one. Upstream failures before the answer starts become problem+json: 503 when the upstream
cannot be reached, 504 when it does not answer in time, 502 when it answers garbage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from gateway.config import GatewaySettings
from gateway.routes import Route
from gateway.upstream_client import UpstreamError, UpstreamPool, UpstreamResponse
from shared.asgi import ClientGone, read_body
from shared.errors import PayloadTooLarge
from shared.net import TrustedProxies

log = structlog.get_logger("gateway.proxy")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Never taken from the client: we set them (or they identify the client to us only).
REQUEST_DROP = HOP_BY_HOP | {
    b"host",
    b"x-api-key",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"forwarded",
    b"x-real-ip",
    b"expect",  # the gateway's server answers 100-continue itself; the body is streamed anyway
    b"content-length",  # re-framed by the upstream client
}
# Set by the gateway's own server and middleware; an upstream copy would duplicate them.
RESPONSE_DROP = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}


class Upstreams:
    """Keep-alive pools per upstream (gateway/upstream_client.py), built in the lifespan and closed with it: one for
    API calls, one for `stream` routes, whose long-lived answers (SSE: the console's feed, every web chat visitor)
    would otherwise hold every connection of the API pool."""

    def __init__(self, settings: GatewaySettings) -> None:
        def pools(max_connections: int) -> dict[str, UpstreamPool]:
            return {
                name: UpstreamPool(
                    name,
                    url,
                    max_connections=max_connections,
                    max_idle=settings.pool_keepalive,
                    connect_timeout=settings.connect_timeout,
                    idle_seconds=settings.pool_idle_seconds,
                )
                for name, url in settings.upstreams().items()
            }

        self.pools = pools(settings.pool_connections)
        self.streams = pools(settings.stream_pool_connections)

    async def aclose(self) -> None:
        every = [*self.pools.values(), *self.streams.values()]
        await asyncio.gather(*(p.aclose() for p in every), return_exceptions=True)


def forwarded_headers(
    scope, headers: list[tuple[bytes, bytes]], proxies: TrustedProxies
) -> tuple[str, list[tuple[bytes, bytes]]]:
    """(client ip, X-Forwarded-* headers to send upstream)."""
    peer = (scope.get("client") or ("", 0))[0] or "unknown"
    host = proto = prior = None
    for name, value in headers:
        if name == b"host":
            host = value
        elif name == b"x-forwarded-for":
            prior = value if prior is None else prior + b", " + value
        elif name == b"x-forwarded-proto":
            proto = value
        elif name == b"x-forwarded-host":
            host_fwd = value
            if proxies.trusted(peer):
                host = host_fwd
    client_ip = peer
    chain = peer.encode()
    if prior is not None and proxies.trusted(peer):
        client_ip = proxies.client_ip(peer, prior.decode("latin-1"))
        chain = prior + b", " + chain
    else:
        proto = None
    out = [
        (b"x-forwarded-for", chain),
        (b"x-forwarded-proto", proto or scope.get("scheme", "http").encode()),
    ]
    if host:
        out.append((b"x-forwarded-host", host))
    return client_ip, out


async def _stream_body(receive, limit: int) -> AsyncIterator[bytes]:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def forward(
    scope,
    receive,
    send,
    *,
    route: Route,
    upstreams: Upstreams,
    headers: list[tuple[bytes, bytes]],
    content_length: int | None,
    chunked: bool,
    buffer_below: int,
    extra_response_headers: list[tuple[bytes, bytes]],
) -> None:
    """Send the request upstream and relay the answer; raises UpstreamError / PayloadTooLarge before it starts."""
    if content_length is not None and content_length > route.max_body:
        raise PayloadTooLarge(f"request body is larger than {route.max_body} bytes")
    if content_length is not None and content_length <= buffer_below:
        content = await read_body(receive, route.max_body) if content_length else None
    elif content_length is None and not chunked:
        content = None
    else:
        content = _stream_body(receive, route.max_body)

    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = raw_path + b"?" + query if query else raw_path
    pools = upstreams.streams if route.kind == "stream" else upstreams.pools
    response = await pools[route.upstream].request(
        scope["method"],
        target,
        headers,
        content,
        content_length=content_length,
        read_timeout=route.read_timeout,
    )
    try:
        out: list[tuple[bytes, bytes]] = []
        seen: set[bytes] = set()
        streaming = True
        drop = RESPONSE_DROP
        for name, value in response.headers:
            if name.lower() == b"connection":  # headers named in Connection are hop-by-hop too
                drop = drop | {t.strip().lower() for t in value.split(b",")}
        for name, value in response.headers:
            lname = name.lower()
            if lname in drop:
                continue
            if lname == b"content-length":
                streaming = False
            seen.add(lname)
            out.append((lname, value))
        out.extend(h for h in extra_response_headers if h[0] not in seen)
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if streaming:
            await _relay_until_disconnect(response, receive, send, route)
        else:
            await _relay(response, send, route)
    finally:
        await response.aclose()


async def _relay(response: UpstreamResponse, send, route: Route) -> bool:
    body = response.complete_body()
    if body is not None:  # already here whole: one ASGI message, one write
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True
    try:
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        # The status line is gone already: all we can do is cut the connection so the client sees a broken body.
        log.warning("upstream_broke_midstream", upstream=route.upstream, error=exc.detail)
        raise ClientGone from None  # uvicorn closes a connection whose answer did not finish
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True


async def _relay_until_disconnect(response: UpstreamResponse, receive, send, route: Route) -> None:
    """Streams (SSE): stop reading upstream the moment the client leaves."""
    pump = asyncio.ensure_future(_relay(response, send, route))
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        done, _ = await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, watcher):
            if not task.done():
                task.cancel()
        await asyncio.gather(pump, watcher, return_exceptions=True)
    if pump not in done:
        log.info("client_left_stream", upstream=route.upstream)
    elif pump.exception() is not None:
        raise pump.exception()


async def _wait_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
