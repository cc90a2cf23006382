"""The admin console (admin/, a Vite build) served at /admin: hashed assets cached for a year, everything else
revalidated, and unknown paths under /admin answered with index.html so deep links work (history fallback).

Decisions are in docs/admin.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from shared.errors import problem

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "admin" / "dist"

# Vite names everything under assets/ by content hash: a new build means new names.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # index.html and unhashed files: always revalidated (ETag / Last-Modified)
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
NOT_BUILT = (
    "the admin console is not built: run `make admin` (needs Node.js 20+ and npm), "
    "or set GATEWAY_ADMIN_DIR to a built admin/dist"
)


def admin_router(admin_dir: str = "") -> APIRouter:
    root = (Path(admin_dir) if admin_dir else DEFAULT_DIR).resolve()
    router = APIRouter(include_in_schema=False)

    def file_for(path: str) -> Path | None:
        if not path or path.endswith("/"):
            return None
        candidate = (root / path).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def send(request: Request, file: Path, cache: str) -> Response:
        response: Response = FileResponse(file, stat_result=file.stat())
        etag = response.headers.get("etag")
        if etag and etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            response = Response(status_code=304, headers={"ETag": etag})
        response.headers["Cache-Control"] = cache
        response.headers["Content-Security-Policy"] = CSP
        return response

    @router.api_route("/admin", methods=["GET", "HEAD"])
    async def admin_root(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/admin/{query}", status_code=308)

    @router.api_route("/admin/{path:path}", methods=["GET", "HEAD"])
    async def admin_files(path: str, request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return problem(503, NOT_BUILT, code="admin_not_built", instance=request.url.path)
        file = file_for(path)
        if file is not None:
            return send(request, file, IMMUTABLE if path.startswith("assets/") else REVALIDATE)
        if path.startswith("assets/"):
            # A missing hashed asset is a stale tab after a deploy: a 404, never index.html as JavaScript.
            return problem(404, f"no admin asset {path}", instance=request.url.path)
        return send(request, index, REVALIDATE)

    return router
