"""GET /widget.js: the embeddable chat widget (admin/widget, built into gateway/static/widget.js and committed), served
from memory, gzipped once, revalidated by ETag: every page view of every customer site asks for it.

Decisions are in docs/web-chat.md.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

from shared.errors import problem

DEFAULT_FILE = Path(__file__).resolve().parent / "static" / "widget.js"
# The URL carries no version (it is pasted into customers' sites), so browsers revalidate it after five minutes.
CACHE = "public, max-age=300, stale-while-revalidate=86400"


@dataclass(frozen=True, slots=True)
class Built:
    mtime_ns: int
    body: bytes
    gzipped: bytes
    etag: str


def widget_router(path: Path = DEFAULT_FILE) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    cache: list[Built] = []

    def current() -> Built | None:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if not cache or cache[0].mtime_ns != mtime:
            body = path.read_bytes()
            built = Built(mtime, body, gzip.compress(body, 9, mtime=0), f'"{hashlib.sha256(body).hexdigest()[:20]}"')
            cache[:] = [built]
        return cache[0]

    @router.api_route("/widget.js", methods=["GET", "HEAD"])
    async def widget(request: Request) -> Response:
        built = current()
        if built is None:
            return problem(503, "widget.js is not built: run `npm run build:widget` in admin/", code="widget_not_built")
        headers = {
            "Cache-Control": CACHE,
            "ETag": built.etag,
            "Vary": "Accept-Encoding",
            "Cross-Origin-Resource-Policy": "cross-origin",  # a script of ours on other sites, also under COEP
            "X-Content-Type-Options": "nosniff",
        }
        if built.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        body = built.body
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            body = built.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    return router
