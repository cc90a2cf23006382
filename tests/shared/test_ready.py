"""/ready follows its dependencies: 503 naming the one that is down, 200 again once it is back.

Runs its own Postgres and Redis (never the session's stack) so they can be stopped and restarted."""

from __future__ import annotations

import pytest

from devtools.embedded import embedded_stack
from services.search.app import create_app
from services.search.config import SearchSettings
from tests.support.plugin import app_client

pytestmark = pytest.mark.slow


@pytest.fixture
def own_servers(tmp_path, stack):
    # Reuses the session's copy of the Postgres binaries (root only); its own data directory and ports.
    with embedded_stack(tmp_path, bin_root=stack.pg.bin_root if stack.pg else None) as servers:
        yield servers


async def _ready(client) -> tuple[int, dict]:
    r = await client.get("/ready")
    if r.status_code != 200:
        assert r.headers["content-type"].startswith("application/problem+json")
    return r.status_code, r.json()


async def test_ready_turns_503_when_postgres_or_redis_stops_and_200_when_back(own_servers, stack):
    pg, rd = own_servers
    settings = stack.settings(SearchSettings, database_url=pg.url, redis_url=rd.url)
    async with app_client(create_app(settings)) as client:
        status, body = await _ready(client)
        assert status == 200, body
        assert body["checks"]["postgres"]["status"] == "ok" and body["checks"]["redis"]["status"] == "ok"

        pg.stop()
        status, body = await _ready(client)
        assert status == 503
        assert body["status"] == 503 and body["code"] == "not_ready"
        assert "postgres" in body["detail"] and "redis" not in body["detail"]
        assert body["checks"]["postgres"]["status"] == "down" and body["checks"]["redis"]["status"] == "ok"

        pg.start()  # same data directory and port: the pool's dead connections are replaced (pool_pre_ping)
        status, body = await _ready(client)
        assert status == 200, body

        rd.stop()
        status, body = await _ready(client)
        assert status == 503
        assert "redis" in body["detail"] and "postgres" not in body["detail"]
        assert body["checks"]["redis"]["status"] == "down" and body["checks"]["postgres"]["status"] == "ok"

        rd.start()
        status, body = await _ready(client)
        assert status == 200, body
        # Traffic after recovery works on both again, more than once (no poisoned pooled connection left).
        for _ in range(3):
            assert (await _ready(client))[0] == 200
