"""Fixed texts the platform sends to customers, in their language (docs/chat.md, "The customer's language")."""

from shared.i18n.language import detect_language
from shared.i18n.texts import CUSTOMER_LANGUAGES, CustomerTextKey, customer_language, customer_text

__all__ = ["CUSTOMER_LANGUAGES", "CustomerTextKey", "customer_language", "customer_text", "detect_language"]
