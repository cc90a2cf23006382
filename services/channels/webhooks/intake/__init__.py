"""The webhook intake (service.py), in parts: statements, group commit, relay wake-up, channel cache, its pool."""

from services.channels.webhooks.intake.pool import asyncpg_dsn, keep_session
from services.channels.webhooks.intake.service import WebhookIntake

__all__ = ["WebhookIntake", "asyncpg_dsn", "keep_session"]
