"""Create (shown once), list and revoke a tenant's API keys."""

from __future__ import annotations

import uuid
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.api_keys import keycodec
from services.auth.api_keys.errors import ApiKeyNotFound, InvalidExpiry, ScopeNotHeld
from services.auth.api_keys.models import ApiKey
from services.auth.api_keys.repository import ApiKeyRepository
from services.auth.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from services.auth.tokens.revocation import AccessRevoker
from shared.auth import Principal
from shared.db import utcnow
from shared.logging import get_logger
from shared.pagination import Page, PageParams
from shared.quotas import enforce, lock_tenant_quota

log = get_logger("api_keys")


def _creator(principal: Principal) -> uuid.UUID | None:
    if principal.kind == "user":
        return principal.user_id
    uid = principal.claims.get("uid")
    return uuid.UUID(str(uid)) if uid else None


class ApiKeyService:
    def __init__(
        self, session: AsyncSession, pepper: bytes, revoker: AccessRevoker | None = None, *, max_keys: int = 0
    ) -> None:
        self.session = session
        self.pepper = pepper
        self.revoker = revoker
        self.max_keys = max_keys
        self.keys = ApiKeyRepository(session)

    async def create(self, principal: Principal, tenant_id: uuid.UUID, data: ApiKeyCreate) -> ApiKeyCreated:
        """A key never holds a scope its creator does not hold."""
        missing = [s for s in data.scopes if not principal.has_scope(s)]
        if missing:
            raise ScopeNotHeld(f"you cannot grant scopes you do not hold: {', '.join(missing)}")
        expires_at = data.expires_at
        if expires_at is not None:
            expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
            if expires_at <= utcnow():
                raise InvalidExpiry(
                    "expires_at must be in the future", errors=[{"loc": ["body", "expires_at"], "msg": "in the past"}]
                )
        if self.max_keys:  # the lock lasts until commit: concurrent creates count one after another
            await lock_tenant_quota(self.session, "auth.api_keys", tenant_id)
            enforce("api_keys", self.max_keys, await self.keys.count_active(tenant_id))
        for _ in range(5):
            prefix, key = keycodec.new_key()
            if await self.keys.get_by_prefix(prefix) is None:
                break
        row = await self.keys.add(
            ApiKey(
                tenant_id=tenant_id,
                created_by=_creator(principal),
                name=data.name,
                prefix=prefix,
                key_hash=keycodec.hash_key(self.pepper, key),
                scopes=list(data.scopes),
                expires_at=expires_at,
            )
        )
        log.info("api_key_created", tenant_id=str(tenant_id), key_id=str(row.id), scopes=row.scopes)
        return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)

    async def list(self, tenant_id: uuid.UUID, page: PageParams, include_revoked: bool) -> Page[ApiKeyRead]:
        found = await self.keys.page(tenant_id, page, include_revoked=include_revoked)
        return Page(items=[ApiKeyRead.model_validate(k) for k in found.rows], next_cursor=found.next_cursor)

    async def revoke(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> None:
        key = await self.keys.get(tenant_id, key_id)
        if key is None or key.revoked_at is not None:
            raise ApiKeyNotFound()
        key.revoked_at = utcnow()
        await self.session.flush()
        if self.revoker is not None:  # its exchanged tokens (cached at the gateway) stop now, not at their expiry
            await self.revoker.end_api_keys([key_id])
        log.info("api_key_revoked", tenant_id=str(tenant_id), key_id=str(key_id))
