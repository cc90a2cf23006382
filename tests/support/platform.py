"""The whole platform for whole-stack tests (security, pipeline): the service apps and the gateway over real HTTP,
stand-in Telegram, Twilio, Meta Graph and LLM servers, their workers in the test's loop, and helpers that create
tenants and objects through the public API only."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib
import io
import math
import os
import struct
import subprocess
import sys
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from twilio.request_validator import RequestValidator

from devtools.embedded import free_port
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from services.auth.config import AuthSettings
from services.channels.config import ChannelsSettings
from services.chat.config import ChatSettings
from services.search.config import SearchSettings
from services.transcription.config import TranscriptionSettings
from shared.crypto import SecretBox
from shared.events.channels import INBOUND_STREAM
from tests.support.llm import LLMStandIn, text_of
from tests.support.plugin import serve_app, stop_servers
from tests.support.providers import MetaGraphStandIn, TelegramStandIn, TwilioStandIn
from tests.support.tenants import PASSWORD, Tenant, tenant_admin

__all__ = [
    "LLM_KEY", "META_APP_SECRET", "META_TOKEN", "METHODS", "PASSWORD", "TWILIO_SID", "WIDGET_ORIGIN", "Platform",
    "SSEEvent", "SSEListener", "Tenant", "from_ip", "platform", "wav_bytes", "worker_process",
]  # fmt: skip

LLM_KEY = "sk-security-llm-key-5f1e"
TWILIO_SID = "AC" + "5" * 32
META_TOKEN = "EAAGstandin" + "7" * 40  # shaped like a Meta access token, not one
META_APP_SECRET = "5e" * 16
META_NODES = {"whatsapp_cloud": "phone_number_id", "instagram": "page_id", "messenger": "page_id"}
METHODS = ("get", "put", "post", "delete", "patch")
WIDGET_ORIGIN = "https://shop.example"  # the page web channels of web_channel() allow
SERVICES = ("auth", "chat", "channels", "transcription", "search")
ROOT = Path(__file__).resolve().parents[2]


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A short mono 16-bit sine tone: real audio any decoder accepts."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def worker_process(p: Platform, service: str, settings: dict[str, str]) -> subprocess.Popen:
    """`python -m services.<service>.worker` on the test servers, as its own process (so it can be SIGKILLed)."""
    prefix = f"{service.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith((prefix, "EVENTS_"))} | {
        "DATABASE_URL": p.stack.database_url,
        "REDIS_URL": p.stack.redis_url,
        "SECRETS_KEY": "test-secrets-key",
        "JWKS_JSON": p.stack.keys.jwks_json,
        "AUTH_URL": p.urls["auth"],
        "LOG_LEVEL": "WARNING",
        "EVENTS_RELAY_INTERVAL_MS": "20",
    }
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{service}.worker"],
        cwd=ROOT,
        env=env | settings,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def from_ip(ip: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers that make the gateway see the request as coming from `ip` (platform(..., client_ips=True))."""
    return {**(headers or {}), "X-Forwarded-For": ip}


SERVED = "served:"  # a setting's value `served:<service>`: that service's URL on this platform (served before it)


def served_url(urls: dict[str, str], value):
    return urls[value.removeprefix(SERVED)] if isinstance(value, str) and value.startswith(SERVED) else value


