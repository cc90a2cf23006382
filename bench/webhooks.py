"""Signed Twilio webhooks against the running pipeline on loopback: ack throughput/latency, then send latency.

Starts its own embedded Postgres + Redis (temp dir, every schema migrated), an instant OpenAI-protocol stand-in
and a Twilio REST stand-in (each its own uvicorn subprocess, so they cost the load generator nothing), the
channels API (uvicorn, uvloop + httptools, 1 then 2 processes; several are replicas, each with its own
SO_REUSEPORT socket: bench/replicas.py) and the channels and chat workers (`python -m services.channels.worker` /
`python -m services.chat.worker`, configured by env only).

1. Webhooks at rising concurrency: every request is a real `X-Twilio-Signature`-signed form with a unique
   MessageSid and a unique sender (a new contact, thread and answer each). Requests are built and signed before
   the clock starts; the client is a raw keep-alive HTTP/1.1 socket per concurrent sender (no httpx CPU in the
   timed path). Printed: accepted/s, p50/p99 ack latency, non-2xx, API CPU ms per request. After each level it
   waits (bounded) until every accepted message is a chat.message row (external_id `inbound:<id>`) and was
   answered at the Twilio stand-in, and prints lost/duplicated counts.
2. Webhook -> Twilio Messages.create latency, buffer off, instant LLM, one message at a time (paced), for each
   relay interval asked (EVENTS_RELAY_INTERVAL_MS: the default 200 ms and a short one).

No auth service runs: the chat worker gets CHAT_TENANT_SETTINGS_URL="" and AUTH_URL="", so it uses the platform
defaults for tenant settings (no network call); the channel's own `buffer_enabled: false` turns the buffer off.

Meta mode (`--providers twilio,meta`): part 1 also sends signed WhatsApp Cloud API notifications
(`X-Hub-Signature-256`, one text message each, a new wa_id each) to a whatsapp_cloud channel answered through a
Graph API stand-in, level by level beside Twilio's (paired: the two alternate which goes first), and prints
Meta's accepted/s over Twilio's for each level.

`make bench-webhooks` or `python -m bench.webhooks [--levels 1:200,8:1000,32:2000,64:2000] [--api-workers 1,2]
[--providers twilio,meta]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from twilio.request_validator import RequestValidator

from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, _child_setup, free_port
from devtools.settings import DevSettings
from shared.events.channels import INBOUND_STREAM
from shared.events.chat import OUTBOUND_STREAM
from shared.migrations import upgrade_all

HOST = "127.0.0.1"
PUBLIC_BASE = "https://bench.atende.example"  # what Twilio "called": signatures are computed on it
TWILIO_SID = "AC" + "b" * 32
TWILIO_TOKEN = "bench-twilio-auth-token"
FROM_NUMBER = "whatsapp:+14155238886"
LLM_KEY = "sk-bench"
META_TOKEN = "EAAGbench" + "9" * 40
META_APP_SECRET = "be" * 16
META_PHONE_ID = "1065550099"
SECRETS_KEY = "bench-secrets-key"
_CLK = os.sysconf("SC_CLK_TCK")
STALL_SECONDS = 20.0  # a drain that sees no progress this long has found what is lost
_SEQ = itertools.count(1)  # senders and MessageSids unique over the whole run

WORKER_NICE = DevSettings.model_fields["worker_nice"].default  # what `make run` gives the workers


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn --workers N forks N children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of pid and its descendants."""
    return sum(cpu_seconds_one(p) for p in _tree(pid))


def cpu_ticks() -> tuple[list[list[int]], int, int]:
    """Per-CPU /proc/stat counters (user nice system idle iowait irq softirq steal, in clock ticks), the context
    switches, and the inter-processor interrupts a wake-up on another CPU costs (rescheduling + function call)."""
    lines = Path("/proc/stat").read_text().splitlines()
    per_cpu = [[int(v) for v in line.split()[1:9]] for line in lines if line.startswith("cpu") and line[3].isdigit()]
    switches = next(int(line.split()[1]) for line in lines if line.startswith("ctxt "))
    ipis = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/interrupts").read_text().splitlines():
            name, _, rest = line.strip().partition(":")
            if name in ("RES", "CAL"):
                ipis += sum(int(v) for v in rest.split()[: len(per_cpu)])
    return per_cpu, switches, ipis


def cpu_split(before, after, wall: float, requests: int) -> str:
    """How busy each CPU was between two cpu_ticks(), the time the hypervisor gave to others (steal), and the
    context switches and wake-up interrupts per request."""
    out = []
    for i, (a, b) in enumerate(zip(before[0], after[0], strict=True)):
        d = [y - x for x, y in zip(a, b, strict=True)]
        total = max(1, sum(d))
        out.append(
            f"cpu{i} {100 * (total - d[3] - d[4]) / total:.0f}% (softirq {100 * d[6] / total:.0f}%, steal "
            f"{100 * d[7] / total:.0f}%)"
        )
    n = max(1, requests)
    out.append(
        f"{(after[1] - before[1]) / n:.1f} context switches and {(after[2] - before[2]) / n:.1f} IPIs per "
        f"request ({(after[2] - before[2]) / wall:.0f} IPIs/s)"
    )
    return ", ".join(out)


