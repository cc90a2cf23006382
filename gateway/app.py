"""create_app() for the gateway: a plain ASGI callable (request context, CORS, then the edge: route, authenticate,
rate-limit, proxy) that answers proxied routes without entering FastAPI, in front of a small FastAPI app that serves
the gateway's own routes (/health, /ready, /metrics, /docs, /openapi.json, /admin, /widget.js) and the lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.middleware.cors import CORSMiddleware

from gateway.admin_static import admin_router
from gateway.config import GatewaySettings, get_settings
from gateway.edge_auth import EdgeAuthenticator
from gateway.openapi import MergedOpenAPI
from gateway.proxy import REQUEST_DROP, ClientGone, UpstreamError, Upstreams, forward, forwarded_headers
from gateway.ratelimit import AuthFailures, EdgeRateLimiter
from gateway.routes import Route, RoutingTable, has_dot_segments, webhook_channel
from gateway.upstream_client import UpstreamPool
from gateway.widget_cors import WidgetCors
from gateway.widget_static import widget_router
from shared.app import RequestContextMiddleware, create_service_app
from shared.auth import build_verifier
from shared.errors import AppError, Unauthorized, problem
from shared.net import TrustedProxies
from shared.service_auth import ServiceTokenProvider

log = structlog.get_logger("gateway")


class _RouteLabel:
    """What RequestContextMiddleware reads as the metrics/access-log route: the table pattern, never the raw path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class EdgeState:
    """Everything the edge needs, built in the lifespan (clients must live on the running loop)."""

    upstreams: Upstreams
    auth: EdgeAuthenticator
    limiter: EdgeRateLimiter
    failures: AuthFailures
    openapi: MergedOpenAPI
    service_tokens: ServiceTokenProvider

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.table = RoutingTable(settings)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.labels = {pattern: _RouteLabel(pattern) for pattern in (r.pattern for _, r in self.table.routes)}
        self.labels["/internal/*"] = _RouteLabel("/internal/*")
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-resource-policy", b"same-site"),
        ]
        if settings.hsts_seconds:
            headers.append((b"strict-transport-security", f"max-age={settings.hsts_seconds}".encode()))
        self.security_headers = headers  # every answer
        self.api_headers = [*headers, (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]


class EdgeMiddleware:
    """Pure ASGI: proxied routes are answered here; everything else goes to the gateway's FastAPI routes."""

    def __init__(self, app, *, state: EdgeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        path: str = scope["path"]
        route = state.table.match(path)
        if route is None:
            if path.startswith("/internal"):
                scope["route"] = state.labels["/internal/*"]
                await self._problem(scope, receive, send, 404, f"No route for {scope['method']} {path}")
                return
            await self.app(scope, receive, self._with_headers(send, state.security_headers))
            return
        scope["route"] = state.labels[route.pattern]
        try:
            await self._proxy(scope, receive, send, route)
        except AppError as exc:
            headers = dict(exc.headers)
            await self._problem(scope, receive, send, exc.status, exc.detail, code=exc.code, headers=headers)
        except UpstreamError as exc:
            await self._problem(scope, receive, send, exc.status, exc.detail)
        except ClientGone:
            return

    async def _proxy(self, scope, receive, send, route: Route) -> None:
        state = self.state
        path = scope["path"]
        method = scope["method"]
        if has_dot_segments(path):
            raise AppError("path must not contain '.' or '..' segments")
        authorization = api_key = None
        content_length: int | None = None
        chunked = False
        drop_connection: set[bytes] = set()
        raw_headers = scope["headers"]
        for name, value in raw_headers:
            if name == b"authorization":
                authorization = value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    raise AppError("invalid Content-Length") from None
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                drop_connection.update(t.strip().lower() for t in value.split(b","))
        client_ip, fwd = forwarded_headers(scope, raw_headers, state.proxies)

        public = state.table.is_public(method, path)
        if public:
            identity = None
            group = "auth_public" if route.upstream == "auth" else route.group
            if group == "webhooks":
                # per channel (providers call every tenant from the same addresses), plus an optional per-IP
                # ceiling; one script call either way
                channel = webhook_channel(path)
                checks = (
                    [("webhooks", "channel", channel), (group, "ip", client_ip)]
                    if channel
                    else [(group, "ip", client_ip)]
                )
            else:
                checks = [(group, "ip", client_ip)]
        else:
            try:
                identity = await state.auth.authenticate(authorization, api_key, state.failures.blocked(client_ip))
            except Unauthorized:
                if authorization is None and api_key is None:
                    raise  # nothing presented, nothing guessed: not counted
                refusal = await state.failures.failed(client_ip)
                if refusal is None:
                    raise
                await self._refuse(scope, receive, send, refusal)
                return
            group = route.group
            checks = [(group, identity.kind if identity.kind == "api_key" else "user", identity.rate_key)]
            if identity.tenant is not None:
                structlog.contextvars.bind_contextvars(tenant_id=identity.tenant)
                checks.append((group, "tenant", identity.tenant))
        refusal = await state.limiter.check(checks)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return

        rid = scope.get("state", {}).get("request_id", "")
        headers = [
            (n, v)
            for n, v in raw_headers
            if n not in REQUEST_DROP and n not in drop_connection and not (identity and n == b"authorization")
        ]
        if identity is not None and identity.authorization is not None:
            headers.append((b"authorization", identity.authorization))
        elif identity is not None and authorization is not None:
            headers.append((b"authorization", authorization))
        headers.extend(fwd)
        if rid:
            headers.append((b"x-request-id", rid.encode()))
        extra = [*state.api_headers, *state.limiter.policy_headers(checks[0][0], checks[0][1])]
        await forward(
            scope,
            receive,
            send,
            route=route,
            upstreams=state.upstreams,
            headers=headers,
            content_length=content_length,
            chunked=chunked,
            buffer_below=state.settings.buffer_body_below,
            extra_response_headers=extra,
        )

    async def _refuse(self, scope, receive, send, refusal) -> None:
        await self._problem(
            scope,
            receive,
            send,
            429,
            f"rate limit of {refusal.limit.amount} per {refusal.limit.get_expiry()} s reached; "
            f"retry in {refusal.retry_after} s",
            code="rate_limited",
            raw_headers=refusal.headers(),
        )

    async def _problem(
        self,
        scope,
        receive,
        send,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        response = problem(status, detail, code=code, headers=headers, instance=scope["path"])
        response.raw_headers.extend(raw_headers or [])
        response.raw_headers.extend(self.state.api_headers)
        await response(scope, receive, send)

    @staticmethod
    def _with_headers(send, extra: list[tuple[bytes, bytes]]):
        async def wrapped(message) -> None:
            if message["type"] == "http.response.start":
                present = {n.lower() for n, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        return wrapped


async def gateway_readiness(app: FastAPI) -> tuple[bool, dict[str, Any]]:
    """Each upstream's /health with its latency, and Redis; ready when every upstream answers.

    Redis being down is reported but does not make the gateway unready: rate limits fall back to memory.
    """
    state: EdgeState = app.state.edge
    checks: dict[str, Any] = {}

    async def upstream(name: str, pool: UpstreamPool) -> None:
        started = time.perf_counter()
        try:
            resp = await pool.request("GET", b"/health", [(b"accept", b"application/json")], read_timeout=2)
            async for _ in resp.chunks():
                pass
            ok = resp.status == 200
            checks[name] = {
                "kind": "upstream",
                "url": pool.url,
                "status": "ok" if ok else "down",
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                **({} if ok else {"error": f"HTTP {resp.status}"}),
            }
        except UpstreamError as exc:
            checks[name] = {"kind": "upstream", "url": pool.url, "status": "down", "error": exc.detail}

    async def redis() -> None:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(app.state.redis.ping(), 1.0)
            checks["redis"] = {"kind": "redis", "status": "ok", "latency_ms": _ms(started)}
        except Exception as exc:  # noqa: BLE001 - any failure means down
            checks["redis"] = {
                "kind": "redis",
                "status": "degraded",
                "error": type(exc).__name__,
                "fallback": "per-process rate limits",
            }

    await asyncio.gather(redis(), *(upstream(n, p) for n, p in state.upstreams.pools.items()))
    ok = all(c["status"] == "ok" for c in checks.values() if c["kind"] == "upstream")
    return ok, dict(sorted(checks.items()))


async def readiness_details(request: Request) -> bool:
    """/ready details (upstream URLs, latencies, errors) only for a platform superuser's or a service's token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    state: EdgeState = request.app.state.edge
    if scheme.lower() != "bearer" or not token or token.startswith(state.settings.api_key_prefix):
        return False
    try:
        principal = await state.auth.verifier.verify(token.strip())
    except AppError:
        return False
    return principal.kind == "service" or (principal.kind == "user" and principal.is_superuser)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def create_app(settings: GatewaySettings | None = None) -> GatewayApp:
    settings = settings or get_settings()
    state = EdgeState(settings)

    @asynccontextmanager
    async def edge_lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.upstreams = Upstreams(settings)
        verifier = app.state.verifier = build_verifier(settings, app.state.http)  # followed by shared/auth_watch.py
        state.service_tokens = ServiceTokenProvider(
            app.state.http, settings.auth_upstream, "gateway", settings.service_secret
        )
        state.auth = EdgeAuthenticator(settings, verifier, app.state.http, state.service_tokens)
        state.limiter = EdgeRateLimiter(settings)
        state.failures = AuthFailures(state.limiter)
        own = app.openapi()  # the gateway's own routes, with their problem answers (shared/openapi.py)
        state.openapi = MergedOpenAPI(
            state.table, settings.upstreams(), app.state.http, own, settings.openapi_cache_seconds
        )
        app.state.edge = state
        try:
            yield
        finally:
            await state.upstreams.aclose()
            await state.limiter.aclose()

    router = APIRouter(tags=["operations"])

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        return Response(await request.app.state.edge.openapi.document(), media_type="application/json")

    app = create_service_app(
        settings,
        title="Atende API",
        description="The platform's public API: every service behind one gateway.",
        routers=[router, admin_router(settings.admin_dir), widget_router()],
        lifespan_hooks=[edge_lifespan],
        use_database=False,
        readiness=gateway_readiness,
        readiness_details=readiness_details,
    )
    # FastAPI registered its own /openapi.json first; ours (the merged document) must win.
    app.router.routes = [
        r
        for r in app.router.routes
        if not (getattr(r, "path", None) == "/openapi.json" and getattr(r, "endpoint", None) is not openapi)
    ]
    app.swagger_ui_init_oauth = {"usePkceWithAuthorizationCodeGrant": False}
    # The request context (request id, metrics, access log) moves out of FastAPI's stack to the front of the
    # plain ASGI chain, so it covers proxied and own routes alike and stays one instance (one set of metrics).
    (context,) = [m for m in app.user_middleware if m.cls is RequestContextMiddleware]
    app.user_middleware.remove(context)
    plain = http = RequestContextMiddleware(EdgeMiddleware(app, state=state), *context.args, **context.kwargs)
    if settings.cors_origins:
        http = CORSMiddleware(
            http,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Accept"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
            ],
            max_age=600,
        )
    return GatewayApp(app, WidgetCors(http, plain))


class GatewayApp:
    """What uvicorn serves: HTTP goes [CORS →] request context → edge, and only the gateway's own routes go on into
    FastAPI (whose per-request layers — telemetry, body limit, error middleware, routing — cost as much as the edge
    itself, docs/gateway.md); the lifespan goes to FastAPI. Attribute access falls through to the FastAPI app
    (`state`, `openapi()`), so callers can use it as one."""

    def __init__(self, api: FastAPI, http) -> None:
        self.api = api
        self.http = http

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)
