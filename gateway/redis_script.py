"""One Lua script called over one pipelined Redis connection: the rate limiter's hot path.

redis-py's asyncio client spent a large share of the rate limiter's CPU per EVALSHA (pool checkout, command
packing, reply parsing in Python; docs/benchmarks/gateway.md). This speaks RESP2 directly on an asyncio Protocol:
concurrent callers write their EVALSHA on the same connection and get their replies in order (Redis answers one
connection FIFO). A reply that does not come within the timeout closes the connection (it is out of step) and
raises TimeoutError; the next call reconnects.
`NOSCRIPT` (a restarted Redis) is answered by one EVAL that loads the script again.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl as ssl_module
from urllib.parse import unquote, urlsplit


class RedisReplyError(Exception):
    pass


_INCOMPLETE = object()


def _parse(buf: bytearray, pos: int):
    """(reply, next position) or (_INCOMPLETE, pos)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    nxt = end + 2
    if kind == 43:  # +
        return line, nxt
    if kind == 45:  # -
        return RedisReplyError(line.decode("utf-8", "replace")), nxt
    if kind == 58:  # :
        return int(line), nxt
    if kind == 36:  # $
        size = int(line)
        if size < 0:
            return None, nxt
        if len(buf) < nxt + size + 2:
            return _INCOMPLETE, pos
        return bytes(buf[nxt : nxt + size]), nxt + size + 2
    if kind == 42:  # *
        count = int(line)
        if count < 0:
            return None, nxt
        items = []
        for _ in range(count):
            item, nxt = _parse(buf, nxt)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, nxt
    raise RedisReplyError(f"unexpected RESP type byte {kind!r}")


def _command(*parts: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Resp(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        pos = 0
        try:
            while self.waiters:
                reply, pos2 = _parse(self.buf, pos)
                if reply is _INCOMPLETE:
                    break
                pos = pos2
                fut = self.waiters.popleft()
                if not fut.done():
                    fut.set_result(reply)
        except (RedisReplyError, ValueError) as exc:
            self._fail(ConnectionError(f"bad reply from Redis: {exc}"))
            self.transport.close()
            return
        del self.buf[:pos]

    def connection_lost(self, exc) -> None:
        self._fail(ConnectionError("Redis connection lost"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future:
        if self.closed:
            raise ConnectionError("Redis connection closed")
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        self.transport.write(data)
        return fut


class RedisScript:
    """`await script(keys, args)` -> the script's reply; raises ConnectionError / TimeoutError / RedisReplyError."""

    def __init__(self, url: str, source: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.ssl = ssl_module.create_default_context() if parts.scheme == "rediss" else None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.db = int(parts.path.strip("/") or 0)
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()
        self.timeout = timeout
        self._conn: _Resp | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connection(self) -> _Resp:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.timeout):
                _, conn = await loop.create_connection(_Resp, self.host, self.port, ssl=self.ssl)
                setup = []
                if self.password is not None:
                    auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                    setup.append(conn.send(_command(*auth)))
                if self.db:
                    setup.append(conn.send(_command("SELECT", self.db)))
                for reply in await asyncio.gather(*setup):
                    if isinstance(reply, RedisReplyError):
                        conn.transport.close()
                        raise reply
            self._conn = conn
            return conn

    async def __call__(self, keys: list[str], args: list[int | str]):
        conn = await self._connection()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await conn.send(_command(b"EVALSHA", self.sha, len(keys), *keys, *args))
                if isinstance(reply, RedisReplyError) and str(reply).startswith("NOSCRIPT"):
                    reply = await conn.send(_command(b"EVAL", self.source, len(keys), *keys, *args))
        except TimeoutError:
            conn.transport.close()  # a late reply would be taken for the next caller's
            raise
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def aclose(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
