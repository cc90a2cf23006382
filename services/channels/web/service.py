"""Web chat: visitor sessions, the visitor's messages into the same intake as every channel, and their history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.channels.configs.models import Channel
from services.channels.configs.schemas import canonical_origin
from services.channels.providers.base import ChannelProvider, Incoming
from services.channels.web.attachments import media_items
from services.channels.web.errors import MessageTooLong, OriginNotAllowed, UnknownWidgetKey
from services.channels.web.hub import WidgetHub
from services.channels.web.limiter import VisitorLimiter
from services.channels.web.models import WebVisitor
from services.channels.web.repository import WebRepository
from services.channels.web.schemas import (
    SessionCreate,
    SessionRead,
    WidgetLook,
    WidgetMessageCreate,
    WidgetMessageRead,
)
from services.channels.web.tokens import InvalidVisitorToken, VisitorClaims, VisitorTokens
from services.channels.web.transcript import Transcript, conversation, entry_id
from services.channels.webhooks.intake import WebhookIntake
from services.channels.webhooks.intake.channel_cache import CachedChannel
from shared.errors import BadRequest
from shared.i18n import customer_text

HISTORY_MAX = 100  # items per GET /api/v1/widget/messages
SQL_VISITOR = (
    f"SELECT name, email FROM {WebVisitor.__table__.fullname} WHERE id = $1 AND channel_id = $2 AND tenant_id = $3"
)


def origin_allowed(settings: dict, origin: str | None) -> bool:
    if not origin:
        return False
    canonical = canonical_origin(origin)
    return canonical is not None and canonical in (settings.get("allowed_origins") or ())


@dataclass
class Widget:
    """The web chat's parts in one API process (app.state.widget), built in the lifespan."""

    tokens: VisitorTokens
    transcript: Transcript
    hub: WidgetHub
    intake: WebhookIntake
    provider: ChannelProvider
    limiter: VisitorLimiter
    max_text_chars: int
    ping_seconds: int
    image_max_bytes: int
    images_max_per_message: int

    async def open_session(self, session: AsyncSession, data: SessionCreate, origin: str | None) -> SessionRead:
        """A token for the visitor's conversation: theirs if the browser kept a visitor id we know, else a new one.
        404 for an unknown key, 403 for a page whose origin the channel does not allow (or none)."""
        repo = WebRepository(session)
        channel = await repo.channel_by_key(data.public_key)
        if channel is None:
            raise UnknownWidgetKey("no web channel has this key")
        if not origin_allowed(channel.settings or {}, origin):
            raise OriginNotAllowed("this page's origin is not in the channel's allowed_origins")
        visitor = None
        if data.visitor_id is not None:
            visitor = await repo.visitor(channel.tenant_id, channel.id, data.visitor_id)
        if visitor is None:
            visitor = await repo.add_visitor(
                WebVisitor(
                    id=uuid.uuid4(), tenant_id=channel.tenant_id, channel_id=channel.id, name=data.name,
                    email=data.email,
                )
            )  # fmt: skip
        else:
            await repo.seen(visitor, data.name, data.email)
        token = self.tokens.issue(VisitorClaims(channel.tenant_id, channel.id, visitor.id))
        return SessionRead(
            visitor_token=token, visitor_id=visitor.id, expires_in=self.tokens.ttl_seconds, channel=look(channel)
        )

    async def channel(self, claims: VisitorClaims, origin: str | None) -> CachedChannel:
        """The token's channel as it is now (cached, re-read at most once a second), refused if it is gone or the
        request comes from a page it does not allow. No Origin (not a browser's cross-origin call) is let through:
        the token is the credential."""
        cache = self.intake.channels
        ch, stale = await cache.get(str(claims.channel_id), self.provider)
        if stale:
            ch, _ = await cache.get(str(claims.channel_id), self.provider, fresh=True)
        if ch.tenant_id != claims.tenant_id:
            raise InvalidVisitorToken("visitor token is not valid")
        if origin is not None and not origin_allowed(ch.settings, origin):
            raise OriginNotAllowed("this page's origin is not in the channel's allowed_origins")
        return ch

    async def post(self, claims: VisitorClaims, data: WidgetMessageCreate, origin: str | None) -> str:
        """Stored through the webhook intake (dedupe, outbox, channels.inbound.v1 -> buffer, review, takeover), then
        shown in the visitor's transcript; the transcript entry's id."""
        text = data.text.strip()
        if not text and not data.attachments:
            raise BadRequest("text is empty")
        if len(text) > self.max_text_chars:
            raise MessageTooLong(f"text is longer than {self.max_text_chars} characters")
        ch = await self.channel(claims, origin)
        await self.limiter.hit(claims.visitor_id)
        media = await media_items(data.attachments, self.image_max_bytes, self.images_max_per_message)
        row = await self.intake.db.run(
            lambda conn: conn.fetchrow(SQL_VISITOR, claims.visitor_id, claims.channel_id, claims.tenant_id)
        )
        if row is None:
            raise InvalidVisitorToken("visitor token is not valid")
        vid = str(claims.visitor_id)
        conv = conversation(claims.channel_id, claims.visitor_id)
        message = Incoming(
            provider_message_id=f"web:{vid}:{data.client_id or uuid.uuid4()}",
            kind="image" if media else "text",
            sender=vid,
            sender_name=row["name"] or f"Visitor {vid[:8]}",
            sender_email=row["email"],
            text=text or None,
            media=media,
            reply_to=conv,
        )
        stored = await self.intake.accept(self.provider, ch, message, claims)
        if stored is None:  # the widget retried a message we have: shown once already
            return ""
        shown = "\n".join(["[image]"] * len(media) + ([text] if text else []))
        return await self.transcript.append(conv, "user", shown, datetime.now(UTC))

    async def history(self, claims: VisitorClaims, after: str | None, origin: str | None) -> list[WidgetMessageRead]:
        """The visitor's own conversation as they saw it: their messages, answers and agent replies."""
        await self.channel(claims, origin)
        conv = conversation(claims.channel_id, claims.visitor_id)
        if after is not None:
            start = entry_id(after)
            if start is None:
                raise BadRequest("after must be a message id from this conversation")
            entries = await self.transcript.after(conv, start, HISTORY_MAX)
        else:
            entries = await self.transcript.latest(conv, HISTORY_MAX)
        return [
            WidgetMessageRead(id=e.id, role=e.role, content=e.content, created_at=e.created_at)
            for e in entries
            if e.role in ("user", "assistant", "agent")
        ]


def look(channel: Channel) -> WidgetLook:
    """The channel's greeting, or the fixed one in its locale (shared/i18n/texts.py)."""
    s = channel.settings or {}
    locale = s.get("locale") or "en"
    greeting = s.get("greeting") or customer_text("widget_greeting", locale)
    return WidgetLook(name=channel.name, greeting=greeting, color=s.get("color"), locale=locale)
