"""Chaos under load: the whole platform as separate processes, provider-like webhook traffic, and faults.

The stack is tests/support/processes.py's ProcessPlatform: what `make run` starts (devtools: every service under
uvicorn, every worker, the gateway, the same wiring), plus extra chat and channels workers, on free ports in a temp
dir, with Redis's append-only file on (`appendfsync always` by default: the relay marks an outbox row published as
soon as XADD answers, and the buffer's only copy of a pending burst is in Redis, so a crash may lose nothing Redis
acknowledged; `everysec` may lose the last second of them). Stand-in OpenAI, Twilio and Telegram servers are their
own processes and record every call. This module holds only the scenario: customers, faults and checks.

The load generator behaves like Twilio and Telegram: signed webhooks (X-Twilio-Signature on the public URL, the
Telegram secret header), a 15 s timeout, retries with backoff on timeouts, connection errors and any non-2xx, and
duplicate deliveries of webhooks that were already accepted. Customers write in bursts over many conversations, the
buffer is on.

While it runs, faults are injected one after another: SIGKILL of random chat/channels workers (each runs its
service's outbox relay and consumers; chat's also runs the flusher) and of API processes (gateway, channels, chat,
auth), each restarted after a short downtime; Redis SIGKILLed once and restarted on its AOF; Postgres stopped once
with `pg_ctl stop -m immediate` (a crash: recovery at start) and started again.

Afterwards (bounded drain) it checks: every accepted message stored exactly once (channels and chat), nothing stored
twice, every conversation answered after its last message, no reply sent twice to the stand-ins, every answer sent,
the DLQs; and it measures, per fault, when the process was back, when webhooks were accepted again and when
replies flowed again. `python -m tests.e2e.chaos --help` (make chaos); tests/e2e/test_chaos.py runs the CI size.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from shared.events.channels import INBOUND_STREAM
from shared.events.chat import OUTBOUND_STREAM
from shared.events.search import INDEX_STREAM
from shared.events.transcription import REQUESTED_STREAM
from tests.support.processes import (
    SECRETS_KEY,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    ProcessPlatform,
    Service,
    snapshot,
    survivors,
)

BOT_TOKEN = "4242:chaos-fake-bot-token"
ADMIN_EMAIL = "owner@chaos.example.com"
ADMIN_PASSWORD = "chaos-Owner-password-1"
PROVIDER_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s
CONNECTIONS = 48  # webhooks in flight at once (the provider's side)
KILLABLE_APIS = ("gateway", "channels", "chat", "auth")

# -- configuration and report -------------------------------------------------------------------------------------


@dataclass
class ChaosConfig:
    messages: int = 1000
    conversations: int = 100
    rate: float = 15.0  # customer messages per second, on average
    chat_workers: int = 2
    channels_workers: int = 2
    kills: int = 8  # SIGKILLs of workers and API processes (Redis and Postgres come on top)
    redis_restart: bool = True
    postgres_restart: bool = True
    appendfsync: str = "always"
    duplicate_rate: float = 0.05  # share of accepted webhooks the provider delivers again
    buffer_seconds: int = 1
    buffer_max_wait_seconds: int = 3
    claim_idle_ms: int = 5000  # EVENTS_CLAIM_IDLE_MS: a dead consumer's entries are taken over after this
    buffer_lease_seconds: float = 10.0  # CHAT_BUFFER_LEASE_SECONDS: a dead flusher's burst is taken over after this
    downtime: tuple[float, float] = (0.2, 2.0)  # seconds a killed process stays down
    drain_timeout: float = 900.0  # in all; a drain that makes no progress for stall_timeout fails earlier
    stall_timeout: float = 90.0
    log_level: str = "WARNING"
    seed: int = 0
    workdir: Path | None = None


@dataclass
class Fault:
    kind: str  # kill | redis | postgres
    target: str
    at: float  # epoch seconds
    down_s: float = 0.0
    back_at: float | None = None
    webhooks_ok_at: float | None = None
    first_reply_at: float | None = None
    all_clear_at: float | None = None
    superseded: bool = False  # killed again before it was back

    def summary(self) -> dict[str, Any]:
        rel = lambda t: None if t is None else round(t - self.at, 2)  # noqa: E731
        return {
            "fault": f"{self.kind} {self.target}".strip() + (" (killed again before it was back)" * self.superseded),
            "at_s": self.at,
            "down_s": round(self.down_s, 2),
            "back_s": rel(self.back_at),
            "webhooks_ok_s": rel(self.webhooks_ok_at),
            "first_reply_s": rel(self.first_reply_at),
            "all_clear_s": rel(self.all_clear_at),
        }


@dataclass
class Report:
    config: dict[str, Any]
    machine: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    dlq: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    logdir: str = ""

    def text(self) -> str:
        lines = [f"machine: {self.machine}", f"config: {self.config}", "counts:"]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines.append(f"deliveries by status: {self.deliveries}")
        lines.append("faults (seconds after the fault; back = process/server up again):")
        for f in self.faults:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in f.items() if k != "at_s"))
        lines.append(f"DLQ: {json.dumps(self.dlq) if any(self.dlq.values()) else 'empty'}")
        lines.append(f"timings: {self.timings}")
        lines.append(f"other: {self.extra}")
        lines.append(f"problems: {self.problems or 'none'}")
        lines.append(f"logs: {self.logdir}")
        return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        mem = f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024 // 1024} GiB"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- the platform ---------------------------------------------------------------------------------------------------


def start_platform(cfg: ChaosConfig, base: Path) -> ProcessPlatform:
    """The platform as processes (tests/support/processes.py) with this run's workers and recovery settings."""
    platform_ = ProcessPlatform(
        base,
        settings={
            "LOG_LEVEL": cfg.log_level,
            "CHAT_BUFFER_LEASE_SECONDS": str(cfg.buffer_lease_seconds),
            "EVENTS_CLAIM_IDLE_MS": str(cfg.claim_idle_ms),
        },
        workers={"chat": cfg.chat_workers, "channels": cfg.channels_workers},
        groups={"chat": (INBOUND_STREAM, "chat"), "channels": (OUTBOUND_STREAM, "channels")},
        redis_appendfsync=cfg.appendfsync,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
    )
    platform_.start_servers()
    platform_.start_apps()
    return platform_


