"""A lean HTTP/1.1 client for the proxy hot path: one asyncio Protocol per keep-alive connection, `httptools`
(llhttp) for the answers, and a small LIFO pool per upstream with a maximum size.

Why not httpx: httpx/httpcore cost most of a proxied request's CPU (docs/benchmarks/gateway.md), and httpcore's
pool walks every pooled connection (with a select() per idle one) on each request. This client writes the request
head in one `transport.write`, parses with llhttp, and keeps connections in a list: acquire and release are O(1).

What it does:
- request bodies: `None`, `bytes` (sent with the head in one write), or an async iterator of chunks sent as they
  come (with `Content-Length` when the caller knows it, else `Transfer-Encoding: chunked`), waiting for the socket
  to drain between chunks, so a slow upstream slows the client instead of filling memory;
- answers: the head (status, raw headers) and then the body chunk by chunk (chunked answers are decoded, answers
  without length end at EOF); reading pauses when more than `_HIGH_WATER` bytes are waiting for the consumer;
- keep-alive: a connection goes back to the pool only when its answer was read to the end, the request body was
  sent completely and both sides allow keep-alive; idle connections older than `idle_seconds` are closed (keep it
  below the upstream's own keep-alive timeout: uvicorn's is 5 s), and a connection the upstream closed is
  noticed by `connection_lost` and dropped;
- a reused connection that dies before any byte of the answer (the upstream closed it just as we sent) is retried
  once on a fresh connection when the request can be replayed safely (idempotent method, body not streamed);
- failures, as `UpstreamError(status, detail)`: connection refused / connect timeout / no free connection within
  the connect timeout -> 503, no answer (or no next chunk) within the read timeout -> 504, garbage or a connection
  dropped before the answer -> 502.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

_HIGH_WATER = 256 * 1024  # answer bytes buffered before we stop reading the upstream socket
_LOW_WATER = 64 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UpstreamError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Closed(Exception):
    """The connection ended before the answer did."""


class _Connection(asyncio.Protocol):
    __slots__ = (
        "transport",
        "loop",
        "parser",
        "head",
        "status",
        "headers",
        "framed",
        "chunks",
        "buffered",
        "done",
        "error",
        "got_bytes",
        "waiter",
        "closed",
        "paused_reading",
        "write_paused",
        "drain_waiter",
        "head_only",
        "idle_since",
        "requests",
        "incomplete",
        "keep_alive",
        "pool",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: UpstreamPool) -> None:
        self.loop = loop
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        self.paused_reading = False
        self.idle_since = 0.0
        self.requests = 0
        self.waiter: asyncio.Future | None = None
        self._reset(head_only=False)
        self.parser = None  # set per request

    # ------------------------------------------------------------------ per request state
    def _reset(self, *, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.framed = False  # Content-Length or chunked: EOF before the end is an error
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.done = False
        self.error: BaseException | None = None
        self.got_bytes = False
        self.head_only = head_only
        self.incomplete = False  # the request body was not sent whole: never reuse
        self.keep_alive = False

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.done or self.error is not None:
            # bytes nobody asked for (after the answer ended): the connection is out of step, never reuse it
            self.error = self.error or _Closed("unexpected data from upstream")
            self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self.transport.close()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._lost(self)
        if not self.done and self.error is None:
            if self.head and not self.framed:
                self.done = True  # an answer delimited by EOF ends here
            else:
                self.error = exc or _Closed("upstream closed the connection")
        self._wake()
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    # ------------------------------------------------------------------ httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []  # an interim answer (100 Continue, 103 Early Hints): wait for the real one
            return
        self.status = status
        self.head = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message completes
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"content-length" or (lname == b"transfer-encoding" and b"chunked" in value.lower()):
                self.framed = True
                break
        if self.head_only or status in (204, 304):
            self.done = True
            self.framed = True

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused_reading and not self.closed:
            self.paused_reading = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.status:  # interim answers complete too; only the final one ends the exchange
            self.done = True

    # ------------------------------------------------------------------ used by the pool / response
    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _wait(self, timeout: float) -> None:
        """Until the protocol wakes us; TimeoutError after `timeout` (one timer handle, not an asyncio.timeout)."""
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    async def drain(self, timeout: float) -> None:
        if self.write_paused and not self.closed:
            self.drain_waiter = self.loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self.drain_waiter
            finally:
                self.drain_waiter = None
        if self.closed:
            raise _Closed("upstream closed the connection")

    def take(self) -> bytes:
        chunk = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused_reading and not self.closed:
            self.paused_reading = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return self.done and self.error is None and not self.incomplete and not self.closed and self.keep_alive


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class UpstreamResponse:
    """A started answer: `status`, raw `headers`, then `chunks()`; `aclose()` returns or drops the connection."""

    __slots__ = ("_conn", "_pool", "_read_timeout", "_released", "headers", "name", "status")

    def __init__(self, pool: UpstreamPool, conn: _Connection, read_timeout: float) -> None:
        self._pool = pool
        self._conn = conn
        self._read_timeout = read_timeout
        self._released = False
        self.status = conn.status
        self.headers = conn.headers
        self.name = pool.name

    def complete_body(self) -> bytes | None:
        """The whole body when it has already arrived (the common small answer), releasing the connection; else
        None and nothing is consumed (read it with `chunks()`)."""
        conn = self._conn
        if not conn.done or conn.error is not None:
            return None
        body = conn.take() if conn.chunks else b""
        self.release()
        return body

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises UpstreamError if the upstream breaks or stalls in the middle."""
        conn = self._conn
        while True:
            if conn.chunks:
                yield conn.take()
                continue
            if conn.done:
                break
            if conn.error is not None:
                raise UpstreamError(502, f"the {self.name} service broke the answer: {type(conn.error).__name__}")
            try:
                await conn._wait(self._read_timeout)
            except TimeoutError:
                raise UpstreamError(504, f"the {self.name} service stalled mid-answer") from None
        self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._conn)

    async def aclose(self) -> None:
        self.release()


