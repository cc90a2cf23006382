"""Chat test wiring: the chat app in-process on the test's transaction, a real OpenAI-protocol stand-in over HTTP,
and (where tenant settings matter) the real auth app over HTTP."""

from __future__ import annotations

import uuid

import pytest

from devtools.embedded import free_port
from services.chat.app import create_app
from services.chat.config import ChatSettings
from tests.support.llm import LLMStandIn
from tests.support.plugin import app_client, serve_app
from tests.support.tenants import tenant_admin

LLM_KEY = "sk-test-platform-key"


@pytest.fixture
async def llm():
    """The stand-in OpenAI server; `llm.url` is its /v1 base URL."""
    stand_in = LLMStandIn(api_key=LLM_KEY)
    async with serve_app(stand_in.app) as url:
        stand_in.url = f"{url}/v1"
        yield stand_in


def chat_settings(stack, llm=None, **overrides) -> ChatSettings:
    base = {
        "llm_base_url": llm.url if llm else "",
        "llm_api_key": LLM_KEY if llm else "",
        "llm_model": "stand-in-model",
        "llm_timeout_seconds": 2.0,
        "llm_max_retries": 2,
        # Nothing listens here: tenant settings fall back to the platform defaults (tests with auth override it).
        "tenant_settings_url": f"http://127.0.0.1:{free_port()}",
        "auth_url": f"http://127.0.0.1:{free_port()}",
    }
    return stack.settings(ChatSettings, **(base | overrides))


@pytest.fixture
async def chat_client(stack, db_conn, llm):
    app = create_app(chat_settings(stack, llm))
    async with app_client(app, db_conn=db_conn) as client:
        client.app = app
        yield client


@pytest.fixture
def tenant_id():
    return uuid.uuid4()


@pytest.fixture
def other_tenant_id():
    return uuid.uuid4()


@pytest.fixture
def headers(make_token, tenant_id):
    return {"Authorization": f"Bearer {make_token(tenant_id=tenant_id, role='admin')}"}


@pytest.fixture
def other_headers(make_token, other_tenant_id):
    return {"Authorization": f"Bearer {make_token(tenant_id=other_tenant_id, role='admin')}"}


async def new_thread(client, headers, **body):
    r = await client.post("/api/v1/threads", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def post(client, headers, thread_id, content, **extra):
    return await client.post(
        f"/api/v1/threads/{thread_id}/messages", json={"content": content, **extra}, headers=headers
    )


class AuthHelper:
    """The real auth service over HTTP (on the test's transaction): tenants with settings and secrets."""

    def __init__(self, client, url: str) -> None:
        self.client = client
        self.url = url

    async def tenant_admin(self, **settings) -> tuple[str, dict[str, str]]:
        """A user who signed up with a tenant of their own; the tenant gets `settings`. -> (tenant_id, headers)"""
        t = await tenant_admin(self.client, "Tess", tenant_name="Acme Pizza", settings=settings)
        return t.tenant_id, t.headers


@pytest.fixture
async def auth(stack, db_conn, redis):
    import httpx

    from services.auth.app import create_app as create_auth_app
    from services.auth.config import AuthSettings
    from shared.db import create_sessionmaker

    settings = stack.settings(AuthSettings, argon2_memory_kib=8192, argon2_time_cost=1)
    app = create_auth_app(settings)
    async with serve_app(app) as url:
        app.state.sessionmaker = create_sessionmaker(db_conn)
        async with httpx.AsyncClient(base_url=url) as client:
            yield AuthHelper(client, url)


@pytest.fixture
async def chat_auth(stack, db_conn, llm, auth):
    """Chat reading tenant settings from the real auth service (and trusting its JWKS)."""
    app = create_app(chat_settings(stack, llm, tenant_settings_url=auth.url, auth_url=auth.url))
    async with app_client(app, db_conn=db_conn) as client:
        client.app = app
        yield client
