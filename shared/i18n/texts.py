"""The one catalogue of fixed texts the platform sends to customers (not the AI's answers): per language, chosen by
the customer's detected language, else the tenant's locale. Console and widget strings live client-side."""

from __future__ import annotations

from typing import Literal

from shared.i18n.language import detect_language

CustomerTextKey = Literal["handover", "widget_greeting"]
# Catalogue language -> texts. A tenant locale maps onto these by its language (pt, pt-PT -> pt-BR; es-MX -> es).
TEXTS: dict[str, dict[CustomerTextKey, str]] = {
    "en": {
        "handover": "Thanks for your message! A member of our team will get back to you shortly.",
        "widget_greeting": "Hi! How can we help you?",
    },
    "pt-BR": {
        "handover": "Obrigado pela sua mensagem! Uma pessoa da nossa equipe vai responder em breve.",
        "widget_greeting": "Olá! Como podemos ajudar?",
    },
    "es": {
        "handover": "¡Gracias por tu mensaje! Una persona de nuestro equipo te responderá en breve.",
        "widget_greeting": "¡Hola! ¿Cómo podemos ayudarte?",
    },
}
CUSTOMER_LANGUAGES = tuple(TEXTS)
FALLBACK = "en"
_BY_LANGUAGE = {"pt": "pt-BR", "en": "en", "es": "es"}


def customer_language(locale: str | None, message: str | None = None) -> str:
    """The catalogue language for a customer: the one their message is written in when it is clear, else the
    tenant's locale (by its language), else English."""
    detected = detect_language(message) if message else None
    if detected is not None:
        return _BY_LANGUAGE[detected]
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return _BY_LANGUAGE.get(language, FALLBACK)


def customer_text(key: CustomerTextKey, locale: str | None, message: str | None = None) -> str:
    """A fixed customer-facing text in the customer's language (see customer_language)."""
    return TEXTS[customer_language(locale, message)][key]
