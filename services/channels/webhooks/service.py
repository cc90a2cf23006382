"""Delivery reports from providers. Inbound messages are stored by webhooks/intake/ (one statement)."""

from __future__ import annotations

from sqlalchemy import any_, func, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.outbound.models import Delivery
from services.channels.providers.base import DeliveryReport
from services.channels.webhooks.intake.channel_cache import CachedChannel
from shared.db import utcnow


async def record_status(session: AsyncSession, channel: CachedChannel, report: DeliveryReport) -> int:
    """A provider's delivery report (e.g. Twilio's status callback) moves the delivery forward."""
    provider_message_id, status, error = report.provider_message_id, report.status, report.error
    stmt = (
        update(Delivery)
        .where(
            Delivery.tenant_id == channel.tenant_id,
            Delivery.channel_id == channel.id,
            # exact element of the comma-separated list: never LIKE, where a sid's `%` or `_` would match others
            literal(provider_message_id) == any_(func.string_to_array(Delivery.provider_message_ids, ",")),
        )
        .values(status=status[:20], error=error, updated_at=utcnow())
    )
    return (await session.execute(stmt)).rowcount or 0