# -- the customers -------------------------------------------------------------------------------------------------


@dataclass
class Msg:
    conv: int
    idx: int
    kind: str  # twilio | telegram
    text: str
    at: float  # offset from the start of the load
    provider_id: str = ""
    attempts: int = 0
    statuses: list[str] = field(default_factory=list)
    started_at: float = 0.0
    accepted_at: float | None = None
    duplicates: int = 0


@dataclass
class Conversation:
    index: int
    kind: str
    address: str  # where replies go: the WhatsApp address or the Telegram chat id


class Customers:
    """Signed provider webhooks with the providers' retry behaviour."""

    def __init__(self, cfg: ChaosConfig, gateway: str, channels: dict[str, dict]) -> None:
        self.cfg = cfg
        self.gateway = gateway
        self.channels = channels
        self.rng = random.Random(cfg.seed)
        self.tag = uuid.uuid4().hex[:6]
        self.conversations = [
            Conversation(i, "twilio", f"whatsapp:+5511{700000000 + i}")
            if i % 2 == 0
            else Conversation(i, "telegram", str(7_000_000 + i))
            for i in range(cfg.conversations)
        ]
        self.messages: list[Msg] = []
        self.update_ids = iter(range(10_000_000, 100_000_000))
        self.acks: list[tuple[float, float]] = []  # (request started, 2xx received) for every 2xx
        self.failures: collections.Counter[str] = collections.Counter()
        self.slots = asyncio.Semaphore(CONNECTIONS)

    def plan(self, duration: float) -> None:
        """Each conversation: its share of the messages in bursts (gaps < the buffer window inside a burst, longer
        between bursts), starting at a random time in the run."""
        per = [self.cfg.messages // self.cfg.conversations] * self.cfg.conversations
        for i in range(self.cfg.messages % self.cfg.conversations):
            per[i] += 1
        for conv, n in zip(self.conversations, per, strict=True):
            offsets, t = [], 0.0
            while len(offsets) < n:
                for _ in range(min(self.rng.randint(1, 4), n - len(offsets))):
                    offsets.append(t)
                    t += self.rng.uniform(0.1, 0.6)
                t += self.rng.uniform(self.cfg.buffer_max_wait_seconds + 1, self.cfg.buffer_max_wait_seconds + 6)
            start = self.rng.uniform(0, max(0.0, duration - t))
            for k, off in enumerate(offsets):
                text = f"c{conv.index} m{k} {self.tag} " + self.rng.choice(
                    ["oi", "quero uma pizza", "para hoje à noite", "vocês entregam?", "qual o preço?", "obrigado"]
                )
                self.messages.append(Msg(conv.index, k, conv.kind, text, start + off))
        self.messages.sort(key=lambda m: m.at)

    def _request(self, m: Msg) -> tuple[str, dict[str, Any]]:
        from twilio.request_validator import RequestValidator

        conv = self.conversations[m.conv]
        ch = self.channels[m.kind]
        path = f"/webhooks/{m.kind}/{ch['id']}"
        if m.kind == "twilio":
            if not m.provider_id:
                m.provider_id = f"SM{self.tag}{m.conv:05d}{m.idx:05d}".ljust(34, "0")
            form = {
                "MessageSid": m.provider_id,
                "SmsMessageSid": m.provider_id,
                "AccountSid": TWILIO_SID,
                "From": conv.address,
                "To": TWILIO_FROM,
                "Body": m.text,
                "NumMedia": "0",
                "ProfileName": f"Cliente {m.conv}",
                "WaId": conv.address.removeprefix("whatsapp:+"),
            }
            sig = RequestValidator(TWILIO_TOKEN).compute_signature(self.gateway + path, form)
            return path, {"data": form, "headers": {"X-Twilio-Signature": sig}}
        if not m.provider_id:
            m.provider_id = str(next(self.update_ids))
        uid = int(m.provider_id)
        update = {
            "update_id": uid,
            "message": {
                "message_id": uid,
                "date": int(time.time()),
                "chat": {"id": int(conv.address), "type": "private"},
                "from": {"id": int(conv.address), "is_bot": False, "first_name": f"Cliente {m.conv}"},
                "text": m.text,
            },
        }
        return path, {"json": update, "headers": {"X-Telegram-Bot-Api-Secret-Token": ch["secret"]}}

    async def deliver(self, client, m: Msg, *, duplicate: bool = False, max_attempts: int = 12) -> bool:
        """POST until a 2xx, like the provider: retry on timeout, connection error or non-2xx, with backoff."""

        path, kwargs = self._request(m)
        for attempt in range(max_attempts):
            async with self.slots:  # httpx's pool gets slow with many queued requests: queue here instead
                status, started = await self._post(client, path, kwargs)
            if not duplicate:
                m.attempts += 1
                m.started_at = m.started_at or started
            if status.startswith("2"):
                self.acks.append((started, time.time()))
                if not duplicate and m.accepted_at is None:
                    m.accepted_at = time.time()
                    m.statuses.append(status)
                return True
            if not duplicate:
                m.statuses.append(status)
            self.failures[status] += 1
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0) * self.rng.uniform(0.8, 1.2))
        return False

    @staticmethod
    async def _post(client, path: str, kwargs: dict[str, Any]) -> tuple[str, float]:
        import httpx

        started = time.time()
        try:
            r = await client.post(path, **kwargs)
            return str(r.status_code), started
        except httpx.TimeoutException:
            return "timeout", started
        except httpx.TransportError as exc:
            return type(exc).__name__, started

    async def run(self, t0: float) -> None:
        import httpx

        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(base_url=self.gateway, timeout=PROVIDER_TIMEOUT, limits=limits) as client:

            async def one(m: Msg) -> None:
                await asyncio.sleep(max(0.0, t0 + m.at - time.time()))
                if await self.deliver(client, m) and self.rng.random() < self.cfg.duplicate_rate:
                    await asyncio.sleep(self.rng.uniform(0.2, 5.0))  # the provider delivers it again
                    m.duplicates += 1
                    await self.deliver(client, m, duplicate=True)

            await asyncio.gather(*(one(m) for m in self.messages))