def cpu_seconds_one(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone (e.g. a backend that ended during the level: its CPU is in "postgres" only)
    return (int(fields[11]) + int(fields[12])) / _CLK


# -- stand-ins (uvicorn --factory targets) -------------------------------------------------------------------------


def llm_app():
    from tests.support.llm import LLMStandIn

    return LLMStandIn(api_key=LLM_KEY).app


def twilio_app():
    """The tests' Twilio stand-in plus one read-out route: who was sent to, and when (epoch seconds)."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.support.providers import TwilioStandIn

    tw = TwilioStandIn(TWILIO_SID, TWILIO_TOKEN)

    async def sends(request):
        since = int(request.query_params.get("since", "0"))
        rows = [(c["params"].get("To"), c["at"]) for c in tw.calls[since:] if c["method"] == "messages.create"]
        return JSONResponse({"next": len(tw.calls), "sends": rows})

    tw.app.router.routes.append(Route("/_bench/sends", sends, methods=["GET"]))
    return tw.app


def meta_app():
    """The tests' Graph API stand-in plus the same read-out route as twilio_app's."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.support.providers import MetaGraphStandIn

    graph = MetaGraphStandIn({META_TOKEN})

    async def sends(request):
        since = int(request.query_params.get("since", "0"))
        rows = [(c["body"].get("to"), c["at"]) for c in graph.calls[since:] if c["method"] == "messages"]
        return JSONResponse({"next": len(graph.calls), "sends": rows})

    graph.app.router.routes.insert(0, Route("/_bench/sends", sends, methods=["GET"]))
    return graph.app


# -- processes ---------------------------------------------------------------------------------------------------


class Procs:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.running: dict[str, subprocess.Popen] = {}
        self.extra: dict[str, int] = {}  # servers started elsewhere (postgres, redis)

    def start(self, name: str, cmd: list[str], env: dict[str, str], nice: int = 0) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=log, cwd=Path(__file__).resolve().parent.parent,
            preexec_fn=_child_setup(None, None, signal.SIGTERM, nice),
        )  # fmt: skip
        log.close()
        self.running[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def uvicorn_cmd(target: str, port: int, *, factory: bool = False, workers: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", HOST, "--port", str(port)]
    cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return cmd + (["--factory"] if factory else [])


def api_cmd(args, port: int, processes: int) -> list[str]:
    """The channels API as `processes` processes: by default each with its own SO_REUSEPORT socket, like replicas
    behind a Service (bench/replicas.py); `--api-spread accept` is `uvicorn --workers`, one shared socket."""
    if processes > 1 and args.api_spread == "reuseport":
        cmd = [sys.executable, "-m", "bench.replicas", "services.channels.main:app", "--host", HOST]
        return cmd + ["--port", str(port), "--processes", str(processes)]
    return uvicorn_cmd("services.channels.main:app", port, workers=processes)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start within {timeout}s")


# -- load ---------------------------------------------------------------------------------------------------------


class Signer:
    prefix = "SM"  # of the provider message ids: the checker counts a level's messages by it

    def __init__(self, channel_id: str, api_port: int) -> None:
        self.path = f"/webhooks/twilio/{channel_id}"
        self.url = PUBLIC_BASE + self.path
        self.validator = RequestValidator(TWILIO_TOKEN)
        self.head = f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{api_port}\r\n"

    def request(self, tag: str) -> tuple[str, str, bytes]:
        """(MessageSid, sender, raw request): a signed Twilio webhook for a brand-new sender."""
        n = next(_SEQ)
        sid = f"SM{tag}{n:010d}"
        sender = f"whatsapp:+55{n:011d}"
        form = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": TWILIO_SID,
            "MessagingServiceSid": "",
            "From": sender,
            "To": FROM_NUMBER,
            "Body": "Olá! Vocês entregam no centro hoje à noite?",
            "NumMedia": "0",
            "NumSegments": "1",
            "ProfileName": f"Cliente {n}",
            "WaId": sender.removeprefix("whatsapp:+"),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(form).encode()
        sig = self.validator.compute_signature(self.url, form)
        head = (
            f"{self.head}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {sig}\r\nUser-Agent: TwilioProxy/1.1\r\n\r\n"
        )
        return sid, sender, head.encode() + body


class MetaSigner:
    """Signed WhatsApp Cloud API notifications, one text message from a brand-new wa_id each."""

    prefix = "wamid.B"

    def __init__(self, channel_id: str, api_port: int) -> None:
        self.head = f"POST /webhooks/meta/{channel_id} HTTP/1.1\r\nHost: {HOST}:{api_port}\r\n"

    def request(self, tag: str) -> tuple[str, str, bytes]:
        n = next(_SEQ)
        wamid, sender = f"{self.prefix}{tag}{n:010d}", f"55{n:011d}"
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100", "phone_number_id": META_PHONE_ID},
            "contacts": [{"profile": {"name": f"Cliente {n}"}, "wa_id": sender}],
            "messages": [
                {
                    "from": sender,
                    "id": wamid,
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": "Olá! Vocês entregam no centro hoje à noite?"},
                }
            ],
        }
        body = orjson.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
            }
        )
        sig = hmac.new(META_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"{self.head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: sha256={sig}\r\nUser-Agent: facebookexternalua\r\n\r\n"
        )
        return wamid, sender, head.encode() + body


