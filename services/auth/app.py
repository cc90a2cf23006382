"""create_app() for the auth service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from services.auth.admin.router import router as admin_router
from services.auth.api_keys.router import router as api_keys_router
from services.auth.config import AuthSettings, get_settings
from services.auth.internal.router import router as internal_router
from services.auth.keys.router import router as keys_router
from services.auth.keys.service import KeyRing, KeyRingJWKS
from services.auth.members.router import router as members_router
from services.auth.status import sync_disabled_flags
from services.auth.tenants.router import router as tenants_router
from services.auth.tokens.bruteforce import LoginLimiter
from services.auth.tokens.revocation import sync_ended_flags
from services.auth.tokens.router import router as tokens_router
from services.auth.users.passwords import configure_hashing
from services.auth.users.router import auth_router as users_auth_router
from services.auth.users.router import users_router
from services.auth.verification.router import router as verification_router
from shared.app import create_service_app
from shared.auth import TokenVerifier
from shared.config import SettingsError
from shared.crypto import SecretBox
from shared.db import create_sessionmaker
from shared.events.errors import is_transient

log = structlog.get_logger("auth")
STARTUP_WAIT_SECONDS = 120.0
_NOT_YET = ("not yet accepting connections", "starting up", "shutting down", "in recovery mode")


async def until_reachable(
    step: Callable[[], Awaitable[object]], what: str, timeout: float = STARTUP_WAIT_SECONDS
) -> None:
    """A start-up step that needs Postgres or Redis, retried while they are down: a restart that overlaps theirs
    waits for them instead of exiting (found by the chaos run: auth died when it restarted during Postgres's)."""
    delay, deadline = 0.25, time.monotonic() + timeout
    while True:
        try:
            await step()
            return
        except Exception as exc:
            starting = isinstance(exc, DBAPIError) and any(m in str(exc.orig) for m in _NOT_YET)
            if not (is_transient(exc) or starting or isinstance(exc, OSError)) or time.monotonic() > deadline:
                raise
            log.warning("startup_waiting", what=what, error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_hashing(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)

    @asynccontextmanager
    async def identity(app: FastAPI):
        if not settings.secrets_key:
            raise SettingsError("SECRETS_KEY is required by auth (it encrypts signing keys and tenant secrets)")
        app.state.box = SecretBox(settings.secrets_key)
        # Own sessionmaker on the engine: key-ring writes commit on their own, outside request transactions.
        own_sessions = create_sessionmaker(app.state.engine)
        keyring = KeyRing(
            own_sessions,
            app.state.box,
            alg=settings.signing_alg,
            configured_pem=settings.signing_key_pem,
            redis=app.state.redis,
            stream_maxlen=settings.events_stream_maxlen,
        )
        await until_reachable(keyring.start, "postgres (signing keys)")
        app.state.keyring = keyring
        app.state.verifier = TokenVerifier(
            KeyRingJWKS(keyring, settings.jwks_json), settings.jwt_audience, settings.jwt_issuer
        )
        app.state.login_limiter = LoginLimiter(
            app.state.redis,
            settings.login_limit_account_client,
            settings.login_limit_account,
            settings.login_limit_ip,
        )
        await until_reachable(lambda: sync_disabled_flags(own_sessions, app.state.redis), "postgres and redis")
        await until_reachable(lambda: sync_ended_flags(own_sessions, app.state.redis, settings), "postgres and redis")
        yield

    return create_service_app(
        settings,
        title="Auth and tenants",
        description="Users, tenants, roles, tokens, API keys and secrets.",
        routers=[
            keys_router,
            tokens_router,
            users_auth_router,
            users_router,
            verification_router,
            tenants_router,
            members_router,
            api_keys_router,
            admin_router,
            internal_router,
        ],
        lifespan_hooks=[identity],
    )
