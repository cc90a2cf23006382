"""Ending access: refresh families revoked in the DB and their access tokens stopped in Redis, together.

Access tokens live 15 minutes and are verified without calling auth, so ending a session also sets a flag that
every verifier reads in its per-request MGET (shared/auth.py `ensure_active`); the flag expires when the last
access token it could stop has expired, so Redis stays bounded. The DB keeps the truth: `status.sync_ended_flags`
re-sets the flags after a Redis flush.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.api_keys.models import ApiKey
from services.auth.api_keys.repository import ApiKeyRepository
from services.auth.config import AuthSettings
from services.auth.members.models import Membership
from services.auth.status import end_api_keys, end_sessions
from services.auth.tokens.models import RefreshToken
from services.auth.tokens.repository import RefreshTokenRepository
from services.auth.users.models import User
from shared.auth import ROLE_SCOPES
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("tokens")
CLOCK_SKEW_SECONDS = 60  # flags outlive the tokens they stop by this much


class AccessRevoker:
    def __init__(self, session: AsyncSession, settings: AuthSettings, redis) -> None:
        self.settings = settings
        self.redis = redis
        self.refresh_tokens = RefreshTokenRepository(session)
        self.api_keys = ApiKeyRepository(session)

    @property
    def session_ttl(self) -> int:
        return self.settings.access_token_ttl_seconds + CLOCK_SKEW_SECONDS

    @property
    def api_key_ttl(self) -> int:
        return self.settings.exchange_token_ttl_seconds + CLOCK_SKEW_SECONDS

    async def end_family(self, family_id: uuid.UUID) -> None:
        """One session (logout, a reused refresh token): its refresh token and its access tokens."""
        await self.refresh_tokens.revoke_family(family_id)
        await end_sessions(self.redis, [family_id], self.session_ttl)

    async def end_user_sessions(
        self, user_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None, keep_family: uuid.UUID | None = None
    ) -> None:
        """Every session of a user (in one tenant, if given) but `keep_family`: each access token of them included."""
        since = utcnow() - timedelta(seconds=self.session_ttl)
        families = await self.refresh_tokens.recent_families(user_id, since, tenant_id=tenant_id, exclude=keep_family)
        await self.refresh_tokens.revoke_user(user_id, keep_family=keep_family, tenant_id=tenant_id)
        await end_sessions(self.redis, families, self.session_ttl)
        log.info("sessions_ended", user_id=str(user_id), tenant_id=str(tenant_id) if tenant_id else None,
                 count=len(families))  # fmt: skip

    async def end_api_keys(self, key_ids: Iterable[uuid.UUID]) -> None:
        """Exchanged tokens of these keys stop now (the exchange itself refuses them from the DB)."""
        await end_api_keys(self.redis, list(key_ids), self.api_key_ttl)

    async def role_changed(self, user_id: uuid.UUID, tenant_id: uuid.UUID, role: str | None) -> None:
        """A member's role changed (None: removed): their tokens for the tenant end, and their API keys there
        that need more than the new role stop."""
        await self.end_user_sessions(user_id, tenant_id=tenant_id)
        allowed = set(ROLE_SCOPES.get(role or "", ()))
        keys = [k.id for k in await self.api_keys.of_creator(tenant_id, user_id) if not set(k.scopes) <= allowed]
        await self.end_api_keys(keys)
        if keys:
            log.info("api_keys_stopped", tenant_id=str(tenant_id), user_id=str(user_id), count=len(keys))


async def sync_ended_flags(sessionmaker: async_sessionmaker[AsyncSession], redis, settings: AuthSettings) -> int:
    """At start-up: re-set what the DB knows has ended and may still hold a live token, so a flushed Redis never
    revives it: sessions revoked within an access token's lifetime, API keys revoked or beyond their creator's role
    and used within an exchanged token's lifetime."""
    session_ttl = settings.access_token_ttl_seconds + CLOCK_SKEW_SECONDS
    key_ttl = settings.exchange_token_ttl_seconds + CLOCK_SKEW_SECONDS
    now = utcnow()
    async with sessionmaker() as session:
        families = (
            await session.scalars(
                select(RefreshToken.family_id)
                .where(RefreshToken.revoked_at > now - timedelta(seconds=session_ttl))
                .distinct()
            )
        ).all()
        rows = (
            await session.execute(
                select(ApiKey.id, ApiKey.scopes, ApiKey.revoked_at, Membership.role, User.is_active, User.is_superuser)
                .outerjoin(User, User.id == ApiKey.created_by)
                .outerjoin(
                    Membership, (Membership.tenant_id == ApiKey.tenant_id) & (Membership.user_id == ApiKey.created_by)
                )
                .where(ApiKey.created_by.is_not(None), ApiKey.last_used_at > now - timedelta(seconds=key_ttl))
            )
        ).all()
    stopped = [
        r.id
        for r in rows
        if r.revoked_at is not None
        or not r.is_active
        or (not r.is_superuser and not set(r.scopes) <= set(ROLE_SCOPES.get(r.role or "", ())))
    ]
    await end_sessions(redis, list(families), session_ttl)
    await end_api_keys(redis, stopped, key_ttl)
    return len(families) + len(stopped)
