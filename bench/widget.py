"""Web chat visitor streams held open through the gateway: how many, memory per idle stream, answer-to-visitor latency.

Starts its own embedded Postgres + Redis (temp dir, every schema migrated), ONE channels API process and ONE gateway
process (uvicorn, uvloop + httptools, as in production) and the channels worker. One web channel, N visitor sessions
(POST /api/v1/widget/sessions through the gateway), then N SSE streams (GET /api/v1/widget/stream) opened through
the gateway and held; the client is raw asyncio sockets in this process (no httpx per stream).

1. Streams: how many opened (200 and stayed open) out of N.
2. Memory per idle stream: RSS of the gateway + the channels API once the N streams are open and idle, minus
   their RSS before (after a warm-up of a few streams opened and closed), divided by N.
3. Answer-to-visitor latency, one answer at a time on streams picked across the N (all held open meanwhile):
   - "stored answer": from XADD of the answer's chat.outbound.v1 event (what chat emits once the answer is stored)
     to the SSE `message` event read at the client: the worker's consumer, the delivery record, the transcript
     append + PUBLISH, the API's hub, the SSE response and the gateway's relay;
   - "fan-out only": from the transcript append (the web provider's send) to the client.

`make bench-widget` or `python -m bench.widget [--streams 2000] [--samples 200]`; results in
docs/benchmarks/widget.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import redis.asyncio as aioredis
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.webhooks import HOST, Procs, pct, uvicorn_cmd, wait_http
from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from services.channels.web.transcript import Transcript, conversation
from shared.crypto import SecretBox
from shared.events.chat import OUTBOUND_REPLY, OutboundReply
from shared.migrations import upgrade_all

ORIGIN = "https://bench.shop.example"
SECRETS_KEY = "bench-secrets-key"


def raise_nofile(want: int) -> int:
    """Open files for this process and the servers it starts (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Stream:
    """One visitor's SSE stream on a raw socket: a reader task that notes when each `message` event arrives."""

    def __init__(self, token: str, conv: str) -> None:
        self.token = token
        self.conv = conv
        self.arrived: dict[str, float] = {}  # content -> perf_counter at the client
        self.waiter: asyncio.Future | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None

    async def open(self, port: int) -> bool:
        reader, self.writer = await asyncio.open_connection(HOST, port)
        self.writer.write(
            f"GET /api/v1/widget/stream?token={self.token} HTTP/1.1\r\nHost: {HOST}\r\nOrigin: {ORIGIN}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            self.writer.close()
            return False
        self.task = asyncio.create_task(self._read(reader, b"transfer-encoding: chunked" in head.lower()))
        return True

    async def _read(self, reader: asyncio.StreamReader, chunked: bool) -> None:
        buffer = b""
        try:
            while True:
                if chunked:
                    size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        return
                    data = (await reader.readexactly(size + 2))[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    event, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._event(event)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return

    def _event(self, raw: bytes) -> None:
        now = time.perf_counter()
        for line in raw.split(b"\r\n"):
            if line.startswith(b"data: ") and line != b"data: {}":
                content = orjson.loads(line[6:]).get("content", "")
                self.arrived[content] = now
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(content)

    async def wait_for(self, content: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while content not in self.arrived:
            self.waiter = asyncio.get_running_loop().create_future()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self.waiter, left)
            except TimeoutError:
                return None
        return self.arrived[content]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


async def setup_channel(db_url: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    tenant_id, channel_id, key = uuid.uuid4(), uuid.uuid4(), f"wk_bench{uuid.uuid4().hex}"
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO channels.channel (id, tenant_id, type, name, credentials_encrypted, settings, public_key)"
                " VALUES (:id, :t, 'web', 'bench', :c, CAST(:s AS jsonb), :k)"
            ),
            {"id": channel_id, "t": tenant_id, "c": SecretBox(SECRETS_KEY).encrypt("{}"), "k": key,
             "s": orjson.dumps({"allowed_origins": [ORIGIN], "buffer_enabled": False}).decode()},
        )  # fmt: skip
    await engine.dispose()
    return tenant_id, channel_id, key


async def sessions(gw: str, key: str, n: int, concurrency: int = 32) -> list[tuple[str, str]]:
    """(visitor token, visitor id) of `n` new visitors."""
    out: list[tuple[str, str]] = []
    queue = iter(range(n))
    async with httpx.AsyncClient(base_url=gw, timeout=30) as client:

        async def worker() -> None:
            for _ in queue:
                r = await client.post("/api/v1/widget/sessions", json={"public_key": key}, headers={"Origin": ORIGIN})
                r.raise_for_status()
                out.append((r.json()["visitor_token"], r.json()["visitor_id"]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def open_all(streams: list[Stream], port: int, concurrency: int = 64) -> int:
    queue = iter(streams)
    opened = 0

    async def worker() -> None:
        nonlocal opened
        for stream in queue:
            try:
                ok = await stream.open(port)
                opened += ok
            except OSError as exc:
                print(f"  open failed: {exc}", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return opened


async def wait_group(redis, stream: str, group: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(g["name"].decode() == group for g in await redis.xinfo_groups(stream)):
                return
        except aioredis.ResponseError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no consumer group {group} on {stream}")


async def latencies(args, streams: list[Stream], redis, tenant_id, channel_id) -> dict[str, list[float]]:
    transcript = Transcript(redis)
    step = max(1, len(streams) // args.samples)
    picked = [streams[(i * step) % len(streams)] for i in range(args.samples)]
    out: dict[str, list[float]] = {"stored answer": [], "fan-out only": []}
    lost = {"stored answer": 0, "fan-out only": 0}
    for i, stream in enumerate(picked):
        for kind in out:
            content = f"bench {kind} {i}"
            started = time.perf_counter()
            if kind == "stored answer":
                reply = OutboundReply(
                    message_id=uuid.uuid4(), channel="web", channel_id=channel_id, recipient=stream.conv,
                    role="assistant", text=content,
                )  # fmt: skip
                env = OUTBOUND_REPLY.envelope(reply, idempotency_key=f"bench:{uuid.uuid4()}", tenant_id=tenant_id)
                await redis.xadd(OUTBOUND_REPLY.stream, env.to_fields())
            else:
                await transcript.append(stream.conv, "assistant", content, datetime.now(UTC))
            arrived = await stream.wait_for(content, 10)
            if arrived is None:
                lost[kind] += 1
            else:
                out[kind].append((arrived - started) * 1000)
            await asyncio.sleep(args.gap)
    for kind, n in lost.items():
        if n:
            print(f"  {kind}: {n} answers did not arrive within 10 s", flush=True)
    return out


async def run(args, db_url: str, redis_url: str, logdir: Path) -> None:
    from tests.support.keys import TestKeys

    procs = Procs(logdir)
    ch_port, gw_port = free_port(), free_port()
    env = os.environ | {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRETS_KEY": SECRETS_KEY,
        "JWKS_JSON": TestKeys.generate().jwks_json,
        "AUTH_URL": "",
        "LOG_LEVEL": "WARNING",
        "CHANNELS_WIDGET_VISITOR_LIMIT": "",
        "GATEWAY_CHANNELS_UPSTREAM": f"http://{HOST}:{ch_port}",
        "GATEWAY_RATE_LIMITS_ENABLED": "false",
        "EVENTS_RELAY_INTERVAL_MS": "20",
    }
    tenant_id, channel_id, key = await setup_channel(db_url)
    redis = aioredis.from_url(redis_url)
    try:
        channels = procs.start("channels", uvicorn_cmd("services.channels.main:app", ch_port), env)
        gateway = procs.start("gateway", uvicorn_cmd("gateway.main:app", gw_port), env)
        procs.start("worker", [sys.executable, "-m", "services.channels.worker"], env)
        wait_http(f"http://{HOST}:{ch_port}/health", channels)
        wait_http(f"http://{HOST}:{gw_port}/health", gateway)
        gw = f"http://{HOST}:{gw_port}"
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()}, open files {args.nofile}", flush=True)
        visitors = await sessions(gw, key, args.streams)
        streams = [Stream(token, conversation(channel_id, vid)) for token, vid in visitors]
        warm = [Stream(token, conversation(channel_id, vid)) for token, vid in visitors[:20]]
        await open_all(warm, gw_port)
        await asyncio.sleep(1)
        for s in warm:
            await s.close()
        await asyncio.sleep(3)
        before_ch, before_gw = rss_kib(channels.pid), rss_kib(gateway.pid)
        before = before_ch + before_gw
        started = time.perf_counter()
        opened = await open_all(streams, gw_port)
        open_seconds = time.perf_counter() - started
        await asyncio.sleep(args.settle)
        after_ch, after_gw = rss_kib(channels.pid), rss_kib(gateway.pid)
        after = after_ch + after_gw
        per_stream = (after - before) / max(opened, 1)
        alive = sum(1 for s in streams if s.task is not None and not s.task.done())
        await wait_group(redis, OUTBOUND_REPLY.stream, "channels")
        lat = await latencies(args, [s for s in streams if s.task is not None], redis, tenant_id, channel_id)
        still = sum(1 for s in streams if s.task is not None and not s.task.done())
        print(f"\nload average at the end: {os.getloadavg()}")
        print("\n| measure | value | target |")
        print("|---|---|---|")
        print(f"| streams opened through the gateway (in {open_seconds:.1f} s) | {opened} / {args.streams} | 2,000 |")
        print(f"| streams open after {args.settle:.0f} s idle / after the latency run | {alive} / {still} | all |")
        mib = f"{before / 1024:.1f} / {after / 1024:.1f} MiB"
        print(f"| RSS gateway + channels API, before / with the streams | {mib} | |")
        print(f"| memory per idle stream (RSS delta / streams) | {per_stream:.1f} kB | <= 50 kB |")
        n = max(opened, 1)
        split = f"{(after_gw - before_gw) / n:.1f} / {(after_ch - before_ch) / n:.1f} kB"
        print(f"| of which the gateway / the channels API | {split} | |")
        for kind, values in lat.items():
            target = " | p50 <= 50 ms, p99 <= 200 ms |" if kind == "stored answer" else " | |"
            print(
                f"| {kind} -> SSE at the client, p50 / p99 / max ({len(values)} answers) | "
                f"{pct(values, 0.5):.1f} / {pct(values, 0.99):.1f} / {max(values, default=float('nan')):.1f} ms"
                + target
            )
        for s in streams:
            await s.close()
    finally:
        await redis.aclose()
        procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000, help="visitor streams held open at once")
    parser.add_argument("--samples", type=int, default=200, help="answers timed (each path)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between two timed answers")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds the streams stay idle before measuring")
    args = parser.parse_args()
    args.nofile = raise_nofile(args.streams * 4 + 1024)
    base = Path(tempfile.mkdtemp(prefix="bench-widget-"))
    os.environ.setdefault("PG_FAST", "1")
    pg = EmbeddedPostgres(base / "pg", port=free_port()).start()
    rd = EmbeddedRedis(base / "redis", port=free_port()).start()
    try:
        upgrade_all(pg.url)
        print(f"logs in {base}")
        uvloop.run(run(args, pg.url, rd.url, base))
    finally:
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
