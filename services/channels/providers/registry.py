"""Channel `type` -> provider: the one place that lists them. Adding a provider is one module and one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from services.channels.providers.base import ChannelProvider
from services.channels.providers.meta import Instagram, Messenger, WhatsAppCloud
from services.channels.providers.telegram import Telegram
from services.channels.providers.twilio import TwilioWhatsApp
from services.channels.providers.web import WebWidget
from shared.errors import BadRequest

PROVIDERS: Mapping[str, type[ChannelProvider]] = {
    Telegram.type: Telegram,
    TwilioWhatsApp.type: TwilioWhatsApp,
    WhatsAppCloud.type: WhatsAppCloud,
    Instagram.type: Instagram,
    Messenger.type: Messenger,
    WebWidget.type: WebWidget,
}
# A webhook path may serve a family of types (Meta's three share /webhooks/meta/): the first registered reads it,
# and any channel of the family is accepted there (`serves`). The web widget has none (it posts to /api/v1/widget/).
BY_WEBHOOK_PATH: dict[str, type[ChannelProvider]] = {}
for _cls in PROVIDERS.values():
    if _cls.webhook_path:
        BY_WEBHOOK_PATH.setdefault(_cls.webhook_path, _cls)
ChannelType = Literal[tuple(PROVIDERS)]  # type: ignore[valid-type] - the API's enum, from the registry


def serves(provider: ChannelProvider, kind: str) -> bool:
    """Whether a channel of type `kind` takes its webhooks on this provider's path."""
    cls = PROVIDERS.get(kind)
    return cls is not None and cls.webhook_path == provider.webhook_path


class UnknownChannelType(BadRequest):
    code = "unknown_channel_type"


def provider_class(kind: str) -> type[ChannelProvider]:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise UnknownChannelType(f"unknown channel type {kind!r}") from None


class Providers:
    """One instance of every provider (its clients with it), built from the service's settings."""

    def __init__(self, settings) -> None:
        self._by_type: dict[str, ChannelProvider] = {k: cls.from_settings(settings) for k, cls in PROVIDERS.items()}
        self.by_webhook_path: dict[str, ChannelProvider] = {
            path: self._by_type[cls.type] for path, cls in BY_WEBHOOK_PATH.items()
        }

    def __getitem__(self, kind: str) -> ChannelProvider:
        provider = self._by_type.get(kind)
        if provider is None:
            raise UnknownChannelType(f"unknown channel type {kind!r}")
        return provider

    def __iter__(self):
        return iter(self._by_type.values())

    async def aclose(self) -> None:
        for provider in self._by_type.values():
            await provider.aclose()
