"""Sign-up, profile, password change, and superuser administration of users."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.config import AuthSettings
from services.auth.mail.outbox import MailQueue
from services.auth.members.repository import MembershipRepository
from services.auth.status import set_user_disabled
from services.auth.tenants.service import TenantService
from services.auth.tokens.bruteforce import LoginLimiter
from services.auth.tokens.repository import RefreshTokenRepository
from services.auth.tokens.revocation import AccessRevoker
from services.auth.users.errors import (
    EmailTaken,
    SelfChangeRefused,
    SignupDisabled,
    UserNotFound,
    UsersOnly,
    WeakPassword,
    WrongPassword,
)
from services.auth.users.models import User
from services.auth.users.passwords import check_policy, hash_password, verify_password
from services.auth.users.repository import UserRepository
from services.auth.users.schemas import MembershipBrief, MeRead, UserCreate, UserRead, UserUpdate
from services.auth.verification.service import EmailTokens
from shared.auth import Principal
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.logging import get_logger
from shared.pagination import Page, PageParams

log = get_logger("users")
SIGNUP_NOTICE_SECONDS = 3600  # at most one "someone tried to sign up with your address" mail an hour per address


def hashed_email(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


class UserService:
    def __init__(
        self,
        session: AsyncSession,
        settings: AuthSettings,
        redis,
        limiter: LoginLimiter | None = None,
        box: SecretBox | None = None,
    ):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.limiter = limiter
        self.box = box
        self.users = UserRepository(session)
        self.members = MembershipRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    def check_password(self, password: str, email: str, field: str = "password") -> None:
        reason = check_policy(password, email, self.settings.password_min_length)
        if reason:
            raise WeakPassword(reason, errors=[{"loc": ["body", field], "msg": reason}])

    @property
    def mail(self) -> MailQueue:
        if self.box is None:
            raise RuntimeError("this UserService was built without a SecretBox: it cannot queue mail")
        return MailQueue(self.session, self.settings, self.box)

    async def create_user(
        self,
        email: str,
        password: str | None,
        full_name: str = "",
        *,
        is_superuser: bool = False,
        email_verified: bool = False,
    ) -> User:
        """A new account; the email must be free. Without a password the user cannot log in yet."""
        if await self.users.get_by_email(email) is not None:
            raise EmailTaken("an account with this email already exists")
        if password is not None:
            self.check_password(password, email)
        hashed = await hash_password(password) if password is not None else None
        user = await self.users.add(
            User(
                email=email.lower(),
                password_hash=hashed,
                full_name=full_name,
                is_superuser=is_superuser,
                email_verified=email_verified,
                email_verified_at=utcnow() if email_verified else None,
            )
        )
        log.info("user_created", user_id=str(user.id), superuser=is_superuser)
        return user

    async def register(self, data: UserCreate) -> UserRead:
        """The first user of an empty install becomes superuser (and may always sign up).

        A taken address gets the same 201 and body shape, for the same work (one argon2 hash), so sign-up does not
        tell whether an address has an account; nothing changes on that account and its owner gets a mail."""
        first = await self.users.count() == 0
        if not first and not self.settings.signup_enabled:
            raise SignupDisabled("sign-up is disabled on this installation")
        if data.tenant_name and not first and not self.settings.signup_tenant_enabled:
            raise SignupDisabled("creating a tenant at sign-up is disabled on this installation")
        self.check_password(data.password, data.email)
        existing = await self.users.get_by_email(data.email)
        if existing is not None:
            await hash_password(data.password)  # the cost of a real sign-up, thrown away
            await self._signup_attempted(existing)
            return UserRead(
                id=uuid.uuid4(),
                email=data.email,
                full_name=data.full_name,
                is_superuser=False,
                is_active=True,
                email_verified=False,
                created_at=utcnow(),
            )
        user = await self.create_user(data.email, data.password, data.full_name, is_superuser=first)
        if data.tenant_name:
            await TenantService(self.session, self.redis).create_for_owner(user, data.tenant_name)
        token = await EmailTokens(self.session, self.settings).issue(user, "verify")
        await self.mail.queue("verify", user.email, token=token)
        return UserRead.model_validate(user)

    async def _signup_attempted(self, owner: User) -> None:
        """Tell the address's owner, at most once an hour (sign-up must not become a way to flood a mailbox)."""
        key = f"auth:mail:signup-attempt:{hashed_email(owner.email)}"
        if await self.redis.set(key, "1", nx=True, ex=SIGNUP_NOTICE_SECONDS):
            await self.mail.queue("signup_attempt", owner.email)
        log.info("signup_for_existing_account", user_id=str(owner.id))

    async def current(self, principal: Principal) -> User:
        if principal.kind != "user" or principal.user_id is None:
            raise UsersOnly("this endpoint is for signed-in users, not API keys or services")
        user = await self.users.get(principal.user_id)
        if user is None or not user.is_active:
            raise UserNotFound("your account no longer exists")
        return user

    async def me(self, principal: Principal) -> MeRead:
        user = await self.current(principal)
        memberships = [
            MembershipBrief(tenant_id=t.id, tenant_name=t.name, tenant_slug=t.slug, role=m.role)
            for m, t in await self.members.of_user(user.id)
        ]
        return MeRead(
            **UserRead.model_validate(user).model_dump(),
            memberships=memberships,
            tenant_id=principal.tenant_id,
            role=principal.role,
        )

    async def change_password(self, principal: Principal, current: str, new: str, ip: str) -> None:
        """Other sessions end, access tokens included: every refresh family but this token's own is revoked."""
        user = await self.current(principal)
        attempt = await self.limiter.begin(user.email, ip) if self.limiter is not None else None
        if not await verify_password(current, user.password_hash):
            raise WrongPassword("current password is incorrect")  # the attempt stays counted
        if attempt is not None:
            await attempt.passed()
        self.check_password(new, user.email, "new_password")
        if current == new:
            raise WeakPassword(
                "new password must differ from the current one",
                errors=[{"loc": ["body", "new_password"], "msg": "same as current"}],
            )
        user.password_hash = await hash_password(new)
        user.password_changed_at = utcnow()
        sid = principal.claims.get("sid")
        keep = None
        if sid:
            try:
                keep = uuid.UUID(str(sid))
            except ValueError:
                keep = None
        await AccessRevoker(self.session, self.settings, self.redis).end_user_sessions(user.id, keep_family=keep)
        log.info("password_changed", user_id=str(user.id))

    async def list(self, page: PageParams, *, is_active: bool | None, q: str | None) -> Page[UserRead]:
        found = await self.users.page(page, is_active=is_active, q=q)
        return Page(items=[UserRead.model_validate(u) for u in found.rows], next_cursor=found.next_cursor)

    async def update(self, principal: Principal, user_id: uuid.UUID, data: UserUpdate) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFound()
        changes = data.model_dump(exclude_unset=True, exclude_none=True)
        if user.id == principal.user_id and (changes.get("is_active") is False or changes.get("is_superuser") is False):
            raise SelfChangeRefused("you cannot deactivate yourself or drop your own superuser status")
        for key, value in changes.items():
            setattr(user, key, value)
        await self.session.flush()
        if "is_active" in changes:
            await set_user_disabled(self.redis, user.id, not user.is_active)
            if not user.is_active:  # and stay ended if the account is reactivated within their lifetime
                await AccessRevoker(self.session, self.settings, self.redis).end_user_sessions(user.id)
            log.info("user_status_changed", user_id=str(user.id), is_active=user.is_active)
        return user
