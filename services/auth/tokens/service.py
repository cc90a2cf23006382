"""Issuing tokens: user access/refresh pairs, rotation with reuse detection, service tokens, key exchange."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.api_keys import keycodec
from services.auth.api_keys.repository import ApiKeyRepository
from services.auth.config import AuthSettings
from services.auth.keys.service import KeyRing
from services.auth.members.repository import MembershipRepository
from services.auth.tenants.errors import TenantNotFound
from services.auth.tenants.repository import TenantRepository
from services.auth.tokens.bruteforce import LoginLimiter
from services.auth.tokens.errors import (
    InvalidApiKey,
    InvalidRefreshToken,
    InvalidServiceCredentials,
    RefreshTokenReused,
)
from services.auth.tokens.models import RefreshToken
from services.auth.tokens.repository import RefreshTokenRepository
from services.auth.tokens.revocation import AccessRevoker
from services.auth.tokens.schemas import ExchangedToken, ServiceToken, TokenPair
from services.auth.users.errors import InvalidCredentials, UsersOnly
from services.auth.users.models import User
from services.auth.users.passwords import verify_password
from services.auth.users.repository import UserRepository
from shared.auth import ROLE_SCOPES, Principal, TenantInactive
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("tokens")


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        session: AsyncSession,
        settings: AuthSettings,
        keyring: KeyRing,
        limiter: LoginLimiter | None = None,
        redis=None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.keyring = keyring
        self.limiter = limiter
        self.users = UserRepository(session)
        self.members = MembershipRepository(session)
        self.tenants = TenantRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.revoker = AccessRevoker(session, settings, redis)

    async def sign(
        self,
        *,
        sub: str,
        ttl: int,
        tid: uuid.UUID | None = None,
        role: str | None = None,
        scopes: list[str] | None = None,
        su: bool = False,
        **extra,
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": sub,
            "tid": str(tid) if tid else None,
            "role": role,
            "scopes": scopes or [],
            "su": su,
            "aud": self.settings.jwt_audience,
            "iss": self.settings.jwt_issuer,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        } | extra
        return await self.keyring.sign(claims)

    async def resolve_tenant(self, user: User, tenant_id: uuid.UUID | None) -> tuple[uuid.UUID | None, str | None]:
        """The tenant and role a user's token is for: the one asked for (member or superuser), else their first.

        An inactive tenant is entered only by a platform superuser (shared/auth.py `ensure_active` lets them in)."""
        if tenant_id is None:
            memberships = await self.members.of_user(user.id, active_only=True)
            if not memberships:
                return None, None
            membership, tenant = memberships[0]
            return tenant.id, membership.role
        tenant = await self.tenants.get(tenant_id)
        membership = await self.members.get(tenant_id, user.id) if tenant else None
        if tenant is None or (membership is None and not user.is_superuser):
            raise TenantNotFound("no such tenant among yours")
        if tenant.status != "active" and not user.is_superuser:
            raise TenantInactive("this tenant is inactive")
        return tenant.id, membership.role if membership else "admin"

    async def issue_pair(
        self, user: User, tenant_id: uuid.UUID | None, role: str | None, family_id: uuid.UUID | None = None
    ) -> TokenPair:
        raw = f"rt_{secrets.token_urlsafe(32)}"
        family_id = family_id or uuid.uuid4()
        await self.refresh_tokens.add(
            RefreshToken(
                family_id=family_id,
                user_id=user.id,
                tenant_id=tenant_id,
                token_hash=hash_refresh_token(raw),
                expires_at=utcnow() + timedelta(days=self.settings.refresh_token_ttl_days),
            )
        )
        ttl = self.settings.access_token_ttl_seconds
        access = await self.sign(
            sub=str(user.id),
            ttl=ttl,
            tid=tenant_id,
            role=role,
            scopes=list(ROLE_SCOPES.get(role or "", [])),
            su=user.is_superuser,
            sid=str(family_id),
        )
        return TokenPair(access_token=access, refresh_token=raw, expires_in=ttl, tenant_id=tenant_id, role=role)

    async def login(self, email: str, password: str, tenant_id: uuid.UUID | None, ip: str) -> TokenPair:
        """Same answer and cost for a wrong password and an unknown email; failures feed the limiter."""
        attempt = await self.limiter.begin(email, ip) if self.limiter is not None else None
        user = await self.users.get_by_email(email)
        if not await verify_password(password, user.password_hash if user else None) or user is None:
            log.info("login_failed", ip=ip)  # the attempt stays counted
            raise InvalidCredentials("incorrect email or password")
        if attempt is not None:
            await attempt.passed()
        if not user.is_active:
            raise InvalidCredentials("this account is deactivated")
        tid, role = await self.resolve_tenant(user, tenant_id)
        user.last_login_at = utcnow()
        log.info("login", user_id=str(user.id), tenant_id=str(tid) if tid else None)
        return await self.issue_pair(user, tid, role)

    async def refresh(self, raw: str) -> TokenPair:
        """Rotate: the presented token is spent; presenting a spent token revokes its whole family.

        Raises after writing the revocation, so the caller must let the transaction commit."""
        row = await self.refresh_tokens.get_by_hash(hash_refresh_token(raw), for_update=True)
        if row is None:
            raise InvalidRefreshToken("refresh token is not valid")
        if row.used_at is not None or row.revoked_at is not None:
            await self.revoker.end_family(row.family_id)
            log.warning("refresh_token_reused", user_id=str(row.user_id), family_id=str(row.family_id))
            raise RefreshTokenReused("refresh token was already used; every session of this login is revoked")
        if row.expires_at <= utcnow():
            raise InvalidRefreshToken("refresh token has expired")
        row.used_at = utcnow()
        user = await self.users.get(row.user_id)
        if user is None or not user.is_active:
            await self.revoker.end_family(row.family_id)
            raise InvalidRefreshToken("this account is deactivated")
        try:
            tid, role = await self.resolve_tenant(user, row.tenant_id) if row.tenant_id else (None, None)
        except (TenantNotFound, TenantInactive):
            await self.revoker.end_family(row.family_id)
            raise InvalidRefreshToken("the tenant of this session is no longer available") from None
        await self.session.flush()
        return await self.issue_pair(user, tid, role, family_id=row.family_id)

    async def logout(self, raw: str) -> None:
        """The session ends: its refresh token now, its access tokens everywhere within seconds (a Redis flag)."""
        row = await self.refresh_tokens.get_by_hash(hash_refresh_token(raw))
        if row is not None:
            await self.revoker.end_family(row.family_id)

    async def switch_tenant(self, principal: Principal, tenant_id: uuid.UUID) -> TokenPair:
        if principal.kind != "user" or principal.user_id is None:
            raise UsersOnly("only a signed-in user can switch tenant")
        user = await self.users.get(principal.user_id)
        if user is None or not user.is_active:
            raise InvalidCredentials("this account is deactivated")
        if not await self._session_alive(principal):
            raise InvalidCredentials("this session has ended; log in again")
        tid, role = await self.resolve_tenant(user, tenant_id)
        return await self.issue_pair(user, tid, role)

    async def _session_alive(self, principal: Principal) -> bool:
        """An access token outlives its ended session by minutes: it must not mint a fresh pair for another tenant."""
        try:
            family = uuid.UUID(str(principal.claims.get("sid")))
        except ValueError:
            return False
        return await self.refresh_tokens.family_alive(family)

    async def service_token(self, service: str, secret: str) -> ServiceToken:
        if not hmac.compare_digest(secret.encode(), self.settings.service_secret.encode()):
            log.warning("service_token_refused", service=service)
            raise InvalidServiceCredentials("wrong service secret")
        ttl = self.settings.service_token_ttl_seconds
        token = await self.sign(sub=f"svc:{service}", ttl=ttl, scopes=["internal"])
        return ServiceToken(access_token=token, expires_in=ttl)

    async def _check_creator(self, user_id: uuid.UUID, tenant_id: uuid.UUID, scopes: list[str]) -> None:
        """A key works only while its creator is an active member with at least the role its scopes need
        (a platform superuser counts as admin everywhere, as at login)."""
        creator = await self.users.get(user_id)
        if creator is None or not creator.is_active:
            raise InvalidApiKey("the owner of this API key is deactivated")
        if creator.is_superuser:
            return
        membership = await self.members.get(tenant_id, user_id)
        if membership is None or not set(scopes) <= set(ROLE_SCOPES.get(membership.role, ())):
            raise InvalidApiKey("the owner of this API key no longer holds the role its scopes need")

    async def exchange(self, api_key: str, pepper: bytes) -> ExchangedToken:
        """API key -> short-lived JWT with exactly the key's tenant and scopes."""
        prefix = keycodec.prefix_of(api_key)
        key = await self.api_keys.get_by_prefix(prefix) if prefix else None
        if key is None or not hmac.compare_digest(key.key_hash, keycodec.hash_key(pepper, api_key)):
            raise InvalidApiKey("API key is not valid")
        now = utcnow()
        if key.revoked_at is not None:
            raise InvalidApiKey("API key was revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise InvalidApiKey("API key has expired")
        tenant = await self.tenants.get(key.tenant_id)
        if tenant is None:
            raise InvalidApiKey("the tenant of this API key is gone")
        if tenant.status != "active":
            raise TenantInactive("the tenant of this API key is inactive")
        if key.created_by is not None:
            await self._check_creator(key.created_by, key.tenant_id, key.scopes)
        key.last_used_at = now
        ttl = self.settings.exchange_token_ttl_seconds
        extra = {"uid": str(key.created_by)} if key.created_by else {}
        token = await self.sign(
            sub=f"key:{key.id}", ttl=ttl, tid=key.tenant_id, role=None, scopes=list(key.scopes), **extra
        )
        return ExchangedToken(
            access_token=token, expires_in=ttl, tenant_id=key.tenant_id, scopes=list(key.scopes), key_id=key.id
        )
