"""The intake's own asyncpg pool: autocommit statements, a broken connection retried once, outages as 503."""

from __future__ import annotations

import contextlib

import asyncpg

from shared.errors import ServiceUnavailable, Unprocessable

# Postgres refuses these text values (a NUL, or a character the encoding lacks): the client's error, not ours.
_UNSTORABLE_TEXT = {"22021", "22P05"}
_BROKEN = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
# Postgres is gone, restarting, shutting down or out of connections: the provider should retry (503).
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


class IntakeDatabase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def run(self, fn):
        """Run `fn(conn)` on a pooled connection. A connection that broke while idle in the pool (Postgres restarted)
        is retried once on a new one: every statement here is idempotent (the insert is ON CONFLICT DO NOTHING, so
        a statement that committed before its answer was lost reads as a provider retry). What still fails is a
        503 with Retry-After (the provider retries), never a 500."""
        for attempt in (1, 2):
            try:
                # A free connection is taken at once; asyncpg's acquire timeout wraps the wait in a task, which
                # costs more than the rest of the acquire, so it is paid only when the pool is exhausted.
                # (Connecting is bounded by the pool's own connect timeout, app.py.)
                if self.pool.get_idle_size():
                    conn = await self.pool.acquire()
                else:
                    conn = await self.pool.acquire(timeout=5)
            except (OSError, TimeoutError, asyncpg.InterfaceError, *_UNAVAILABLE):
                conn = None
            if conn is not None:
                try:
                    return await fn(conn)
                except asyncpg.PostgresError as exc:
                    if getattr(exc, "sqlstate", None) in _UNSTORABLE_TEXT:
                        raise Unprocessable("the text has a character that cannot be stored (a NUL, \\u0000)") from None
                    if not isinstance(exc, _UNAVAILABLE):
                        raise
                    _discard(conn)
                except _BROKEN:
                    # e.g. a backend killed while idle: asyncpg's protocol is left mid-state. Never pool it again.
                    _discard(conn)
                finally:
                    await self.pool.release(conn)
            if attempt == 2:
                raise ServiceUnavailable("the database is unavailable; retry", headers={"Retry-After": "5"})
        raise AssertionError("unreachable")


def _discard(conn) -> None:
    """Close a pooled connection for good. When asyncpg has already seen it close (the backend was killed), the pool
    has taken it back by itself and detached our proxy, whose `terminate()` then raises: nothing is left to close."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) is one more
    round trip per webhook; this pool only ever runs single autocommit statements (no session state to undo), and
    asyncpg still rolls back a transaction left open before calling this."""


def asyncpg_dsn(database_url: str) -> str:
    """DATABASE_URL is SQLAlchemy's (postgresql+asyncpg://...); asyncpg takes the plain libpq form."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
