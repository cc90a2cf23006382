"""GET /widget.js: the committed build of admin/widget, served by the gateway to other sites' pages, small."""

from __future__ import annotations

import gzip

from gateway.widget_static import DEFAULT_FILE
from tests.gateway.conftest import serve_gateway

MAX_GZIPPED = 30 * 1024


async def test_widget_js_is_the_committed_build_cacheable_and_small(stack, redis, upstreams) -> None:
    built = DEFAULT_FILE.read_bytes()
    assert built.startswith(b"/*! Atende chat widget"), "gateway/static/widget.js is the vite build (banner first)"
    async with serve_gateway(stack, {n: u for n, (_, u) in upstreams.items()}) as gw:
        plain = await gw.get("/widget.js", headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200
        assert plain.content == built
        assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
        assert plain.headers["cache-control"].startswith("public, max-age=")
        # Loaded by <script> on customers' sites: the gateway's default same-site CORP would block it there.
        assert plain.headers["cross-origin-resource-policy"] == "cross-origin"
        assert plain.headers["x-content-type-options"] == "nosniff"
        assert "content-encoding" not in plain.headers

        zipped = await gw.get("/widget.js", headers={"Accept-Encoding": "gzip, br"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert zipped.content == built  # httpx decodes it
        size = int(zipped.headers["content-length"])
        assert size == len(gzip.compress(built, 9, mtime=0))
        assert size <= MAX_GZIPPED, f"widget.js is {size} bytes gzipped (budget {MAX_GZIPPED})"

        again = await gw.get("/widget.js", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        head = await gw.head("/widget.js")
        assert head.status_code == 200 and head.headers["etag"] == plain.headers["etag"]