# -- set-up, watching, checking ------------------------------------------------------------------------------------


async def setup_tenant(stack: ProcessPlatform, cfg: ChaosConfig) -> dict[str, dict]:
    """Through the gateway as the tenant's admin: buffer on, a default assistant, a WhatsApp and a Telegram channel."""
    import httpx
    import orjson
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from shared.crypto import SecretBox

    async with httpx.AsyncClient(base_url=stack.urls["gateway"], timeout=30) as gw:
        r = await gw.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = (await gw.get("/api/v1/auth/me", headers=headers)).json()
        tenant_id = me["memberships"][0]["tenant_id"]
        r = await gw.patch(
            f"/api/v1/tenants/{tenant_id}",
            headers=headers,
            json={
                "system_prompt": "Você é o atendente da Pizzaria Caos.",
                "buffer_enabled": True,
                "buffer_seconds": cfg.buffer_seconds,
                "buffer_max_wait_seconds": cfg.buffer_max_wait_seconds,
            },
        )
        assert r.status_code == 200, r.text
        r = await gw.post(
            "/api/v1/assistants",
            headers=headers,
            json={"name": "Caos", "instructions": "Seja breve.", "is_default": True},
        )
        assert r.status_code == 201, r.text
        channels = {}
        for kind, body in (
            ("twilio", {"type": "whatsapp_twilio", "name": "WhatsApp", "credentials": {
                "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": TWILIO_FROM}}),
            ("telegram", {"type": "telegram", "name": "Telegram", "credentials": {"bot_token": BOT_TOKEN}}),
        ):  # fmt: skip
            r = await gw.post("/api/v1/channels", headers=headers, json=body)
            assert r.status_code == 201, r.text
            channels[kind] = r.json()
    engine = create_async_engine(stack.pg.url)
    async with engine.connect() as conn:
        enc = (
            await conn.execute(
                text("SELECT credentials_encrypted FROM channels.channel WHERE id = :i"),
                {"i": channels["telegram"]["id"]},
            )
        ).scalar_one()
    await engine.dispose()
    channels["telegram"]["secret"] = orjson.loads(SecretBox(SECRETS_KEY).decrypt(enc))["webhook_secret"]
    channels["tenant_id"] = tenant_id
    return channels


