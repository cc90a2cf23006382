"""Soak: the pipeline under moderate mixed load for a long time; resources must stay flat, p99 stable.

Starts its own embedded Postgres + Redis (temp dir, every schema migrated), the OpenAI-protocol and Twilio
stand-ins, the channels API, the chat API, and the channels and chat workers (the same processes and settings
as `bench/webhooks.py`, whose pieces it reuses), then for `--minutes` (default 30) sends:

- signed Twilio webhooks at `--webhooks-per-s` from a fixed pool of `--conversations` customers, so threads
  grow long (history trimming, buffer windows) instead of each message making a new thread; half the customers
  write to a channel with the buffer on (`--buffer-seconds`), half to one with the buffer off; `--replay`
  of them are delivered twice, as Twilio retries do;
- REST reads on the chat API at `--reads-per-s` (list threads, a thread's messages, metrics) with a tenant JWT.

Every `--interval` seconds it samples, per process, USS (unique set size of the process tree) and open file
descriptors; Redis `used_memory` and the length of every stream (EVENTS_STREAM_MAXLEN is set to `--stream-maxlen`,
2,000, so the cap is reached within minutes and its trimming is what the run shows); and the window's p50/p99 of
webhook acks and of API reads. At the end it drains (bounded), checks that every accepted webhook is one stored
chat message (0 lost, 0 duplicated), that the Twilio stand-in got exactly one send per answer the chat stored, that
every DLQ is empty, and prints the table and a verdict: growth from the first to the last third of the run (after
`--warmup`).

`make soak` (30 minutes) or `python -m bench.soak --minutes 5 --interval 15`. Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import redis.asyncio as aioredis
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from twilio.request_validator import RequestValidator

from bench.webhooks import (
    FROM_NUMBER,
    HOST,
    PUBLIC_BASE,
    SECRETS_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    Procs,
    _exchange,
    pct,
    stack_env,
    start_workers,
    uvicorn_cmd,
    wait_http,
)
from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.migrations import upgrade_all


def uss_mib(pid: int) -> float:
    """Unique set size of a process tree (Private_Clean + Private_Dirty): the memory only that process holds, which
    is what a leak grows. RSS counts shared pages (Postgres' shared buffers) once per process, and PSS moves whenever
    another process mapping the same libraries starts or exits: neither is flat on a shared machine."""
    from bench.webhooks import _tree

    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def open_fds(pid: int) -> int:
    from bench.webhooks import _tree

    total = 0
    for p in _tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return total


async def make_channel(db_url: str, tenant_id: uuid.UUID, name: str, settings: dict) -> uuid.UUID:
    from services.channels.configs.schemas import ChannelCreate
    from services.channels.configs.service import ChannelService
    from shared.crypto import SecretBox
    from shared.db import create_sessionmaker

    engine = create_async_engine(db_url)
    async with create_sessionmaker(engine)() as session:
        channel = await ChannelService(session, SecretBox(SECRETS_KEY)).create(
            tenant_id,
            ChannelCreate(
                type="whatsapp_twilio",
                name=name,
                credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": FROM_NUMBER},
                settings=settings,
            ),
        )
        await session.commit()
    await engine.dispose()
    return channel.id


class Webhooks:
    """Signed webhooks from a fixed pool of customers over two channels (buffer on / off)."""

    def __init__(self, port: int, channels: list[uuid.UUID], conversations: int) -> None:
        self.port = port
        self.validator = RequestValidator(TWILIO_TOKEN)
        self.customers = [(channels[i % len(channels)], f"whatsapp:+5511{i:09d}") for i in range(conversations)]
        self.seq = 0
        self.accepted: set[str] = set()
        self.ack: list[float] = []
        self.bad: dict[str, int] = {}

    def build(self) -> tuple[str, bytes]:
        self.seq += 1
        channel, sender = random.choice(self.customers)
        sid = f"SMsoak{self.seq:012d}"
        path = f"/webhooks/twilio/{channel}"
        form = {
            "MessageSid": sid, "SmsMessageSid": sid, "AccountSid": TWILIO_SID, "From": sender, "To": FROM_NUMBER,
            "Body": f"Mensagem {self.seq}: o pedido chega hoje?", "NumMedia": "0", "NumSegments": "1",
            "ProfileName": "Cliente", "WaId": sender.removeprefix("whatsapp:+"), "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        body = urlencode(form).encode()
        sig = self.validator.compute_signature(PUBLIC_BASE + path, form)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {sig}\r\nUser-Agent: TwilioProxy/1.1\r\n\r\n"
        )
        return sid, head.encode() + body

    async def send(self, sid: str, raw: bytes, retries: int = 5) -> None:
        """One delivery as Twilio makes it: retried on a connection error or non-2xx, with a short backoff."""
        for attempt in range(retries):
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port)
                try:
                    status = await asyncio.wait_for(_exchange(reader, writer, raw), 15)
                finally:
                    writer.close()
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                self.bad[type(exc).__name__] = self.bad.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            self.ack.append(time.perf_counter() - started)
            if 200 <= status < 300:
                self.accepted.add(sid)
                return
            self.bad[str(status)] = self.bad.get(str(status), 0) + 1
            await asyncio.sleep(0.2 * (attempt + 1))


class Reads:
    """REST reads a console would make, on the chat API, with a tenant admin's JWT."""

    def __init__(self, port: int, token: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        self.lat: list[float] = []
        self.bad: dict[str, int] = {}
        self.threads: list[str] = []

    async def one(self) -> None:
        choice = random.random()
        if choice < 0.4 or not self.threads:
            path = "/api/v1/threads?limit=50"
        elif choice < 0.85:
            path = f"/api/v1/threads/{random.choice(self.threads)}/messages?limit=50"
        else:
            path = "/api/v1/metrics"
        started = time.perf_counter()
        try:
            r = await self.http.get(path)
        except httpx.HTTPError as exc:
            self.bad[type(exc).__name__] = self.bad.get(type(exc).__name__, 0) + 1
            return
        self.lat.append(time.perf_counter() - started)
        if r.status_code != 200:
            self.bad[str(r.status_code)] = self.bad.get(str(r.status_code), 0) + 1
        elif path.startswith("/api/v1/threads?"):
            items = r.json().get("items") or r.json().get("data") or []
            self.threads = [t["id"] for t in items if "id" in t][:50] or self.threads


class Deadline:
    """When the load stops (monotonic seconds); Ctrl-C moves it to now, so an interrupted run still reports."""

    def __init__(self, at: float) -> None:
        self.at = at

    def left(self) -> float:
        return self.at - time.monotonic()

    def stop_now(self) -> None:
        print("\ninterrupted: stopping the load, then the report (Ctrl-C again to abort)", flush=True)
        self.at = time.monotonic()
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)  # back to KeyboardInterrupt


async def paced(rate: float, stop: Deadline, make) -> None:
    """Start `make()` `rate` times a second until the deadline, never waiting on one to finish."""
    if rate <= 0:
        return
    tasks: set[asyncio.Task] = set()
    gap = 1.0 / rate
    nxt = time.monotonic()
    while (now := time.monotonic()) < stop.at:
        if now < nxt:
            await asyncio.sleep(nxt - now)
            continue
        nxt += gap
        task = asyncio.create_task(make())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)


