"""Small real images for tests (Pillow), and a loopback web server that serves bytes and records what it served."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from io import BytesIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (3, 2), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real image of `fmt` (PNG, JPEG, WEBP, GIF), a few hundred bytes."""
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class FileHost:
    """GET /f/<name> answers `files[name]` (bytes, declared content type); every path asked is recorded."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/f/{name}", self._file, methods=["GET"])])

    async def _file(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.asked.append(name)
        if name not in self.files:
            return Response(status_code=404)
        data, content_type = self.files[name]
        return Response(data, media_type=content_type)
