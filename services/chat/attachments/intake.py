"""Attachments given to the API become verified images before their message is stored: base64 decoded, a URL
fetched once through shared/egress.py (its address checked, no redirects, the body capped), and the real bytes
checked by shared/images.py. Nothing here holds a database connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from services.chat.attachments.errors import AttachmentUrlRefused, AttachmentUrlUnavailable
from services.chat.attachments.schemas import AttachmentIn
from shared.attachments import check_count, decode_inline, too_large, verified
from shared.egress import EgressRefused, ResponseTooLarge, read_capped
from shared.images import VerifiedImage


@dataclass
class AttachmentIntake:
    egress: httpx.AsyncClient  # shared/egress.py's client: every URL here is a tenant's
    max_bytes: int
    max_count: int

    async def prepare(self, items: Sequence[AttachmentIn]) -> list[VerifiedImage]:
        """Every item as a verified image, in order; the first refusal refuses the request (4xx)."""
        check_count(len(items), self.max_count)
        return [await self._one(i, item) for i, item in enumerate(items)]

    async def _one(self, index: int, item: AttachmentIn) -> VerifiedImage:
        if item.url is not None:
            data = await self._fetch(index, item.url)
        else:
            data = decode_inline(index, item.data or "", self.max_bytes)
        return await verified(index, data, self.max_bytes)

    async def _fetch(self, index: int, url: str) -> bytes:
        try:
            async with self.egress.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise AttachmentUrlUnavailable(f"attachment {index}: the URL answered {resp.status_code}")
                body, more = await read_capped(resp, self.max_bytes)
        except EgressRefused as exc:
            raise AttachmentUrlRefused(f"attachment {index}: {exc}") from None
        except ResponseTooLarge:
            raise too_large(index, self.max_bytes) from None
        except httpx.HTTPError as exc:
            detail = f"attachment {index}: the URL could not be fetched ({type(exc).__name__})"
            raise AttachmentUrlUnavailable(detail) from None
        if more:
            raise too_large(index, self.max_bytes)
        return body