async def streams(redis: aioredis.Redis) -> dict[str, int]:
    out = {}
    async for key in redis.scan_iter(_type="STREAM", count=1000):
        name = key.decode()
        out[name] = await redis.xlen(name)
    return out


async def sample(procs: Procs, redis: aioredis.Redis, engine, tenant_id, hooks: Webhooks, reads: Reads, t0: float):
    pids = {name: p.pid for name, p in procs.running.items()} | procs.extra
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT count(*) FROM chat.message WHERE tenant_id = :t AND role = 'user'"), {"t": tenant_id}
            )
        ).scalar_one()
    info = await redis.info("memory")
    lens = await streams(redis)
    ack, lat = hooks.ack, reads.lat
    hooks.ack, reads.lat = [], []
    return {
        "t": time.monotonic() - t0,
        "uss": {n: uss_mib(p) for n, p in pids.items()},
        "fds": {n: open_fds(p) for n, p in pids.items()},
        "redis_mib": info["used_memory"] / 2**20,
        "streams": lens,
        "ack_n": len(ack),
        "ack_p50": pct(ack, 0.5) * 1000,
        "ack_p99": pct(ack, 0.99) * 1000,
        "read_n": len(lat),
        "read_p50": pct(lat, 0.5) * 1000,
        "read_p99": pct(lat, 0.99) * 1000,
        "behind": len(hooks.accepted) - stored,
        "load": os.getloadavg()[0],
    }


SHOW = ("channels-api", "chat-api", "channels-worker", "chat-worker", "postgres", "redis")


def print_sample(s: dict, header: bool) -> None:
    if header:
        names = " ".join(f"{n[:15]:>15}" for n in SHOW)
        print(
            f"{'t min':>5} | USS MiB / fds: {names} | {'redis MiB':>9} {'max stream':>10} | {'acks':>5} "
            f"{'ack p50':>7} {'ack p99':>7} | {'reads':>5} {'read p50':>8} {'read p99':>8} | behind | load"
        )
    cells = " ".join(f"{s['uss'].get(n, 0):>9.0f}/{s['fds'].get(n, 0):<5}" for n in SHOW)
    longest = max(s["streams"].values(), default=0)
    print(
        f"{s['t'] / 60:>5.1f} | {'':>14} {cells} | {s['redis_mib']:>9.1f} {longest:>10} | {s['ack_n']:>5} "
        f"{s['ack_p50']:>7.1f} {s['ack_p99']:>7.1f} | {s['read_n']:>5} {s['read_p50']:>8.1f} {s['read_p99']:>8.1f} "
        f"| {s['behind']:>6} | {s['load']:.1f}",
        flush=True,
    )