class Platform:
    def __init__(
        self, stack, urls: dict[str, str], llm, tg, tw, storage: Path, overrides: dict[str, dict] | None = None
    ) -> None:
        self.stack = stack
        self.overrides = overrides or {}
        self.urls = urls
        self.llm = llm
        self.tg = tg
        self.tw = tw
        self.storage = storage
        self.gw = httpx.AsyncClient(base_url=urls["gateway"], timeout=60)
        self.meta: MetaGraphStandIn | None = None  # set by platform()
        self.workers: list[tuple[asyncio.Event, asyncio.Task]] = []
        self._engine: AsyncEngine | None = None

    # ---- settings of each service, pointed at the stand-ins and at each other
    def settings(self, name: str, **kw):
        s, u = self.stack, self.urls
        kw = self.overrides.get(name, {}) | kw
        kw = {k: served_url(u, v) for k, v in kw.items()}
        if name == "auth":
            return s.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1, **kw)
        if name == "chat":
            base = dict(
                llm_base_url=f"{u['llm']}/v1",
                llm_api_key=LLM_KEY,
                llm_model="stand-in-model",
                llm_timeout_seconds=5.0,
                llm_max_retries=1,
                auth_url=u["auth"],
                tenant_settings_url=u["auth"],
                tenant_cache_seconds=0.5,
                events_relay_interval_ms=20,
                search_url="",
            )
            return s.settings(ChatSettings, **(base | kw))
        if name == "channels":
            base = dict(
                telegram_api_url=u["telegram"],
                twilio_api_url=u["twilio"],
                meta_graph_url=u["meta"],
                public_base_url=u["gateway"],
                auth_url=u["auth"],
                events_relay_interval_ms=20,
            )
            return s.settings(ChannelsSettings, **(base | kw))
        if name == "transcription":
            base = dict(
                storage_dir=str(self.storage / "transcription"),
                auth_url=u["auth"],
                queued_grace_seconds=0,
            )
            return s.settings(TranscriptionSettings, **(base | kw))
        if name == "search":
            return s.settings(SearchSettings, auth_url=u["auth"], events_relay_interval_ms=20, **kw)
        raise KeyError(name)

    def start_worker(self, service: str, run_kwargs: dict | None = None, *, settings=None, **kw) -> asyncio.Event:
        """The service's worker (`run(settings, stop, **run_kwargs)`) in this event loop, stopped at the end;
        `settings` replaces the platform's settings of that service (else `kw` overrides them)."""
        run = importlib.import_module(f"services.{service}.worker").run
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings or self.settings(service, **kw), stop, **(run_kwargs or {})))
        self.workers.append((stop, task))
        return stop

    @property
    def engine(self) -> AsyncEngine:
        """One small pool for the test's own SQL (a fuzz example reads counts twice: no connection setup each time)."""
        if self._engine is None:
            self._engine = create_async_engine(self.stack.database_url, pool_size=2, pool_pre_ping=True)
        return self._engine

    async def sql(self, query: str, **params):
        async with self.engine.begin() as conn:  # committed: a test may also change rows (UPDATE ...)
            result = await conn.execute(text(query), params)
            return result.all() if result.returns_rows else []

    async def execute(self, statement: str, **params) -> None:
        """A committed write behind the API's back (test setup an operator would do, e.g. granting superuser)."""
        async with self.engine.begin() as conn:
            await conn.execute(text(statement), params)

    async def login(self, email: str, tenant_id: str | None = None, password: str = PASSWORD) -> dict:
        """A new session (token pair) through the gateway."""
        body = {"email": email, "password": password} | ({"tenant_id": tenant_id} if tenant_id else {})
        r = await self.gw.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def member(self, owner: Tenant, name: str, role: str) -> Tenant:
        """A second user (with a tenant of its own) made a `role` member of `owner`'s tenant, signed in to it."""
        m = await self.tenant(name)
        await self.execute(
            "INSERT INTO auth.membership (id, tenant_id, user_id, role, created_at, updated_at)"
            " VALUES (:id, :t, :u, :r, now(), now())",
            id=uuid.uuid4(),
            t=uuid.UUID(owner.tenant_id),
            u=uuid.UUID(m.user_id),
            r=role,
        )
        m.tenant_id = owner.tenant_id
        m.token = (await self.login(m.email, owner.tenant_id))["access_token"]
        return m

    # ---- tenants and objects, through the gateway like a customer would
    async def tenant(self, name: str, **kw) -> Tenant:
        """A tenant admin through the gateway, with an admin API key (tests/support/tenants.py)."""
        return await tenant_admin(self.gw, name, **({"api_key": True} | kw))

    async def answering_channel(self, t: Tenant, kind: str, **credentials: str) -> dict:
        """A default assistant answering at once (buffer off) on a `kind` channel, with chat and channels workers."""
        await self.gw.post("/api/v1/assistants", headers=t.headers, json={"name": "Bot", "is_default": True})
        r = await self.gw.patch(f"/api/v1/tenants/{t.tenant_id}", headers=t.headers, json={"buffer_enabled": False})
        assert r.status_code == 200, r.text
        ch = await self.channel(t, kind, **credentials)
        self.start_worker("chat")
        self.start_worker("channels")
        return ch

    async def channel(self, t: Tenant, kind: str, *, bot_token: str = "", auth_token: str = "") -> dict:
        creds = (
            {"bot_token": bot_token}
            if kind == "telegram"
            else {"account_sid": TWILIO_SID, "auth_token": auth_token, "from_number": "whatsapp:+14155238886"}
        )
        r = await self.gw.post(
            "/api/v1/channels",
            headers=t.headers,
            json={
                "type": "telegram" if kind == "telegram" else "whatsapp_twilio",
                "name": f"{kind}-{t.name}",
                "credentials": creds,
            },
        )
        assert r.status_code == 201, r.text
        ch = r.json()
        ch["auth_token"] = auth_token
        if kind == "telegram":
            rows = await self.sql("SELECT credentials_encrypted FROM channels.channel WHERE id = :i", i=ch["id"])
            ch["secret"] = orjson.loads(SecretBox("test-secrets-key").decrypt(rows[0][0]))["webhook_secret"]
        return ch

    async def meta_channel(
        self, t: Tenant, kind: str, node_id: str = "1065550001", app_secret: str = META_APP_SECRET, **settings
    ) -> dict:
        """A whatsapp_cloud, instagram or messenger channel on the Graph stand-in's token; its answer (with
        `verify_token`)."""
        creds = {"access_token": META_TOKEN, "app_secret": app_secret, META_NODES[kind]: node_id}
        r = await self.gw.post(
            "/api/v1/channels",
            headers=t.headers,
            json={"type": kind, "name": f"{kind}-{t.name}", "credentials": creds, "settings": settings},
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def meta_webhook(self, ch: dict, notification: dict, app_secret: str = META_APP_SECRET) -> httpx.Response:
        """POST a notification to the channel's Meta webhook, signed as Meta signs (HMAC-SHA256 of the raw body)."""
        body = orjson.dumps(notification)
        signature = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
        return await self.gw.post(
            f"/webhooks/meta/{ch['id']}",
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )

    async def web_channel(self, t: Tenant, origins: tuple[str, ...] = (WIDGET_ORIGIN,), **settings) -> dict:
        """A web chat channel whose widget answers at once (buffer off unless `settings` say otherwise)."""
        body = {"allowed_origins": list(origins), "buffer_enabled": False} | settings
        r = await self.gw.post(
            "/api/v1/channels", headers=t.headers, json={"type": "web", "name": f"web-{t.name}", "settings": body}
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def widget_session(self, ch: dict, origin: str | None = WIDGET_ORIGIN, **body) -> httpx.Response:
        """POST /api/v1/widget/sessions as the widget on a page of `origin` (None: no Origin header)."""
        headers = {"Origin": origin} if origin else {}
        return await self.gw.post(
            "/api/v1/widget/sessions", json={"public_key": ch["public_key"], **body}, headers=headers
        )

    def telegram_update(self, update_id: int, text_: str, chat_id: int = 4242) -> dict:
        return {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1763790000,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ana"},
                "text": text_,
            },
        }

    async def telegram(
        self, ch: dict, update_id: int, text_: str, secret: str | None = None, chat_id: int = 4242
    ) -> httpx.Response:
        return await self.gw.post(
            f"/webhooks/telegram/{ch['id']}",
            json=self.telegram_update(update_id, text_, chat_id),
            headers={"X-Telegram-Bot-Api-Secret-Token": secret if secret is not None else ch["secret"]},
        )

    async def telegram_photo(
        self, ch: dict, update_id: int, file_ids: list[str], caption: str | None = None, chat_id: int = 4242
    ) -> httpx.Response:
        """A photo as Telegram sends it: one PhotoSize per size, smallest first (`file_ids`, served by `tg.files`)."""
        update = self.telegram_update(update_id, "", chat_id)
        message = update["message"]
        del message["text"]
        message["photo"] = [
            {"file_id": f, "file_unique_id": f"u{n}", "width": 90 * (n + 1), "height": 60 * (n + 1)}
            for n, f in enumerate(file_ids)
        ]
        if caption is not None:
            message["caption"] = caption
        return await self.gw.post(
            f"/webhooks/telegram/{ch['id']}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": ch["secret"]}
        )

    def twilio_form(
        self, sid: str, body: str, sender: str = "whatsapp:+5511999990000", media: tuple[tuple[str, str], ...] = ()
    ) -> dict[str, str]:
        """`media`: (MediaUrl, MediaContentType) pairs, e.g. the Twilio stand-in's f"{urls['twilio']}/media/<id>"."""
        form = {
            "MessageSid": sid,
            "AccountSid": TWILIO_SID,
            "From": sender,
            "To": "whatsapp:+14155238886",
            "Body": body,
            "NumMedia": str(len(media)),
            "ProfileName": "Caio",
        }
        for n, (url, content_type) in enumerate(media):
            form[f"MediaUrl{n}"], form[f"MediaContentType{n}"] = url, content_type
        return form

    async def twilio(
        self,
        ch: dict,
        sid: str,
        body: str,
        auth_token: str | None = None,
        sender: str = "whatsapp:+5511999990000",
        media: tuple[tuple[str, str], ...] = (),
    ) -> httpx.Response:
        form = self.twilio_form(sid, body, sender, media)
        url = f"{self.urls['gateway']}/webhooks/twilio/{ch['id']}"
        sig = RequestValidator(auth_token or ch["auth_token"]).compute_signature(url, form)
        return await self.gw.post(f"/webhooks/twilio/{ch['id']}", data=form, headers={"X-Twilio-Signature": sig})

    async def inbound_count(self) -> tuple[int, int]:
        """Inbound messages stored by channels, and channels.inbound.v1 events in its outbox."""
        [(msgs, events)] = await self.sql(
            "SELECT (SELECT count(*) FROM channels.inbound_message),"
            " (SELECT count(*) FROM channels.outbox WHERE stream = :s)",
            s=INBOUND_STREAM,
        )
        return msgs, events

    @staticmethod
    def user_texts(request: dict) -> list[str]:
        """The user turns of a request the LLM stand-in recorded."""
        return [text_of(m["content"]) for m in request["body"]["messages"] if m["role"] == "user"]


