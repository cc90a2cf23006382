"""Tenant rules: who sees which tenant, settings changes (events + Redis flags), write-only secrets."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.base import Outbox
from services.auth.members.models import Membership
from services.auth.members.repository import MembershipRepository
from services.auth.status import set_tenant_flag
from services.auth.tenants.errors import (
    InvalidTenantSettings,
    SecretNotFound,
    SlugTaken,
    SuperuserOnlyField,
    TenantNotFound,
)
from services.auth.tenants.models import DEFAULT_SECTORS, Tenant, TenantSecret
from services.auth.tenants.repository import TenantRepository
from services.auth.tenants.schemas import SecretRead, TenantCounts, TenantCreate, TenantRead, TenantUpdate
from services.auth.users.errors import UsersOnly
from services.auth.users.models import User
from shared.auth import Principal
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.events.outbox import emit_event
from shared.events.tenants import TENANT_CHANGED, TenantChanged
from shared.logging import get_logger
from shared.pagination import Page, PageParams

log = get_logger("tenants")


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:50]
    return slug if len(slug) >= 2 else f"tenant-{slug}".strip("-")


def _last4(value: str) -> str | None:
    """Only long values show a tail; a short secret's last four characters would be most of it."""
    return value[-4:] if len(value) >= 12 else None


def is_platform_superuser(principal: Principal) -> bool:
    return principal.is_platform_superuser