def verdict(samples: list[dict], warmup: float) -> list[str]:
    """Growth from the first third to the last third of the samples taken after the warm-up."""
    steady = [s for s in samples if s["t"] >= warmup]
    if len(steady) < 3:
        return ["too few samples after the warm-up for a verdict"]
    k = max(1, len(steady) // 3)
    first, last = steady[:k], steady[-k:]

    def mean(rows, f):
        return statistics.mean(f(r) for r in rows)

    lines = []
    for n in SHOW:
        a, b = mean(first, lambda r, n=n: r["uss"].get(n, 0)), mean(last, lambda r, n=n: r["uss"].get(n, 0))
        fa, fb = mean(first, lambda r, n=n: r["fds"].get(n, 0)), mean(last, lambda r, n=n: r["fds"].get(n, 0))
        lines.append(f"{n:>15}: USS {a:7.1f} -> {b:7.1f} MiB ({(b - a) / a * 100 if a else 0:+5.1f} %), "
                     f"fds {fa:6.1f} -> {fb:6.1f}")  # fmt: skip
    ra, rb = mean(first, lambda r: r["redis_mib"]), mean(last, lambda r: r["redis_mib"])
    lines.append(f"{'redis memory':>15}: {ra:.1f} -> {rb:.1f} MiB")
    sa = mean(first, lambda r: max(r["streams"].values(), default=0))
    sb = mean(last, lambda r: max(r["streams"].values(), default=0))
    lines.append(f"{'longest stream':>15}: {sa:.0f} -> {sb:.0f} entries")
    ba, bb = mean(first, lambda r: r["behind"]), mean(last, lambda r: r["behind"])
    lines.append(f"{'backlog':>15}: {ba:.0f} -> {bb:.0f} accepted messages not yet in chat")
    for key in ("ack_p99", "read_p99"):
        a, b = mean(first, lambda r, key=key: r[key]), mean(last, lambda r, key=key: r[key])
        lines.append(f"{key:>15}: {a:.1f} -> {b:.1f} ms (mean of the windows' p99)")
    return lines


async def check(db_url: str, redis: aioredis.Redis, tenant_id: uuid.UUID, hooks: Webhooks, tw_port: int,
                timeout: float) -> list[str]:  # fmt: skip
    """Bounded drain, then: every accepted webhook one chat message; one send per stored answer; DLQs empty."""
    engine = create_async_engine(db_url, pool_size=2)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                async with engine.connect() as conn:
                    rows, distinct = (
                        await conn.execute(
                            text(
                                "SELECT count(*), count(DISTINCT m.external_id) FROM chat.message m "
                                "JOIN channels.inbound_message i ON m.external_id = 'inbound:' || i.id::text "
                                "WHERE m.tenant_id = :t AND m.role = 'user' AND i.provider_message_id LIKE 'SMsoak%'"
                            ),
                            {"t": tenant_id},
                        )
                    ).one()
                    answers = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM chat.message WHERE tenant_id = :t AND role = 'assistant' "
                                "AND NOT incomplete"
                            ),
                            {"t": tenant_id},
                        )
                    ).scalar_one()
                sends = len((await http.get(f"http://{HOST}:{tw_port}/_bench/sends")).json()["sends"])
                if (distinct >= len(hooks.accepted) and sends >= answers) or time.monotonic() - started > timeout:
                    break
                await asyncio.sleep(1)
    finally:
        await engine.dispose()
    dlq = {k: v for k, v in (await streams(redis)).items() if k.endswith(".dlq") and v}
    return [
        f"webhooks accepted: {len(hooks.accepted)} (non-2xx / errors on the way, retried: {hooks.bad or 'none'})",
        f"stored in chat: {distinct} distinct, {rows - distinct} duplicated, {len(hooks.accepted) - distinct} lost",
        f"answers stored: {answers}; sends at the Twilio stand-in: {sends} "
        f"({'one per answer' if sends == answers else 'MISMATCH'}); drain took {time.monotonic() - started:.1f} s",
        f"dead-letter streams: {dlq or 'all empty'}",
    ]


