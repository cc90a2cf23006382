"""/docs (Swagger UI) and /redoc from assets this process serves itself, so they open on a machine without internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN: offline, /docs is a blank page. The assets come from the
`fastapi-offline` package's static folder (Swagger UI 5's bundle and CSS, ReDoc's standalone build, FastAPI's
favicon); only its files are used, not its app class.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS_PATH = "/docs-assets"
SWAGGER_JS = f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{DOCS_ASSETS_PATH}/swagger-ui.css"
REDOC_JS = f"{DOCS_ASSETS_PATH}/redoc.standalone.js"
FAVICON = f"{DOCS_ASSETS_PATH}/favicon.png"


def install_api_docs(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect page and /redoc with local assets (the app is built with docs_url=None,
    redoc_url=None); the pages read `app.openapi_url` and `app.swagger_ui_init_oauth` when asked, so a caller may
    change either afterwards (the gateway does)."""
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=oauth2_redirect,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