class TenantService:
    def __init__(self, session: AsyncSession, redis, box: SecretBox | None = None) -> None:
        self.session = session
        self.redis = redis
        self.box = box
        self.tenants = TenantRepository(session)
        self.members = MembershipRepository(session)

    async def visible(self, principal: Principal, tenant_id: uuid.UUID) -> Tenant:
        """The tenant if the caller may see it: its own token tenant, or any for a superuser; else 404."""
        if not is_platform_superuser(principal) and principal.tenant_id != tenant_id:
            raise TenantNotFound()
        tenant = await self.tenants.get(tenant_id)
        if tenant is None:
            raise TenantNotFound()
        return tenant

    async def _unique_slug(self, slug: str, other_than: uuid.UUID | None = None) -> None:
        if await self.tenants.slug_taken(slug, other_than=other_than):
            raise SlugTaken(f"slug {slug!r} is already used by another tenant")

    async def _free_slug(self, name: str) -> str:
        base = slugify(name)
        slug = base
        for _ in range(20):
            if not await self.tenants.slug_taken(slug):
                return slug
            slug = f"{base[:50]}-{uuid.uuid4().hex[:6]}"
        raise SlugTaken("could not find a free slug; give one explicitly")

    @staticmethod
    def _check_buffer(tenant: Tenant) -> None:
        if tenant.buffer_max_wait_seconds < tenant.buffer_seconds:
            raise InvalidTenantSettings("buffer_max_wait_seconds must be at least buffer_seconds")

    async def create(self, principal: Principal, data: TenantCreate) -> Tenant:
        values = data.model_dump(exclude_unset=True, exclude_none=True)
        values["slug"] = values.get("slug") or await self._free_slug(data.name)
        await self._unique_slug(values["slug"])
        values.setdefault("sectors", list(DEFAULT_SECTORS))
        tenant = Tenant(**values)
        tenant.buffer_seconds = values.get("buffer_seconds", 10)
        tenant.buffer_max_wait_seconds = values.get("buffer_max_wait_seconds", max(60, tenant.buffer_seconds))
        self._check_buffer(tenant)
        await self.tenants.add(tenant)
        await set_tenant_flag(self.redis, tenant)
        await self._changed(tenant.id, ["created"])
        log.info("tenant_created", tenant_id=str(tenant.id), by=principal.sub)
        return tenant

    async def create_for_owner(self, owner: User, name: str) -> Tenant:
        """Sign-up with tenant_name: the new user becomes the tenant's admin."""
        tenant = await self.tenants.add(
            Tenant(name=name, slug=await self._free_slug(name), sectors=list(DEFAULT_SECTORS))
        )
        await self.members.add(Membership(tenant_id=tenant.id, user_id=owner.id, role="admin"))
        await self._changed(tenant.id, ["created"])
        return tenant

    async def list(self, principal: Principal, page: PageParams, status: str | None = None) -> Page[TenantRead]:
        """A superuser: every tenant (to pick any company); others: their memberships (a key: its tenant)."""
        if is_platform_superuser(principal):
            found = await self.tenants.page(page, status=status)
        elif principal.kind == "user" and principal.user_id:
            ids = [t.id for _, t in await self.members.of_user(principal.user_id)]
            found = await self.tenants.page(page, only_ids=ids, status=status)
        else:
            only = [principal.tenant_id] if principal.tenant_id else []
            found = await self.tenants.page(page, only_ids=only, status=status)
        return Page(items=[TenantRead.model_validate(t) for t in found.rows], next_cursor=found.next_cursor)

    async def update(self, principal: Principal, tenant_id: uuid.UUID, data: TenantUpdate) -> Tenant:
        tenant = await self.visible(principal, tenant_id)
        changes = data.model_dump(exclude_unset=True)
        if "llm_base_url" in changes and not is_platform_superuser(principal):
            raise SuperuserOnlyField("only a platform superuser may set llm_base_url")
        for field in (
            "name",
            "slug",
            "status",
            "system_prompt",
            "require_approval",
            "buffer_enabled",
            "buffer_seconds",
            "buffer_max_wait_seconds",
            "split_replies",
            "locale",
            "timezone",
            "sectors",
        ):
            if field in changes and changes[field] is None:
                raise InvalidTenantSettings(f"{field} cannot be null")
        if "slug" in changes:
            await self._unique_slug(changes["slug"], other_than=tenant.id)
        changed = [k for k, v in changes.items() if getattr(tenant, k) != v]
        for key in changed:
            setattr(tenant, key, changes[key])
        self._check_buffer(tenant)
        if changed:
            await self.session.flush()
            if "status" in changed:
                await set_tenant_flag(self.redis, tenant)
            await self._changed(tenant.id, changed)
        return tenant

    async def delete(self, principal: Principal, tenant_id: uuid.UUID) -> None:
        """Soft delete: the tenant disappears, its tokens and keys stop at once."""
        tenant = await self.visible(principal, tenant_id)
        if not is_platform_superuser(principal):
            raise UsersOnly("only a platform superuser may delete a tenant")
        tenant.deleted_at = utcnow()
        tenant.status = "inactive"
        await self.session.flush()
        await set_tenant_flag(self.redis, tenant)
        await self._changed(tenant.id, ["deleted", "status"])

    async def list_secrets(self, principal: Principal, tenant_id: uuid.UUID) -> list[SecretRead]:
        await self.visible(principal, tenant_id)
        return [
            SecretRead(name=s.name, is_set=True, last4=s.last4, updated_at=s.updated_at)
            for s in await self.tenants.list_secrets(tenant_id)
        ]

    async def put_secret(self, principal: Principal, tenant_id: uuid.UUID, name: str, value: str) -> None:
        await self.visible(principal, tenant_id)
        assert self.box is not None
        encrypted = self.box.encrypt(value)
        secret = await self.tenants.get_secret(tenant_id, name)
        if secret is None:
            await self.tenants.add_secret(
                TenantSecret(tenant_id=tenant_id, name=name, value_encrypted=encrypted, last4=_last4(value))
            )
        else:
            secret.value_encrypted, secret.last4, secret.updated_at = encrypted, _last4(value), utcnow()
            await self.session.flush()
        log.info("tenant_secret_set", tenant_id=str(tenant_id), name=name)
        await self._changed(tenant_id, [f"secrets.{name}"])

    async def delete_secret(self, principal: Principal, tenant_id: uuid.UUID, name: str) -> None:
        await self.visible(principal, tenant_id)
        if not await self.tenants.delete_secret(tenant_id, name):
            raise SecretNotFound(f"no secret named {name!r}")
        log.info("tenant_secret_deleted", tenant_id=str(tenant_id), name=name)
        await self._changed(tenant_id, [f"secrets.{name}"])

    async def counts(self) -> TenantCounts:
        by_status = await self.tenants.count_by_status()
        return TenantCounts(active=by_status.get("active", 0), inactive=by_status.get("inactive", 0))

    async def internal_read(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Settings plus decrypted secrets, for services holding a service token."""
        tenant = await self.tenants.get(tenant_id)
        if tenant is None:
            raise TenantNotFound()
        assert self.box is not None
        body = TenantRead.model_validate(tenant).model_dump(mode="json")
        body["secrets"] = {
            s.name: self.box.decrypt(s.value_encrypted) for s in await self.tenants.list_secrets(tenant_id)
        }
        return body

    async def _changed(self, tenant_id: uuid.UUID, changed: list[str]) -> None:
        await emit_event(
            self.session,
            Outbox,
            TENANT_CHANGED,
            TenantChanged(tenant_id=tenant_id, changed=changed),
            idempotency_key=f"tenants.changed:{tenant_id}:{uuid.uuid4().hex}",
            tenant_id=tenant_id,
        )
