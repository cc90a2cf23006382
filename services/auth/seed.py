"""Demo data through the service layer: `python -m services.auth.seed` (idempotent).

Creates the demo tenant (slug `demo`), its admin (also platform superuser) from DEMO_ADMIN_EMAIL /
DEMO_ADMIN_PASSWORD, an agent from DEMO_AGENT_EMAIL / DEMO_AGENT_PASSWORD and a viewer from DEMO_VIEWER_EMAIL /
DEMO_VIEWER_PASSWORD. The tenant's sectors are the defaults (the seeds' "financeiro", "suporte", "vendas", …).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from services.auth.config import AuthSettings, get_settings
from services.auth.members.models import Membership
from services.auth.members.repository import MembershipRepository
from services.auth.tenants.repository import TenantRepository
from services.auth.tenants.schemas import TenantCreate
from services.auth.tenants.service import TenantService
from services.auth.users.models import User
from services.auth.users.passwords import configure_hashing
from services.auth.users.repository import UserRepository
from services.auth.users.service import UserService
from shared.auth import Principal
from shared.config import SettingsError
from shared.db import create_engine, create_sessionmaker
from shared.logging import configure_logging, get_logger

log = get_logger("seed")
DEMO_SLUG = "demo"
_SEED = Principal(sub="svc:seed", kind="service", tenant_id=None, role=None, scopes=frozenset())


async def _ensure_user(users: UserService, email: str, password: str, name: str, superuser: bool) -> User:
    user = await UserRepository(users.session).get_by_email(email)
    if user is None:
        # Verified: the operator who configured these addresses vouches for them.
        return await users.create_user(email, password, name, is_superuser=superuser, email_verified=True)
    if superuser and not user.is_superuser:
        user.is_superuser = True
    return user


async def _ensure_member(members: MembershipRepository, tenant_id, user: User, role: str) -> None:
    membership = await members.get(tenant_id, user.id)
    if membership is None:
        await members.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))


async def seed(settings: AuthSettings, sessionmaker=None) -> dict[str, Any]:
    """Run once or many times: the same demo rows, never duplicates."""
    if settings.environment == "production" and (problems := settings.seed_problems()):
        raise SettingsError("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))
    configure_hashing(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)
    engine = None
    if sessionmaker is None:
        engine = create_engine(settings.database_url, 2)
        sessionmaker = create_sessionmaker(engine)
    redis = aioredis.from_url(settings.redis_url)
    try:
        async with sessionmaker() as session:
            users = UserService(session, settings, redis)
            tenants = TenantService(session, redis)
            tenant = await TenantRepository(session).get_by_slug(DEMO_SLUG)
            if tenant is None:
                tenant = await tenants.create(_SEED, TenantCreate(name=settings.demo_tenant_name, slug=DEMO_SLUG))
            admin = await _ensure_user(
                users, settings.demo_admin_email, settings.demo_admin_password, "Demo Admin", superuser=True
            )
            agent = await _ensure_user(
                users, settings.demo_agent_email, settings.demo_agent_password, "Demo Agent", superuser=False
            )
            viewer = await _ensure_user(
                users, settings.demo_viewer_email, settings.demo_viewer_password, "Demo Viewer", superuser=False
            )
            members = MembershipRepository(session)
            await _ensure_member(members, tenant.id, admin, "admin")
            await _ensure_member(members, tenant.id, agent, "agent")
            await _ensure_member(members, tenant.id, viewer, "viewer")
            await session.commit()
            result = {
                "tenant_id": str(tenant.id),
                "admin_id": str(admin.id),
                "agent_id": str(agent.id),
                "viewer_id": str(viewer.id),
            }
    finally:
        await redis.aclose()
        if engine is not None:
            await engine.dispose()
    log.info("demo_seeded", admin_email=settings.demo_admin_email, agent_email=settings.demo_agent_email, **result)
    return result


def main() -> None:
    settings = get_settings()
    configure_logging("auth-seed", settings.log_level, settings.log_json)
    asyncio.run(seed(settings))


if __name__ == "__main__":
    main()
