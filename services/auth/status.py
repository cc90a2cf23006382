"""Redis flags that stop tokens at once (read by shared/auth.py): a deactivated user, an inactive tenant, an ended
session, a stopped API key."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.tenants.models import Tenant
from services.auth.users.models import User
from shared.auth import DISABLED_TENANT_KEY, DISABLED_USER_KEY, ENDED_API_KEY_KEY, ENDED_SESSION_KEY, TENANT_INACTIVE

TENANT_DELETED = "deleted"


async def set_user_disabled(redis, user_id: uuid.UUID, disabled: bool) -> None:
    key = DISABLED_USER_KEY.format(user_id)
    await (redis.set(key, "1") if disabled else redis.delete(key))


def tenant_flag(tenant: Tenant) -> str | None:
    """The tenant's flag value: None (open), inactive (open to a platform superuser only) or deleted (closed)."""
    if tenant.deleted_at is not None:
        return TENANT_DELETED
    return TENANT_INACTIVE if tenant.status == "inactive" else None


async def set_tenant_flag(redis, tenant: Tenant) -> None:
    key, flag = DISABLED_TENANT_KEY.format(tenant.id), tenant_flag(tenant)
    await (redis.set(key, flag) if flag else redis.delete(key))


async def _set_all(redis, keys: list[str], ttl: int) -> None:
    if not keys or redis is None:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, "1", ex=ttl)
        await pipe.execute()


async def end_sessions(redis, family_ids: list[uuid.UUID], ttl: int) -> None:
    """Access tokens whose `sid` is one of these families stop until they have expired anyway (`ttl`)."""
    await _set_all(redis, [ENDED_SESSION_KEY.format(f) for f in family_ids], ttl)


async def end_api_keys(redis, key_ids: list[uuid.UUID], ttl: int) -> None:
    """Exchanged tokens of these API keys stop until they have expired anyway (`ttl`)."""
    await _set_all(redis, [ENDED_API_KEY_KEY.format(k) for k in key_ids], ttl)


async def sync_disabled_flags(sessionmaker: async_sessionmaker[AsyncSession], redis) -> int:
    """At start-up: re-set the flags from the DB, so a flushed Redis never revives a disabled account."""
    async with sessionmaker() as session:
        users = (await session.scalars(select(User.id).where(User.is_active.is_(False)))).all()
        tenants = (
            await session.scalars(select(Tenant).where((Tenant.status == "inactive") | Tenant.deleted_at.is_not(None)))
        ).all()
    async with redis.pipeline(transaction=False) as pipe:
        for uid in users:
            pipe.set(DISABLED_USER_KEY.format(uid), "1")
        for tenant in tenants:
            pipe.set(DISABLED_TENANT_KEY.format(tenant.id), tenant_flag(tenant))
        await pipe.execute()
    return len(users) + len(tenants)
