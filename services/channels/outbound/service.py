"""Send chat.outbound.v1 replies to the customer, at most once per message.

The delivery row is the idempotency record. It is committed as `sending` in its own statement (autocommit)
before the provider is called, so a crash after the provider accepted the message can never lead to a second
send: a redelivered event that finds `sending` marks the delivery `unknown` (for a human to check) instead of
sending again. With that record the consumer needs no transaction of its own (an idempotent handler,
shared/events/consumer.py): the claim, the provider call and the final state are three steps with no
connection held in between, however long a provider's Retry-After makes the sending.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import orjson
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.channels.base import Outbox
from services.channels.configs.models import Channel
from services.channels.outbound.models import Delivery
from services.channels.outbound.split import split_reply
from services.channels.providers.base import ChannelProvider, ReplyPart, SendError
from services.channels.providers.registry import Providers
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.events import Envelope
from shared.events.channels import DELIVERY_FAILED, DeliveryFailed
from shared.events.chat import OUTBOUND_REPLY, TYPING, OutboundReply, TypingHint
from shared.events.errors import PermanentError
from shared.events.handlers import IdempotentHandler
from shared.events.outbox import emit_event
from shared.events.raw import CONNECTION_ERRORS, raw_connection

log = structlog.get_logger("outbound")
_CHANNEL, _DELIVERY = Channel.__table__.fullname, Delivery.__table__.fullname
SQL_CHANNEL = (
    f"SELECT type, credentials_encrypted FROM {_CHANNEL} WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL"
)
SQL_CLAIM = f"""
WITH channel AS (
    SELECT id, tenant_id, type, credentials_encrypted, settings FROM {_CHANNEL}
    WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
), delivery AS (
    INSERT INTO {_DELIVERY}
        (id, tenant_id, channel_id, idempotency_key, message_id, recipient, status, parts, attempts, created_at,
         updated_at)
    SELECT $3, channel.tenant_id, channel.id, $4, $5, $6, 'sending', 0, 0, now(), now() FROM channel
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
SELECT channel.type, channel.credentials_encrypted, channel.settings, (SELECT id FROM delivery) AS delivery_id
FROM channel
"""
# `error` cleared: a redelivery that came while this send was still running (a reclaim after EVENTS_CLAIM_IDLE_MS
# of retries, a republished event) found `sending` and flagged the delivery `unknown`; the send then finished.
SQL_SENT = (
    f"UPDATE {_DELIVERY} SET status = 'sent', error = NULL, parts = $3, provider_message_ids = $4, attempts = $5, "
    "sent_at = $6, updated_at = $6 WHERE id = $1 AND tenant_id = $2"
)
FINAL = {"sent", "delivered", "read", "failed", "undelivered", "unknown"}


class PermanentSendFailure(PermanentError):
    """The provider refused for good (or retries ran out), or the channel is not this tenant's: the delivery row
    says so and the event goes to the DLQ at once (a redelivery could only find the row and do nothing)."""


@dataclass
class OutboundSender:
    sessionmaker: async_sessionmaker[AsyncSession]
    box: SecretBox
    providers: Providers
    split_max_chars: int = 1000
    max_attempts: int = 5
    base_backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        self._creds: dict[str, dict[str, str]] = {}  # ciphertext -> decrypted credentials (a rotation is new text)

    @property
    def handler(self) -> IdempotentHandler[OutboundReply | TypingHint]:
        """The consumer of chat.outbound.v1 (shared/events/handlers.py): its delivery row is its record."""
        return IdempotentHandler((OUTBOUND_REPLY, TYPING), self.handle)

    async def handle(self, envelope: Envelope, payload: OutboundReply | TypingHint) -> None:
        """Every statement commits on its own, on this sender's pool."""
        if envelope.tenant_id is None:
            raise PermanentSendFailure("outbound event without tenant_id")
        channel_id = payload.channel_id
        recipient = payload.recipient
        typing = isinstance(payload, TypingHint)
        # The channel, and (not for a typing hint) the `sending` marker: one autocommit statement, committed when it
        # returns, before the provider is called.
        async with raw_connection(self.sessionmaker, autocommit=True) as own:
            if typing:
                row = await own.fetchrow(SQL_CHANNEL, channel_id, envelope.tenant_id)
            else:
                row = await own.fetchrow(
                    SQL_CLAIM, channel_id, envelope.tenant_id, uuid.uuid4(), envelope.idempotency_key,
                    payload.message_id, recipient[:200],
                )  # fmt: skip
        if row is None:
            raise PermanentSendFailure(f"channel {channel_id} not found for this tenant")
        channel_type = row["type"]
        sender = self.providers[channel_type]
        creds = self._credentials(row["credentials_encrypted"])
        if typing:
            try:
                await sender.typing(creds, recipient)
            except Exception as exc:  # noqa: BLE001 - a typing hint is best effort
                log.info("typing_failed", error=type(exc).__name__)
            return
        delivery_id = row["delivery_id"]
        if delivery_id is None:
            await self._already_handled(envelope)
            return
        text = payload.text.strip()
        limit = sender.max_chars
        if payload.split_replies:
            limit = min(limit, self.split_max_chars)
        role = payload.role if payload.role in ("assistant", "agent") else "assistant"
        parts = [ReplyPart(p, role=role, created_at=envelope.occurred_at) for p in split_reply(text, limit)]
        sent_ids: list[str] = []
        tries = _Tries()
        try:
            for part in parts:
                result = await self._send_with_retry(sender, creds, recipient, part, tries)
                sent_ids.append(result)
        except SendError as exc:
            template = _settings(row["settings"]).get("template") if exc.outside_window else None
            if not template:
                failed = FailedDelivery(delivery_id, str(exc)[:1000], ",".join(sent_ids) or None, tries.attempts)
                await self._commit_now(failed, envelope, payload, needs_human=exc.outside_window)
                raise PermanentSendFailure(str(exc)) from None
            # WhatsApp's 24-hour window closed: the channel's approved template re-opens the conversation.
            try:
                sent_ids.append((await sender.send_template(creds, recipient, template)).provider_message_id)
            except SendError as refused:
                reason = f"{exc}; the template {template.get('name')!r} was refused too: {refused}"[:1000]
                failed = FailedDelivery(delivery_id, reason, ",".join(sent_ids) or None, tries.attempts + 1)
                await self._commit_now(failed, envelope, payload, needs_human=True)
                raise PermanentSendFailure(reason) from None
            tries.attempts += 1
            parts = [f"template:{template.get('name')}"]
            log.info("template_sent", channel_id=str(channel_id), template=template.get("name"))
        # One autocommit UPDATE, no read first. A crash before it leaves `sending`: `unknown` on redelivery. The send
        # is done, so a pooled connection that died meanwhile (no pre-ping) gets one retry on a fresh one rather
        # than turning a sent reply into an `unknown` one; the UPDATE is safe to repeat.
        args = (delivery_id, envelope.tenant_id, len(parts), ",".join(sent_ids), tries.attempts, utcnow())
        for attempt in (1, 2):
            try:
                async with raw_connection(self.sessionmaker, autocommit=True) as own:
                    await own.execute(SQL_SENT, *args)
                break
            except CONNECTION_ERRORS:
                if attempt == 2:
                    raise
        log.info("reply_sent", channel_id=str(channel_id), parts=len(parts), attempts=tries.attempts)

    def _credentials(self, encrypted: str) -> dict[str, str]:
        creds = self._creds.get(encrypted)
        if creds is None:
            if len(self._creds) >= 1024:
                self._creds.clear()
            creds = self._creds[encrypted] = orjson.loads(self.box.decrypt(encrypted))
        return creds

    async def aclose(self) -> None:
        """Close the providers' clients (and their connection pools)."""
        await self.providers.aclose()

    async def _already_handled(self, envelope: Envelope) -> None:
        """The delivery exists: sent, failed, or interrupted mid-send by a crash (`sending`: marked `unknown`, never
        sent again). Rare, so through the ORM in its own transaction."""
        async with self.sessionmaker() as s, s.begin():
            existing = (
                await s.execute(
                    select(Delivery).where(Delivery.idempotency_key == envelope.idempotency_key).with_for_update()
                )
            ).scalar_one()
            if existing.status == "sending":
                existing.status = "unknown"
                existing.error = "interrupted mid-send; not re-sent to avoid a duplicate (check the provider)"
                existing.updated_at = utcnow()
                log.warning("delivery_unknown", delivery_id=str(existing.id))

    async def _send_with_retry(self, sender: ChannelProvider, creds, recipient: str, text: str, tries: _Tries) -> str:
        attempt = 0
        while True:
            attempt += 1
            tries.attempts += 1
            try:
                return (await sender.send(creds, recipient, text)).provider_message_id
            except SendError as exc:
                if exc.permanent or attempt >= self.max_attempts:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self.base_backoff * 2 ** (attempt - 1)
                log.info("send_retry", attempt=attempt, wait=wait, error=str(exc))
                await asyncio.sleep(min(wait, self.max_backoff))

    async def _commit_now(
        self, failed: FailedDelivery, envelope: Envelope, reply: OutboundReply, *, needs_human: bool
    ) -> None:
        """Record a failure (rare: through the ORM), with its channels.delivery_failed.v1 event in the same
        transaction (chat hands the thread to a human when `needs_human`)."""
        async with self.sessionmaker() as s, s.begin():
            await s.execute(
                update(Delivery)
                .where(Delivery.id == failed.delivery_id)
                .values(
                    status="failed",
                    error=failed.error,
                    provider_message_ids=failed.provider_ids,
                    attempts=failed.attempts,
                    updated_at=utcnow(),
                )
            )
            event = DeliveryFailed(
                delivery_id=failed.delivery_id,
                channel_id=reply.channel_id,
                thread_id=reply.thread_id,
                message_id=reply.message_id,
                reason=failed.error,
                needs_human=needs_human,
            )
            await emit_event(
                s,
                Outbox,
                DELIVERY_FAILED,
                event,
                tenant_id=envelope.tenant_id,
                idempotency_key=f"delivery_failed:{failed.delivery_id}",
            )


def _settings(value) -> dict:
    """The channel's settings column as asyncpg returns jsonb (text)."""
    if isinstance(value, str):
        return orjson.loads(value)
    return value or {}


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    delivery_id: uuid.UUID
    error: str
    provider_ids: str | None
    attempts: int


@dataclass
class _Tries:
    """Provider calls made for one delivery (every part, every retry)."""

    attempts: int = 0
