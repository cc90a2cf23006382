"""Adding a member without handing the tenant to whoever holds an unproven account's password.

Four routes, one answer (201, a member-shaped body) whatever the address's state:
- a verified account joins and gets a notice; a `password` in the request is ignored (but hashed, for timing);
- a new address gets an account: the admin's password (ready to log in) or none plus an invitation mail;
- an unverified account with nothing at stake (no membership anywhere, not superuser, active) is reset like a new
  one: the admin's password or none, its sessions end, its profile name is the admin's; then it joins;
- an unverified account with something at stake keeps its credentials (the admin never chooses them) and gets an
  invitation that grants the membership when the address's owner accepts it with a password of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.config import AuthSettings
from services.auth.mail.outbox import MailQueue
from services.auth.members.errors import AlreadyMember
from services.auth.members.models import Membership
from services.auth.members.repository import MembershipRepository
from services.auth.members.schemas import MemberCreate
from services.auth.tenants.models import Tenant
from services.auth.users.models import User
from services.auth.users.passwords import hash_password
from services.auth.users.repository import UserRepository
from services.auth.users.service import UserService
from services.auth.verification.service import EmailTokens, end_sessions
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger("members")


@dataclass
class Joined:
    user: User
    membership: Membership | None  # None: held back until the address's owner accepts the invitation


class Joining:
    def __init__(self, session: AsyncSession, settings: AuthSettings, box: SecretBox, users: UserService) -> None:
        self.session = session
        self.user_service = users
        self.users = UserRepository(session)
        self.members = MembershipRepository(session)
        self.tokens = EmailTokens(session, settings)
        self.mail = MailQueue(session, settings, box)

    async def add(self, tenant: Tenant, data: MemberCreate) -> Joined:
        if data.password is not None:
            self.user_service.check_password(data.password, data.email)
        user = await self.users.get_by_email(data.email)
        if user is not None and await self.members.get(tenant.id, user.id) is not None:
            raise AlreadyMember("this user is already a member of the tenant")
        if user is None:
            user = await self.user_service.create_user(data.email, data.password, data.full_name or "")
            return await self._join_unproven(tenant, user, data)
        if user.email_verified:
            if data.password is not None:
                await hash_password(data.password)  # the other routes hash it: same cost, same timing
            membership = await self._member(tenant, user, data.role)
            await self.mail.queue("added", user.email, tenant.locale, tenant=tenant.name, role=data.role)
            return Joined(user, membership)
        if await self._at_stake(user):
            if data.password is not None:
                await hash_password(data.password)
            token = await self.tokens.issue(user, "invite", tenant_id=tenant.id, role=data.role)
            await self.mail.queue("invite", user.email, tenant.locale, token=token, tenant=tenant.name, role=data.role)
            log.info("member_invited", tenant_id=str(tenant.id), user_id=str(user.id), role=data.role)
            return Joined(user, None)
        # An unproven account with nothing at stake: whoever registered it loses it before any membership exists.
        user.password_hash = await hash_password(data.password) if data.password is not None else None
        user.password_changed_at = utcnow()
        user.full_name = data.full_name or ""
        await end_sessions(self.session, user, self.user_service.settings, self.user_service.redis)
        log.info("unverified_account_reset", user_id=str(user.id), tenant_id=str(tenant.id))
        return await self._join_unproven(tenant, user, data)

    async def _at_stake(self, user: User) -> bool:
        """Resetting this account's credentials would hand this admin something that is not theirs to give."""
        return user.is_superuser or not user.is_active or await self.members.has_any(user.id)

    async def _join_unproven(self, tenant: Tenant, user: User, data: MemberCreate) -> Joined:
        """Joins now; the mail proves the address (with the admin's password) or sets the first password."""
        membership = await self._member(tenant, user, data.role)
        values = {"tenant": tenant.name, "role": data.role}
        if data.password is not None:
            token = await self.tokens.issue(user, "verify")
            await self.mail.queue("added_verify", user.email, tenant.locale, token=token, **values)
        else:
            token = await self.tokens.issue(user, "invite")
            await self.mail.queue("invite", user.email, tenant.locale, token=token, **values)
        return Joined(user, membership)

    async def _member(self, tenant: Tenant, user: User, role: str) -> Membership:
        membership = await self.members.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
        log.info("member_added", tenant_id=str(tenant.id), user_id=str(user.id), role=role)
        return membership
