"""Proving an address: one-time tokens mailed at sign-up or invitation, redeemed at POST /auth/verify-email."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.config import AuthSettings
from services.auth.mail.outbox import MailQueue
from services.auth.members.models import Membership
from services.auth.members.repository import MembershipRepository
from services.auth.tenants.repository import TenantRepository
from services.auth.tokens.revocation import AccessRevoker
from services.auth.users.errors import WeakPassword
from services.auth.users.models import User
from services.auth.users.passwords import check_policy, hash_password
from services.auth.users.repository import UserRepository
from services.auth.verification.errors import EmailTokenInvalid, PasswordRequired
from services.auth.verification.models import EmailToken
from services.auth.verification.repository import EmailTokenRepository
from services.auth.verification.schemas import VerifyEmail
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("verification")
RESEND_COOLDOWN_SECONDS = 60


def hash_email_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class EmailTokens:
    """Issues tokens: 256 random bits, only the sha256 stored, single use, AUTH_EMAIL_TOKEN_TTL_HOURS to live."""

    def __init__(self, session: AsyncSession, settings: AuthSettings) -> None:
        self.settings = settings
        self.tokens = EmailTokenRepository(session)

    async def issue(
        self, user: User, purpose: str, *, tenant_id: uuid.UUID | None = None, role: str | None = None
    ) -> str:
        raw = secrets.token_urlsafe(32)
        await self.tokens.add(
            EmailToken(
                user_id=user.id,
                email=user.email,
                purpose=purpose,
                token_hash=hash_email_token(raw),
                tenant_id=tenant_id,
                role=role,
                expires_at=utcnow() + timedelta(hours=self.settings.email_token_ttl_hours),
            )
        )
        return raw


async def end_sessions(session: AsyncSession, user: User, settings: AuthSettings, redis) -> None:
    """Every session of the user ends: refresh families revoked, access tokens stopped (tokens/revocation.py)."""
    await AccessRevoker(session, settings, redis).end_user_sessions(user.id)


class VerificationService:
    def __init__(self, session: AsyncSession, settings: AuthSettings, redis, box: SecretBox) -> None:
        self.session = session
        self.settings = settings
        self.redis = redis
        self.users = UserRepository(session)
        self.members = MembershipRepository(session)
        self.tenants = TenantRepository(session)
        self.tokens = EmailTokenRepository(session)
        self.issuer = EmailTokens(session, settings)
        self.mail = MailQueue(session, settings, box)

    async def verify(self, data: VerifyEmail) -> None:
        """Unknown, used and expired tokens get the same 400; an invitation also sets the owner's own password."""
        row = await self.tokens.get_by_hash(hash_email_token(data.token))
        user = await self.users.get(row.user_id) if row is not None else None
        if row is None or row.used_at is not None or row.expires_at <= utcnow() or user is None:
            raise EmailTokenInvalid("this code is not valid: it is unknown, already used or expired")
        if user.email != row.email:
            raise EmailTokenInvalid("this code is not valid: it is unknown, already used or expired")
        if data.password is None and (row.purpose == "invite" or user.password_hash is None):
            raise PasswordRequired(
                "choose a password to accept this invitation",
                errors=[{"loc": ["body", "password"], "msg": "required to accept an invitation"}],
            )
        now = utcnow()
        if data.password is not None:
            reason = check_policy(data.password, user.email, self.settings.password_min_length)
            if reason:
                raise WeakPassword(reason, errors=[{"loc": ["body", "password"], "msg": reason}])
            user.password_hash = await hash_password(data.password)
            user.password_changed_at = now
            await end_sessions(self.session, user, self.settings, self.redis)  # whoever knew the old password is out
        row.used_at = now
        if not user.email_verified:
            user.email_verified, user.email_verified_at = True, now
        if row.tenant_id is not None and row.role is not None:
            await self._grant(row.tenant_id, user, row.role)
        await self.session.flush()
        log.info("email_verified", user_id=str(user.id), purpose=row.purpose)

    async def _grant(self, tenant_id: uuid.UUID, user: User, role: str) -> None:
        """The membership an invitation held back, if its tenant is still there."""
        tenant = await self.tenants.get(tenant_id)
        if tenant is None or tenant.deleted_at is not None or await self.members.get(tenant_id, user.id):
            return
        await self.members.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        log.info("member_added", tenant_id=str(tenant_id), user_id=str(user.id), role=role, via="invitation")

    async def resend(self, user: User) -> None:
        """A fresh sign-up code for a signed-in, unverified user; at most one a minute (same 202 either way)."""
        if user.email_verified:
            return
        if not await self.redis.set(f"auth:mail:resend:{user.id}", "1", nx=True, ex=RESEND_COOLDOWN_SECONDS):
            return
        token = await self.issuer.issue(user, "verify")
        await self.mail.queue("verify", user.email, token=token)
