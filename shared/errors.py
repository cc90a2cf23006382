"""Typed errors and the problem+json (RFC 9457) handlers every service and the gateway install."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("errors")


class AppError(Exception):
    """A domain error that maps to one problem+json answer."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Not authenticated"

    def __init__(self, detail: str | None = None, **kw: Any):
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class Unprocessable(AppError):
    status, code, title = 422, "unprocessable", "Unprocessable content"


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None, **kw: Any):
        headers = kw.pop("headers", {}) | {"Retry-After": str(max(1, int(retry_after)))}
        super().__init__(detail, headers=headers, **kw)


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_CODES = {k: v.lower().replace(" ", "_") for k, v in _TITLES.items()}


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build one problem+json response."""
    code = code or _CODES.get(status, "error")
    body: dict[str, Any] = {
        "type": f"https://atende.dev/problems/{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _loc(loc: tuple | list) -> list[str | int]:
    return [p for p in loc]


def app_error_response(exc: AppError, instance: str | None = None) -> JSONResponse:
    """The problem+json answer of a domain error (also used by pure-ASGI routes outside FastAPI's handlers)."""
    extra = exc.extra
    if exc.status == 422 and "errors" not in extra:  # every 422 has `errors`; loc [] is the request as a whole
        extra = {**extra, "errors": [{"loc": [], "msg": exc.detail}]}
    return problem(
        exc.status,
        exc.detail,
        code=exc.code,
        title=exc.title,
        headers=exc.headers,
        instance=instance,
        **extra,
    )


async def _app_error(request: Request, exc: AppError) -> JSONResponse:
    return app_error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()][:50]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"])
    return problem(
        422,
        f"{where}: {first['msg']}" if where else first["msg"],
        code="validation_error",
        instance=request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route for {request.method} {request.url.path}"
    if exc.status_code == 405:
        detail = f"Method {request.method} not allowed on {request.url.path}"
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None), instance=request.url.path)


# SQLSTATEs Postgres gives for text it cannot store: a NUL character (22021), or one the encoding lacks (22P05)
_UNSTORABLE_TEXT = {"22021", "22P05"}


async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
    """Text Postgres cannot store is the client's error (422); the database being down or out of connections is a
    503 (`_outage`); any other database failure stays a 500."""
    if getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        msg = "the text has a character that cannot be stored (a NUL, \\u0000)"
        return problem(422, msg, code="unstorable_text", instance=request.url.path, errors=[{"loc": [], "msg": msg}])
    if outage_of(exc) is not None:
        return await _outage(request, exc)
    return await _unhandled(request, exc)


# Postgres down, restarting, shutting down or out of connections, or the connection broke. Deliberately narrower than
# the consumers' list (shared/events/raw.py): a statement timeout (QueryCanceledError), asyncpg's InternalClientError
# and its InterfaceErrors about arguments or concurrent use are bugs or slow queries, and stay a logged 500.
_PG_OUTAGE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
OUTAGE_RETRY_AFTER = 2  # seconds a client is asked to wait after a 503 for a dependency that is down


def outage_of(exc: BaseException) -> str | None:
    """Which dependency an exception says is down ("database", "redis"), or None: an outage, not a bug."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    if isinstance(exc, PoolTimeout):  # every pooled connection busy for the pool's timeout
        return "database"
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "database"
        exc = exc.orig if exc.orig is not None else exc
    cause = getattr(exc, "__cause__", None)
    for e in (exc, cause):
        if isinstance(e, _PG_OUTAGE):
            return "database"
        if isinstance(e, asyncpg.InterfaceError) and "connection is closed" in str(e):
            return "database"
        # A refused or reset socket while talking to Postgres; not a TimeoutError (asyncpg's command timeout).
        if isinstance(e, OSError) and not isinstance(e, TimeoutError) and _from_database(e):
            return "database"
    return None


def _from_database(exc: OSError) -> bool:
    """A socket error raised while connecting to Postgres (asyncpg gives a bare OSError for a refused connect)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(("asyncpg", "sqlalchemy")):
            return True
        tb = tb.tb_next
    return False


def outage_response(exc: BaseException, path: str | None) -> JSONResponse:
    """A dependency is down: 503 with Retry-After, naming which one (never its address or the error's text)."""
    dependency = outage_of(exc) or "a dependency"
    log.warning("dependency_unavailable", dependency=dependency, error_type=type(exc).__name__, path=path)
    return problem(
        503,
        f"{dependency} is unavailable right now; retry shortly",
        code="dependency_unavailable",
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
        instance=path,
        dependency=dependency,
    )


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    return outage_response(exc, request.url.path)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if outage_of(exc) is not None:
        return await _outage(request, exc)
    log.error("unhandled_error", error_type=type(exc).__name__, path=request.url.path, exc_info=exc)
    return problem(500, "An internal error occurred; it has been logged.", instance=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Every error a client can see leaves as problem+json, with no traceback."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(RedisConnectionError, _outage)
    app.add_exception_handler(RedisTimeoutError, _outage)
    app.add_exception_handler(PoolTimeout, _outage)
    app.add_exception_handler(Exception, _unhandled)
