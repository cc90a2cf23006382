"""The customer-language guess (shared/i18n): clear messages get their language, unclear ones none, and the
catalogue falls back to the tenant's locale, then English."""

from __future__ import annotations

import pytest

from shared.i18n import customer_language, customer_text, detect_language
from shared.i18n.texts import TEXTS


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Olá, vocês entregam hoje à noite?", "pt"),
        ("Bom dia", "pt"),
        ("Quero falar com uma pessoa", "pt"),
        ("qual o preço da pizza grande?", "pt"),
        ("Hello, do you deliver tonight?", "en"),
        ("Can I talk to someone please", "en"),
        ("What are your opening hours?", "en"),
        ("Hola, ¿entregan hoy por la noche?", "es"),
        ("Quiero hablar con alguien", "es"),
        ("¿Cuál es el precio?", "es"),
        ("ok", None),
        ("👍", None),
        ("12345", None),
        ("", None),
        ("pizza", None),
    ],
)
def test_detects_clear_messages_and_refuses_to_guess_otherwise(text, language):
    assert detect_language(text) == language


def test_a_word_two_languages_share_says_nothing():
    # "de", "que", "para", "por" are both Portuguese and Spanish: no guess from them alone.
    assert detect_language("de que para por") is None


def test_the_catalogue_follows_message_then_locale_then_english():
    assert customer_language("en", "Obrigado pela ajuda, quero fazer um pedido") == "pt-BR"
    assert customer_language("pt-BR", "Hello, is anyone there?") == "en"
    assert customer_language("pt-BR", "ok") == "pt-BR"
    assert customer_language("pt_PT", None) == "pt-BR"
    assert customer_language("es-MX", "ok") == "es"
    assert customer_language("fr-FR", "ok") == "en"
    assert customer_language(None, None) == "en"
    assert customer_text("handover", "en", "Olá, tudo bem? Preciso de ajuda") == TEXTS["pt-BR"]["handover"]


def test_every_language_has_every_text():
    keys = {frozenset(texts) for texts in TEXTS.values()}
    assert len(keys) == 1 and all(all(v.strip() for v in texts.values()) for texts in TEXTS.values())
