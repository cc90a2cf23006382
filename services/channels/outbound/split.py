"""Split a long reply into messages on sentence boundaries (then words, then hard cuts)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n{2,}")


def split_reply(text: str, max_chars: int) -> list[str]:
    """Parts of at most `max_chars`, each made of whole sentences when a sentence fits."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        for piece in _fit(sentence, max_chars):
            candidate = f"{current} {piece}".strip() if current else piece
            if len(candidate) <= max_chars:
                current = candidate
            else:
                parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _fit(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than the limit is cut between words, or hard-cut if one word is too long."""
    if len(sentence) <= max_chars:
        return [sentence]
    out, current = [], ""
    for word in sentence.split():
        while len(word) > max_chars:
            if current:
                out.append(current)
                current = ""
            out.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}".strip()
        if len(candidate) <= max_chars:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out
