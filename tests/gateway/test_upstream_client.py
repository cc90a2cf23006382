"""The gateway's own upstream HTTP client (gateway/upstream_client.py) against real sockets: raw asyncio servers
that misbehave on purpose (chunked answers, silent closes, garbage, stalls) and the echo upstream under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from devtools.embedded import free_port
from gateway.upstream_client import UpstreamError, UpstreamPool
from tests.gateway.conftest import serve_gateway
from tests.gateway.upstream import Upstream
from tests.support.plugin import serve_app

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


class RawServer:
    """An HTTP/1.1 server written by hand, so each test decides exactly what goes on the wire."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        body = b""
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                body = await reader.readexactly(int(line.split(b":")[1]))
        self.requests.append((head, body))
        return head, body


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer(handler)
    srv = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        srv.close()
        for writer in server.writers:
            writer.transport.abort()
        await asyncio.sleep(0.05)  # let the handlers see the close and finish


def pool(url: str, **kw) -> UpstreamPool:
    return UpstreamPool("chat", url, **({"max_connections": 10, "max_idle": 10, "connect_timeout": 1.0} | kw))


async def fetch(p: UpstreamPool, method: str = "GET", path: bytes = b"/x", body=None, **kw) -> tuple[int, bytes]:
    resp = await p.request(method, path, [(b"accept", b"*/*")], body, read_timeout=kw.pop("read_timeout", 2), **kw)
    try:
        return resp.status, b"".join([c async for c in resp.chunks()])
    finally:
        await resp.aclose()