class Replies:
    """What the stand-in providers received: (conversation address, text, epoch seconds)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = {k: urls[k] for k in ("twilio", "telegram")}
        self.next = {k: 0 for k in self.urls}
        self.rows: list[tuple[str, str, str, float]] = []  # (kind, address, text, at)

    async def poll(self, client) -> None:
        for kind, url in self.urls.items():
            with contextlib.suppress(Exception):
                data = (await client.get(f"{url}/_calls", params={"since": self.next[kind]})).json()
                self.next[kind] = data["next"]
                self.rows += [(kind, to, body, at) for to, body, at in data["calls"]]


async def count_settled(stack: ProcessPlatform, redis, engine) -> dict[str, int]:
    """What is still in flight: unpublished outbox rows, live buffers, unacked or unread stream entries."""
    from sqlalchemy import text

    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for schema in ("channels", "chat", "transcription", "auth"):
            with contextlib.suppress(Exception):
                out[f"outbox.{schema}"] = (
                    await conn.execute(text(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"))
                ).scalar_one()
        out["deliveries.sending"] = (
            await conn.execute(text("SELECT count(*) FROM channels.delivery WHERE status = 'sending'"))
        ).scalar_one()
    out["buffers"] = await redis.zcard("buf:due")
    # search.index.v1 is left out: indexing for search is not part of answering (its lag is reported).
    for stream in (INBOUND_STREAM, OUTBOUND_STREAM, REQUESTED_STREAM):
        with contextlib.suppress(Exception):
            last = (await redis.xinfo_stream(stream))["last-generated-id"]
            for g in await redis.xinfo_groups(stream):
                name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                out[f"pending.{stream}.{name}"] = int(g["pending"])
                out[f"unread.{stream}.{name}"] = int(g["last-delivered-id"] != last)
    return out


async def consumer_back(redis, stream: str, group: str, pid: int) -> bool:
    name = f"{socket.gethostname()}-{pid}"
    with contextlib.suppress(Exception):
        for c in await redis.xinfo_consumers(stream, group):
            if (c["name"].decode() if isinstance(c["name"], bytes) else c["name"]) == name:
                return True
    return False


class Chaos:
    """Faults one after another, spread over the load."""

    def __init__(self, cfg: ChaosConfig, stack: ProcessPlatform, customers: Customers) -> None:
        self.cfg = cfg
        self.stack = stack
        self.customers = customers
        self.rng = random.Random(cfg.seed + 1)
        self.faults: list[Fault] = []

    def plan(self) -> list[tuple[str, str]]:
        workers = [n for n in self.stack.services if n.startswith(("chat-worker", "channels-worker"))]
        targets = workers + list(KILLABLE_APIS)
        kills = [("kill", t) for t in self.rng.sample(targets, min(len(targets), self.cfg.kills))]
        kills += [("kill", self.rng.choice(targets)) for _ in range(self.cfg.kills - len(kills))]
        plan = kills[:]
        # The servers in the middle of the run, with kills on either side.
        if self.cfg.redis_restart:
            plan.insert(len(plan) // 3, ("redis", ""))
        if self.cfg.postgres_restart:
            plan.insert(2 * len(plan) // 3, ("postgres", ""))
        return plan

    async def run(self, t0: float, duration: float, redis_client_factory) -> None:
        """Each fault at its slot inside the load; a restarted process's return is watched in the background, so a
        slow start (imports on a loaded machine) does not push the next faults past the end of the load."""
        plan = self.plan()
        slot = duration * 0.85 / max(1, len(plan))
        watchers = []
        for i, (kind, target) in enumerate(plan):
            await asyncio.sleep(max(0.0, t0 + duration * 0.05 + i * slot - time.time()))
            watchers.append(asyncio.create_task(self.inject(kind, target, redis_client_factory)))
            if kind != "kill":
                await watchers[-1]  # the servers: one at a time, never while another one is down
        await asyncio.gather(*watchers)

    async def inject(self, kind: str, target: str, redis_client_factory) -> None:
        stack, down = self.stack, self.rng.uniform(*self.cfg.downtime)
        fault = Fault(kind, target, time.time(), down_s=down)
        self.faults.append(fault)
        if kind == "kill":
            await asyncio.to_thread(stack.kill, target)
            await asyncio.sleep(down)
            service = await asyncio.to_thread(stack.start_service, target)
            back = await self._back(service, service.pid, redis_client_factory)
            if back is True:
                fault.back_at = time.time()
            elif back is None:
                fault.superseded = True
        elif kind == "redis":
            await asyncio.to_thread(stack.redis.kill)
            await asyncio.sleep(down)
            await asyncio.to_thread(stack.redis.start)
            fault.back_at = time.time()
        elif kind == "postgres":
            await asyncio.to_thread(stack.pg.pg_ctl_stop, "immediate")
            await asyncio.sleep(down)
            await asyncio.to_thread(stack.pg.start)
            fault.back_at = time.time()

    async def _back(self, service: Service, pid: int, redis_client_factory, timeout: float = 240.0) -> bool | None:
        """An API answers /health; a worker's consumer (named after its pid) is in its group. None: killed again
        before it was back."""
        import httpx

        deadline = time.monotonic() + timeout
        redis = redis_client_factory()
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                while time.monotonic() < deadline:
                    if service.pid != pid:
                        return None
                    if service.health:
                        with contextlib.suppress(httpx.HTTPError):
                            if (await client.get(service.health)).status_code == 200:
                                return True
                    elif await consumer_back(redis, service.stream, service.group, pid):
                        return True
                    await asyncio.sleep(0.2)
        finally:
            await redis.aclose()
        return False


def _recovery(faults: list[Fault], messages: list[Msg], acks, replies_by_conv: dict[int, list[float]]) -> None:
    """Per fault: first 2xx of a webhook sent after it, first reply to a message accepted after the process was back,
    and when every message accepted before then (from 15 s before the fault) had a reply."""
    import bisect

    def reply_after(conv: int, t: float) -> float | None:
        times = replies_by_conv.get(conv, [])
        i = bisect.bisect_right(times, t)
        return times[i] if i < len(times) else None

    for f in faults:
        if f.back_at is None:
            continue
        oks = [done for started, done in acks if started >= f.at]
        f.webhooks_ok_at = min(oks) if oks else None
        firsts = [
            r for m in messages if m.accepted_at and m.accepted_at >= f.back_at
            for r in [reply_after(m.conv, m.accepted_at)] if r is not None
        ]  # fmt: skip
        f.first_reply_at = min(firsts) if firsts else None
        clear = [
            reply_after(m.conv, m.accepted_at)
            for m in messages
            if m.accepted_at and f.at - 15 <= m.accepted_at <= f.back_at
        ]
        # Nothing waiting at the fault: all clear at once (0 s).
        f.all_clear_at = max((r for r in clear if r is not None), default=f.at) if None not in clear else None
        f.all_clear_at = None if f.all_clear_at is None else max(f.all_clear_at, f.at)


async def check(stack: ProcessPlatform, customers: Customers, replies: Replies, channels: dict, report: Report) -> None:
    """The guarantees, from the databases and the stand-ins' records."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(stack.pg.url)
    msgs = customers.messages
    accepted = [m for m in msgs if m.accepted_at is not None]
    problems = report.problems
    async with engine.connect() as conn:
        inbound = collections.Counter(
            (str(r[0]), r[1])
            for r in await conn.execute(text("SELECT channel_id, provider_message_id FROM channels.inbound_message"))
        )
        chat_rows = collections.Counter(
            r[0]
            for r in await conn.execute(
                text("SELECT content FROM chat.message WHERE role = 'user' AND tenant_id = :t"),
                {"t": channels["tenant_id"]},
            )
        )
        # Per conversation (contact address): last customer message vs last answer, threads.
        per_contact = {
            r[0]: r
            for r in await conn.execute(
                text(
                    "SELECT c.external_id, count(DISTINCT t.id), "
                    "max(m.created_at) FILTER (WHERE m.role = 'user'), "
                    "max(m.created_at) FILTER (WHERE m.role = 'assistant'), "
                    "count(*) FILTER (WHERE m.role = 'assistant') "
                    "FROM chat.contact c JOIN chat.thread t ON t.contact_id = c.id "
                    "JOIN chat.message m ON m.thread_id = t.id WHERE c.tenant_id = :t GROUP BY c.external_id"
                ),
                {"t": channels["tenant_id"]},
            )
        }
        answers = [
            (r[0], r[1], str(r[2]))
            for r in await conn.execute(
                text(
                    "SELECT c.external_id, m.content, m.id FROM chat.message m "
                    "JOIN chat.thread t ON t.id = m.thread_id "
                    "JOIN chat.contact c ON c.id = t.contact_id WHERE m.role = 'assistant' AND m.tenant_id = :t "
                    "ORDER BY m.created_at, m.seq"
                ),
                {"t": channels["tenant_id"]},
            )
        ]
        report.deliveries = dict(
            (r[0], r[1]) for r in await conn.execute(text("SELECT status, count(*) FROM channels.delivery GROUP BY 1"))
        )
        # message id -> status of its delivery ("unknown": its sender died between committing `sending` and
        # learning the provider's answer; by design it is never re-sent: at most once, docs/pipeline.md).
        delivery_of = {
            str(r[0]): r[1] for r in await conn.execute(text("SELECT message_id, status FROM channels.delivery"))
        }
    await engine.dispose()

    ch_id = {"twilio": channels["twilio"]["id"], "telegram": channels["telegram"]["id"]}
    lost = [m for m in accepted if inbound[(ch_id[m.kind], m.provider_id)] == 0 or chat_rows[m.text] == 0]
    doubled = [m for m in msgs if chat_rows[m.text] > 1]
    never = [m for m in msgs if m.accepted_at is None]
    stored_unaccepted = [m for m in never if chat_rows[m.text]]
    if lost:
        problems.append(f"{len(lost)} accepted messages lost, e.g. {[m.text for m in lost[:5]]}")
    if doubled:
        problems.append(f"{len(doubled)} messages stored more than once, e.g. {[m.text for m in doubled[:5]]}")
    if never:
        problems.append(f"{len(never)} messages never accepted (webhook retries exhausted): {never[0].statuses}")

    addresses = {c.index: c.address for c in customers.conversations}
    unanswered, multi_thread = [], []
    for conv in customers.conversations:
        if not any(m.conv == conv.index and m.accepted_at for m in msgs):
            continue
        row = per_contact.get(conv.address)
        if row is None or row[3] is None or row[3] < row[2]:
            unanswered.append(conv.address)
        if row is not None and row[1] != 1:
            multi_thread.append(conv.address)
    if unanswered:
        problems.append(f"{len(unanswered)} conversations not answered after their last message: {unanswered[:5]}")
    if multi_thread:
        problems.append(f"{len(multi_thread)} conversations with more than one thread: {multi_thread[:5]}")

    sent = collections.Counter((addr, body) for _, addr, body, _ in replies.rows)
    dup_sends = {k: n for k, n in sent.items() if n > 1}
    if dup_sends:
        problems.append(f"{len(dup_sends)} replies sent more than once: {list(dup_sends.items())[:3]}")
    answer_set = collections.Counter((addr, body) for addr, body, _ in answers)
    not_sent = [(addr, body, mid) for addr, body, mid in answers if sent[(addr, body)] == 0]
    # A reply lost to a crash mid-send is the documented price of never sending twice: explained only if its
    # delivery says so (`unknown`); any other missing reply is a bug.
    unexplained = [a for a in not_sent if delivery_of.get(a[2]) != "unknown"]
    if unexplained:
        problems.append(f"{len(unexplained)} answers never reached the provider: {unexplained[:3]}; their deliveries: "
                        f"{[delivery_of.get(a[2]) for a in unexplained[:3]]}")  # fmt: skip
    unknown_ids = [mid for mid, status in delivery_of.items() if status == "unknown"]
    by_id = {mid: (addr, body) for addr, body, mid in answers}
    unknown_delivered = sum(1 for mid in unknown_ids if mid in by_id and sent[by_id[mid]] > 0)
    invented = [k for k in sent if k not in answer_set]
    if invented:
        problems.append(f"{len(invented)} provider sends that match no stored answer: {invented[:3]}")
    reached = {addr for _, addr, _, _ in replies.rows}
    lost_to_unknown = {a[0] for a in not_sent if a not in unexplained}
    silent = [addresses[c.index] for c in customers.conversations if addresses[c.index] not in reached]
    if unexplained_silent := [a for a in silent if a not in lost_to_unknown]:
        problems.append(
            f"{len(unexplained_silent)} conversations got no reply at the provider: {unexplained_silent[:5]}"
        )
    final = {addr: (addr, body) for addr, body, _ in answers}  # ordered by time: the last answer wins
    waiting = [addr for addr, key in final.items() if sent[key] == 0]  # their final answer was lost mid-send
    if any(report.dlq.values()):
        problems.append(f"DLQ not empty: { {k: len(v) for k, v in report.dlq.items() if v} }")

    statuses = collections.Counter(s for m in msgs for s in m.statuses)
    report.counts = {
        "messages": len(msgs),
        "conversations": len(customers.conversations),
        "webhook_attempts": sum(m.attempts for m in msgs),
        "accepted": len(accepted),
        "retried_messages": sum(1 for m in msgs if m.attempts > 1),
        "attempt_outcomes": dict(statuses),
        "duplicate_deliveries_sent": sum(m.duplicates for m in msgs),
        "never_accepted": len(never),
        "never_accepted_but_stored": len(stored_unaccepted),
        "inbound_rows": sum(inbound.values()),
        "chat_user_messages": sum(chat_rows.values()),
        "lost": len(lost),
        "stored_twice": len(doubled),
        "answers": len(answers),
        "provider_sends": len(replies.rows),
        "duplicate_sends": sum(n - 1 for n in dup_sends.values()),
        "answers_not_sent": len(not_sent),
        "answers_not_sent_unexplained": len(unexplained),
        "deliveries_unknown": len(unknown_ids),
        "deliveries_unknown_but_received_by_provider": unknown_delivered,
        "conversations_whose_last_answer_was_lost_mid_send": len(waiting),
        "conversations_answered": len(customers.conversations) - len(unanswered),
        "conversations_with_a_reply_at_provider": len(customers.conversations) - len(silent),
    }