async def _exchange(reader, writer, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def fire(port: int, requests: list[tuple[str, str, bytes]], concurrency: int, timeout: float):
    """Send every request over `concurrency` keep-alive connections; (accepted sids, latencies, non-2xx, wall)."""
    it = iter(requests)
    accepted: list[str] = []
    latencies: list[float] = []
    bad: dict[str, int] = {}

    async def client() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for sid, _, raw in it:
                started = time.perf_counter()
                try:
                    status = await _exchange(reader, writer, raw)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    bad[type(exc).__name__] = bad.get(type(exc).__name__, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append(time.perf_counter() - started)
                if 200 <= status < 300:
                    accepted.append(sid)
                else:
                    bad[str(status)] = bad.get(str(status), 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), timeout)
    return accepted, latencies, bad, time.perf_counter() - started


class Checker:
    def __init__(
        self, db_url: str, tenant_id: uuid.UUID, channel_id: uuid.UUID, twilio_port: int, prefix: str = "SM"
    ) -> None:
        self.engine = create_async_engine(db_url, pool_size=2)
        self.tenant_id, self.channel_id, self.prefix = tenant_id, channel_id, prefix
        self.twilio = f"http://{HOST}:{twilio_port}/_bench/sends"  # the provider stand-in's read-out
        self.sent_at: dict[str, float] = {}
        self.duplicate_sends = 0
        self._next = 0

    async def poll_sends(self, http: httpx.AsyncClient) -> None:
        r = await http.get(self.twilio, params={"since": self._next})
        data = r.json()
        self._next = data["next"]
        for to, at in data["sends"]:
            if to in self.sent_at:
                self.duplicate_sends += 1
            else:
                self.sent_at[to] = at

    async def backends(self) -> dict[str, list[int]]:
        """Postgres backend pids by who holds them: the webhook intake's (its application_name) and the rest
        (workers, relays, this checker), so a level's Postgres CPU can be split between the two."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend'")
            )
            out: dict[str, list[int]] = {"intake": [], "workers+checker": []}
            for pid, app in rows:
                out["intake" if app == "channels-webhook-intake" else "workers+checker"].append(pid)
        return out

    async def counts(self, tag: str) -> tuple[int, int, int]:
        """(inbound rows, chat rows for them, distinct external ids among those chat rows)."""
        async with self.engine.connect() as conn:
            inbound = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM channels.inbound_message WHERE channel_id = :c "
                        "AND provider_message_id LIKE :p"
                    ),
                    {"c": self.channel_id, "p": f"{self.prefix}{tag}%"},
                )
            ).scalar_one()
            rows, distinct = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT m.external_id) FROM chat.message m "
                        "JOIN channels.inbound_message i ON m.external_id = 'inbound:' || i.id::text "
                        "WHERE m.tenant_id = :t AND m.role = 'user' AND i.channel_id = :c "
                        "AND i.provider_message_id LIKE :p"
                    ),
                    {"t": self.tenant_id, "c": self.channel_id, "p": f"{self.prefix}{tag}%"},
                )
            ).one()
        return inbound, rows, distinct

    async def hops(self, redis_url: str, sent_at: dict[str, float]) -> str:
        """Median ms between the timestamps the pipeline already records for each message of a send run (every
        message has its own sender, so its own thread): the webhook sent (here) -> `received_at` (the API, before
        its statement) -> XADD of `channels.inbound.v1` (the Redis entry id) -> the answer's row (`created_at`: its
        statement's start; the chat consumer, flusher and LLM call are in this hop) -> XADD of `chat.outbound.v1` ->
        the Twilio stand-in got the send. One clock: every process runs on this machine."""
        import orjson
        import redis.asyncio as aioredis

        r = aioredis.from_url(redis_url)
        try:
            inbound = {
                env["payload"]["sender"]: int(eid.split(b"-")[0]) / 1000
                for eid, f in await r.xrange(INBOUND_STREAM)
                if (env := orjson.loads(f[b"envelope"]))["payload"].get("sender") in sent_at
            }
            outbound = {
                env["payload"]["recipient"]: int(eid.split(b"-")[0]) / 1000
                for eid, f in await r.xrange(OUTBOUND_STREAM)
                if (env := orjson.loads(f[b"envelope"]))["payload"].get("recipient") in sent_at
            }
        finally:
            await r.aclose()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT i.sender, extract(epoch FROM i.received_at) AS received, "
                    "extract(epoch FROM min(a.created_at)) AS answered "
                    "FROM channels.inbound_message i "
                    "JOIN chat.message u ON u.tenant_id = :t AND u.external_id = 'inbound:' || i.id::text "
                    "JOIN chat.message a ON a.tenant_id = :t AND a.thread_id = u.thread_id AND a.role = 'assistant' "
                    "WHERE i.channel_id = :c AND i.sender = ANY(:s) GROUP BY i.sender, i.received_at"
                ),
                {"t": self.tenant_id, "c": self.channel_id, "s": list(sent_at)},
            )
            db = {sender: (float(rec), float(ans)) for sender, rec, ans in rows}
        names = ["sent->API", "API->inbound XADD", "XADD->answer stored", "answer->outbound XADD", "XADD->Twilio"]
        steps: list[list[float]] = [[] for _ in names]
        for sender, t0 in sent_at.items():
            if sender not in db or sender not in inbound or sender not in outbound or sender not in self.sent_at:
                continue
            rec, ans = db[sender]
            points = [t0, rec, inbound[sender], ans, outbound[sender], self.sent_at[sender]]
            for i in range(len(names)):
                steps[i].append((points[i + 1] - points[i]) * 1000)
        return ", ".join(f"{n} {pct(v, 0.5):.1f}" for n, v in zip(names, steps, strict=True))

    async def drain(self, tag: str, accepted: int, senders: list[str], timeout: float) -> dict[str, float]:
        """Wait (bounded) until every accepted message reached chat and was answered; the counts at the end."""
        started = last_progress = time.monotonic()
        seen = (-1, -1)
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                inbound, rows, distinct = await self.counts(tag)
                await self.poll_sends(http)
                answered = sum(1 for s in senders if s in self.sent_at)
                done = distinct >= accepted and answered >= accepted
                now = time.monotonic()
                if (distinct, answered) != seen:
                    seen, last_progress = (distinct, answered), now
                # "lost" only once the pipeline has gone quiet; a timeout while it still moves is "pending"
                stalled = now - last_progress > STALL_SECONDS
                if done or stalled or now - started > timeout:
                    break
                await asyncio.sleep(0.5)
        return {
            "stored": inbound,
            "in_chat": distinct,
            "lost": accepted - distinct if done or stalled else f"{accepted - distinct}?",
            "dup": rows - distinct,
            "answered": answered,
            "drain_s": time.monotonic() - started,
        }


# -- the run ------------------------------------------------------------------------------------------------------


_BENCH_CHANNELS = {
    "twilio": (
        "whatsapp_twilio",
        {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": FROM_NUMBER},
    ),
    "meta": (
        "whatsapp_cloud",
        {"access_token": META_TOKEN, "app_secret": META_APP_SECRET, "phone_number_id": META_PHONE_ID},
    ),
}


async def setup_channel(db_url: str, provider: str = "twilio") -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant's whatsapp_twilio (or whatsapp_cloud) channel, created through ChannelService, buffer off."""
    from services.channels.configs.schemas import ChannelCreate
    from services.channels.configs.service import ChannelService
    from shared.crypto import SecretBox
    from shared.db import create_sessionmaker

    engine = create_async_engine(db_url)
    tenant_id = uuid.uuid4()
    async with create_sessionmaker(engine)() as session:
        channel = await ChannelService(session, SecretBox(SECRETS_KEY)).create(
            tenant_id,
            ChannelCreate(
                type=_BENCH_CHANNELS[provider][0],
                name=f"WhatsApp bench ({provider})",
                credentials=_BENCH_CHANNELS[provider][1],
                settings={"buffer_enabled": False},
            ),
        )
        await session.commit()
    await engine.dispose()
    return tenant_id, channel.id


def start_workers(procs: Procs, env: dict[str, str], relay_ms: int, nice: int = 0) -> None:
    """The two workers as `make run` starts them: own session, at `nice` (process and autogroup: see
    devtools.embedded.lower_priority; production does the same with cgroup CPU weights)."""
    wenv = env | {"EVENTS_RELAY_INTERVAL_MS": str(relay_ms)}
    for name, module in (("channels-worker", "services.channels.worker"), ("chat-worker", "services.chat.worker")):
        procs.start(name, [sys.executable, "-m", module], wenv, nice)


def stop_workers(procs: Procs) -> None:
    procs.stop("channels-worker")
    procs.stop("chat-worker")


@dataclass
class Target:
    """One provider's side of part 1: how its webhooks are signed, and the checker of its channel."""

    name: str
    signer: type
    checker: Checker


async def throughput(args, procs: Procs, env, targets: list[Target]) -> list[dict]:
    """Each level for each provider on the same API processes; with two, they alternate which goes first (pairs)."""
    rows = []
    for workers in args.api_workers:
        port = free_port()
        api = procs.start(f"api-{workers}w", api_cmd(args, port, workers), env)
        wait_http(f"http://{HOST}:{port}/health", api)
        for target in targets:
            signer = target.signer(str(target.checker.channel_id), port)
            warm = [signer.request(f"W{workers}x") for _ in range(200)]  # imports, pools, first-use costs
            accepted, *_ = await fire(port, warm, 8, 60)
            await target.checker.drain(f"W{workers}x", len(accepted), [s for _, s, _ in warm], args.drain_timeout)
        for i, (c, count) in enumerate(args.levels):
            paired = {}
            for target in targets if i % 2 == 0 else targets[::-1]:
                signer = target.signer(str(target.checker.channel_id), port)
                row = await measure(args, procs, api, signer, target.checker, port, f"L{workers}w{c}c{i}", c, count)
                row["provider"] = target.name
                paired[target.name] = row
                rows.append(row)
                print_throughput([row], header=len(rows) == 1)
            if len(paired) == 2:
                ratio = paired["meta"]["rate"] / max(paired["twilio"]["rate"], 1e-9)
                cpu = paired["meta"]["cpu_ms"] / max(paired["twilio"]["cpu_ms"], 1e-9)
                print(f"          meta / twilio: accepted/s {ratio:.2f}, API CPU ms/req {cpu:.2f}", flush=True)
        procs.stop(f"api-{workers}w")
    return rows


async def measure(args, procs: Procs, api, signer, checker: Checker, port: int, tag: str, c: int, count: int):
    """One level (`tag`, unique in the run): `count` webhooks over `c` connections, the CPU of everyone while
    sending, then the drain."""
    workers = int(tag[1 : tag.index("w")])
    reqs = [signer.request(tag) for _ in range(count)]
    load = os.getloadavg()[0]
    cpu = cpu_seconds(api.pid)
    per_proc = {p: cpu_seconds_one(p) for p in _tree(api.pid)}
    others = {name: cpu_seconds(pid) for name, pid in cpu_pids(procs).items()}
    pg_before = {pid: cpu_seconds_one(pid) for pids in (await checker.backends()).values() for pid in pids}
    client = _self_cpu()
    ticks = cpu_ticks()
    waiters = {"api": api.pid, "load generator": os.getpid(), **procs.extra}  # extra: postgres, redis
    waiters |= {n: p.pid for n, p in procs.running.items() if n.endswith("worker")}
    queued = {name: run_delay(pid) for name, pid in waiters.items()}
    spy = profile(args, procs, api.pid, f"{tag}")
    sched = perf_sched(args, tag)
    burners = idle_burners(args.idle_burners)
    paused = [p.pid for n, p in procs.running.items() if n.endswith("worker")] if args.pause_workers else []
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        accepted, lat, bad, wall = await fire(port, reqs, c, args.level_timeout)
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        for b in burners:
            b.kill()
            b.wait()
        if sched is not None:
            sched.send_signal(signal.SIGINT)
            sched.wait(30)
    cpu = cpu_seconds(api.pid) - cpu
    per_proc = sorted(((cpu_seconds_one(p) - c) / wall for p, c in per_proc.items()), reverse=True)
    split = cpu_split(ticks, cpu_ticks(), wall, len(lat))
    others = {name: (cpu_seconds(pid) - others[name]) / wall for name, pid in cpu_pids(procs).items()}
    for who, pids in (await checker.backends()).items():  # backends opened during the level count from 0
        others[f"pg:{who}"] = sum(cpu_seconds_one(p) - pg_before.get(p, 0.0) for p in pids) / wall
    others["load generator"] = (_self_cpu() - client) / wall
    queued = {name: (run_delay(pid) - queued[name]) / wall for name, pid in waiters.items()}
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    check = await checker.drain(tag, len(accepted), [s for _, s, _ in reqs], args.drain_timeout)
    row = {
        "api": workers,
        "c": c,
        "n": count,
        "rate": len(accepted) / wall,
        "p50": pct(lat, 0.5) * 1000,
        "p99": pct(lat, 0.99) * 1000,
        "max": max(lat) * 1000 if lat else float("nan"),
        "bad": sum(bad.values()),
        "bad_detail": bad,
        "cpu_ms": cpu / max(1, len(lat)) * 1000,
        "load": load,
        "accepted": len(accepted),
        "cores": others | {"api": cpu / wall},
        "split": split,
        "api_queued": queued["api"],
        "api_procs": per_proc,
        "queued": queued,
        **check,
    }
    return row


def run_delay(pid: int) -> float:
    """Seconds the threads of pid and its descendants spent runnable but waiting for a CPU (/proc/*/schedstat).
    For this process (the load generator) its own threads only: every other process here is its descendant."""
    total = 0
    for p in [pid] if pid == os.getpid() else _tree(pid):
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _self_cpu() -> float:
    """This process (the load generator, plus the checker's idle connection) in CPU seconds."""
    t = os.times()
    return t.user + t.system


def cpu_pids(procs: Procs) -> dict[str, int]:
    """Every process whose CPU we account for during a level (the API is measured separately)."""
    pids = {name: p.pid for name, p in procs.running.items() if not name.startswith("api")}
    return pids | procs.extra


def profile(args, procs: Procs, pid: int, tag: str) -> subprocess.Popen | None:
    """--profile DIR: py-spy (collapsed stacks) on the API process tree while the level runs."""
    if not args.profile:
        return None
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    out = Path(args.profile) / f"{tag}.txt"
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--subprocesses"]
    cmd += ["--format", "raw", "-o", str(out), "-r", "200"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_sched(args, tag: str) -> subprocess.Popen | None:
    """--perf-sched DIR: `perf sched record -a` while the level runs (diagnosis of where requests wait)."""
    if not args.perf_sched:
        return None
    Path(args.perf_sched).mkdir(parents=True, exist_ok=True)
    cmd = ["perf", "sched", "record", "-a", "-o", str(Path(args.perf_sched) / f"{tag}.data")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf's set-up, before the clock starts
    return proc


def idle_burners(n: int) -> list[subprocess.Popen]:
    """--idle-burners N: N busy loops while a level runs, started exactly as the workers are (own session, so own
    autogroup, at DEV_WORKER_NICE's 19, so the idle class): CPU load at the workers' priority without their
    syscalls, sockets and database traffic (a control for --pause-workers). Started as plain children they would
    share this process's autogroup, and the kernel would give them that group's share of the CPU."""
    setup = _child_setup(None, None, signal.SIGTERM, 19)
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=setup) for _ in range(n)]


HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")


def halt_poll() -> str:
    """The guest's halt-polling window (cpuidle-haltpoll in a KVM guest), or "n/a" where there is none."""
    try:
        return HALT_POLL.read_text().strip() + " ns"
    except OSError:
        return "n/a"


def wake_probe(rounds: int = 3000) -> str:
    """Round trip of one byte between two processes over pipes, both on CPU 0 and across CPUs 0 and 1 (p50, p99).

    A request here crosses processes (load generator, API, Postgres backend) several times, so this cost is in
    every request. On the 2-vCPU KVM guest this was measured on, a wake-up to the other, idle vCPU costs ~50 us
    (the vCPU halted and the host must run it again) against ~4 us on the same CPU (docs/benchmarks/pipeline.md,
    "Noise")."""
    if len(os.sched_getaffinity(0)) < 2:
        return "n/a (one CPU)"
    out = []
    for a, b in ((0, 0), (0, 1)):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.sched_setaffinity(0, {b})
                while os.read(r1, 1) == b"x":
                    os.write(w2, b"x")
            finally:
                os._exit(0)
        mask = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {a})
        lat = []
        try:
            for _ in range(rounds):
                t = time.perf_counter()
                os.write(w1, b"x")
                os.read(r2, 1)
                lat.append(time.perf_counter() - t)
        finally:
            os.write(w1, b"q")
            os.waitpid(child, 0)
            os.sched_setaffinity(0, mask)
            for fd in (r1, w1, r2, w2):
                os.close(fd)
        out.append(f"{'same CPU' if a == b else 'across CPUs'} p50 {pct(lat, 0.5) * 1e6:.0f} us, "
                   f"p99 {pct(lat, 0.99) * 1e6:.0f} us")  # fmt: skip
    return "; ".join(out)


