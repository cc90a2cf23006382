"""The admin console's build served by the gateway at /admin: caching headers, history fallback, no escape."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.conftest import serve_gateway


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><div id="root"></div><script src="/admin/assets/app-abc123.js">')
    (root / "assets" / "app-abc123.js").write_text("console.log('admin')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside")
    return root


async def test_assets_are_immutable_and_deep_links_get_index(stack, redis, upstreams, dist) -> None:
    urls = {n: u for n, (_, u) in upstreams.items()}
    async with serve_gateway(stack, urls, admin_dir=str(dist)) as gw:
        asset = await gw.get("/admin/assets/app-abc123.js")
        assert asset.status_code == 200
        assert asset.text == "console.log('admin')"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in asset.headers["content-type"]

        for deep in ("/admin/", "/admin/inbox/8b1c6a2e-0000-4000-8000-000000000000", "/admin/tenants/x/y?z=1"):
            page = await gw.get(deep)
            assert page.status_code == 200, deep
            assert page.headers["content-type"].startswith("text/html")
            assert '<div id="root">' in page.text
            assert page.headers["cache-control"] == "no-cache"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["x-content-type-options"] == "nosniff"

        root = await gw.get("/admin", follow_redirects=False)
        assert root.status_code == 308 and root.headers["location"] == "/admin/"

        # Revalidation: the ETag of index.html answers 304.
        first = await gw.get("/admin/buffers")
        again = await gw.get("/admin/buffers", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304

        favicon = await gw.get("/admin/favicon.svg")
        assert favicon.status_code == 200 and favicon.headers["cache-control"] == "no-cache"

        missing = await gw.get("/admin/assets/app-old999.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")

        for escape in ("/admin/../secret.txt", "/admin/%2e%2e/secret.txt", "/admin/assets/..%2f..%2fsecret.txt"):
            resp = await gw.get(escape)
            assert "outside" not in resp.text, escape

        head = await gw.head("/admin/assets/app-abc123.js")
        assert head.status_code == 200 and head.headers["cache-control"].startswith("public")


async def test_not_built_says_how(stack, redis, upstreams, tmp_path) -> None:
    urls = {n: u for n, (_, u) in upstreams.items()}
    async with serve_gateway(stack, urls, admin_dir=str(tmp_path / "nothing")) as gw:
        resp = await gw.get("/admin/")
        assert resp.status_code == 503
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert "make admin" in resp.json()["detail"]
