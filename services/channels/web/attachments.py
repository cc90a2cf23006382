"""A visitor's images, checked before their message is stored: base64 decoded, capped, and the real bytes verified
(shared/images.py), so a refused file is the visitor's 4xx at once. They then travel inline in the inbound event's
media items (`data_b64`), the route every channel image takes to chat (docs/attachments.md)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence

from services.channels.web.errors import (
    AttachmentInvalid,
    AttachmentTooLarge,
    AttachmentTypeRefused,
    TooManyAttachments,
)
from services.channels.web.schemas import WidgetAttachment
from shared.images import ImageRefused, verify_image


async def media_items(items: Sequence[WidgetAttachment], max_bytes: int, max_count: int) -> list[dict[str, str]]:
    """The inbound message's media items, in order; the first refusal refuses the message."""
    if len(items) > max_count:
        raise TooManyAttachments(f"{len(items)} attachments; at most {max_count} per message")
    out = []
    for index, item in enumerate(items):
        data = item.data.partition(",")[2] if item.data.startswith("data:") else item.data
        if len(data) * 3 // 4 > max_bytes + 3:
            raise AttachmentTooLarge(f"attachment {index} is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise AttachmentInvalid(f"attachment {index}: `data` is not valid base64") from None
        try:
            image = await asyncio.to_thread(verify_image, raw, max_bytes)
        except ImageRefused as exc:
            raise AttachmentTypeRefused(f"attachment {index}: {exc}") from None
        out.append({"data_b64": base64.b64encode(image.data).decode(), "content_type": image.mime_type})
    return out
