"""Payloads of auth.keys.v1 (produced by auth): signing-key changes every token verifier must follow at once.

Read by every process that verifies tokens (the gateway, every service, auth's own replicas) with plain XREAD,
no consumer group: a cache invalidation is a fan-out, every replica must see every entry (shared/auth_watch.py).
Ended sessions and API keys whose creator lost the right to them are Redis flags read on every request
(shared/auth.py `ensure_active`), so they need no event.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.events.contract import EventType, Stream

AUTH_KEYS_STREAM = Stream("auth.keys.v1")


class SigningKeyChanged(BaseModel):
    kid: str = Field(min_length=1, max_length=200)


# Drop the kid now, and every cached token it signed.
SIGNING_KEY_RETIRED = EventType(AUTH_KEYS_STREAM, "auth.signing_key.retired", SigningKeyChanged)
# A rotation: re-read the JWKS so the new key's tokens verify at once.
SIGNING_KEY_ADDED = EventType(AUTH_KEYS_STREAM, "auth.signing_key.added", SigningKeyChanged)