class UpstreamPool:
    """Keep-alive connections to one upstream (`http://host:port`), at most `max_connections` at a time."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        max_connections: int,
        max_idle: int,
        connect_timeout: float,
        idle_seconds: float = 4.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"upstream {name}: only http(s) URLs are supported, not {url!r}")
        self.name = name
        self.url = url.rstrip("/")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/").encode()
        default_port = self.port == (443 if self.ssl else 80)
        self.host_header = (parts.hostname if default_port else f"{parts.hostname}:{self.port}").encode()
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.idle_seconds = idle_seconds
        self._idle: list[_Connection] = []
        self._open = 0  # connections in use or idle
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._closing = False

    # ------------------------------------------------------------------ pool
    @property
    def stats(self) -> dict[str, int]:
        return {"open": self._open, "idle": len(self._idle), "waiting": len(self._waiters)}

    async def _acquire(self) -> tuple[_Connection, bool]:
        """(connection, reused); raises UpstreamError(503) when none is free within the connect timeout."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.idle_seconds:
                return conn, True
            self._drop(conn)
        if self._open >= self.max_connections:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    conn = await fut
            except BaseException as exc:
                if fut.done() and not fut.cancelled():
                    handed = fut.result()  # handed over just as we gave up: pass it on
                    if handed is not None:
                        self._release(handed)
                    else:
                        self._wake_waiter()
                elif fut in self._waiters:
                    self._waiters.remove(fut)
                if isinstance(exc, TimeoutError):
                    raise UpstreamError(503, f"the {self.name} service is saturated (no free connection)") from None
                raise
            if conn is not None:
                return conn, True
            # a slot was freed (a connection was dropped): open our own below
        self._open += 1
        try:
            return await self._connect(), False
        except BaseException:
            self._open -= 1
            self._wake_waiter()
            raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self), self.host, self.port, ssl=self.ssl or None
                )
        except TimeoutError:
            raise UpstreamError(503, f"the {self.name} service is not reachable (connect timeout)") from None
        except OSError:
            raise UpstreamError(503, f"the {self.name} service is unavailable") from None
        return conn

    def _release(self, conn: _Connection) -> None:
        if not conn.reusable or self._closing:
            self._drop(conn)
            return
        conn.waiter = None
        while self._waiters:  # hand it straight to someone waiting
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        if len(self._idle) >= self.max_idle:
            self._drop(conn)
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def _lost(self, conn: _Connection) -> None:
        """The upstream closed a connection: an idle one leaves the pool at once (a busy one when released)."""
        try:
            self._idle.remove(conn)
        except ValueError:
            return
        self._open -= 1
        self._wake_waiter()

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open -= 1
        self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # a slot is free: open a connection
                return

    async def aclose(self) -> None:
        self._closing = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    # ------------------------------------------------------------------ requests
    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        read_timeout: float,
    ) -> UpstreamResponse:
        """Send a request and wait for the head of the answer. `headers` must not hold Host or framing headers."""
        replayable = not (body is not None and not isinstance(body, bytes | bytearray))
        retry = replayable and method in _IDEMPOTENT
        while True:
            conn, reused = await self._acquire()
            try:
                return await self._exchange(conn, method, target, headers, body, content_length, read_timeout)
            except _Retry:
                self._drop(conn)
                if not (reused and retry):
                    raise UpstreamError(502, f"the {self.name} service closed the connection") from None
                retry = False  # once, on a fresh connection
            except BaseException:
                self._drop(conn)
                raise

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body,
        content_length: int | None,
        read_timeout: float,
    ) -> UpstreamResponse:
        conn._reset(head_only=method == "HEAD")
        conn.requests += 1
        lines = [method.encode(), b" ", self.prefix + target, b" HTTP/1.1\r\nhost: ", self.host_header, b"\r\n"]
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        streamed = body is not None and not isinstance(body, bytes | bytearray)
        if streamed:
            if content_length is None:
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                lines += (b"content-length: ", str(content_length).encode(), b"\r\n")
        elif body:
            lines += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        elif method in _BODY_METHODS:
            lines.append(b"content-length: 0\r\n")
        lines.append(b"\r\n")
        if not streamed and body:
            lines.append(body)
        if conn.closed:
            raise _Retry
        conn.transport.write(b"".join(lines))
        if streamed:
            await self._send_body(conn, body, content_length, read_timeout)
        while not conn.head:
            if conn.error is not None:
                if not conn.got_bytes and isinstance(conn.error, _Closed | ConnectionError):
                    raise _Retry
                raise UpstreamError(502, f"the {self.name} service answered garbage ({type(conn.error).__name__})")
            if conn.closed:
                raise _Retry if not conn.got_bytes else UpstreamError(502, f"the {self.name} service hung up")
            try:
                await conn._wait(read_timeout)
            except TimeoutError:
                raise UpstreamError(504, f"the {self.name} service did not answer in time") from None
        return UpstreamResponse(self, conn, read_timeout)

    async def _send_body(self, conn: _Connection, body, content_length: int | None, timeout: float) -> None:
        chunked = content_length is None
        sent = 0
        try:
            async for chunk in body:
                if not chunk:
                    continue
                if conn.head or conn.closed:
                    break  # the upstream answered (or hung up) before taking it all: stop sending
                sent += len(chunk)
                if chunked:
                    conn.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                else:
                    conn.transport.write(chunk)
                await conn.drain(timeout)
            else:
                if chunked and not conn.closed:
                    conn.transport.write(b"0\r\n\r\n")
                return
        except TimeoutError:
            raise UpstreamError(504, f"the {self.name} service stopped reading the request body") from None
        except (_Closed, ConnectionError):
            if not conn.head:
                raise UpstreamError(502, f"the {self.name} service hung up while receiving the body") from None
        # The answer came early: the body is incomplete, so the connection can never be reused.
        conn.incomplete = True
        if not conn.head:
            raise UpstreamError(502, f"the {self.name} service hung up while receiving the body")


class _Retry(Exception):
    """The connection died before any byte of the answer."""