@contextlib.asynccontextmanager
async def platform(
    stack,
    tmp_path: Path,
    tw_token: str = "x",
    llm_key: str = LLM_KEY,
    *,
    rate_limits: dict[str, dict[str, str]] | None = None,
    client_ips: bool = False,
    settings: dict[str, dict] | None = None,
    app_kwargs: dict[str, dict] | None = None,
    services: tuple[str, ...] = SERVICES,
    kind: type[Platform] = Platform,
) -> AsyncIterator[Platform]:
    """`rate_limits`: turn the gateway's limits on with these groups (default: off). `client_ips`: the gateway trusts
    the test client as a proxy, so `from_ip(...)` headers set the client address it sees. `settings`: per app
    ("auth", "chat", ..., "gateway") setting overrides (app and worker). `app_kwargs`: per service, extra
    arguments of its create_app (e.g. an injected resolver). `services`: the apps to serve (the gateway routes the
    others nowhere). `kind`: a Platform subclass with a suite's own helpers."""
    llm = LLMStandIn(api_key=llm_key)
    tg = TelegramStandIn()
    tw = TwilioStandIn(TWILIO_SID, tw_token)
    meta = MetaGraphStandIn({META_TOKEN})
    servers: list = []
    async with contextlib.AsyncExitStack() as es:
        urls = {
            "llm": await es.enter_async_context(serve_app(llm.app, servers=servers)),
            "telegram": await es.enter_async_context(serve_app(tg.app, servers=servers)),
            "twilio": await es.enter_async_context(serve_app(tw.app, servers=servers)),
            "meta": await es.enter_async_context(serve_app(meta.app, servers=servers)),
        }
        gw_port = free_port()
        urls["gateway"] = f"http://127.0.0.1:{gw_port}"
        overrides = settings or {}
        p = kind(stack, urls, llm, tg, tw, tmp_path, overrides)
        p.meta = meta
        for name in services:
            create_app = importlib.import_module(f"services.{name}.app").create_app
            app = create_app(p.settings(name), **(app_kwargs or {}).get(name, {}))
            # like the deployments: the service decides itself whom to believe for X-Forwarded-For (shared/net.py)
            urls[name] = await es.enter_async_context(serve_app(app, proxy_headers=False, servers=servers))
        gw_kw = dict(
            **{f"{n}_upstream": urls[n] for n in services},
            auth_url=urls["auth"],
            rate_limits_enabled=rate_limits is not None,
        )
        if rate_limits is not None:
            gw_kw["rate_limits"] = rate_limits
        if client_ips:
            gw_kw["trusted_proxies"] = ["127.0.0.1"]
        gw = create_gateway(stack.settings(GatewaySettings, **(gw_kw | overrides.get("gateway", {}))))
        await es.enter_async_context(serve_app(gw, port=gw_port, proxy_headers=False, servers=servers))
        es.callback(stop_servers, servers)  # the last in, so the first out: every server stops at once
        try:
            yield p
        finally:
            for stop, _ in p.workers:
                stop.set()
            await asyncio.gather(*(asyncio.wait_for(t, 30) for _, t in p.workers), return_exceptions=True)
            await p.gw.aclose()
            if p._engine is not None:
                await p._engine.dispose()