async def test_chunked_answer_is_decoded_and_the_connection_reused():
    async def handler(reader, writer, server):
        while await server.read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n")
            for part in (b"hello ", b"chunked ", b"world"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")

    async with raw_server(handler) as (server, url):
        p = pool(url)
        for _ in range(3):
            assert await fetch(p) == (200, b"hello chunked world")
        assert server.connections == 1  # keep-alive: one connection for three exchanges
        assert p.stats == {"open": 1, "idle": 1, "waiting": 0}
        head = server.requests[0][0]
        assert head.startswith(b"GET /x HTTP/1.1\r\n") and f"host: {url[7:]}".encode() in head
        await p.aclose()


async def test_connection_close_and_silent_closes_are_never_reused():
    async def says_close(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")

    async def closes_silently(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()  # then hang up without a word, like an upstream's keep-alive timeout

    for handler in (says_close, closes_silently):
        async with raw_server(handler) as (server, url):
            p = pool(url)
            for _ in range(3):
                assert await fetch(p) == (200, b"ok")
                await asyncio.sleep(0.05)  # let the close arrive
            assert server.connections == 3
            assert p.stats["open"] == 0
            await p.aclose()


async def test_answer_until_eof_is_read_whole_and_not_reused():
    async def handler(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nfirst ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"and last")

    async with raw_server(handler) as (server, url):
        p = pool(url)
        assert await fetch(p) == (200, b"first and last")
        assert await fetch(p) == (200, b"first and last")
        assert server.connections == 2


async def test_keep_alive_race_is_retried_once_for_idempotent_requests_only():
    """The upstream closes a kept-alive connection just as our next request arrives (nothing answered)."""

    dropped: list[bytes] = []

    async def handler(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        dropped.append(await reader.readuntil(b"\r\n\r\n"))  # the next request on this connection: no answer
        writer.transport.abort()

    async with raw_server(handler) as (server, url):
        p = pool(url)
        assert await fetch(p) == (200, b"ok")
        assert await fetch(p) == (200, b"ok")  # died on the reused connection, replayed on a fresh one
        assert server.connections == 2
        with pytest.raises(UpstreamError) as err:
            await fetch(p, "POST", body=b"{}")  # reused, dies: a POST is never replayed
        assert err.value.status == 502
        assert [d.split(b" ")[0] for d in dropped] == [b"GET", b"POST"]  # the POST was sent once, not replayed
        assert await fetch(p, "POST", body=b"{}") == (200, b"ok")  # on a fresh connection
        assert server.requests[-1][1] == b"{}"


async def test_pool_exhaustion_waits_for_a_free_connection_then_503():
    async def handler(reader, writer, server):
        while await server.read_request(reader):
            await asyncio.sleep(0.2)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async with raw_server(handler) as (server, url):
        p = pool(url, max_connections=2, max_idle=2, connect_timeout=2.0)
        results = await asyncio.gather(*(fetch(p) for _ in range(6)))
        assert results == [(200, b"ok")] * 6
        assert server.max_open == 2 and server.connections == 2  # queued requests got the freed connections
        assert p.stats == {"open": 2, "idle": 2, "waiting": 0}

        tight = pool(url, max_connections=1, max_idle=1, connect_timeout=0.1)
        first = asyncio.create_task(fetch(tight))
        await asyncio.sleep(0.02)
        with pytest.raises(UpstreamError) as err:
            await fetch(tight)  # the only connection is busy for 0.2 s, we wait 0.1 s
        assert err.value.status == 503 and "saturated" in err.value.detail
        assert await first == (200, b"ok")
        assert tight.stats == {"open": 1, "idle": 1, "waiting": 0}


async def test_failures_map_to_503_504_502():
    refused = pool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamError) as err:
        await fetch(refused)
    assert err.value.status == 503

    async def garbage(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"SMTP ready, not HTTP at all\r\n\r\n")

    async def silent(reader, writer, server):
        await server.read_request(reader)
        await asyncio.sleep(5)

    async def cut_midway(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")

    async with raw_server(garbage) as (_, url):
        with pytest.raises(UpstreamError) as err:
            await fetch(pool(url))
        assert err.value.status == 502
    async with raw_server(silent) as (_, url):
        with pytest.raises(UpstreamError) as err:
            await fetch(pool(url), read_timeout=0.2)
        assert err.value.status == 504
    async with raw_server(cut_midway) as (_, url):
        p = pool(url)
        resp = await p.request("GET", b"/x", [], read_timeout=2)
        assert resp.status == 200
        got = b""
        with pytest.raises(UpstreamError) as err:
            async for chunk in resp.chunks():
                got += chunk
        assert err.value.status == 502 and got == b"only ten b"
        await resp.aclose()
        assert p.stats["open"] == 0


async def test_head_and_streamed_bodies_against_uvicorn():
    up = Upstream("chat")
    async with serve_app(up.app, lifespan="off") as url:
        p = pool(url)
        status, body = await fetch(p, "HEAD")
        assert status == 200 and body == b""  # HEAD answers carry a Content-Length but no body

        async def parts():
            for i in range(20):
                yield bytes([65 + i]) * 10_000

        status, body = await fetch(p, "POST", b"/upload?q=1", parts())  # no length: chunked upstream
        assert status == 200
        seen = orjson.loads(body)
        assert seen["body_bytes"] == 200_000 and seen["query"] == "q=1"
        assert ["transfer-encoding", "chunked"] in seen["headers"]
        status, body = await fetch(p, "PUT", b"/upload", parts(), content_length=200_000)
        assert orjson.loads(body)["body_bytes"] == 200_000
        assert ["content-length", "200000"] in orjson.loads(body)["headers"]
        assert p.stats["open"] == 1  # every exchange above ran on one keep-alive connection
        await p.aclose()


async def test_through_the_gateway_connections_are_reused_and_garbage_is_502(stack, redis, upstreams, make_token):
    async def chunked(reader, writer, server):
        while await server.read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n")
            writer.write(b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n')

    async def garbage(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"\x00\x01 not http\r\n\r\n")

    auth = {"Authorization": f"Bearer {make_token()}"}
    async with raw_server(chunked) as (good, good_url), raw_server(garbage) as (_, bad_url):
        urls = {n: u for n, (_, u) in upstreams.items()} | {"search": good_url, "chat": bad_url}
        async with serve_gateway(stack, urls) as gw:
            for _ in range(5):
                r = await gw.get("/api/v1/search", headers=auth)
                assert r.status_code == 200 and r.json() == {"a": 1}
            assert good.connections == 1  # one keep-alive upstream connection served all five
            r = await gw.get("/api/v1/threads", headers=auth)
            assert r.status_code == 502
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "chat" in r.json()["detail"]
