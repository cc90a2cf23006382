"""create_service_app(): the same lifespan, middleware, errors and operational routes for every service.

The ASGI stack of a request (FastAPI's `build_middleware_stack`): Starlette's ServerErrorMiddleware → FastAPI's
exception-telemetry and body-limit middleware → `RequestContextMiddleware` → FastAPI's exception and exit-stack
middleware → routing. A service with a hot plain-ASGI path passes `front_path=` (a `FrontPath`): a dispatcher in
front of all that hands the requests it claims straight to a second `RequestContextMiddleware` around it (same
metrics), so they skip the three outer layers, which do nothing for them: `RequestContextMiddleware` answers
every exception itself (a problem+json 500 carrying the request id) before ServerErrorMiddleware could, and a
front path enforces its own body limit. Every other request takes the full stack, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text

from shared.api_docs import install_api_docs
from shared.auth import build_verifier
from shared.auth_watch import watch_auth_keys
from shared.config import ServiceSettings
from shared.db import create_engine, create_sessionmaker
from shared.errors import install_error_handlers, outage_of, outage_response, problem
from shared.http import REQUEST_ID_HEADER, create_http_client
from shared.logging import configure_logging, ops_forwarder
from shared.openapi import document_problems, operation_id

log = structlog.get_logger("app")
_RID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[Any]]

# registry -> (requests counter, latency histogram, series cache): one set per registry, however many
# RequestContextMiddleware instances use it (a registry refuses a second metric of the same name)
_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Counter, Histogram, dict]] = weakref.WeakKeyDictionary()


def _request_metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram, dict]:
    metrics = _METRICS.get(registry)
    if metrics is None:
        requests = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry)
        latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        metrics = _METRICS[registry] = (requests, latency, {})
    return metrics


class RequestContextMiddleware:
    """Pure ASGI: request id in/out, structlog context, Prometheus metrics, one access-log line.

    Instances on the same registry share its metrics and series cache (create_service_app's front path has its own
    instance beside the one in FastAPI's stack)."""

    def __init__(self, app, *, service: str, registry: CollectorRegistry, access_log: bool = True) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log
        # _series: (method, route, status) -> its counter and histogram children: labels() costs as much as the rest
        # of this middleware; bounded because the method comes from the client
        self.requests, self.latency, self._series = _request_metrics(registry)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _RID_OK.match(candidate) else None
                break
        rid = rid or uuid.uuid4().hex
        # A copy: some servers hand every request the same lifespan-state dict.
        scope["state"] = {**scope.get("state", {}), "request_id": rid}
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid, service=self.service)
        status = 500
        response_started = False
        started = time.perf_counter()
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Answer here (not in Starlette's outer error middleware) so the answer carries the request id: a 503
            # when a dependency is down (Postgres, Redis: an outage, not a bug), else a 500.
            if outage_of(exc) is not None and not response_started:
                await outage_response(exc, scope.get("path"))(scope, receive, send_wrapper)
                return
            log.error("unhandled_error", error_type=type(exc).__name__, path=scope.get("path"), exc_info=exc)
            if response_started:
                raise
            await problem(500, "An internal error occurred; it has been logged.")(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            series = self._series.get((method, template, status))
            if series is None:
                series = (self.requests.labels(method, template, str(status)), self.latency.labels(method, template))
                if len(self._series) < 1000:
                    self._series[(method, template, status)] = series
            series[0].inc()
            series[1].observe(elapsed)
            if self.access_log and template not in ("/health", "/metrics"):
                log.info("request", method=method, route=template, status=status, latency_ms=round(elapsed * 1000, 2))


class FrontPath(Protocol):
    """A plain-ASGI handler for a service's hottest requests, served ahead of FastAPI (create_service_app).

    It runs inside `RequestContextMiddleware` and nothing else: it answers its own errors (problem+json),
    enforces its own body limit, sets `scope["route"]` to an object with the route template as `.path` (metrics
    and the access line), and leaves an unexpected exception to `RequestContextMiddleware` (a 500 problem)."""

    def claims(self, scope) -> bool:
        """Whether this HTTP request is one of its own (cheap: every request of the service is asked)."""
        ...

    async def __call__(self, scope, receive, send) -> None: ...


class FrontDispatch:
    """The outermost layer of an app with a front path: the requests it claims go to `front` (the front path inside
    its `RequestContextMiddleware`), everything else (other requests, lifespan) to `app`, FastAPI's full stack."""

    def __init__(self, app, front, claims: Callable[[Any], bool]) -> None:
        self.app = app  # `app`: FastAPI's walks of the built stack (the OpenTelemetry check) go on through it
        self.front = front
        self.claims = claims

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.claims(scope):
            await self.front(scope, receive, send)
        else:
            await self.app(scope, receive, send)


ReadinessCheck = Callable[[FastAPI], Awaitable[tuple[bool, dict[str, Any]]]]
# Whether this caller may see the readiness details (dependencies, URLs, latencies, errors) or only up/down.
DetailsCheck = Callable[[Request], Awaitable[bool]]


async def check_ready(app: FastAPI, timeout: float = 2.0) -> tuple[bool, dict[str, Any]]:
    """Ask Postgres (when the app has one) and Redis for a trivial answer; report each."""
    checks: dict[str, Any] = {}

    async def pg() -> None:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def rd() -> None:
        await app.state.redis.ping()

    probes = (("postgres", pg), ("redis", rd)) if getattr(app.state, "engine", None) is not None else (("redis", rd),)
    for name, fn in probes:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(fn(), timeout)
            checks[name] = {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return all(c["status"] == "ok" for c in checks.values()), checks


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    description: str = "",
    version: str = "0.1.0",
    access_log: bool = True,
    use_database: bool = True,
    readiness: ReadinessCheck | None = None,
    readiness_details: DetailsCheck | None = None,
    front_path: FrontPath | None = None,
) -> FastAPI:
    """A FastAPI app with engine, Redis and httpx on app.state, problem+json errors and /health /ready /metrics.

    `use_database=False` (the gateway) builds no engine; `readiness` replaces the Postgres/Redis check of /ready;
    `readiness_details` (the public gateway) decides who sees more of /ready than its status.
    `front_path` serves the requests it claims ahead of FastAPI's whole stack (module docstring).
    """
    configure_logging(settings.service_name, settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = create_engine(settings.database_url, settings.db_pool_size) if use_database else None
        app.state.sessionmaker = create_sessionmaker(app.state.engine) if use_database else None
        app.state.redis = aioredis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        app.state.http = create_http_client()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(ops_forwarder.run(app.state.redis, stop))]
        watcher = None
        try:
            async with AsyncExitStack() as stack:
                for hook in lifespan_hooks:
                    await stack.enter_async_context(hook(app))
                if getattr(app.state, "verifier", None) is None:  # auth and the gateway build their own
                    app.state.verifier = build_verifier(settings, app.state.http)
                watcher = asyncio.create_task(watch_auth_keys(app.state, stop, settings.jwks_refresh_seconds))
                tasks.append(watcher)
                log.info("started", service=settings.service_name)
                yield
        finally:
            stop.set()
            if watcher is not None:
                watcher.cancel()  # it only reads (a blocking XREAD): nothing to finish, no second of waiting for it
            _, pending = await asyncio.wait(tasks, timeout=2)
            for task in pending:
                task.cancel()
            await app.state.http.aclose()
            await app.state.redis.aclose()
            if app.state.engine is not None:
                await app.state.engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # shared/api_docs.py serves them with local assets
        redoc_url=None,
    )
    install_api_docs(app)
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    context: dict[str, Any] = {
        "service": settings.service_name,
        "registry": registry,
        # the access line is INFO: below that level skip building it (a filtered structlog call is not free)
        "access_log": access_log and logging.getLevelName(settings.log_level) <= logging.INFO,
    }
    app.add_middleware(RequestContextMiddleware, **context)
    install_error_handlers(app)
    if front_path is not None:
        # Starlette builds the stack on the first request (scope["app"] is set before it runs, so a front path
        # reaches app.state); the dispatcher goes in front of what FastAPI builds.
        build_full_stack = app.build_middleware_stack

        def build_middleware_stack():
            front = RequestContextMiddleware(front_path, **context)
            return FrontDispatch(build_full_stack(), front, front_path.claims)

        app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]

    ops = APIRouter(tags=["operations"])

    @ops.get("/health", summary="Process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @ops.get("/ready", summary="Dependencies answer", responses={503: {"description": "a dependency is down"}})
    async def ready(request: Request):
        ok, checks = await (readiness or check_ready)(request.app)
        if readiness_details is not None and not await readiness_details(request):
            return {"status": "ready"} if ok else problem(503, "not ready", code="not_ready")
        if not ok:
            down = ", ".join(k for k, v in checks.items() if v.get("status") != "ok")
            return problem(503, f"dependency down: {down}", code="not_ready", checks=checks)
        return {"status": "ready", "service": settings.service_name, "checks": checks}

    @ops.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    for router in routers:
        app.include_router(router)
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with the problem+json answers each route really gives (shared/openapi.py)."""
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(fastapi_openapi(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "") or request.headers.get(REQUEST_ID_HEADER, "")