def print_throughput(rows: list[dict], header: bool = True) -> None:
    if header:
        print(
            f"{'provider':>8} {'api procs':>9} {'conc':>4} {'sent':>5} {'accepted/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} "
            f"{'non-2xx':>7} {'API CPU ms/req':>14} {'load1':>5} | {'stored':>6} {'in chat':>7} {'lost':>4} "
            f"{'dup':>3} {'answered':>8} {'drain s':>7}"
        )
    for r in rows:
        print(
            f"{r.get('provider', 'twilio'):>8} {r['api']:>9} {r['c']:>4} {r['n']:>5} {r['rate']:>10.0f} "
            f"{r['p50']:>7.1f} {r['p99']:>7.1f} "
            f"{r['max']:>7.1f} {r['bad']:>7} {r['cpu_ms']:>14.2f} {r['load']:>5.1f} | {r['stored']:>6} "
            f"{r['in_chat']:>7} {r['lost']!s:>4} {r['dup']:>3} {r['answered']:>8} {r['drain_s']:>7.1f}"
            + (f"  non-2xx: {r['bad_detail']}" if r["bad"] else ""),
            flush=True,
        )
        print(
            "          cores busy while sending: "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items())
            + (" (per process: " + " / ".join(f"{v:.2f}" for v in r["api_procs"]) + ")" if "api_procs" in r else "")
        )
        if "split" in r:
            print(f"          per CPU while sending: {r['split']}")
        print(
            f"          API runnable but waiting for a core: {r['api_queued'] * 1000:.0f} ms per second"
            + " ("
            + ", ".join(f"{k} {v * 1000:.0f}" for k, v in r.get("queued", {}).items() if k != "api")
            + ")"
        )


