"""Every process that verifies tokens follows auth's signing keys itself, so a retired key stops everywhere at once.

A cache invalidation is a fan-out: each process (every replica of the gateway and of every service) tails
auth.keys.v1 with plain XREAD, no consumer group, and also re-reads the JWKS every JWKS_REFRESH_SECONDS as the
safety net for an entry it could not read (Redis away): either way a retired key is gone within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from shared.events.auth_keys import AUTH_KEYS_STREAM, SIGNING_KEY_ADDED, SIGNING_KEY_RETIRED, SigningKeyChanged
from shared.events.envelope import Envelope

log = structlog.get_logger("auth.watch")


async def _tail_id(redis) -> str:
    """The newest entry's id ("0-0" for no stream yet): reading on from it misses nothing between two XREADs."""
    entries = await redis.xrevrange(AUTH_KEYS_STREAM, count=1)
    return entries[0][0] if entries else "0-0"


async def apply_entry(state, fields) -> None:
    """One auth.keys.v1 entry: drop a retired kid (and the tokens it signed), re-read the keys after any change."""
    verifier = getattr(state, "verifier", None)
    if verifier is None:
        return
    try:
        envelope = Envelope.from_fields(fields)
        change = SigningKeyChanged.model_validate(envelope.payload)
    except ValueError:
        log.warning("auth_keys_entry_unreadable")
        await verifier.jwks.refresh(force=True)
        return
    if envelope.type == SIGNING_KEY_RETIRED:
        verifier.jwks.retire(change.kid)
    if envelope.type in (SIGNING_KEY_RETIRED, SIGNING_KEY_ADDED):
        await verifier.jwks.refresh(force=True)


async def watch_auth_keys(state, stop: asyncio.Event, refresh_seconds: float, block_seconds: float = 1.0) -> None:
    """Until `stop`: follow auth.keys.v1 on `state.redis` and refresh `state.verifier`'s JWKS periodically."""
    last_id: str | None = None
    next_refresh = time.monotonic() + refresh_seconds
    failing = False
    while not stop.is_set():
        try:
            if last_id is None:
                last_id = await _tail_id(state.redis)
            wait = max(0.05, min(block_seconds, next_refresh - time.monotonic()))
            batches = await state.redis.xread({AUTH_KEYS_STREAM: last_id}, count=100, block=int(wait * 1000))
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis away: the periodic refresh still converges
            if not failing:
                log.warning("auth_keys_unreadable", error=type(exc).__name__)
            failing, batches = True, None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        try:
            for _, entries in batches or ():
                for entry_id, fields in entries:
                    last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    await apply_entry(state, fields)
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + refresh_seconds
                verifier = getattr(state, "verifier", None)
                if verifier is not None:
                    await verifier.jwks.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - auth's key ring needs Postgres: never let an outage end the watch
            log.warning("auth_keys_refresh_failed", error=type(exc).__name__)