@dataclass
class SSEEvent:
    id: str | None
    event: str
    data: str


class SSEListener:
    """Reads a server-sent event stream in the background; `next(event)` takes the oldest unread event of that name
    (waiting for it), leaving the others for their own `next`."""

    def __init__(self, client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
        self.client, self.path, self.headers = client, path, headers
        self.received: list[SSEEvent] = []
        self.arrived = asyncio.Condition()
        self.status: int | None = None
        self.opened = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> SSEListener:
        self.task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.opened.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _read(self) -> None:
        async with self.client.stream("GET", self.path, headers=self.headers, timeout=None) as r:
            self.status = r.status_code
            self.opened.set()
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line == "":
                    if "data" in fields:
                        async with self.arrived:
                            self.received.append(
                                SSEEvent(fields.get("id"), fields.get("event", "message"), fields["data"])
                            )
                            self.arrived.notify_all()
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    async def next(self, event: str, timeout: float = 1.0) -> SSEEvent:
        """The oldest unread event named `event`, within `timeout` seconds."""

        def first() -> SSEEvent | None:
            return next((e for e in self.received if e.event == event), None)

        async with asyncio.timeout(timeout), self.arrived:
            found = await self.arrived.wait_for(first)
            self.received.remove(found)
            return found

    def drain(self) -> list[SSEEvent]:
        """Every unread event."""
        out, self.received = self.received, []
        return out