async def run(args, db_url: str, redis_url: str, logdir: Path, servers: dict[str, int]) -> int:
    from tests.support.keys import TestKeys

    keys = TestKeys.generate()
    procs = Procs(logdir)
    procs.extra = servers
    llm_port, tw_port, api_port, chat_port = free_port(), free_port(), free_port(), free_port()
    env = stack_env(db_url, redis_url, keys.jwks_json, args.log_level, llm_port, tw_port)
    env["EVENTS_STREAM_MAXLEN"] = str(args.stream_maxlen)  # reached within minutes: the cap is what stays flat
    redis = aioredis.from_url(redis_url)
    try:
        llm = procs.start("llm", uvicorn_cmd("bench.webhooks:llm_app", llm_port, factory=True), env)
        tw = procs.start("twilio", uvicorn_cmd("bench.webhooks:twilio_app", tw_port, factory=True), env)
        api = procs.start("channels-api", uvicorn_cmd("services.channels.main:app", api_port), env)
        chat = procs.start("chat-api", uvicorn_cmd("services.chat.main:app", chat_port), env)
        start_workers(procs, env, args.relay_ms)
        wait_http(f"http://{HOST}:{llm_port}/v1/models", llm)
        wait_http(f"http://{HOST}:{tw_port}/_bench/sends", tw)
        wait_http(f"http://{HOST}:{api_port}/health", api)
        wait_http(f"http://{HOST}:{chat_port}/health", chat)
        tenant_id = uuid.uuid4()
        buffered = {"buffer_enabled": True, "buffer_seconds": args.buffer_seconds,
                    "buffer_max_wait_seconds": args.buffer_seconds * 4}  # fmt: skip
        channels = [
            await make_channel(db_url, tenant_id, "WhatsApp soak (buffer on)", buffered),
            await make_channel(db_url, tenant_id, "WhatsApp soak (buffer off)", {"buffer_enabled": False}),
        ]
        hooks = Webhooks(api_port, channels, args.conversations)
        reads = Reads(chat_port, keys.mint(tenant_id=tenant_id, role="admin", ttl=int(args.minutes * 60 + 3600)))

        async def webhook() -> None:
            sid, raw = hooks.build()
            await hooks.send(sid, raw)
            if random.random() < args.replay:
                await hooks.send(sid, raw)  # a provider retry of a message already accepted

        print(f"soak: {args.minutes} min, {args.webhooks_per_s} webhooks/s over {args.conversations} customers "
              f"(replay {args.replay:.0%}), {args.reads_per_s} reads/s; {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}; logs in {logdir}", flush=True)  # fmt: skip
        t0 = time.monotonic()
        stop = Deadline(t0 + args.minutes * 60)
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.stop_now)
        samples: list[dict] = []
        engine = create_async_engine(db_url, pool_size=1, pool_pre_ping=True)

        async def sampler() -> None:
            due = time.monotonic() + args.interval
            while stop.left() > 0:
                await asyncio.sleep(max(0.0, min(1.0, stop.left(), due - time.monotonic())))
                if time.monotonic() < due and stop.left() > 0:
                    continue
                due += args.interval
                samples.append(await sample(procs, redis, engine, tenant_id, hooks, reads, t0))
                print_sample(samples[-1], header=len(samples) == 1)

        try:
            await asyncio.gather(
                paced(args.webhooks_per_s, stop, webhook), paced(args.reads_per_s, stop, reads.one), sampler()
            )
        finally:
            stop.at = min(stop.at, time.monotonic())  # one part failed: the others stop too
        await reads.http.aclose()
        await engine.dispose()
        print("\nflatness, first third -> last third after the warm-up:")
        for line in verdict(samples, args.warmup):
            print("  " + line)
        print("\ncorrectness:")
        results = await check(db_url, redis, tenant_id, hooks, tw_port, args.drain_timeout)
        for line in results:
            print("  " + line)
        print(f"\nread errors: {reads.bad or 'none'}; load average at the end {os.getloadavg()}")
        ok = " 0 duplicated, 0 lost" in results[1] and "one per answer" in results[2] and "all empty" in results[3]
        return 0 if ok else 1
    finally:
        await redis.aclose()
        procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=60, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=300, help="seconds left out of the verdict")
    parser.add_argument("--webhooks-per-s", type=float, default=4)
    parser.add_argument("--reads-per-s", type=float, default=2)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--replay", type=float, default=0.05, help="share of webhooks delivered twice")
    parser.add_argument("--buffer-seconds", type=float, default=2.0)
    parser.add_argument("--relay-ms", type=int, default=200, help="EVENTS_RELAY_INTERVAL_MS of the workers")
    parser.add_argument("--stream-maxlen", type=int, default=2000, help="EVENTS_STREAM_MAXLEN of every process")
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    pg = EmbeddedPostgres(base / "pg", port=free_port()).start()
    rd = EmbeddedRedis(base / "redis", port=free_port()).start()
    try:
        upgrade_all(pg.url)
        rc = uvloop.run(run(args, pg.url, rd.url, base, {"postgres": pg.proc.pid, "redis": rd.proc.pid}))
    finally:
        rd.stop()
        pg.stop()
    raise SystemExit(rc)


if __name__ == "__main__":
    main()
