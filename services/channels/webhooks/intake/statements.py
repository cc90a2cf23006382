"""The intake's SQL: one statement stores an inbound message, its outbox event and the relay's NOTIFY (one row or a
group-committed batch), and the channel lookup. Written with named parameters, bound to asyncpg's $n once."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from services.channels.base import Outbox
from services.channels.configs.models import Channel
from services.channels.outbound.models import Delivery
from services.channels.webhooks.models import InboundMessage
from shared.events.channels import DELIVERY_FAILED, DELIVERY_FAILED_STREAM, INBOUND_STREAM
from shared.events.direct import DirectEvent
from shared.events.envelope import Envelope
from shared.events.outbox import NOTIFY_CHANNEL

_CHANNEL, _INBOUND, _OUTBOX = Channel.__table__.fullname, InboundMessage.__table__.fullname, Outbox.__table__.fullname
_DELIVERY = Delivery.__table__.fullname
_SCHEMA = Outbox.__table__.schema


@dataclass(slots=True)
class InboundRow:
    """One message to store: the inbound row, its event's row and the channel version it was authenticated against
    (the statement stores nothing if the channel changed since)."""

    channel_id: uuid.UUID
    updated_at: datetime  # the cached channel's
    inbound_id: uuid.UUID
    tenant_id: uuid.UUID
    provider_message_id: str
    kind: str
    sender: str
    sender_name: str | None
    text: str | None
    media: str  # JSON
    received_at: datetime
    event_id: uuid.UUID
    idempotency_key: str
    payload: str  # JSON: the channels.inbound.v1 payload (shared/events/channels.py, InboundReceived)

    def values(self) -> tuple:
        """The row's parameters in ROW_PARAMS order (a batch: one array per position)."""
        return (
            self.channel_id, self.updated_at, self.inbound_id, self.tenant_id, self.provider_message_id, self.kind,
            self.sender, self.sender_name, self.text, self.media, self.received_at, self.event_id,
            self.idempotency_key, self.payload,
        )  # fmt: skip

    def event(self) -> DirectEvent:
        """The row's outbox event as the relay would publish it: the same id, idempotency key and payload."""
        fields = Envelope.raw_fields(
            id=self.event_id, type=INBOUND_STREAM, tenant_id=self.tenant_id, occurred_at=self.received_at,
            idempotency_key=self.idempotency_key, payload_json=self.payload,
        )  # fmt: skip
        return DirectEvent(self.event_id, INBOUND_STREAM, fields)


class Outcome(NamedTuple):
    """One message's answer from the statement."""

    channel_ok: bool  # the channel still has the cached version (else: re-authenticate against the fresh row)
    stored: bool  # False: a provider retry, nothing stored


# The parameters of both statements: the row's (InboundRow.values()), then the statement's own.
ROW_PARAMS = (
    "channel_id", "updated_at", "inbound_id", "tenant_id", "provider_message_id", "kind", "sender", "sender_name",
    "text", "media", "received_at", "event_id", "idempotency_key", "payload",
)  # fmt: skip
STATEMENT_PARAMS = ("stream", "notify", "delay")  # delay: how far ahead the events' created_at is (direct publishing)
_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def bind(sql: str, names: tuple[str, ...]) -> str:
    """`:name` placeholders -> asyncpg's `$n`, in the order of `names` (casts like `::jsonb` are left alone)."""
    position = {name: f"${i}" for i, name in enumerate(names, 1)}
    return _NAMED.sub(lambda m: position[m.group(1)], sql)


SQL_ACCEPT = bind(
    f"""
WITH ch AS (
    SELECT id FROM {_CHANNEL} WHERE id = :channel_id AND updated_at = :updated_at AND deleted_at IS NULL
), ins AS (
    INSERT INTO {_INBOUND}
        (id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media, received_at)
    SELECT :inbound_id, :tenant_id, ch.id, :provider_message_id, :kind, :sender, :sender_name, :text, :media::jsonb,
           :received_at FROM ch
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING id
), ev AS (
    INSERT INTO {_OUTBOX} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT :event_id, :stream, :stream, :tenant_id, :idempotency_key, :payload::jsonb, :received_at,
           now() + make_interval(secs => :delay::float8) FROM ins
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM ch) AS channel_ok,
       EXISTS (SELECT 1 FROM ins) AS stored,
       (SELECT count(pg_notify('{NOTIFY_CHANNEL}', '{_SCHEMA}')) FROM ev WHERE :notify::boolean) AS notified
""",
    ROW_PARAMS + STATEMENT_PARAMS,
)

