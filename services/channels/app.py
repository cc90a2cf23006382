"""create_app() for the channels service."""

from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from services.channels.base import Outbox
from services.channels.config import ChannelsSettings, get_settings
from services.channels.configs.router import router as channels_router
from services.channels.providers.registry import Providers
from services.channels.providers.web import WebWidget
from services.channels.web.hub import WidgetHub
from services.channels.web.limiter import VisitorLimiter
from services.channels.web.router import router as widget_router
from services.channels.web.service import Widget
from services.channels.web.stream import WidgetStream
from services.channels.web.tokens import VisitorTokens
from services.channels.web.transcript import Transcript
from services.channels.webhooks.asgi import WebhookFastPath
from services.channels.webhooks.intake import WebhookIntake, asyncpg_dsn, keep_session
from services.channels.webhooks.router import router as webhooks_router
from shared.app import create_service_app
from shared.crypto import SecretBox
from shared.events.direct import DirectPublisher


class ChannelsFrontPath:
    """Ahead of FastAPI (shared/app.py `FrontPath`): the providers' message webhooks and the visitors' streams."""

    def __init__(self) -> None:
        self.webhooks = WebhookFastPath()
        self.streams = WidgetStream()

    def claims(self, scope) -> bool:
        return self.webhooks.claims(scope) or self.streams.claims(scope)

    async def __call__(self, scope, receive, send) -> None:
        if self.webhooks.claims(scope):
            await self.webhooks(scope, receive, send)
        else:
            await self.streams(scope, receive, send)


def create_app(settings: ChannelsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def secrets_and_intake(app: FastAPI):
        app.state.box = SecretBox(settings.secrets_key)
        app.state.providers = Providers(settings)
        # The webhook hot path's own asyncpg pool (webhooks/intake/): autocommit, one statement per message.
        # min_size=0: the service starts (and answers 503 on webhooks) while Postgres is still coming up.
        pool = await asyncpg.create_pool(
            asyncpg_dsn(settings.database_url),
            min_size=0,
            max_size=settings.db_pool_size,
            command_timeout=30,
            timeout=5,  # connecting (intake/pool.py takes a free connection without an acquire timeout)
            reset=keep_session,
            server_settings={"application_name": "channels-webhook-intake"},
        )
        app.state.webhook_intake = WebhookIntake(
            pool,
            app.state.box,
            settings.webhook_notify_interval_ms / 1000,
            batch_max_rows=settings.webhook_batch_max_rows,
            insert_statements=settings.webhook_insert_statements,
            max_queued=settings.webhook_max_queued,
            recheck_seconds=settings.webhook_recheck_seconds,
            registry=app.state.metrics_registry,
            direct=DirectPublisher(
                app.state.redis,
                pool,
                Outbox.__table__.fullname,
                per_second=settings.webhook_direct_publish_per_second,
                maxlen=settings.events_stream_maxlen,
            ),
        )
        hub = WidgetHub(settings.redis_url)
        hub.start()
        app.state.widget = Widget(
            tokens=VisitorTokens(
                settings.widget_token_keys, settings.service_secret, settings.widget_token_ttl_seconds
            ),
            transcript=Transcript(
                app.state.redis,
                maxlen=settings.widget_transcript_maxlen,
                ttl_days=settings.widget_transcript_ttl_days,
            ),
            hub=hub,
            intake=app.state.webhook_intake,
            provider=app.state.providers[WebWidget.type],
            limiter=VisitorLimiter(app.state.redis, settings.widget_visitor_limit),
            max_text_chars=settings.widget_max_text_chars,
            ping_seconds=settings.widget_ping_seconds,
            image_max_bytes=settings.image_max_bytes,
            images_max_per_message=settings.images_max_per_message,
        )
        try:
            yield
        finally:
            await hub.close()
            await app.state.webhook_intake.close()
            await pool.close()
            await app.state.providers.aclose()

    app = create_service_app(
        settings,
        title="Channels",
        description="WhatsApp (Twilio) and Telegram webhooks, the web chat widget's API, and outbound sending.",
        routers=[channels_router, webhooks_router, widget_router],
        lifespan_hooks=[secrets_and_intake],
        # The message webhooks and the visitors' streams skip FastAPI's whole stack, inside their own request context
        # (webhooks/asgi.py, web/stream.py).
        front_path=ChannelsFrontPath(),
    )
    return app