async def send_latency(args, procs: Procs, env, checker: Checker, channel_id) -> list[dict]:
    port = free_port()
    api = procs.start("api-send", uvicorn_cmd("services.channels.main:app", port, workers=1), env)
    wait_http(f"http://{HOST}:{port}/health", api)
    signer = Signer(str(channel_id), port)
    rows = []
    try:
        for relay_ms in args.relay_ms:
            stop_workers(procs)
            start_workers(procs, env, relay_ms)
            tag = f"S{relay_ms}r"
            warm = [signer.request(tag + "w") for _ in range(20)]
            await fire(port, warm, 1, 60)
            await checker.drain(tag + "w", len(warm), [s for _, s, _ in warm], args.drain_timeout)
            reqs = [signer.request(tag) for _ in range(args.send_count)]
            sent_at: dict[str, float] = {}
            load = os.getloadavg()[0]
            pids = cpu_pids(procs) | {"api": api.pid}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            workers = ("chat-worker", "channels-worker")
            spies = [profile(args, procs, procs.running[n].pid, f"{tag}-{n}") for n in workers]
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                for _, sender, raw in reqs:
                    sent_at[sender] = time.time()
                    status = await _exchange(reader, writer, raw)
                    if status != 200:
                        raise RuntimeError(f"webhook answered {status}")
                    await asyncio.sleep(args.send_gap)
            finally:
                writer.close()
            await checker.drain(tag, len(reqs), list(sent_at), args.drain_timeout)
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / len(reqs) for name, pid in pids.items()}
            for spy in spies:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
            lat = [(checker.sent_at[s] - t) * 1000 for s, t in sent_at.items() if s in checker.sent_at]
            row = {
                "relay": relay_ms,
                "n": len(reqs),
                "got": len(lat),
                "p50": pct(lat, 0.5),
                "p90": pct(lat, 0.9),
                "p99": pct(lat, 0.99),
                "max": max(lat, default=float("nan")),
                "load": load,
            }
            rows.append(row)
            print_send([row], header=len(rows) == 1)
            # Sending, waiting and draining: what each process spent per message (the path's CPU, not wall time).
            spent = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(cpu.items(), key=lambda kv: -kv[1]))
            print(f"         CPU ms per message: {spent} (total {sum(cpu.values()):.1f})", flush=True)
            print(f"         median ms per hop: {await checker.hops(env['REDIS_URL'], sent_at)}", flush=True)
    finally:
        procs.stop("api-send")
    return rows


