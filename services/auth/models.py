"""Every table of the `auth` schema, imported so Alembic sees the whole metadata."""

from services.auth.api_keys.models import ApiKey
from services.auth.base import Base, Outbox, ProcessedEvent
from services.auth.keys.models import SigningKey
from services.auth.mail.models import MailOutbox
from services.auth.members.models import Membership
from services.auth.tenants.models import Tenant, TenantSecret
from services.auth.tokens.models import RefreshToken
from services.auth.users.models import User
from services.auth.verification.models import EmailToken

__all__ = [
    "ApiKey",
    "Base",
    "EmailToken",
    "MailOutbox",
    "Membership",
    "Outbox",
    "ProcessedEvent",
    "RefreshToken",
    "SigningKey",
    "Tenant",
    "TenantSecret",
    "User",
]
