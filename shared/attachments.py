"""Images given inline (base64 or a data URL) by an API client or a web visitor: decoded, capped and verified by
their bytes (shared/images.py) before their message is stored, with the refusals chat's API and the widget share."""

from __future__ import annotations

import asyncio
import base64
import binascii

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.images import ImageRefused, VerifiedImage, verify_image


class AttachmentInvalid(BadRequest):
    code = "attachment_invalid"


class AttachmentTypeRefused(UnsupportedMediaType):
    code = "attachment_type_refused"


class AttachmentTooLarge(PayloadTooLarge):
    code = "attachment_too_large"


class TooManyAttachments(Unprocessable):
    code = "too_many_attachments"


def check_count(count: int, max_count: int) -> None:
    if count > max_count:
        raise TooManyAttachments(f"{count} attachments; at most {max_count} per message")


def too_large(index: int, max_bytes: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(f"attachment {index} is larger than {max_bytes} bytes")


def decode_inline(index: int, data: str, max_bytes: int) -> bytes:
    """The bytes of base64 `data` (a data URL's declared type is ignored like any other); refused before decoding
    what would be too large anyway."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    if len(data) * 3 // 4 > max_bytes + 3:
        raise too_large(index, max_bytes)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise AttachmentInvalid(f"attachment {index}: `data` is not valid base64") from None


async def verified(index: int, data: bytes, max_bytes: int) -> VerifiedImage:
    """`data` as an allowed image (checked off the event loop), or the 4xx that says why not."""
    if len(data) > max_bytes:
        raise too_large(index, max_bytes)
    try:
        return await asyncio.to_thread(verify_image, data, max_bytes)
    except ImageRefused as exc:
        raise AttachmentTypeRefused(f"attachment {index}: {exc}") from None
