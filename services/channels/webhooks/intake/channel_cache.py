"""The channels the intake authenticates against, cached by id with their decrypted credentials.

Credentials are needed before anything is stored (the signature), so each channel row is cached with what its
provider's check needs (`verifier`). The intake's statement only stores if the channel still has the cached
`updated_at`, so a stale entry stores nothing and is re-read. A signature that fails against a cached entry is
re-checked against the fresh row at most once per `recheck_seconds` per channel, so forged requests do not
each cost a read. Unknown channels are never cached.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.channels.providers.base import ChannelProvider
from services.channels.providers.registry import serves
from services.channels.webhooks.intake.pool import IntakeDatabase
from services.channels.webhooks.intake.statements import SQL_CHANNEL
from shared.crypto import SecretBox
from shared.errors import NotFound

CACHE_MAX = 4096
# A signature that fails against a cached channel re-reads the row (the token may have been rotated), but at most
# once per this many seconds per channel: forged requests cannot turn into one database read each.
RECHECK_AFTER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CachedChannel:
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    assistant_id: uuid.UUID | None
    settings: dict[str, Any]
    updated_at: datetime
    credentials: dict[str, str]
    verifier: Any  # the provider's signature check for these credentials (e.g. one RequestValidator), reused
    fetched_at: float  # time.monotonic()


class ChannelCache:
    def __init__(self, db: IntakeDatabase, box: SecretBox, recheck_seconds: float = RECHECK_AFTER_SECONDS) -> None:
        self.db = db
        self.box = box
        self.recheck_seconds = recheck_seconds
        self._entries: dict[uuid.UUID, CachedChannel] = {}

    async def _fetch(self, cid: uuid.UUID, provider: ChannelProvider) -> CachedChannel | None:
        row = await self.db.run(lambda conn: conn.fetchrow(SQL_CHANNEL, cid))
        if row is None:
            self._entries.pop(cid, None)
            return None
        if not serves(provider, row["type"]):
            return None
        creds = orjson.loads(self.box.decrypt(row["credentials_encrypted"]))
        settings = row["settings"]
        entry = CachedChannel(
            id=row["id"],
            tenant_id=row["tenant_id"],
            type=row["type"],
            assistant_id=row["assistant_id"],
            settings=orjson.loads(settings) if isinstance(settings, str) else (settings or {}),
            updated_at=row["updated_at"],
            credentials=creds,
            verifier=provider.verifier(creds),
            fetched_at=time.monotonic(),
        )
        if len(self._entries) >= CACHE_MAX:
            self._entries.clear()
        self._entries[cid] = entry
        return entry

    async def get(
        self, channel_id: str, provider: ChannelProvider, *, fresh: bool = False
    ) -> tuple[CachedChannel, bool]:
        """The channel named in the URL if it is this provider's, and whether a re-read could change it (a cache
        entry old enough to be re-checked, `recheck_seconds`). 404 for anything else."""
        try:
            cid = uuid.UUID(channel_id)
        except ValueError:
            raise NotFound("unknown channel") from None
        entry = None if fresh else self._entries.get(cid)
        recheckable = entry is not None and time.monotonic() - entry.fetched_at > self.recheck_seconds
        if entry is None:
            entry = await self._fetch(cid, provider)
        if entry is None or not serves(provider, entry.type):
            raise NotFound("unknown channel")
        return entry, recheckable
