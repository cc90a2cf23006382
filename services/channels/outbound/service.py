"""Send chat.outbound.v1 replies to the customer, at most once per message.

The delivery row is the idempotency record. It is committed as `sending` in its own transaction
before the provider is called, so a crash after the provider accepted the message can never lead
to a second send: a redelivered event that finds `sending` marks the delivery `unknown` (for a
human to check) instead of sending again.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import orjson
import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.channels.configs.repository import ChannelRepository
from services.channels.outbound.models import Delivery
from services.channels.outbound.senders import Sender, SendError, close_senders
from services.channels.outbound.split import split_reply
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.events import Envelope

log = structlog.get_logger("outbound")
OUTBOUND_STREAM = "chat.outbound.v1"
TYPING_TYPE = "chat.typing.v1"
# Provider hard limits per message.
PROVIDER_MAX_CHARS = {"telegram": 4096, "whatsapp_twilio": 1600}
FINAL = {"sent", "delivered", "read", "failed", "undelivered", "unknown"}


class PermanentSendFailure(Exception):
    """The provider refused for good (or retries ran out); the event belongs in the DLQ."""


@dataclass
class OutboundSender:
    sessionmaker: async_sessionmaker[AsyncSession]
    box: SecretBox
    senders: dict[str, Sender]
    split_max_chars: int = 1000
    max_attempts: int = 5
    base_backoff: float = 0.5
    max_backoff: float = 30.0

    async def handle(self, envelope: Envelope, session: AsyncSession) -> None:
        """Consumer handler for chat.outbound.v1 (runs in the consumer's transaction)."""
        payload = envelope.payload
        if envelope.tenant_id is None:
            raise PermanentSendFailure("outbound event without tenant_id")
        channel = await ChannelRepository(session).get(envelope.tenant_id, uuid.UUID(payload["channel_id"]))
        if channel is None:
            raise PermanentSendFailure(f"channel {payload['channel_id']} not found for this tenant")
        sender = self.senders[channel.type]
        creds = orjson.loads(self.box.decrypt(channel.credentials_encrypted))
        recipient = str(payload["recipient"])
        if envelope.type == TYPING_TYPE:
            try:
                await sender.typing(creds, recipient)
            except Exception as exc:  # noqa: BLE001 - a typing hint is best effort
                log.info("typing_failed", error=type(exc).__name__)
            return

        delivery_id = await self._claim(envelope, channel, recipient)
        if delivery_id is None:
            return
        text = str(payload.get("text") or "").strip()
        limit = PROVIDER_MAX_CHARS[channel.type]
        if payload.get("split_replies"):
            limit = min(limit, self.split_max_chars)
        parts = split_reply(text, limit)
        sent_ids: list[str] = []
        tries = _Tries()
        try:
            for part in parts:
                result = await self._send_with_retry(sender, creds, recipient, part, tries)
                sent_ids.append(result)
        except SendError as exc:
            await self._commit_now(delivery_id, str(exc)[:1000], ",".join(sent_ids) or None, tries.attempts)
            raise PermanentSendFailure(str(exc)) from None
        # One UPDATE in the consumer's transaction (committed with its processed-event record), no read first.
        now = utcnow()
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status="sent",
                parts=len(parts),
                provider_message_ids=",".join(sent_ids),
                attempts=tries.attempts,
                sent_at=now,
                updated_at=now,
            )
        )
        log.info("reply_sent", channel_id=str(channel.id), parts=len(parts), attempts=tries.attempts)

    async def aclose(self) -> None:
        """Close the providers' clients (and their connection pools)."""
        await close_senders(self.senders)

    async def _claim(self, envelope: Envelope, channel, recipient: str) -> uuid.UUID | None:
        """Commit the `sending` marker, or learn this message was already handled. The insert is one autocommit
        statement (committed when it returns: no BEGIN/COMMIT round trips before the send); only a conflict, rare,
        takes a transaction."""
        async with self.sessionmaker() as s:
            await s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            row = (
                await s.execute(
                    insert(Delivery)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=channel.tenant_id,
                        channel_id=channel.id,
                        idempotency_key=envelope.idempotency_key,
                        message_id=_uuid_or_none(envelope.payload.get("message_id")),
                        recipient=recipient[:200],
                        status="sending",
                        parts=0,
                        attempts=0,
                    )
                    .on_conflict_do_nothing(index_elements=["idempotency_key"])
                    .returning(Delivery.id)
                )
            ).first()
        if row is not None:
            return row[0]
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
            return None

    async def _send_with_retry(self, sender: Sender, creds, recipient: str, text: str, tries: _Tries) -> str:
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

    async def _commit_now(self, delivery_id: uuid.UUID, error: str, provider_ids: str | None, attempts: int) -> None:
        """Record a failure even though the consumer's transaction will roll back."""
        async with self.sessionmaker() as s, s.begin():
            await s.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status="failed",
                    error=error,
                    provider_message_ids=provider_ids,
                    attempts=attempts,
                    updated_at=utcnow(),
                )
            )


@dataclass
class _Tries:
    """Provider calls made for one delivery (every part, every retry)."""

    attempts: int = 0


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
