"""create_app() for the auth service."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

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
from services.auth.tokens.router import router as tokens_router
from services.auth.users.passwords import configure_hashing
from services.auth.users.router import auth_router as users_auth_router
from services.auth.users.router import users_router
from shared.app import create_service_app
from shared.auth import TokenVerifier
from shared.config import SettingsError
from shared.crypto import SecretBox
from shared.db import create_sessionmaker


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
            own_sessions, app.state.box, alg=settings.signing_alg, configured_pem=settings.signing_key_pem
        )
        await keyring.start()
        app.state.keyring = keyring
        app.state.verifier = TokenVerifier(
            KeyRingJWKS(keyring, settings.jwks_json), settings.jwt_audience, settings.jwt_issuer
        )
        app.state.login_limiter = LoginLimiter(
            settings.redis_url, settings.login_limit_account, settings.login_limit_ip
        )
        await sync_disabled_flags(own_sessions, app.state.redis)
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
            tenants_router,
            members_router,
            api_keys_router,
            admin_router,
            internal_router,
        ],
        lifespan_hooks=[identity],
    )