async def read_dlq(redis) -> dict[str, list[dict[str, str]]]:
    out = {}
    async for key in redis.scan_iter(match="*.dlq", _type="stream"):
        name = key.decode()
        entries = await redis.xrange(name, count=1000)
        out[name] = [
            {k.decode(): v.decode()[:500] for k, v in fields.items() if k.decode() != "envelope"}
            | {"envelope": fields.get(b"envelope", b"")[:300].decode(errors="replace")}
            for _, fields in entries
        ]
    return out


async def warm_up(stack: ProcessPlatform, channels: dict, replies: Replies, cfg: ChaosConfig) -> None:
    """One conversation per channel answered end to end before the clock starts (every process is really up)."""
    import httpx

    warm_cfg = ChaosConfig(**(asdict(cfg) | {"messages": 2, "conversations": 2, "seed": cfg.seed + 99}))
    customers = Customers(warm_cfg, stack.urls["gateway"], channels)
    customers.tag = "warm" + customers.tag[:2]
    customers.conversations = [
        Conversation(0, "twilio", "whatsapp:+5511600000000"),
        Conversation(1, "telegram", "6000000"),
    ]
    customers.update_ids = iter(range(1_000, 9_000))
    async with httpx.AsyncClient(base_url=stack.urls["gateway"], timeout=30) as client:
        for conv in customers.conversations:
            m = Msg(conv.index, 0, conv.kind, f"warm-up {conv.kind}", 0)
            customers.messages.append(m)
            assert await customers.deliver(client, m), m.statuses
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            await replies.poll(client)
            if {a for _, a, _, _ in replies.rows} >= {c.address for c in customers.conversations}:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the warm-up conversations were not answered; logs in {stack.logdir}")


