"""A visitor's images, checked before their message is stored: base64 decoded, capped, and the real bytes verified
(shared/images.py), so a refused file is the visitor's 4xx at once. They then travel inline in the inbound event's
media items (`data_b64`), the route every channel image takes to chat (docs/attachments.md)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from services.channels.web.schemas import WidgetAttachment
from shared.attachments import check_count, decode_inline, verified


async def media_items(items: Sequence[WidgetAttachment], max_bytes: int, max_count: int) -> list[dict[str, str]]:
    """The inbound message's media items, in order; the first refusal refuses the message."""
    check_count(len(items), max_count)
    out = []
    for index, item in enumerate(items):
        image = await verified(index, decode_inline(index, item.data, max_bytes), max_bytes)
        out.append({"data_b64": base64.b64encode(image.data).decode(), "content_type": image.mime_type})
    return out