# SQL_ACCEPT for many messages at once: the same checks and inserts per row (the channels may differ), one answer
# row per message in the order given (`n`), and at most one NOTIFY for the statement.
SQL_ACCEPT_MANY = bind(
    f"""
WITH input AS (
    SELECT * FROM unnest(:channel_id::uuid[], :updated_at::timestamptz[], :inbound_id::uuid[], :tenant_id::uuid[],
                         :provider_message_id::text[], :kind::text[], :sender::text[], :sender_name::text[],
                         :text::text[], :media::text[], :received_at::timestamptz[], :event_id::uuid[],
                         :idempotency_key::text[], :payload::text[])
        WITH ORDINALITY AS t(channel_id, updated_at, inbound_id, tenant_id, provider_message_id, kind, sender,
                             sender_name, text, media, received_at, event_id, idempotency_key, payload, n)
), ch AS (
    SELECT input.* FROM input JOIN {_CHANNEL} c
        ON c.id = input.channel_id AND c.updated_at = input.updated_at AND c.deleted_at IS NULL
), ins AS (
    INSERT INTO {_INBOUND}
        (id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media, received_at)
    SELECT inbound_id, tenant_id, channel_id, provider_message_id, kind, sender, sender_name, text, media::jsonb,
           received_at FROM ch ORDER BY n
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING id
), ev AS (
    INSERT INTO {_OUTBOX} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT ch.event_id, :stream, :stream, ch.tenant_id, ch.idempotency_key, ch.payload::jsonb, ch.received_at,
           now() + make_interval(secs => :delay::float8)
    FROM ch JOIN ins ON ins.id = ch.inbound_id ORDER BY ch.n
    RETURNING id
)
SELECT input.n,
       ch.n IS NOT NULL AS channel_ok,
       ins.id IS NOT NULL AS stored,
       (SELECT count(pg_notify('{NOTIFY_CHANNEL}', '{_SCHEMA}')) FROM ev WHERE :notify::boolean) AS notified
FROM input LEFT JOIN ch ON ch.n = input.n LEFT JOIN ins ON ins.id = input.inbound_id
ORDER BY input.n
""",
    ROW_PARAMS + STATEMENT_PARAMS,
)

SQL_CHANNEL = (
    f"SELECT id, tenant_id, type, assistant_id, settings, updated_at, credentials_encrypted "
    f"FROM {_CHANNEL} WHERE id = $1 AND deleted_at IS NULL"
)

# Delivery reports (Twilio's status callback, Meta's `statuses`), several at once: each delivery takes its furthest
# status of the batch, and never moves back (a `delivered` arriving after `read`). A provider id is an exact element
# of the comma-separated list: never LIKE, where a sid's `%` or `_` would match others. A delivery that turns
# `failed` because the customer's window had closed (`window`, WhatsApp's 131047 reported late) gets its
# channels.delivery_failed.v1 event (needs_human) in the same statement, once: chat hands the thread to a human.
_PROGRESS = "ARRAY['queued','accepted','sending','sent','delivered','read','undelivered','failed']"
SQL_STATUSES = f"""
WITH report AS (
    SELECT DISTINCT ON (d.id) d.id, d.tenant_id, d.channel_id, d.message_id, d.status AS before, r.status, r.error,
           r.window_closed
    FROM {_DELIVERY} d
    JOIN unnest($3::text[], $4::text[], $5::text[], $6::boolean[])
         AS r(provider_message_id, status, error, window_closed)
      ON r.provider_message_id = ANY(string_to_array(d.provider_message_ids, ','))
    WHERE d.tenant_id = $1 AND d.channel_id = $2
    ORDER BY d.id, array_position({_PROGRESS}, r.status) DESC NULLS LAST
), moved AS (
    UPDATE {_DELIVERY} d SET status = report.status, error = report.error, updated_at = now()
    FROM report
    WHERE d.id = report.id
      AND coalesce(array_position({_PROGRESS}, report.status), 99)
          >= coalesce(array_position({_PROGRESS}, d.status), 0)
    RETURNING d.id
), handover AS (
    INSERT INTO {_OUTBOX} (id, stream, type, tenant_id, idempotency_key, payload, occurred_at, created_at)
    SELECT gen_random_uuid(), '{DELIVERY_FAILED_STREAM}', '{DELIVERY_FAILED}', report.tenant_id,
           'delivery_failed:' || report.id::text,
           jsonb_build_object('delivery_id', report.id, 'channel_id', report.channel_id, 'thread_id', NULL,
                              'message_id', report.message_id, 'needs_human', true,
                              'reason', coalesce(report.error, 'the customer service window had closed')),
           now(), now()
    FROM report JOIN moved ON moved.id = report.id
    WHERE report.window_closed AND report.status = 'failed' AND report.before IS DISTINCT FROM 'failed'
    RETURNING id
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM handover) AS handed_over
"""
