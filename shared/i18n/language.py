"""A small language guesser for customer messages (Portuguese, English, Spanish): stop-word and letter scoring.

No model and no dependency: it only has to pick among the languages the customer texts exist in, and a message
it is not sure about gives None (the tenant's locale then decides). Words common to two of the languages (`a`,
`de`, `que`, `no`...) score for none of them.
"""

from __future__ import annotations

import re

_WORDS: dict[str, str] = {
    "pt": """
        o os as um uma uns umas do da dos das no na nos nas ao aos pelo pela num numa em com não sim é são está
        estão estou você vocês eu ele ela eles elas meu minha seu sua nosso nossa isso isto aquilo esse essa este
        esta também mas ou porque quando onde como quanto qual quais muito muita mais menos já ainda só até
        então agora hoje amanhã ontem obrigado obrigada olá oi tchau bom boa dia tarde noite favor gostaria quero
        queria preciso posso pode podem tem têm tenho ter fazer faz vai vou estava foi ser seria pedido preço
        entrega aberto aberta horário atendimento ajuda ajudar alguém pessoa falar quem comprar
    """,
    "en": """
        the a an of to in on at by for with from and or but not no yes is are was were be been being am do does
        did have has had i you he she it we they my your his her its our their this that these those what which
        who whom where when why how can could would should will shall may might must there here hello hi hey
        thanks thank please good morning evening want need like order price delivery open opening hours help
        someone talk buy any some just about
    """,
    "es": """
        el los las un una unos unas del al en con sin sí es son está están estoy usted ustedes yo él ella ellos
        ellas mi mis tu su sus nuestro nuestra eso esto ese esa este esta también pero porque cuando donde dónde
        como cómo cuánto cuál cuáles muy mucho mucha más menos ya todavía solo hasta entonces ahora hoy mañana
        ayer gracias hola adiós buen buenos buenas días tardes noches favor quiero quisiera necesito puedo puede
        pueden tiene tengo tener hacer hace voy estaba fue ser sería pedido precio entrega abierto horario ayuda
        ayudar alguien persona hablar quién comprar hay
    """,
}
# Words two languages share say nothing about which one it is.
_SEEN: dict[str, set[str]] = {}
for _lang, _text in _WORDS.items():
    for _word in _text.split():
        _SEEN.setdefault(_word, set()).add(_lang)
STOP_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(w for w in text.split() if _SEEN[w] == {lang}) for lang, text in _WORDS.items()
}
# Letters (and marks) only one of the three writes.
_LETTERS = {"pt": re.compile(r"[ãõç]|ão\b|ões\b|nh"), "es": re.compile(r"[ñ¿¡]|ción\b|ll")}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
MIN_SCORE = 2  # at least two signals...
MIN_LEAD = 1  # ...and more of them than for the runner-up


def detect_language(text: str) -> str | None:
    """The language ("pt", "en" or "es") the text clearly reads as, else None."""
    sample = text[:2000].lower()
    scores = dict.fromkeys(STOP_WORDS, 0)
    for word in _TOKEN.findall(sample):
        for lang, words in STOP_WORDS.items():
            if word in words:
                scores[lang] += 1
    for lang, letters in _LETTERS.items():
        scores[lang] += min(2, len(letters.findall(sample)))
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top >= MIN_SCORE and top - second >= MIN_LEAD:
        return best
    return None
