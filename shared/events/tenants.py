"""tenants.changed.v1 (produced by auth): a tenant's settings, secrets or state changed; caches of it must go.

Read by every service holding tenant caches: search's worker through its consumer group, every API replica with
plain XREAD (each replica must see every entry).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from shared.events.contract import EventType, Stream

TENANTS_STREAM = Stream("tenants.changed.v1")


class TenantChanged(BaseModel):
    tenant_id: uuid.UUID | None = None  # None: forget every tenant (the envelope's tenant_id is tried first)
    changed: list[str] = Field(default_factory=list, max_length=100)  # which fields; empty: anything may have


TENANT_CHANGED = EventType(TENANTS_STREAM, TENANTS_STREAM, TenantChanged)
