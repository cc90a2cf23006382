"""Images in an answer's context: a vision assistant's model gets them as OpenAI image inputs in the user message's
content array; any other model reads "[image]" (and the caption) where the image was, so it knows one was sent."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.chat.attachments.repository import AttachmentRepository, StoredImage
from services.chat.attachments.schemas import IMAGE_PLACEHOLDER
from services.chat.context.builder import HistoryMessage
from shared.images import VerifiedImage


def caption(message: HistoryMessage) -> str:
    """The words sent with the images (none when the text is only the placeholder)."""
    text = message.content.strip()
    return "" if text == IMAGE_PLACEHOLDER else text


def described(message: HistoryMessage) -> HistoryMessage:
    """For a model that cannot see: one "[image]" per image, then the caption."""
    marks = " ".join([IMAGE_PLACEHOLDER] * message.attachments)
    words = caption(message)
    return replace(message, content=f"{marks}\n{words}" if words else marks)


def image_part(image: StoredImage | VerifiedImage) -> dict[str, Any]:
    data = base64.b64encode(image.data).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{image.mime_type};base64,{data}"}}


def shown(message: HistoryMessage, images: Sequence[StoredImage | VerifiedImage]) -> HistoryMessage:
    words = caption(message)
    parts = ([{"type": "text", "text": words}] if words else []) + [image_part(i) for i in images]
    return replace(message, parts=tuple(parts))


@dataclass
class ImageContext:
    """Renders the chosen history's images; reads their bytes (one query) only for a vision model."""

    state: Any  # app.state: the sessionmaker is read per use so tests can swap it
    max_images: int

    async def render(
        self, tenant_id: uuid.UUID, history: Sequence[HistoryMessage], *, vision: bool
    ) -> list[HistoryMessage]:
        if not any(m.attachments for m in history):
            return list(history)
        seeing: set[uuid.UUID] = set()
        if vision:  # the newest customer images, up to the cap; older ones are described
            budget = self.max_images
            for m in reversed(history):
                if m.role == "user" and m.attachments and m.message_id is not None and budget >= m.attachments:
                    seeing.add(m.message_id)
                    budget -= m.attachments
        images: dict[uuid.UUID, list[StoredImage]] = {}
        if seeing:
            async with self.state.sessionmaker() as session:
                rows = await AttachmentRepository(session).images(tenant_id, list(seeing), self.max_images)
            for row in rows:
                images.setdefault(row.message_id, []).append(row)
        out = []
        for m in history:
            if not m.attachments:
                out.append(m)
            elif m.message_id in images:
                out.append(shown(m, images[m.message_id]))
            else:
                out.append(described(m))
        return out
