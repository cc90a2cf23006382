"""What an image really is, from its bytes: the one check channels (provider photos) and chat (API attachments) share.

The declared type (a Content-Type header, a `mime_type` field, a file name) is never trusted: a PNG header on a
text file, an SVG (script), or a format a model cannot read is refused by its magic number, and, where Pillow is
installed, by decoding the header it announces. Run `verify_image` off the event loop (asyncio.to_thread).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

ALLOWED_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageRefused(ValueError):
    """The bytes are not an allowed image (or not an image at all)."""


@dataclass(frozen=True, slots=True)
class VerifiedImage:
    """Bytes that are an allowed image, with the type their content proves and their digest."""

    data: bytes
    mime_type: str
    size: int
    sha256: str


def sniff_image(data: bytes) -> str | None:
    """The allowed image type the bytes start with (None: not one of them)."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def verify_image(data: bytes, max_bytes: int) -> VerifiedImage:
    """The bytes as an allowed image, or ImageRefused saying why (CPU work: call it in a thread)."""
    if not data:
        raise ImageRefused("the image is empty")
    if len(data) > max_bytes:
        raise ImageRefused(f"the image is larger than {max_bytes} bytes")
    mime = sniff_image(data)
    if mime is None:
        raise ImageRefused(f"not an image of an allowed type ({', '.join(ALLOWED_IMAGE_TYPES)})")
    _check_decodes(data, mime)
    return VerifiedImage(data=data, mime_type=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest())


@lru_cache(maxsize=1)
def _pillow():
    """Pillow's Image module where the image installs it (chat and channels: the `chat`/`channels` extras); the
    services that never see an image (search, transcription) ship without it and never call this."""
    if importlib.util.find_spec("PIL") is None:  # pragma: no cover - the magic number then stands alone
        return None
    return importlib.import_module("PIL.Image")


def _check_decodes(data: bytes, mime: str) -> None:
    """With Pillow: the header parses and agrees with the magic number (a truncated or forged header fails)."""
    image = _pillow()
    if image is None:  # pragma: no cover
        return
    try:
        with image.open(BytesIO(data)) as img:
            img.verify()
            found = _PIL_FORMATS.get(img.format or "")
    except (image.UnidentifiedImageError, image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ImageRefused("the image cannot be decoded") from None
    if found != mime:
        raise ImageRefused("the image's content does not match its header")
