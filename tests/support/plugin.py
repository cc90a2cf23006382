"""pytest plugin: real Postgres+pgvector and Redis started once per test session, a migrated database,
a rolled-back transaction per test, clean Redis keys, in-process app clients and test tokens.

Set TEST_DATABASE_URL / TEST_REDIS_URL to use servers of your own instead of the embedded ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.migrations import SERVICES, upgrade_all
from tests.support.keys import TestKeys


def pytest_configure(config: pytest.Config) -> None:
    """A private base temp dir per session: pytest's shared one is pruned by any concurrent session, which
    deletes the data and binaries of servers still running in this one."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="atende-pytest-")
        config._atende_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, "_atende_basetemp", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


@dataclass
class TestStack:
    database_url: str
    redis_url: str
    pg: EmbeddedPostgres | None
    redis: EmbeddedRedis | None
    keys: TestKeys

    def settings(self, cls, **overrides: Any):
        """Settings of any service pointed at the test servers and trusting the test signing key."""
        base = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "jwks_json": self.keys.jwks_json,
            "log_json": True,
            "secrets_key": "test-secrets-key",
        }
        return cls(**(base | overrides))


@pytest.fixture(scope="session")
def stack() -> TestStack:
    """The real servers for the whole session, stopped at the end whatever happened."""
    pg = rd = None
    db_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    # Not pytest's tmp_path: pytest prunes old basetemps, which kills the servers of a concurrent session.
    own_dir = not os.environ.get("TEST_STACK_DIR")
    base = Path(os.environ.get("TEST_STACK_DIR") or tempfile.mkdtemp(prefix="atende-test-stack-"))
    os.environ.setdefault("PG_FAST", "1")
    try:
        if not db_url:
            pg = EmbeddedPostgres(base / "postgres", port=free_port(), bin_root=shared_bin_root()).start()
            db_url = pg.url
        if not redis_url:
            rd = EmbeddedRedis(base / "redis", port=free_port()).start()
            redis_url = rd.url
        name = f"test_{uuid.uuid4().hex[:10]}"
        db_url = _create_database(db_url, name)
        upgrade_all(db_url)
        yield TestStack(db_url, redis_url, pg, rd, TestKeys.generate())
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def shared_bin_root() -> Path:
    """One copy of the Postgres binaries per installed version, reused by every test session (root only)."""
    import importlib.metadata

    version = importlib.metadata.version("pgserver")
    return Path(tempfile.gettempdir()) / f"atende-pgbin-{version}"


def _create_database(url: str, name: str) -> str:
    """A fresh database per test session on whatever server `url` names."""
    head, _, _ = url.rpartition("/")

    async def create() -> None:
        engine = create_async_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    return f"{head}/{name}"


@pytest.fixture
async def redis(stack: TestStack) -> AsyncIterator[aioredis.Redis]:
    """A client on a Redis emptied before the test."""
    client = aioredis.from_url(stack.redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def db_conn(stack: TestStack) -> AsyncIterator[AsyncConnection]:
    """One connection inside a transaction that is rolled back after the test."""
    engine = create_async_engine(stack.database_url, pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            if trans.is_active:
                await trans.rollback()
    await engine.dispose()


@pytest.fixture
async def session(db_conn: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session whose commits become savepoints of the test's transaction."""
    async with AsyncSession(bind=db_conn, expire_on_commit=False, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
async def committed_db(stack: TestStack) -> AsyncIterator[str]:
    """For tests that span processes or connections: data really commits; every table is emptied after."""
    yield stack.database_url
    await truncate_all(stack.database_url)


async def truncate_all(database_url: str) -> None:
    """Every service table emptied. DELETE with foreign keys off (`session_replication_role = replica`), in one
    round trip: a test leaves a few rows, and TRUNCATE of every table costs 0.2 s of new files each time."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1) AND tablename <> 'alembic_version'",
            list(SERVICES),
        )
        deletes = "".join(f'DELETE FROM "{r["schemaname"]}"."{r["tablename"]}"; ' for r in rows)
        await conn.execute(f"BEGIN; SET LOCAL session_replication_role = replica; {deletes}COMMIT")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def app_client(
    app, *, db_conn: AsyncConnection | None = None, base_url: str = "http://testserver", **client_kw: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process; with `db_conn`, every request joins the
    test's transaction (rolled back after the test)."""
    from asgi_lifespan import LifespanManager

    from shared.db import create_sessionmaker

    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        if db_conn is not None:
            app.state.sessionmaker = create_sessionmaker(db_conn)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, **client_kw) as client:
            yield client


@pytest.fixture
def keys(stack: TestStack) -> TestKeys:
    return stack.keys


@pytest.fixture
def make_token(stack: TestStack) -> Callable[..., str]:
    """mint a JWT the services accept: make_token(tenant_id=..., role="admin", scopes=[...])."""
    return stack.keys.mint


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an (async or sync) predicate until it is truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serve_app(
    app, *, port: int | None = None, lifespan: str = "on", servers: list | None = None, **config_kw: Any
) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on 127.0.0.1 inside the test's event loop; yields its base URL.

    For stand-in providers (OpenAI, Twilio, Telegram, ...) and upstreams that must be reached by a real client.
    `config_kw` goes to uvicorn.Config (e.g. proxy_headers=False). `servers` collects the uvicorn server, so that
    whoever serves several apps can tell them all to stop at once (`stop_servers`) instead of one after another.
    """
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan=lifespan,
        loop="asyncio",
        timeout_graceful_shutdown=2,
        **config_kw,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    if servers is not None:
        servers.append(server)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done(), timeout=20)
        if task.done():
            task.result()
            raise RuntimeError(f"server on port {port} stopped while starting")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait([task], timeout=10)


def stop_servers(servers: list) -> None:
    """Tell every server of `servers` (collected by serve_app) to stop; each serve_app then waits for its own."""
    for server in servers:
        server.should_exit = True
