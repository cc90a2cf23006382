"""Meta's channels (WhatsApp Cloud API, Instagram, Messenger): one webhook scheme and one Graph API, so one family."""

from services.channels.providers.meta.provider import Instagram, Messenger, MetaProvider, WhatsAppCloud

__all__ = ["Instagram", "Messenger", "MetaProvider", "WhatsAppCloud"]
