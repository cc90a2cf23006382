"""shared/images.py: what an image is comes from its bytes, never from what the sender declared."""

import pytest

from shared.images import ImageRefused, verify_image
from tests.support.images import image_bytes


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"),
                                       ("GIF", "image/gif")])  # fmt: skip
def test_allowed_formats_are_named_by_their_bytes(fmt, mime):
    data = image_bytes(fmt)
    image = verify_image(data, 10_000)
    assert (image.mime_type, image.size, image.data) == (mime, len(data), data) and len(image.sha256) == 64


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"text after a PNG signature",  # the magic number alone is not an image
        image_bytes("PNG")[:20],  # truncated
        b"GIF89a" + image_bytes("PNG")[6:],  # a GIF signature on a PNG body
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        b"%PDF-1.7\n",
        b"BM" + b"\0" * 60,  # BMP: an image, not an allowed one
        b"",
    ],
)
def test_everything_else_is_refused(data):
    with pytest.raises(ImageRefused):
        verify_image(data, 10_000)


def test_the_cap_is_checked_before_anything_is_decoded():
    with pytest.raises(ImageRefused, match="larger than 100 bytes"):
        verify_image(image_bytes("PNG", size=(64, 64)) + b"\0" * 100, 100)
