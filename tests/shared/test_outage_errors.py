"""A dependency that is down is a 503 problem+json with Retry-After, never a 500: Redis (every authenticated request
checks it for deactivated users and tenants, and fails closed) and Postgres, on the admin APIs of two services."""

from __future__ import annotations

import uuid

import pytest

from devtools.embedded import free_port
from services.channels.app import create_app as create_channels
from services.channels.config import ChannelsSettings
from services.chat.app import create_app as create_chat
from services.chat.config import ChatSettings
from tests.support.plugin import app_client

APPS = {
    "channels": (create_channels, ChannelsSettings, "/api/v1/channels"),
    "chat": (create_chat, ChatSettings, "/api/v1/threads"),
}


def _closed_port() -> int:
    return free_port()  # nothing listens there


def _assert_unavailable(r, dependency: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert body["status"] == 503 and body["code"] == "dependency_unavailable"
    assert dependency in body["detail"] and body["dependency"] == dependency
    assert "Traceback" not in r.text and "127.0.0.1" not in r.text  # no internals


@pytest.mark.parametrize("service", sorted(APPS))
async def test_redis_down_is_a_503(stack, make_token, service):
    create_app, settings_cls, path = APPS[service]
    settings = stack.settings(settings_cls, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    headers = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4(), role='admin')}"}
    async with app_client(create_app(settings)) as client:
        _assert_unavailable(await client.get(path, headers=headers), "redis")
        r = await client.get(path)  # no token: still the 401, nothing needed Redis
        assert r.status_code == 401


@pytest.mark.parametrize("service", sorted(APPS))
async def test_postgres_down_is_a_503(stack, make_token, service):
    create_app, settings_cls, path = APPS[service]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/atende"
    settings = stack.settings(settings_cls, database_url=url)
    headers = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4(), role='admin')}"}
    async with app_client(create_app(settings)) as client:
        _assert_unavailable(await client.get(path, headers=headers), "database")


def test_bugs_and_slow_queries_are_not_outages():
    """Only a dependency being away is a 503: a statement timeout, asyncpg's argument errors and its own internal
    errors stay 500s (logged with their traceback), as does anything else."""
    import asyncpg

    from shared.errors import outage_of

    assert outage_of(asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")) is None
    assert outage_of(asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed")) is None
    assert outage_of(asyncpg.exceptions.InternalClientError("bug")) is None
    assert outage_of(TimeoutError()) is None
    assert outage_of(ValueError("x")) is None
    assert outage_of(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")) == "database"
    assert outage_of(asyncpg.exceptions.TooManyConnectionsError("too many clients")) == "database"
    assert outage_of(asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed")) == "database"