def print_send(rows: list[dict], header: bool = True) -> None:
    if header:
        print(
            f"{'relay ms':>8} {'sent':>5} {'answered':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'load1':>5}"
        )
    for r in rows:
        print(
            f"{r['relay']:>8} {r['n']:>5} {r['got']:>8} {r['p50']:>7.1f} {r['p90']:>7.1f} {r['p99']:>7.1f} "
            f"{r['max']:>7.1f} {r['load']:>5.1f}",
            flush=True,
        )


def stack_env(
    db_url: str, redis_url: str, jwks_json: str, log_level: str, llm_port: int, tw_port: int, meta_port: int
) -> dict:
    """Every process's environment: the embedded servers, the stand-ins, no auth service (platform defaults)."""
    return os.environ | {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRETS_KEY": SECRETS_KEY,
        "JWKS_JSON": jwks_json,
        "AUTH_URL": "",
        "LOG_LEVEL": log_level,
        "CHANNELS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CHANNELS_TWILIO_API_URL": f"http://{HOST}:{tw_port}",
        "CHANNELS_META_GRAPH_URL": f"http://{HOST}:{meta_port}",
        "CHAT_LLM_BASE_URL": f"http://{HOST}:{llm_port}/v1",
        "CHAT_LLM_API_KEY": LLM_KEY,
        "CHAT_LLM_MODEL": "stand-in-model",
        "CHAT_TENANT_SETTINGS_URL": "",
        "CHAT_SEARCH_URL": "",
    }


