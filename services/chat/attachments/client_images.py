"""Images a client sends to /v1/chat/completions (OpenAI `image_url` content parts): for a vision assistant each one
is verified like an API attachment (a data URL decoded, an http(s) URL fetched once through the egress check) and
passed on as a data URL, so the provider never fetches a tenant's URL; any other assistant's model reads "[image]"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.chat.attachments.context import described, shown
from services.chat.attachments.intake import AttachmentIntake
from services.chat.attachments.schemas import AttachmentIn
from services.chat.context.builder import HistoryMessage
from shared.attachments import AttachmentInvalid


def image_urls(content: Any) -> list[str]:
    """The `image_url` parts' URLs of an OpenAI message's content, in order."""
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise AttachmentInvalid("an image_url part needs `image_url.url`")
            urls.append(url)
    return urls


async def with_client_images(
    messages: Sequence[tuple[HistoryMessage, list[str]]], intake: AttachmentIntake, *, vision: bool, max_images: int
) -> list[HistoryMessage]:
    """Each (message, its image URLs) as the model should see it: the newest images up to `max_images` shown to a
    vision model (verified first; a refused one refuses the request), the rest described."""
    budget = max_images if vision else 0
    show = [False] * len(messages)
    for i in range(len(messages) - 1, -1, -1):
        message, urls = messages[i]
        if urls and message.role == "user" and len(urls) <= budget:
            show[i] = True
            budget -= len(urls)
    out = []
    for (message, urls), visible in zip(messages, show, strict=True):
        if not urls:
            out.append(message)
            continue
        counted = HistoryMessage(role=message.role, content=message.content, attachments=len(urls))
        if not visible:
            out.append(described(counted))
            continue
        items = [AttachmentIn(data=u) if u.startswith("data:") else AttachmentIn(url=u) for u in urls]
        out.append(shown(counted, await intake.prepare(items)))
    return out
