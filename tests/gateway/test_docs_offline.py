"""The API docs open without internet: the gateway's /docs in headless Chromium, with every host but 127.0.0.1
unresolvable, renders Swagger UI with the platform's operations (its assets come from our own process:
shared/api_docs.py); /redoc's page and every asset the pages name are served locally too.

`make test` sets ATENDE_REQUIRE_BROWSER=1, so there a missing Chromium fails; a plain `pytest` without it skips.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.support.platform import platform

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("ATENDE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


async def dump_dom(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (virtual time), with the outside network refused."""
    proc = await asyncio.create_subprocess_exec(
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server", OFFLINE,
        f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return out.decode()


async def test_gateway_docs_render_operations_offline(stack, committed_db, redis, tmp_path, chromium):
    async with platform(stack, tmp_path) as p:
        page = (await p.gw.get("/docs")).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
        for asset in assets:
            assert (await p.gw.get(asset)).status_code == 200, asset
        redoc = (await p.gw.get("/redoc")).text
        assert "/docs-assets/redoc.standalone.js" in redoc and "https://" not in redoc
        assert (await p.gw.get("/docs-assets/redoc.standalone.js")).status_code == 200

        dom = await dump_dom(chromium, f"{p.urls['gateway']}/docs", tmp_path / "chromium")
        assert 'class="swagger-ui' in dom, dom[:2000]
        assert "/api/v1/auth/login" in dom and "/api/v1/threads" in dom, dom[:2000]
