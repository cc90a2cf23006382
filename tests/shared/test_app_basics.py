"""The service app every service is built from: operational routes and problem+json errors."""

from fastapi import APIRouter

from services.search.config import SearchSettings
from shared.app import create_service_app
from shared.errors import NotFound
from tests.support.plugin import app_client


def _app(stack):
    router = APIRouter()

    @router.get("/boom")
    async def boom():
        raise RuntimeError("secret internals at /srv/app.py line 3")

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int):
        raise NotFound(f"thing {thing_id} does not exist")

    return create_service_app(stack.settings(SearchSettings), title="t", routers=[router])


async def test_health_ready_metrics(stack):
    async with app_client(_app(stack)) as client:
        r = await client.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        r = await client.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["postgres"]["status"] == "ok"
        assert r.json()["checks"]["redis"]["status"] == "ok"
        r = await client.get("/metrics")
        assert "http_requests_total" in r.text and 'route="/ready"' in r.text


async def test_request_id_echoed_or_generated(stack):
    async with app_client(_app(stack)) as client:
        r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"
        r = await client.get("/health", headers={"X-Request-ID": "bad id; with spaces"})
        assert r.headers["x-request-id"] != "bad id; with spaces" and len(r.headers["x-request-id"]) == 32


async def test_problem_json_shapes(stack):
    async with app_client(_app(stack)) as client:
        r = await client.get("/nope")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {"type", "title", "status", "detail"} <= r.json().keys()

        r = await client.post("/health")
        assert r.status_code == 405 and r.json()["status"] == 405

        r = await client.get("/things/not-an-int")
        body = r.json()
        assert r.status_code == 422 and body["errors"][0]["loc"] == ["path", "thing_id"]

        r = await client.get("/things/7")
        assert r.status_code == 404 and r.json()["detail"] == "thing 7 does not exist"


async def test_unhandled_error_is_problem_without_traceback(stack):
    import httpx

    app = _app(stack)
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app) as m:
        transport = httpx.ASGITransport(app=m.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.json()["status"] == 500 and r.headers.get("x-request-id")