async def run(args, db_url: str, redis_url: str, logdir: Path, servers: dict[str, int]) -> None:
    from tests.support.keys import TestKeys

    procs = Procs(logdir)
    procs.extra = servers
    llm_port, tw_port, meta_port = free_port(), free_port(), free_port()
    keys = TestKeys.generate().jwks_json
    env = stack_env(db_url, redis_url, keys, args.log_level, llm_port, tw_port, meta_port)
    try:
        llm = procs.start("llm", uvicorn_cmd("bench.webhooks:llm_app", llm_port, factory=True), env)
        tw = procs.start("twilio", uvicorn_cmd("bench.webhooks:twilio_app", tw_port, factory=True), env)
        wait_http(f"http://{HOST}:{llm_port}/v1/models", llm)
        wait_http(f"http://{HOST}:{tw_port}/_bench/sends", tw)
        tenant_id, channel_id = await setup_channel(db_url)
        checker = Checker(db_url, tenant_id, channel_id, tw_port)
        targets = [Target("twilio", Signer, checker)]
        if "meta" in args.providers:
            graph = procs.start("meta", uvicorn_cmd("bench.webhooks:meta_app", meta_port, factory=True), env)
            wait_http(f"http://{HOST}:{meta_port}/_bench/sends", graph)
            meta_tenant, meta_channel = await setup_channel(db_url, "meta")
            meta_checker = Checker(db_url, meta_tenant, meta_channel, meta_port, MetaSigner.prefix)
            targets.append(Target("meta", MetaSigner, meta_checker))
        if "twilio" not in args.providers:
            targets = targets[1:]
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()}, LOG_LEVEL={args.log_level}, "
              f"fsync={'off' if os.environ.get('PG_FAST') else 'on'}", flush=True)  # fmt: skip
        print(f"wake-up round trip between two processes: {wake_probe()}; guest halt polling {halt_poll()}", flush=True)
        if args.levels:
            start_workers(procs, env, args.throughput_relay_ms, args.worker_nice)
            mode = (
                "workers paused while sending (SIGSTOP), then drained"
                if args.pause_workers
                else f"workers running at nice {args.worker_nice}"
                if args.worker_nice
                else "workers running"
            )
            names = " and ".join(t.name for t in targets)
            print(f"\n1. signed webhooks: {names} (relay {args.throughput_relay_ms} ms, {mode})", flush=True)
            await throughput(args, procs, env, targets)
        if args.relay_ms:
            print(f"\n2. webhook -> Messages.create at the Twilio stand-in ({args.send_gap * 1000:.0f} ms apart)")
            await send_latency(args, procs, env, checker, channel_id)
        for target in targets:
            print(f"\nduplicate sends at the {target.name} stand-in over the run: {target.checker.duplicate_sends}")
        print(f"load average at the end: {os.getloadavg()}")
        await checker.engine.dispose()
        for target in targets:
            await target.checker.engine.dispose()
    finally:
        procs.stop_all()


