"""Auth's start-up waits for Postgres/Redis instead of exiting when its restart overlaps theirs (chaos finding)."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.embedded import free_port
from services.auth.app import until_reachable


async def test_a_database_that_is_down_then_up_is_waited_for(stack) -> None:
    calls = []
    down = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/atende")
    up = create_async_engine(stack.database_url)

    async def step() -> None:
        calls.append(1)
        engine = down if len(calls) < 3 else up  # the first two attempts find nothing listening
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await until_reachable(step, "postgres", timeout=30)
    finally:
        await down.dispose()
        await up.dispose()
    assert len(calls) == 3


async def test_a_real_error_is_not_retried() -> None:
    calls = []

    async def step() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await until_reachable(step, "postgres", timeout=30)
    assert calls == [1]


async def test_the_wait_is_bounded() -> None:
    async def step() -> None:
        raise ConnectionRefusedError("nothing listens")

    with pytest.raises(ConnectionRefusedError):
        await until_reachable(step, "postgres", timeout=0.5)
