"""What a handler (or a contract) raises to tell the consumer how a failure ends: retried, or dead-lettered now."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared.events.raw import OUTAGE_ERRORS


class TransientError(Exception):
    """Raise from a handler when a dependency is down: retried with backoff, never counted toward the DLQ."""


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help (a provider refused for good, a channel that is gone): the
    entry goes to the DLQ at once, with this error, instead of after `max_deliveries` attempts."""


class InvalidPayload(PermanentError, ValueError):
    """A payload its contract refuses (a field missing, of the wrong type): no delivery of it can ever succeed."""


def is_transient(exc: BaseException) -> bool:
    """An outage (database, Redis, network), not a bad event: retrying later should work."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


_TRANSIENT = (
    *OUTAGE_ERRORS,
    TransientError,
    ConnectionError,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)
