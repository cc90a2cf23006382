"""Raw asyncpg on the event path: prepared statements instead of the ORM where every message pays for them.

The connection comes from the caller's SQLAlchemy sessionmaker (its pool, and in tests whatever the sessionmaker is
bound to), so pooling, the outage handling of the workers and the test fixtures stay as they are. Statements run
through asyncpg's own statement cache (prepared once per connection); json/jsonb parameters are passed as text and
come back decoded (SQLAlchemy's codecs on its asyncpg connections).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

# A string literal (left as it is) or a `:name` that is not the second half of a `::` cast.
_PARAM = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class NamedStatement:
    """SQL written with `:name` parameters, compiled once to asyncpg's `$n`: a fast path binds a dataclass by name,
    never a tuple by position (a name used twice is one `$n`)."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def compile(cls, sql: str) -> NamedStatement:
        names: list[str] = []

        def number(match: re.Match) -> str:
            if match.group(1) is None:
                return match.group(0)
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        return cls(_PARAM.sub(number, sql), tuple(names))

    def args(self, *sources: object) -> list:
        """The values in the statement's order, each from the first source (a dataclass) that has the name."""
        return [_value(sources, name) for name in self.names]


def _value(sources: tuple[object, ...], name: str):
    for source in sources:
        if hasattr(source, name):
            return getattr(source, name)
    raise AttributeError(f"no source has the statement's parameter {name!r}")


# Postgres is down, restarting, shutting down or out of connections, or the connection broke: an outage (consumers
# retry it without counting it toward the DLQ), never a bad event.
OUTAGE_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
# The connection itself may be unusable after these (backend killed, Postgres restarted, a statement cut off):
# never pool it again.
CONNECTION_ERRORS = (*OUTAGE_ERRORS, OSError, TimeoutError)


@asynccontextmanager
async def raw_connection(
    sessionmaker: async_sessionmaker[AsyncSession], *, autocommit: bool
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection. `autocommit`: each statement commits on its own (no BEGIN/COMMIT round trips);
    otherwise the caller opens `conn.transaction()` itself. A connection that broke is invalidated before the error
    propagates, and so are the others pooled with it (as SQLAlchemy does on a disconnect): after a Postgres restart
    every idle one is dead too, and each would otherwise fail one more statement.

    Bound to an engine (the services), the connection is checked out from it directly: no Session, no
    SessionTransaction (less CPU per use than the Session path, and there are several uses per customer message).
    Bound to anything else (a test's connection), through a Session.
    """
    bind = sessionmaker.kw.get("bind")
    if isinstance(bind, AsyncEngine):
        async with bind.connect() as conn:
            if autocommit:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            raw = (await conn.get_raw_connection()).driver_connection
            try:
                yield raw
            except CONNECTION_ERRORS:
                await conn.invalidate()
                await bind.dispose(close=False)
                raise
        return
    async with sessionmaker() as session:
        options = {"isolation_level": "AUTOCOMMIT"} if autocommit else None
        conn = await session.connection(execution_options=options)
        raw = (await conn.get_raw_connection()).driver_connection
        try:
            yield raw
        except CONNECTION_ERRORS:
            await conn.invalidate()
            await conn.engine.dispose(close=False)  # a fresh pool; connections in use elsewhere finish as they are
            raise
