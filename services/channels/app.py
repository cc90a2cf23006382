"""create_app() for the channels service."""

from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from services.channels.config import ChannelsSettings, get_settings
from services.channels.configs.router import router as channels_router
from services.channels.webhooks.asgi import WebhookFastPath
from services.channels.webhooks.intake import DirectPublish, WebhookIntake, asyncpg_dsn, keep_session
from services.channels.webhooks.router import router as webhooks_router
from shared.app import create_service_app
from shared.crypto import SecretBox


def create_app(settings: ChannelsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def secrets_and_intake(app: FastAPI):
        app.state.box = SecretBox(settings.secrets_key)
        # The webhook hot path's own asyncpg pool (webhooks/intake.py): autocommit, one statement per message.
        # min_size=0: the service starts (and answers 503 on webhooks) while Postgres is still coming up.
        pool = await asyncpg.create_pool(
            asyncpg_dsn(settings.database_url),
            min_size=0,
            max_size=settings.db_pool_size,
            command_timeout=30,
            timeout=5,  # connecting (intake.py takes a free connection without an acquire timeout)
            reset=keep_session,
            server_settings={"application_name": "channels-webhook-intake"},
        )
        app.state.webhook_intake = WebhookIntake(
            pool,
            app.state.box,
            settings.public_base_url,
            settings.webhook_notify_interval_ms / 1000,
            batch_max_rows=settings.webhook_batch_max_rows,
            insert_statements=settings.webhook_insert_statements,
            registry=app.state.metrics_registry,
            direct=DirectPublish(
                app.state.redis,
                pool,
                per_second=settings.webhook_direct_publish_per_second,
                maxlen=settings.events_stream_maxlen,
            ),
        )
        try:
            yield
        finally:
            await app.state.webhook_intake.close()
            await pool.close()

    app = create_service_app(
        settings,
        title="Channels",
        description="WhatsApp (Twilio) and Telegram webhooks and outbound sending.",
        routers=[channels_router, webhooks_router],
        lifespan_hooks=[secrets_and_intake],
        # The two message webhooks skip FastAPI's whole stack, inside their own request context (webhooks/asgi.py).
        front_path=WebhookFastPath(),
    )
    return app