async def run_chaos(cfg: ChaosConfig) -> Report:
    import httpx
    import redis.asyncio as aioredis
    from sqlalchemy.ext.asyncio import create_async_engine

    own = cfg.workdir is None
    base = Path(cfg.workdir or tempfile.mkdtemp(prefix="atende-chaos-"))
    report = Report(config={k: str(v) for k, v in asdict(cfg).items()}, machine=machine_info(), logdir=str(base))
    stack: ProcessPlatform | None = None
    before = _descendants()  # what this process already runs (a test session's own Postgres/Redis) is not ours to stop
    clock = time.monotonic()
    try:
        stack = await asyncio.to_thread(start_platform, cfg, base)
        report.timings["start_s"] = round(time.monotonic() - clock, 1)
        channels = await setup_tenant(stack, cfg)
        replies = Replies(stack.urls)
        await warm_up(stack, channels, replies, cfg)
        report.timings["ready_s"] = round(time.monotonic() - clock, 1)

        duration = cfg.messages / cfg.rate
        customers = Customers(cfg, stack.urls["gateway"], channels)
        customers.plan(duration)
        chaos = Chaos(cfg, stack, customers)
        new_redis = lambda: aioredis.from_url(stack.redis.url, socket_connect_timeout=2, socket_timeout=5)  # noqa: E731
        t0 = time.time() + 0.5
        load = asyncio.create_task(customers.run(t0))
        faults = asyncio.create_task(chaos.run(t0, duration, new_redis))
        async with httpx.AsyncClient(timeout=5) as client:
            while not (load.done() and faults.done()):
                await replies.poll(client)
                await asyncio.wait([load, faults], timeout=1.0, return_when=asyncio.ALL_COMPLETED)
            await load
            await faults
            report.timings["load_s"] = round(time.time() - t0, 1)
            # Drain: until nothing is in flight anywhere. Bounded twice: no progress at all for `stall_timeout`
            # (a stuck pipeline fails fast), and `drain_timeout` in all (a slow one, on a loaded machine, may finish).
            drained = last_progress = time.monotonic()
            engine = create_async_engine(stack.pg.url, pool_size=2)
            redis = new_redis()
            settled: dict[str, int] = {}
            seen: tuple = ()
            outcome = ""
            try:
                while not outcome:
                    await replies.poll(client)
                    with contextlib.suppress(Exception):
                        settled = await count_settled(stack, redis, engine)
                    if settled and not any(settled.values()):
                        await asyncio.sleep(1.0)  # the last sends reach the stand-ins
                        await replies.poll(client)
                        break
                    now = time.monotonic()
                    if (tuple(settled.items()), len(replies.rows)) != seen:
                        seen, last_progress = (tuple(settled.items()), len(replies.rows)), now
                    if now - last_progress > cfg.stall_timeout:
                        outcome = f"no progress for {cfg.stall_timeout:g}s"
                    elif now - drained > cfg.drain_timeout:
                        outcome = f"not drained after {cfg.drain_timeout:g}s"
                    await asyncio.sleep(1.0)
                if outcome:
                    report.problems.append(f"{outcome}: { {k: v for k, v in settled.items() if v} }")
                report.timings["drain_s"] = round(time.monotonic() - drained, 1)
                with contextlib.suppress(Exception):
                    group = (await redis.xinfo_groups(INDEX_STREAM))[0]
                    report.extra["search_index_pending_at_end"] = int(group["pending"])
                report.dlq = await read_dlq(redis)
            finally:
                await redis.aclose()
                await engine.dispose()
        if dead := stack.dead():
            report.problems.append(f"processes that died on their own: {dead}")
        await check(stack, customers, replies, channels, report)
        by_conv: dict[int, list[float]] = collections.defaultdict(list)
        index = {c.address: c.index for c in customers.conversations}
        for _, addr, _, at in replies.rows:
            if addr in index:
                by_conv[index[addr]].append(at)
        for times in by_conv.values():
            times.sort()
        _recovery(chaos.faults, customers.messages, customers.acks, by_conv)
        report.faults = [f.summary() for f in chaos.faults]
        if slow := [f.summary()["fault"] for f in chaos.faults if f.back_at is None and not f.superseded]:
            report.problems.append(f"not back within 240 s: {slow}")
        latencies = sorted(
            t[0] - m.accepted_at
            for m in customers.messages
            if m.accepted_at
            for t in [[r for r in by_conv.get(m.conv, []) if r > m.accepted_at][:1]]
            if t
        )
        if latencies:
            q = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)  # noqa: E731
            report.timings |= {"reply_p50_s": q(0.5), "reply_p99_s": q(0.99), "reply_max_s": round(latencies[-1], 2)}
        report.timings["total_s"] = round(time.monotonic() - clock, 1)
        report.machine["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return report
    finally:
        tree = {pid: v for pid, v in _descendants().items() if before.get(pid) != v}
        if stack is not None:
            await asyncio.to_thread(stack.stop)
        if left := await asyncio.to_thread(survivors, tree, 30.0):
            report.problems.append(f"left running after the stop: {left}")
        if own and not report.problems and os.environ.get("CHAOS_KEEP") != "1":
            import shutil

            shutil.rmtree(base, ignore_errors=True)


def _descendants() -> dict[int, tuple[float, str]]:
    """Every descendant of this process (servers, their backends, services, workers, stand-ins)."""
    return snapshot(psutil.Process().children(recursive=True))


def main() -> None:
    d = ChaosConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--conversations", type=int, default=400)
    p.add_argument("--rate", type=float, default=20.0, help="customer messages per second")
    p.add_argument("--kills", type=int, default=24, help="SIGKILLs of workers and API processes")
    p.add_argument("--chat-workers", type=int, default=d.chat_workers)
    p.add_argument("--channels-workers", type=int, default=d.channels_workers)
    p.add_argument("--appendfsync", default=d.appendfsync, choices=["always", "everysec"])
    p.add_argument("--duplicate-rate", type=float, default=d.duplicate_rate)
    p.add_argument("--claim-idle-ms", type=int, default=d.claim_idle_ms)
    p.add_argument("--lease-seconds", type=float, default=d.buffer_lease_seconds)
    p.add_argument("--drain-timeout", type=float, default=1800.0)
    p.add_argument("--no-redis-restart", action="store_true")
    p.add_argument("--no-postgres-restart", action="store_true")
    p.add_argument("--log-level", default=d.log_level)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--json", default="", help="also write the report as JSON to this file")
    a = p.parse_args()
    cfg = ChaosConfig(
        messages=a.messages,
        conversations=a.conversations,
        rate=a.rate,
        kills=a.kills,
        chat_workers=a.chat_workers,
        channels_workers=a.channels_workers,
        appendfsync=a.appendfsync,
        duplicate_rate=a.duplicate_rate,
        claim_idle_ms=a.claim_idle_ms,
        buffer_lease_seconds=a.lease_seconds,
        drain_timeout=a.drain_timeout,
        redis_restart=not a.no_redis_restart,
        postgres_restart=not a.no_postgres_restart,
        log_level=a.log_level,
        seed=a.seed,
    )
    report = asyncio.run(run_chaos(cfg))
    print(report.text())
    if a.json:
        Path(a.json).write_text(json.dumps(asdict(report), indent=2, default=str))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
