"""Attachments given to the API become verified images before their message is stored: base64 decoded, a URL
fetched once through shared/egress.py (its address checked, no redirects, the body capped), and the real bytes
checked by shared/images.py. Nothing here holds a database connection."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from services.chat.attachments.errors import (
    AttachmentInvalid,
    AttachmentTooLarge,
    AttachmentTypeRefused,
    AttachmentUrlRefused,
    AttachmentUrlUnavailable,
    TooManyAttachments,
)
from services.chat.attachments.schemas import AttachmentIn
from shared.egress import EgressRefused, ResponseTooLarge, read_capped
from shared.images import ImageRefused, VerifiedImage, verify_image


@dataclass
class AttachmentIntake:
    egress: httpx.AsyncClient  # shared/egress.py's client: every URL here is a tenant's
    max_bytes: int
    max_count: int

    async def prepare(self, items: Sequence[AttachmentIn]) -> list[VerifiedImage]:
        """Every item as a verified image, in order; the first refusal refuses the request (4xx)."""
        if len(items) > self.max_count:
            raise TooManyAttachments(f"{len(items)} attachments; at most {self.max_count} per message")
        return [await self._one(i, item) for i, item in enumerate(items)]

    async def _one(self, index: int, item: AttachmentIn) -> VerifiedImage:
        data = await self._fetch(index, item.url) if item.url is not None else self._decoded(index, item.data or "")
        if len(data) > self.max_bytes:
            raise AttachmentTooLarge(f"attachment {index} is larger than {self.max_bytes} bytes")
        try:
            return await asyncio.to_thread(verify_image, data, self.max_bytes)
        except ImageRefused as exc:
            raise AttachmentTypeRefused(f"attachment {index}: {exc}") from None

    def _decoded(self, index: int, data: str) -> bytes:
        if data.startswith("data:"):  # a data URL: its declared type is ignored like any other
            data = data.partition(",")[2]
        if len(data) * 3 // 4 > self.max_bytes + 3:  # refused before decoding what would be too large anyway
            raise AttachmentTooLarge(f"attachment {index} is larger than {self.max_bytes} bytes")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise AttachmentInvalid(f"attachment {index}: `data` is not valid base64") from None

    async def _fetch(self, index: int, url: str) -> bytes:
        try:
            async with self.egress.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise AttachmentUrlUnavailable(f"attachment {index}: the URL answered {resp.status_code}")
                body, more = await read_capped(resp, self.max_bytes)
        except EgressRefused as exc:
            raise AttachmentUrlRefused(f"attachment {index}: {exc}") from None
        except ResponseTooLarge:
            raise AttachmentTooLarge(f"attachment {index} is larger than {self.max_bytes} bytes") from None
        except httpx.HTTPError as exc:
            detail = f"attachment {index}: the URL could not be fetched ({type(exc).__name__})"
            raise AttachmentUrlUnavailable(detail) from None
        if more:
            raise AttachmentTooLarge(f"attachment {index} is larger than {self.max_bytes} bytes")
        return body