def _levels(value: str) -> list[tuple[int, int]]:
    return [(int(c), int(n)) for c, n in (p.split(":") for p in value.split(",") if p)]


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=_levels, default=_levels("1:300,8:1500,32:2000,64:2000"),
                        help="concurrency:count pairs ('' skips part 1)")  # fmt: skip
    parser.add_argument("--api-workers", type=_ints, default=[1, 2], help="API processes to try (see --api-spread)")
    parser.add_argument(
        "--providers", type=lambda v: [p for p in v.split(",") if p], default=["twilio"],
        help="part 1's providers: twilio, meta, or twilio,meta (paired, with the ratio per level)",
    )  # fmt: skip
    parser.add_argument("--throughput-relay-ms", type=int, default=200, help="EVENTS_RELAY_INTERVAL_MS for part 1")
    parser.add_argument("--relay-ms", type=_ints, default=[200, 20], help="relay intervals for part 2 ('' skips)")
    parser.add_argument("--send-count", type=int, default=200, help="messages per relay interval in part 2")
    parser.add_argument("--send-gap", type=float, default=0.05, help="seconds between part-2 webhooks")
    parser.add_argument("--level-timeout", type=float, default=120)
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument(
        "--pause-workers", action="store_true", help="SIGSTOP the workers while sending (the API's own capacity)"
    )
    parser.add_argument(
        "--worker-nice", type=int, default=WORKER_NICE,
        help=f"nice of the workers in part 1 (default {WORKER_NICE}: DEV_WORKER_NICE's, as `make run`; 0: as the API)",
    )  # fmt: skip
    parser.add_argument(
        "--halt-poll-ns", type=int, default=None,
        help=f"set {HALT_POLL} for the run (root, KVM guests with cpuidle-haltpoll), restored after",
    )  # fmt: skip
    parser.add_argument(
        "--api-spread", choices=["reuseport", "accept"], default="reuseport",
        help="several API processes: own SO_REUSEPORT socket each (replicas; default) or uvicorn --workers' shared one",
    )  # fmt: skip
    parser.add_argument("--idle-burners", type=int, default=0, help="SCHED_IDLE busy loops while sending (diagnosis)")
    parser.add_argument("--perf-sched", default="", help="directory for `perf sched record` data per level")
    parser.add_argument(
        "--profile", default="", help="py-spy collapsed stacks to this directory (part 1: the API, part 2: workers)"
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of every process (INFO = production)")
    args = parser.parse_args()
    restore = None
    if args.halt_poll_ns is not None:  # a machine setting: set for this run only, put back after
        restore = HALT_POLL.read_text().strip()
        HALT_POLL.write_text(str(args.halt_poll_ns))
    try:
        _main(args)
    finally:
        if restore is not None:
            HALT_POLL.write_text(restore)


def _main(args) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    os.environ.setdefault("PG_FAST", "1")  # fsync off like the other benches; PG_FAST= (empty) for fsync on
    if not os.environ["PG_FAST"]:
        del os.environ["PG_FAST"]
    pg = EmbeddedPostgres(base / "pg", port=free_port()).start()
    rd = EmbeddedRedis(base / "redis", port=free_port()).start()
    try:
        upgrade_all(pg.url)
        print(f"logs in {base}")
        uvloop.run(run(args, pg.url, rd.url, base, {"postgres": pg.proc.pid, "redis": rd.proc.pid}))
    finally:
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
