"""Auth tests: the real app in-process, each test in a rolled-back transaction, helpers to make users."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from email import message_from_string
from email import policy as email_policy
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import text

from services.auth.app import create_app
from services.auth.config import AuthSettings
from shared.crypto import SecretBox
from tests.support.plugin import app_client
from tests.support.smtp import token_of

PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    id: str
    email: str
    password: str
    access: str
    refresh: str
    tenant_id: str | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


class AuthApi:
    """Thin helpers over the public endpoints, so tests read as scenarios."""

    def __init__(self, auth_client: httpx.AsyncClient, db_conn=None, box: SecretBox | None = None) -> None:
        self.auth_client = auth_client
        self.db_conn = db_conn
        self.box = box
        self.root: Account | None = None

    async def mails(self, email: str) -> list[EmailMessage]:
        """The mail queued for an address (auth's worker would send it), oldest first."""
        rows = await self.db_conn.execute(
            text("SELECT message_encrypted FROM auth.mail_outbox WHERE to_address = :e ORDER BY created_at"),
            {"e": email.lower()},
        )
        return [message_from_string(self.box.decrypt(m), policy=email_policy.default) for (m,) in rows.all()]

    async def verify_email(self, email: str, password: str | None = None) -> None:
        """The owner of the address redeems the last code mailed to it."""
        token = token_of((await self.mails(email))[-1])
        body = {"token": token} | ({"password": password} if password else {})
        r = await self.auth_client.post("/api/v1/auth/verify-email", json=body)
        assert r.status_code == 204, r.text

    async def register(self, email: str | None = None, password: str = PASSWORD, **extra) -> dict:
        """Sign up; note the very first sign-up of a test becomes the superuser."""
        email = email or f"u{uuid.uuid4().hex[:8]}@example.com"
        r = await self.auth_client.post(
            "/api/v1/auth/register", json={"email": email, "password": password, "full_name": "Test User"} | extra
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def login(self, email: str, password: str = PASSWORD, tenant_id: str | None = None) -> Account:
        body = {"email": email, "password": password} | ({"tenant_id": tenant_id} if tenant_id else {})
        r = await self.auth_client.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        data = r.json()
        me = await self.auth_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {data['access_token']}"})
        return Account(
            me.json()["id"], email, password, data["access_token"], data["refresh_token"], data.get("tenant_id")
        )

    async def superuser(self) -> Account:
        """The first user of the (empty, rolled back) install, created once per test."""
        if self.root is None:
            user = await self.register(email=f"root{uuid.uuid4().hex[:6]}@example.com")
            assert user["is_superuser"] is True
            self.root = await self.login(user["email"])
        return self.root

    async def tenant_admin(self, tenant_name: str | None = None) -> Account:
        """A user who signed up with a tenant of their own (its admin, not a superuser)."""
        await self.superuser()
        user = await self.register(tenant_name=tenant_name or f"Acme {uuid.uuid4().hex[:6]}")
        return await self.login(user["email"])

    async def member(self, admin: Account, role: str, email: str | None = None) -> Account:
        email = email or f"m{uuid.uuid4().hex[:8]}@example.com"
        r = await self.auth_client.post(
            f"/api/v1/tenants/{admin.tenant_id}/members",
            headers=admin.auth,
            json={"email": email, "role": role, "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        return await self.login(email, tenant_id=admin.tenant_id)

    async def api_key(self, owner: Account, scopes: list[str], **extra) -> dict:
        r = await self.auth_client.post(
            "/api/v1/api-keys", headers=owner.auth, json={"name": "k", "scopes": scopes} | extra
        )
        assert r.status_code == 201, r.text
        return r.json()


@contextlib.asynccontextmanager
async def auth_app(stack, db_conn, **overrides):
    # Cheap argon2 in tests; production defaults are OWASP's (m=19 MiB, t=2).
    overrides = {"argon2_memory_kib": 8192, "argon2_time_cost": 1} | overrides
    settings = stack.settings(AuthSettings, **overrides)
    async with app_client(create_app(settings), db_conn=db_conn) as auth_client:
        yield auth_client


@pytest.fixture
async def auth_client(stack, db_conn, redis):
    async with auth_app(stack, db_conn) as c:
        yield c


@pytest.fixture
def api(auth_client, db_conn, stack) -> AuthApi:
    return AuthApi(auth_client, db_conn, SecretBox(stack.settings(AuthSettings).secrets_key))


@pytest.fixture
async def service_token(auth_client, stack) -> str:
    r = await auth_client.post(
        "/internal/v1/service-token", json={"service": "gateway", "secret": "dev-service-secret-change-me"}
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]
